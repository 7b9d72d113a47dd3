/**
 * The spelling people write: WordNet stores multi-word lemmas with underscores ("Tinca_tinca"),
 * captions and ImageNet's class lists use spaces ("Tinca tinca"). WordNet lemmas never contain a real
 * space, so the mapping is lossless.
 */
export function lemmaToText(lemma: string): string {
  return lemma.replaceAll('_', ' ');
}

/**
 * The lookup key for loose lemma matching: lower case, underscores and hyphens as spaces, runs of
 * whitespace collapsed, ends trimmed. "Great_White shark", "great-white  shark" and "great white
 * shark" share one key.
 */
export function normalizeLemma(text: string): string {
  return text.toLowerCase().replace(/[_-]/g, ' ').replace(/\s+/g, ' ').trim();
}
