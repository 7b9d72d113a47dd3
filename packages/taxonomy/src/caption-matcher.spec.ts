import { describe, expect, it } from 'vitest';
import { CaptionMatcher, substringMatch, type CaptionMatchOptions } from './caption-matcher.js';
import { findSynsetsInCaption, loadImageNetTaxonomy } from './load-taxonomy.js';

const taxonomy = loadImageNetTaxonomy();
const matcher = taxonomy.laionet.matcher();
const TENCH = 'n01440764';
const SLOTH = 'n02457408'; // lemmas: three-toed sloth, ai, Bradypus tridactylus

describe('LAIONet caption matching', () => {
  it('pads with spaces so a lemma never matches inside a longer word', () => {
    expect(matcher.findSynsets('a paid subscription')).toEqual(new Set());
    expect(matcher.findSynsets('the ai hangs from a branch')).toEqual(new Set([SLOTH]));
    expect(matcher.findSynsets('what a stench')).toEqual(new Set());
    expect(matcher.findSynsets('tench')).toEqual(new Set([TENCH]));
    expect(substringMatch('a paid subscription', 'ai')).toBe(false);
    expect(substringMatch('stench', 'tench')).toBe(false);
  });

  it('turns ASCII punctuation into spaces but keeps Unicode quotes, tabs and double spaces', () => {
    expect(matcher.findSynsets('Fishing (tench), 2019!')).toEqual(new Set([TENCH]));
    expect(matcher.findSynsets('tench/carp')).toEqual(new Set([TENCH]));
    expect(matcher.findSynsets('“tench”')).toEqual(new Set());
    expect(matcher.findSynsets('caught\ttench')).toEqual(new Set());
    expect(matcher.findSynsets('Tinca tinca')).toEqual(new Set([TENCH]));
    expect(matcher.findSynsets('Tinca  tinca')).toEqual(new Set());
    expect(matcher.findSynsets('Tinca-tinca')).toEqual(new Set([TENCH]));
  });

  it('is case-sensitive unless asked to lower-case', () => {
    expect(matcher.findSynsets('Tench in a pond')).toEqual(new Set());
    expect(findSynsetsInCaption('Tench in a pond', { lowercase: true })).toEqual(new Set([TENCH]));
    // "Cardigan" is the corgi, "cardigan" the jacket: lower-casing makes the caption name both.
    expect(matcher.findUniqueSynset('a Cardigan puppy')).toBe('n02113186');
    expect(taxonomy.laionet.matcher({ lowercase: true }).findSynsets('a Cardigan puppy')).toEqual(
      new Set(['n02113186', 'n02963159']),
    );
    expect(taxonomy.laionet.matcher({ lowercase: true }).findUniqueSynset('a Cardigan puppy')).toBeUndefined();
    expect(taxonomy.laionet.matcher({ lowercase: true }).findLemmas('a Cardigan puppy')).toEqual(['Cardigan', 'cardigan']);
  });

  it('never matches a lemma with punctuation unless lemmas get the caption treatment too', () => {
    expect(matcher.findSynsets('a three-toed sloth')).toEqual(new Set());
    // The caption's "jack-o'-lantern" becomes "jack o  lantern": only jackfruit's lemma "jack" survives.
    expect(matcher.findLemmas("carving a jack-o'-lantern")).toEqual(['jack']);
    const lenient = taxonomy.laionet.matcher({ normalizeLemmaPunctuation: true });
    expect(lenient.findSynsets('a three toed sloth')).toEqual(new Set([SLOTH]));
    expect(lenient.findLemmas("carving a jack-o'-lantern")).toEqual(["jack-o'-lantern", 'jack']);
    expect(lenient.findUniqueSynset("carving a jack-o'-lantern")).toBeUndefined();
  });

  it('keeps a caption only when it names exactly one synset', () => {
    expect(matcher.findUniqueSynset('a tench and a goldfish')).toBeUndefined();
    expect(matcher.findUniqueSynset('tench, also Tinca tinca')).toBe(TENCH);
    expect(matcher.findUniqueSynset('a photo of my lunch')).toBeUndefined();
    expect(matcher.findLemmas('Tinca tinca, the tench')).toEqual(['Tinca tinca', 'tench']);
  });

  it('ignores shared lemmas: "panda" names neither the red nor the giant panda', () => {
    expect(matcher.findSynsets('a panda eating bamboo')).toEqual(new Set());
    expect(matcher.findSynsets('a giant panda eating bamboo')).toEqual(new Set(['n02510455']));
    expect(matcher.findSynsets('a crane over the river')).toEqual(new Set());
  });

  it('matches everyday words that happen to be class lemmas', () => {
    // WordNet's "site" (website) and "plate" (a dish of food) are ImageNet classes; LAIONet kept them.
    expect(matcher.findSynsets('a crane on the building site')).toEqual(new Set(['n06359193']));
    expect(matcher.findSynsets('Tench on a plate')).toEqual(new Set(['n07579787']));
  });
});

