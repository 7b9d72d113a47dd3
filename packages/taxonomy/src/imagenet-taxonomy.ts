import { ClassSubset, type SubsetName } from './class-subset.js';
import { TaxonomyError } from './errors.js';
import { LaionetLemmaTable } from './laionet-lemmas.js';
import { lemmaToText, normalizeLemma } from './lemma-forms.js';
import type { SynsetRecord, TaxonomyData } from './taxonomy-data.js';

/** A WordNet 3.0 noun synset that is an ImageNet-1k class or an ancestor of one. */
export interface SynsetInfo {
  /** "n" + the 8-digit WordNet 3.0 noun offset, e.g. "n02084071". */
  readonly wnid: string;
  /** NLTK's name: first lemma, pos, sense number, e.g. "dog.n.01". */
  readonly wordnetName: string;
  /** WordNet lemma names in WordNet order, underscores for spaces ("Tinca_tinca"). */
  readonly lemmas: readonly string[];
  /** The lemmas as written in text, underscores as spaces ("Tinca tinca"). */
  readonly lemmaTexts: readonly string[];
  /** The first lemma as text, the usual display name ("tench"). */
  readonly label: string;
  /** WordNet's definition (the gloss without its usage examples). */
  readonly gloss: string;
  /** Whether this synset is one of the 1000 classes. */
  readonly isClass: boolean;
}

/** One of the 1000 ILSVRC-2012 classes. */
export interface ImageNetClass extends SynsetInfo {
  /** Position in sorted-wnid order: the class index of torchvision and timm models. */
  readonly index: number;
  /**
   * Every hypernym path as wnids, root first (entity.n.01) and ending with the class itself, like
   * NLTK's Synset.hypernym_paths(). A class with several WordNet parents has several paths
   * (red wine has five).
   */
  readonly hypernymPaths: readonly (readonly string[])[];
}

export type LemmaMatch = 'exact' | 'normalized';

export interface LemmaLookupOptions {
  /**
   * 'exact': the lemma as WordNet spells it, with underscores or with spaces ("Tinca_tinca" or
   * "Tinca tinca"). 'normalized': compare {@link normalizeLemma} keys (case, underscores, hyphens and
   * extra whitespace ignored).
   * @default 'exact'
   */
  match?: LemmaMatch;
}

const WNID = /^n\d{8}$/;
const WORDNET_NAME = /^(.+)\.n\.(\d{2})$/;

function addTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

function synsetInfo(record: SynsetRecord, isClass: boolean): SynsetInfo {
  const lemmaTexts = record.lemmas.map(lemmaToText);
  return {
    wnid: record.wnid,
    wordnetName: record.name,
    lemmas: record.lemmas,
    lemmaTexts,
    label: lemmaTexts[0] ?? record.wnid,
    gloss: record.gloss,
    isClass,
  };
}

/**
 * The ImageNet-1k label space: the 1000 classes in model-index order, their WordNet ancestors, the
 * ImageNet-R/-A subsets and LAIONet's lemma table. Obtain it with `loadImageNetTaxonomy()`.
 */
export class ImageNetTaxonomy {
  /** The 1000 classes; classes[i].index === i. */
  readonly classes: readonly ImageNetClass[];
  /** The shared root of every hypernym path, entity.n.01. */
  readonly root: SynsetInfo;
  /** LAIONet's lemma table and the caption matchers built on it. */
  readonly laionet: LaionetLemmaTable;
  /** Where the data came from (WordNet and timm file hashes, cross-check results), as the builder recorded it. */
  readonly provenance: Readonly<Record<string, unknown>>;

  readonly #classByWnid = new Map<string, ImageNetClass>();
  readonly #synsetByWnid = new Map<string, SynsetInfo>();
  readonly #synsetByName = new Map<string, SynsetInfo>();
  readonly #byExactLemma = new Map<string, SynsetInfo[]>();
  readonly #byNormalizedLemma = new Map<string, SynsetInfo[]>();
  /** wnid → indices of the classes at or under it, ascending. */
  readonly #descendants = new Map<string, number[]>();
  readonly #subsets = new Map<string, ClassSubset>();

