import { readFileSync } from 'node:fs';
import { TaxonomyError } from './errors.js';

/**
 * The shipped data file. `src/` and `dist/` both sit one level below the package root, so the same
 * relative URL resolves from the TypeScript sources (vitest, tsx) and from the build.
 */
export const DEFAULT_DATA_FILE = new URL('../data/imagenet1k.json', import.meta.url);

export const SUPPORTED_SCHEMA_VERSION = 1;

/** One synset as stored: WordNet lemma names (underscores for spaces) in WordNet order. */
export interface SynsetRecord {
  wnid: string;
  name: string;
  lemmas: string[];
  gloss: string;
}

export interface ClassRecord extends SynsetRecord {
  index: number;
  /** Root-first wnid paths from entity.n.01 down to the class's direct hypernym (the class itself excluded). */
  hypernymPaths: string[][];
}

export interface SubsetRecord {
  wnids: string[];
  imagenetIndices: number[];
}

export interface TaxonomyData {
  schemaVersion: number;
  provenance: Record<string, unknown>;
  root: string;
  classes: ClassRecord[];
  ancestors: SynsetRecord[];
  subsets: Record<string, SubsetRecord>;
  laionet: { lemmas: Record<string, string>; droppedWnids: string[] };
}

/** Reads and sanity-checks the data file that tools/taxonomy/build_taxonomy.py writes. */
export function readTaxonomyData(file: string | URL = DEFAULT_DATA_FILE): TaxonomyData {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new TaxonomyError('DATA_UNREADABLE', `cannot read the taxonomy data file ${String(file)}`, { cause });
  }
  let data: TaxonomyData;
  try {
    data = JSON.parse(text) as TaxonomyData;
  } catch (cause) {
    throw new TaxonomyError('DATA_INVALID', `the taxonomy data file ${String(file)} is not JSON`, { cause });
  }
  checkShape(data, String(file));
  return data;
}

function checkShape(data: TaxonomyData, file: string): void {
  const fail = (why: string): never => {
    throw new TaxonomyError('DATA_INVALID', `${file}: ${why}; rebuild it with tools/taxonomy/build_taxonomy.py`);
  };
  if (typeof data !== 'object' || data === null) fail('not a JSON object');
  if (data.schemaVersion !== SUPPORTED_SCHEMA_VERSION) {
    fail(`schemaVersion ${String(data.schemaVersion)} is not ${SUPPORTED_SCHEMA_VERSION}`);
  }
  if (!Array.isArray(data.classes) || !Array.isArray(data.ancestors)) fail('classes or ancestors missing');
  if (typeof data.subsets !== 'object' || typeof data.laionet !== 'object') fail('subsets or laionet missing');
  data.classes.forEach((cls, i) => {
    if (cls.index !== i) fail(`class at position ${i} has index ${cls.index}`);
    if (i > 0 && data.classes[i - 1]!.wnid >= cls.wnid) fail(`classes are not in sorted-wnid order at ${cls.wnid}`);
    if (cls.lemmas.length === 0 || cls.hypernymPaths.length === 0) fail(`${cls.wnid} has no lemmas or no hypernym path`);
  });
}