/** Deterministic PRNG (mulberry32) so the generated captions are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generateCaptions(count: number, lemmas: readonly string[]): string[] {
  const random = rng(20240612);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const fillers = ['a', 'photo', 'of', 'the', 'paid', 'stench', 'said', 'my', 'HD', 'wallpaper', 'American', 'white'];
  const separators = [' ', ' ', ' ', '  ', ', ', '-', '.', '!', '\t', '(', ') ', "'", '’', '_', '/', '«', '\n'];
  // Every ASCII punctuation character, so a gap in the matcher's character class shows up.
  const asciiPunctuation = [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];
  const mutate = (lemma: string): string => {
    const r = random();
    if (r < 0.15) return lemma.toUpperCase();
    if (r < 0.3) return lemma.toLowerCase();
    if (r < 0.4) return lemma.replace(/ /g, pick(['-', '  ', '_', ',']));
    if (r < 0.5) return lemma.slice(1); // "tench" -> "ench": must not match, "stench"-style
    if (r < 0.55) return `${lemma}s`;
    return lemma;
  };
  return Array.from({ length: count }, () => {
    const parts: string[] = [];
    const n = 1 + Math.floor(random() * 8);
    for (let i = 0; i < n; i++) {
      parts.push(random() < 0.45 ? mutate(pick(lemmas)) : pick(fillers));
      parts.push(random() < 0.2 ? pick(asciiPunctuation) : pick(separators));
    }
    return parts.join('').slice(0, Math.floor(random() * 3) === 0 ? -1 : undefined);
  });
}

/** The reference: Python's str.translate with string.punctuation, then `' ' + lemma + ' ' in text`. */
function naiveMatcher(options: CaptionMatchOptions): (caption: string) => Set<string> {
  const punctuation = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
  const translate = (s: string) => [...s].map((ch) => (punctuation.has(ch) ? ' ' : ch)).join('');
  const cased = (s: string) => (options.lowercase ? s.toLowerCase() : s);
  const patterns = [...taxonomy.laionet.lemmas].map(([lemma, wnid]) => {
    const prepared = options.normalizeLemmaPunctuation ? translate(cased(lemma)) : cased(lemma);
    return [` ${prepared} `, wnid] as const;
  });
  return (caption) => {
    const text = ` ${translate(cased(caption))} `;
    return new Set(patterns.filter(([pattern]) => text.includes(pattern)).map(([, wnid]) => wnid));
  };
}

describe('CaptionMatcher equivalence with the padded-substring definition', () => {
  const lemmas = [...taxonomy.laionet.lemmas.keys(), 'crane', 'tank', 'ai', 'jack-o\'-lantern', 'R.V.'];
  const captions = generateCaptions(3000, lemmas);

  for (const options of [
    {},
    { lowercase: true },
    { normalizeLemmaPunctuation: true },
    { lowercase: true, normalizeLemmaPunctuation: true },
  ] satisfies CaptionMatchOptions[]) {
    it(`finds the same synsets on 3000 generated captions with ${JSON.stringify(options)}`, () => {
      const fast = taxonomy.laionet.matcher(options);
      const naiveFindSynsets = naiveMatcher(options);
      let captionsWithMatches = 0;
      const mismatches: string[] = [];
      for (const caption of captions) {
        const expected = naiveFindSynsets(caption);
        const actual = fast.findSynsets(caption);
        if (expected.size > 0) captionsWithMatches++;
        if ([...expected].sort().join() !== [...actual].sort().join()) mismatches.push(caption);
      }
      expect(mismatches).toEqual([]);
      // The generator must exercise both outcomes, or the comparison proves nothing.
      expect(captionsWithMatches).toBeGreaterThan(500);
      expect(captionsWithMatches).toBeLessThan(captions.length);
    });
  }

  it('agrees with substringMatch lemma by lemma on a custom table with awkward lemmas', () => {
    const table: [string, string][] = [
      ['ai', 'A'],
      [' leading', 'B'],
      ['trailing ', 'C'],
      ['two  spaces', 'D'],
      ['R.V.', 'E'],
      ['', 'F'],
    ];
    const custom = new CaptionMatcher(table, { normalizeLemmaPunctuation: true });
    for (const caption of ['', ' ', 'ai', 'said ai', 'x  leading', 'trailing  x', 'two  spaces', 'an R.V.', 'R V']) {
      const expected = new Set(
        table.filter(([lemma]) => substringMatch(caption, lemma, custom.options)).map(([, id]) => id),
      );
      expect(custom.findSynsets(caption), JSON.stringify(caption)).toEqual(expected);
    }
  });
});
