import { readFile } from 'node:fs/promises';
import type { ImageNetTaxonomy } from '@select/taxonomy';
import type { WordNetNouns } from './wordnet-nouns.js';

/** How an OpenImages label became an ImageNet class (or did not). */
export type MappingRule = 'exact-lemma' | 'normalized-lemma' | 'synset-class' | 'hypernym' | 'hyponym-unique' | 'openimages-parent' | 'unmapped';

export interface LabelMappingEntry {
  /** The MID, e.g. `/m/0bt9lr`. */
  label: string;
  name: string;
  /** The class; '' and -1 when unmapped. */
  wnid: string;
  classIndex: number;
  rule: MappingRule;
  /** The WordNet synset the name matched (NLTK name); '' when none did. */
  synset: string;
  /** Why an unmapped label stayed unmapped (`no-synset`, `ambiguous-lemma`, `above-several-classes`, ...). */
  why: string;
}

export interface MappingPolicy {
  /** 'exact': a class lemma spelled exactly as the display name (spaces as underscores). 'normalized': also
   *  case, plural, punctuation and spaces/underscores folded. */
  match: 'exact' | 'normalized';
  /** A name whose synset lies BELOW a class (a kind of it): 'nearest-class' maps it to the nearest class
   *  among its WordNet hypernyms; 'none' leaves it unmapped. */
  hypernym: 'nearest-class' | 'none';
  /** A name whose synset lies ABOVE classes: 'unique' maps it when exactly one class lies under it;
   *  'none' leaves it unmapped. (Several classes under it never map: the label does not say which.) */
  hyponym: 'unique' | 'none';
  /** An unmapped label under a mapped label in the OpenImages hierarchy takes its nearest mapped
   *  ancestor's class ("Tabby" under "Cat"... when "Cat" maps). */
  openImagesParent: boolean;
  /** Which WordNet senses of a name are tried: 'first' (the most frequent, WordNet's order) or 'all'
   *  (in sense order; the first sense that maps wins). */
  senses: 'first' | 'all';
}

/** OpenImages' class hierarchy JSON: child MID -> parent MIDs (a label may sit under several parents). */
export async function readOpenImagesHierarchy(file: string): Promise<Map<string, Set<string>>> {
  const parents = new Map<string, Set<string>>();
  interface Node {
    LabelName?: string;
    Subcategory?: Node[];
    Part?: Node[];
  }
  const root = JSON.parse(await readFile(file, 'utf8')) as Node;
  const walk = (node: Node): void => {
    for (const child of node.Subcategory ?? []) {
      if (typeof child.LabelName === 'string' && typeof node.LabelName === 'string') {
        const set = parents.get(child.LabelName) ?? new Set<string>();
        set.add(node.LabelName);
        parents.set(child.LabelName, set);
      }
      walk(child);
    }
  };
  walk(root);
  return parents;
}

/**
 * Maps every label of the class-descriptions table to an ImageNet class through WordNet 3.0. Rules,
 * tried in this order for each label (the first that gives exactly one class wins):
 *  1. exact-lemma: a class has the display name as a lemma, spelled exactly (spaces = underscores);
 *  2. normalized-lemma (match 'normalized'): the same after folding case, `-`/`_`/spaces and plurals,
 *     and without a parenthesised qualifier ("Jaguar (Animal)");
 *  3. WordNet senses of the name (policy.senses): synset-class when the sense is a class itself;
 *     hypernym when a class is among its hypernyms (nearest first, breadth-first; a tie between two
 *     classes at the same distance leaves it unmapped); hyponym-unique when exactly one class is under it;
 *  4. openimages-parent: the class of the nearest OpenImages ancestor mapped by rules 1-3 other than
 *     hyponym-unique (a guess is not passed down).
 * A lemma shared by several classes ("crane") is ambiguous and maps nowhere by rules 1-2.
 */
