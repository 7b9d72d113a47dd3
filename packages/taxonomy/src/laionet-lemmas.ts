import { CaptionMatcher, resolveCaptionMatchOptions, type CaptionMatchOptions } from './caption-matcher.js';
import { lemmaToText } from './lemma-forms.js';

/**
 * LAIONet's lemma table: lemma (spaces, original case) → the one synset that has it. A lemma shared by
 * two or more of the classes ("crane": the bird and the machine) is left out because a caption that
 * contains it does not say which class it shows; a class left with no lemma at all is dropped.
 */
export class LaionetLemmaTable {
  /** lemma → wnid, in class-index order then WordNet lemma order. */
  readonly lemmas: ReadonlyMap<string, string>;
  /** Classes that lost every lemma, in class-index order; a LAIONet-style shift never contains them. */
  readonly droppedWnids: readonly string[];
  readonly #matchers = new Map<string, CaptionMatcher>();

  constructor(lemmas: ReadonlyMap<string, string>, droppedWnids: readonly string[]) {
    this.lemmas = lemmas;
    this.droppedWnids = droppedWnids;
  }

  /** How many lemmas the table keeps. */
  get size(): number {
    return this.lemmas.size;
  }

  /** A caption matcher over this table; memoised per option set, since building one indexes every lemma. */
  matcher(options?: CaptionMatchOptions): CaptionMatcher {
    const resolved = resolveCaptionMatchOptions(options);
    const key = JSON.stringify(resolved);
    let matcher = this.#matchers.get(key);
    if (matcher === undefined) {
      matcher = new CaptionMatcher(this.lemmas, resolved);
      this.#matchers.set(key, matcher);
    }
    return matcher;
  }
}

/**
 * Applies LAIONet's rule to any list of classes (the 1000 ImageNet classes, or a subset an experiment
 * uses). Lemmas are compared after underscores become spaces, case-sensitively, as LAIONet did.
 */
export function buildLaionetLemmaTable(
  classes: Iterable<{ readonly wnid: string; readonly lemmas: readonly string[] }>,
): LaionetLemmaTable {
  const list = [...classes];
  const owners = new Map<string, Set<string>>();
  for (const cls of list) {
    for (const lemma of cls.lemmas) {
      const text = lemmaToText(lemma);
      const set = owners.get(text) ?? new Set<string>();
      set.add(cls.wnid);
      owners.set(text, set);
    }
  }
  const table = new Map<string, string>();
  const dropped: string[] = [];
  for (const cls of list) {
    const kept = cls.lemmas.map(lemmaToText).filter((text) => owners.get(text)?.size === 1);
    if (kept.length === 0) dropped.push(cls.wnid);
    for (const text of kept) table.set(text, cls.wnid);
  }
  return new LaionetLemmaTable(table, dropped);
}
