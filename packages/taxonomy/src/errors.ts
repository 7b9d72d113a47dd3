/**
 * Why a taxonomy call failed. Callers branch on the code (a gRPC handler maps UNKNOWN_* and
 * INDEX_OUT_OF_RANGE to NOT_FOUND / INVALID_ARGUMENT, DATA_* to FAILED_PRECONDITION).
 */
export type TaxonomyErrorCode =
  /** A wnid that is not one of the 1000 ImageNet-1k classes. */
  | 'UNKNOWN_WNID'
  /** A class index that is not an integer in [0, 1000), or a subset position outside its subset. */
  | 'INDEX_OUT_OF_RANGE'
  /** A synset reference (wnid, name like "dog.n.01", or lemma) that is neither a class nor an ancestor of one. */
  | 'UNKNOWN_SYNSET'
  /** A lemma that names several synsets of the table; pass a wnid or a "dog.n.01"-style name instead. */
  | 'AMBIGUOUS_LEMMA'
  /** A subset name that the data file does not define. */
  | 'UNKNOWN_SUBSET'
  /** The data file could not be read. */
  | 'DATA_UNREADABLE'
  /** The data file was read but is not a taxonomy this code understands. */
  | 'DATA_INVALID';

/** The one error type of @select/taxonomy. */
export class TaxonomyError extends Error {
  readonly code: TaxonomyErrorCode;

  constructor(code: TaxonomyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TaxonomyError';
    this.code = code;
  }
}
