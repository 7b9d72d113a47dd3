import type { CaptionMatchOptions } from './caption-matcher.js';
import { ImageNetTaxonomy } from './imagenet-taxonomy.js';
import { DEFAULT_DATA_FILE, readTaxonomyData } from './taxonomy-data.js';

export interface LoadTaxonomyOptions {
  /**
   * The data file that tools/taxonomy/build_taxonomy.py writes.
   * @default the file shipped in this package, data/imagenet1k.json
   */
  dataFile?: string | URL;
}

const loaded = new Map<string, ImageNetTaxonomy>();

/**
 * The ImageNet-1k taxonomy, read once per data file and process (about 0.6 MB of JSON). A failed read
 * is not remembered, so a caller may fix the file and try again.
 */
export function loadImageNetTaxonomy(options: LoadTaxonomyOptions = {}): ImageNetTaxonomy {
  const file = options.dataFile ?? DEFAULT_DATA_FILE;
  const key = String(file);
  let taxonomy = loaded.get(key);
  if (taxonomy === undefined) {
    taxonomy = new ImageNetTaxonomy(readTaxonomyData(file));
    loaded.set(key, taxonomy);
  }
  return taxonomy;
}

/**
 * The ImageNet classes (wnids) whose LAIONet lemmas occur in the caption, by LAIONet's padded-substring
 * rule. Shorthand for `loadImageNetTaxonomy().laionet.matcher(options).findSynsets(caption)`.
 */
export function findSynsetsInCaption(caption: string, options?: CaptionMatchOptions): Set<string> {
  return loadImageNetTaxonomy().laionet.matcher(options).findSynsets(caption);
}