  constructor(data: TaxonomyData) {
    this.provenance = data.provenance;
    this.classes = data.classes.map((record) => ({
      ...synsetInfo(record, true),
      index: record.index,
      hypernymPaths: record.hypernymPaths.map((path) => [...path, record.wnid]),
    }));
    const ancestors = data.ancestors.map((record) => synsetInfo(record, false));
    for (const synset of [...this.classes, ...ancestors]) {
      this.#synsetByWnid.set(synset.wnid, synset);
      this.#synsetByName.set(synset.wordnetName, synset);
      synset.lemmas.forEach((lemma, i) => {
        addTo(this.#byExactLemma, lemma, synset);
        addTo(this.#byExactLemma, synset.lemmaTexts[i]!, synset);
        addTo(this.#byNormalizedLemma, normalizeLemma(lemma), synset);
      });
    }
    for (const cls of this.classes) {
      this.#classByWnid.set(cls.wnid, cls);
      const under = new Set(cls.hypernymPaths.flat());
      for (const wnid of under) addTo(this.#descendants, wnid, cls.index);
    }
    const root = this.#synsetByWnid.get(data.root);
    if (root === undefined) throw new TaxonomyError('DATA_INVALID', `root ${data.root} is not in the synset table`);
    this.root = root;
    for (const [name, subset] of Object.entries(data.subsets)) {
      this.#subsets.set(name, new ClassSubset(name, subset.wnids, subset.imagenetIndices));
    }
    this.laionet = new LaionetLemmaTable(new Map(Object.entries(data.laionet.lemmas)), data.laionet.droppedWnids);
  }

  /** Number of classes (1000). */
  get size(): number {
    return this.classes.length;
  }

  /** Whether the wnid is one of the 1000 classes. */
  hasClass(wnid: string): boolean {
    return this.#classByWnid.has(wnid);
  }

  /** The class with this wnid; throws TaxonomyError UNKNOWN_WNID otherwise. */
  classByWnid(wnid: string): ImageNetClass {
    const cls = this.#classByWnid.get(wnid);
    if (cls === undefined) {
      const hint = this.#synsetByWnid.has(wnid)
        ? ' (it is a WordNet ancestor of ImageNet classes; see descendantsOf)'
        : WNID.test(wnid)
          ? ''
          : ' (a wnid is "n" followed by 8 digits, e.g. n01440764)';
      throw new TaxonomyError('UNKNOWN_WNID', `${JSON.stringify(wnid)} is not an ImageNet-1k class${hint}`);
    }
    return cls;
  }

  /** The class at a model output index; throws TaxonomyError INDEX_OUT_OF_RANGE for anything but an integer in [0, 1000). */
  classByIndex(index: number): ImageNetClass {
    const cls = Number.isInteger(index) ? this.classes[index] : undefined;
    if (cls === undefined) {
      throw new TaxonomyError(
        'INDEX_OUT_OF_RANGE',
        `class index ${index} is out of range: expected an integer in [0, ${this.size})`,
      );
    }
    return cls;
  }

  /** The classes that have this lemma (several for "crane"); empty when none does. */
  classesByLemma(lemma: string, options?: LemmaLookupOptions): ImageNetClass[] {
    return this.synsetsByLemma(lemma, options)
      .filter((synset) => synset.isClass)
      .map((synset) => this.#classByWnid.get(synset.wnid)!);
  }

  /** Classes and ancestors that have this lemma; empty when none does. */
  synsetsByLemma(lemma: string, options?: LemmaLookupOptions): SynsetInfo[] {
    const found =
      (options?.match ?? 'exact') === 'exact'
        ? this.#byExactLemma.get(lemma)
        : this.#byNormalizedLemma.get(normalizeLemma(lemma));
    return [...(found ?? [])];
  }

  /**
   * Resolves a synset reference among the classes and their ancestors: a wnid ("n02084071"), an NLTK
   * name ("dog.n.01"), or a lemma (exact first, then normalized). Throws TaxonomyError UNKNOWN_SYNSET
   * when nothing matches and AMBIGUOUS_LEMMA when a lemma names several synsets.
   */
  synset(ref: string): SynsetInfo {
    if (WNID.test(ref)) {
      const synset = this.#synsetByWnid.get(ref);
      if (synset === undefined) {
        throw new TaxonomyError(
          'UNKNOWN_SYNSET',
          `${ref} is neither an ImageNet-1k class nor a WordNet ancestor of one, so no class lies under it`,
        );
      }
      return synset;
    }
    const named = WORDNET_NAME.exec(ref.trim());
    if (named) {
      const synset = this.#synsetByName.get(`${named[1]!.toLowerCase().replace(/ /g, '_')}.n.${named[2]}`);
      if (synset === undefined) {
        throw new TaxonomyError(
          'UNKNOWN_SYNSET',
          `${ref} is neither an ImageNet-1k class nor a WordNet ancestor of one, so no class lies under it`,
        );
      }
      return synset;
    }
    let candidates = this.synsetsByLemma(ref);
    if (candidates.length === 0) candidates = this.synsetsByLemma(ref, { match: 'normalized' });
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length === 0) {
      throw new TaxonomyError(
        'UNKNOWN_SYNSET',
        `no ImageNet-1k class or WordNet ancestor of one has the lemma ${JSON.stringify(ref)}`,
      );
    }
    const names = candidates.map((c) => `${c.wordnetName} (${c.wnid})`).join(', ');
    throw new TaxonomyError('AMBIGUOUS_LEMMA', `the lemma ${JSON.stringify(ref)} names ${names}; pass one of those`);
  }

  /**
   * The ImageNet classes that lie under a WordNet synset (the synset itself included when it is a
   * class), in index order: the schema-mapping step that turns a foreign label such as "dog.n.01" into
   * the 118 dog classes. Accepts what {@link synset} accepts.
   */
  descendantsOf(ref: string): ImageNetClass[] {
    const synset = this.synset(ref);
    return (this.#descendants.get(synset.wnid) ?? []).map((index) => this.classes[index]!);
  }

  /**
   * Hypernym paths of a class or ancestor as synsets, root first and ending with the synset itself.
   * An ancestor's paths are the distinct prefixes of class paths that end at it, which are all of its
   * WordNet paths because every path of a parent is a prefix of a path of its child.
   */
  hypernymPaths(ref: string): SynsetInfo[][] {
    const synset = this.synset(ref);
    const cls = this.#classByWnid.get(synset.wnid);
    let paths: readonly (readonly string[])[];
    if (cls !== undefined) {
      paths = cls.hypernymPaths;
    } else {
      const distinct = new Map<string, readonly string[]>();
      for (const index of this.#descendants.get(synset.wnid) ?? []) {
        for (const path of this.classes[index]!.hypernymPaths) {
          const at = path.indexOf(synset.wnid);
          if (at >= 0) {
            const prefix = path.slice(0, at + 1);
            distinct.set(prefix.join(' '), prefix);
          }
        }
      }
      paths = [...distinct.values()];
    }
    return paths.map((path) => path.map((wnid) => this.#synsetByWnid.get(wnid)!));
  }

  /** An evaluation subset with its position ↔ ImageNet-1k index mapping; throws UNKNOWN_SUBSET for other names. */
  subset(name: SubsetName): ClassSubset {
    const subset = this.#subsets.get(name);
    if (subset === undefined) {
      const known = [...this.#subsets.keys()].join(', ');
      throw new TaxonomyError('UNKNOWN_SUBSET', `no class subset named ${JSON.stringify(name)}; known: ${known}`);
    }
    return subset;
  }
}