export function mapLabels(
  names: ReadonlyMap<string, string>,
  imagenet: ImageNetTaxonomy,
  wordnet: WordNetNouns,
  policy: MappingPolicy,
  hierarchy?: ReadonlyMap<string, ReadonlySet<string>>,
): Map<string, LabelMappingEntry> {
  const out = new Map<string, LabelMappingEntry>();
  const classOf = (wnid: string): number => (imagenet.hasClass(wnid) ? imagenet.classByWnid(wnid).index : -1);
  for (const [label, name] of names) {
    const entry = (wnid: string, rule: MappingRule, synset: string, why = ''): LabelMappingEntry => ({ label, name, wnid, classIndex: wnid === '' ? -1 : classOf(wnid), rule, synset, why });
    const lemma = name.trim().replace(/ /g, '_');
    const exact = imagenet.classesByLemma(lemma, { match: 'exact' });
    if (exact.length === 1) {
      out.set(label, entry(exact[0]!.wnid, 'exact-lemma', exact[0]!.wordnetName));
      continue;
    }
    if (exact.length > 1) {
      out.set(label, entry('', 'unmapped', '', `ambiguous-lemma: ${exact.map((c) => c.wnid).join(' ')}`));
      continue;
    }
    if (policy.match === 'normalized') {
      const normalized = normalizedClasses(name, imagenet, wordnet);
      if (normalized.length === 1) {
        out.set(label, entry(normalized[0]!.wnid, 'normalized-lemma', normalized[0]!.wordnetName));
        continue;
      }
      if (normalized.length > 1) {
        out.set(label, entry('', 'unmapped', '', `ambiguous-lemma: ${normalized.map((c) => c.wnid).join(' ')}`));
        continue;
      }
    }
    const found = policy.match === 'normalized' ? wordnet.lookup(stripQualifier(name)) : exactWordNet(name, wordnet);
    if (found === undefined) {
      out.set(label, entry('', 'unmapped', '', 'no-synset'));
      continue;
    }
    let mapped: LabelMappingEntry | undefined;
    let why = '';
    for (const wnid of policy.senses === 'first' ? found.wnids.slice(0, 1) : found.wnids) {
      const synsetName = wordnet.nltkName(wnid);
      if (imagenet.hasClass(wnid)) {
        mapped = entry(wnid, 'synset-class', synsetName);
        break;
      }
      if (imagenet.hasClass(wnid) === false && isAncestorOfClasses(imagenet, wnid)) {
        const under = imagenet.descendantsOf(wnid);
        if (policy.hyponym === 'unique' && under.length === 1) {
          mapped = entry(under[0]!.wnid, 'hyponym-unique', synsetName);
          break;
        }
        why ||= `above-${under.length}-classes (${synsetName})`;
        continue;
      }
      if (policy.hypernym === 'nearest-class') {
        const nearest = nearestClassAbove(wnid, imagenet, wordnet);
        if (nearest.length === 1) {
          mapped = entry(nearest[0]!, 'hypernym', synsetName);
          break;
        }
        if (nearest.length > 1) why ||= `below-several-classes (${synsetName}: ${nearest.join(' ')})`;
        else why ||= `no-class-related (${synsetName})`;
      } else {
        why ||= `no-class-related (${synsetName})`;
      }
    }
    out.set(label, mapped ?? entry('', 'unmapped', wordnet.nltkName(found.wnids[0]!), why || 'no-class-related'));
  }
  if (policy.openImagesParent && hierarchy !== undefined) {
    for (const [label, current] of out) {
      if (current.rule !== 'unmapped') continue;
      const inherited = nearestMappedAncestor(label, hierarchy, out);
      if (inherited.length === 1) {
        const parent = out.get(inherited[0]!)!;
        out.set(label, { ...current, wnid: parent.wnid, classIndex: parent.classIndex, rule: 'openimages-parent', why: `under ${parent.label} (${parent.name})` });
      }
    }
  }
  return out;
}

/** OpenImages disambiguates some names in parentheses ("Jaguar (Animal)"); the qualifier is no lemma. */
export function stripQualifier(name: string): string {
  return name.replace(/\s*\([^)]*\)\s*/g, ' ').trim();
}

function normalizedClasses(raw: string, imagenet: ImageNetTaxonomy, wordnet: WordNetNouns): ReturnType<ImageNetTaxonomy['classesByLemma']> {
  const name = stripQualifier(raw);
  const direct = imagenet.classesByLemma(name, { match: 'normalized' });
  if (direct.length > 0) return direct;
  // Plural and punctuation folding: WordNet's base form of the name, then the class lemmas again.
  const base = wordnet.lookup(name.replace(/[^\p{L}\p{N}\s_-]/gu, ' '));
  return base === undefined ? [] : imagenet.classesByLemma(base.form, { match: 'normalized' });
}

function exactWordNet(name: string, wordnet: WordNetNouns): { form: string; wnids: string[] } | undefined {
  // 'exact' matching still looks the name up in WordNet's index (which is lower case), but without morphy.
  const found = wordnet.lookup(name);
  return found !== undefined && found.form === name.trim().toLowerCase().replace(/[\s-]+/g, '_') ? found : undefined;
}

function isAncestorOfClasses(imagenet: ImageNetTaxonomy, wnid: string): boolean {
  try {
    imagenet.synset(wnid);
    return true;
  } catch {
    return false;
  }
}

/** Classes among the hypernyms of `wnid`, the nearest level that has any (breadth-first). */
function nearestClassAbove(wnid: string, imagenet: ImageNetTaxonomy, wordnet: WordNetNouns): string[] {
  let level = wordnet.synset(wnid)?.hypernyms ?? [];
  const seen = new Set<string>([wnid]);
  while (level.length > 0) {
    const classes = [...new Set(level.filter((w) => imagenet.hasClass(w)))].sort();
    if (classes.length > 0) return classes;
    const next: string[] = [];
    for (const w of level) {
      if (seen.has(w)) continue;
      seen.add(w);
      next.push(...(wordnet.synset(w)?.hypernyms ?? []));
    }
    level = next;
  }
  return [];
}

const INHERITABLE = new Set<MappingRule>(['exact-lemma', 'normalized-lemma', 'synset-class', 'hypernym']);

function nearestMappedAncestor(label: string, hierarchy: ReadonlyMap<string, ReadonlySet<string>>, mapped: ReadonlyMap<string, LabelMappingEntry>): string[] {
  let level = [...(hierarchy.get(label) ?? [])];
  const seen = new Set<string>([label]);
  while (level.length > 0) {
    const hits = level.filter((parent) => {
      const entry = mapped.get(parent);
      // Only names that matched a class (or a kind of one) pass their class down; a hyponym-unique guess
      // does not ("Plant" -> industrial plant -> lumbermill must not turn every "Tree" into a lumbermill).
      return entry !== undefined && INHERITABLE.has(entry.rule);
    });
    const classes = new Set(hits.map((parent) => mapped.get(parent)!.wnid));
    if (classes.size === 1) return [hits[0]!];
    if (classes.size > 1) return hits;
    const next: string[] = [];
    for (const parent of level) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      next.push(...(hierarchy.get(parent) ?? []));
    }
    level = next;
  }
  return [];
}
