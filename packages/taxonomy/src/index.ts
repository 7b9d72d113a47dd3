// Public entry of @select/taxonomy: the ImageNet-1k label space from WordNet 3.0 (classes, lemmas,
// glosses, hypernyms), the ImageNet-R/-A subsets and LAIONet's lemma table and caption matching.
export { TaxonomyError, type TaxonomyErrorCode } from './errors.js';
export { loadImageNetTaxonomy, findSynsetsInCaption, type LoadTaxonomyOptions } from './load-taxonomy.js';
export {
  ImageNetTaxonomy,
  type ImageNetClass,
  type SynsetInfo,
  type LemmaLookupOptions,
  type LemmaMatch,
} from './imagenet-taxonomy.js';
export { ClassSubset, type SubsetName } from './class-subset.js';
export { LaionetLemmaTable, buildLaionetLemmaTable } from './laionet-lemmas.js';
export {
  CaptionMatcher,
  substringMatch,
  resolveCaptionMatchOptions,
  type CaptionMatchOptions,
  type ResolvedCaptionMatchOptions,
} from './caption-matcher.js';
export { lemmaToText, normalizeLemma } from './lemma-forms.js';
