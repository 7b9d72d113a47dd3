/**
 * LAIONet's caption-to-synset rule: a lemma "occurs" in a caption when " lemma " is a substring of
 * " caption " after every ASCII punctuation character of the caption became a space. The padding is
 * what keeps the lemma "ai" (three-toed sloth) out of "paid" and "tench" out of "stench".
 *
 * Faithful details that surprise people:
 *  - nothing is lower-cased unless `lowercase` is set ("Tench" does not match "tench");
 *  - runs of spaces are not collapsed ("great  white shark" does not contain "great white shark");
 *  - lemmas are not transformed, so a lemma with punctuation ("jack-o'-lantern") never matches unless
 *    `normalizeLemmaPunctuation` is set;
 *  - only ASCII punctuation (Python's string.punctuation) becomes a space; tabs, newlines and Unicode
 *    quotes stay part of their word.
 */
export interface CaptionMatchOptions {
  /**
   * Lower-case caption and lemmas before matching. LAIONet did not.
   * @default false
   */
  lowercase?: boolean;
  /**
   * Give lemmas the same punctuation-to-space treatment as captions, so "jack-o'-lantern" matches
   * "Jack-O'-Lantern"-style captions. LAIONet did not, leaving such lemmas unmatchable.
   * @default false
   */
  normalizeLemmaPunctuation?: boolean;
}

export type ResolvedCaptionMatchOptions = Required<CaptionMatchOptions>;

export function resolveCaptionMatchOptions(options: CaptionMatchOptions = {}): ResolvedCaptionMatchOptions {
  return {
    lowercase: options.lowercase ?? false,
    normalizeLemmaPunctuation: options.normalizeLemmaPunctuation ?? false,
  };
}

// Python's string.punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
const ASCII_PUNCTUATION = /[!-/:-@[-`{-~]/g;

function punctuationToSpaces(text: string): string {
  return text.replace(ASCII_PUNCTUATION, ' ');
}

function prepareCaption(caption: string, options: ResolvedCaptionMatchOptions): string {
  return punctuationToSpaces(options.lowercase ? caption.toLowerCase() : caption);
}

function prepareLemma(lemma: string, options: ResolvedCaptionMatchOptions): string {
  const cased = options.lowercase ? lemma.toLowerCase() : lemma;
  return options.normalizeLemmaPunctuation ? punctuationToSpaces(cased) : cased;
}

/**
 * The reference definition, one lemma at a time: is the space-padded lemma a substring of the
 * space-padded, punctuation-free caption? Use a {@link CaptionMatcher} for many lemmas or captions.
 */
export function substringMatch(caption: string, lemma: string, options?: CaptionMatchOptions): boolean {
  const resolved = resolveCaptionMatchOptions(options);
  return ` ${prepareCaption(caption, resolved)} `.includes(` ${prepareLemma(lemma, resolved)} `);
}

interface Pattern {
  /** The lemmas this pattern stands for; several when lower-casing folded them together. */
  lemmas: readonly string[];
  /** The prepared lemma split on single spaces; tokens after the first. */
  rest: readonly string[];
  wnids: readonly string[];
}

/**
 * Finds which synsets' lemmas occur in a caption, with exactly the results of {@link substringMatch}
 * over every lemma, in time proportional to the caption's length rather than to the number of lemmas.
 *
 * Why it is equivalent: " L " occurs in " C " iff the tokens of L (split on single spaces, empty
 * tokens included) appear as consecutive tokens of " C ".split(" ") that neither start at the first
 * token nor end at the last one, because every space of " C " is a token boundary. So each caption
 * token is looked up in a map keyed by first lemma token, and the few candidates are compared token by
 * token.
 */
export class CaptionMatcher {
  readonly options: ResolvedCaptionMatchOptions;
  readonly #byFirstToken = new Map<string, Pattern[]>();

  /** @param lemmaToWnids lemma (as written in captions, spaces not underscores) → the synsets it names */
  constructor(lemmaToWnids: Iterable<readonly [string, string | readonly string[]]>, options?: CaptionMatchOptions) {
    this.options = resolveCaptionMatchOptions(options);
    const merged = new Map<string, { lemmas: string[]; wnids: Set<string> }>();
    for (const [lemma, wnidOrWnids] of lemmaToWnids) {
      const prepared = prepareLemma(lemma, this.options);
      const entry = merged.get(prepared) ?? { lemmas: [], wnids: new Set<string>() };
      // Lower-casing can fold two lemmas of different synsets into one pattern; it then names both.
      entry.lemmas.push(lemma);
      for (const wnid of typeof wnidOrWnids === 'string' ? [wnidOrWnids] : wnidOrWnids) entry.wnids.add(wnid);
      merged.set(prepared, entry);
    }
    for (const [prepared, { lemmas, wnids }] of merged) {
      const [first = '', ...rest] = prepared.split(' ');
      const bucket = this.#byFirstToken.get(first) ?? [];
      bucket.push({ lemmas, rest, wnids: [...wnids].sort() });
      this.#byFirstToken.set(first, bucket);
    }
  }

  /** The synsets (wnids) with at least one lemma in the caption. */
  findSynsets(caption: string): Set<string> {
    const found = new Set<string>();
    this.#scan(caption, (pattern) => {
      for (const wnid of pattern.wnids) found.add(wnid);
    });
    return found;
  }

  /** The lemmas (as given to the constructor) that occur in the caption, in order of first occurrence. */
  findLemmas(caption: string): string[] {
    const found = new Set<string>();
    this.#scan(caption, (pattern) => {
      for (const lemma of pattern.lemmas) found.add(lemma);
    });
    return [...found];
  }

  /** LAIONet's keep rule: the one synset named by the caption, or undefined when none or several are. */
  findUniqueSynset(caption: string): string | undefined {
    let only: string | undefined;
    let ambiguous = false;
    this.#scan(caption, (pattern) => {
      for (const wnid of pattern.wnids) {
        if (only === undefined) only = wnid;
        else if (only !== wnid) ambiguous = true;
      }
    });
    return ambiguous ? undefined : only;
  }

  #scan(caption: string, onMatch: (pattern: Pattern) => void): void {
    // tokens[0] and tokens[last] are the empty strings either side of the padding spaces.
    const tokens = ` ${prepareCaption(caption, this.options)} `.split(' ');
    const last = tokens.length - 1;
    for (let start = 1; start < last; start++) {
      const bucket = this.#byFirstToken.get(tokens[start]!);
      if (bucket === undefined) continue;
      for (const pattern of bucket) {
        const { rest } = pattern;
        if (start + rest.length >= last) continue;
        let k = 0;
        while (k < rest.length && tokens[start + 1 + k] === rest[k]) k++;
        if (k === rest.length) onMatch(pattern);
      }
    }
  }
}
