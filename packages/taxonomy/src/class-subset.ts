import { TaxonomyError } from './errors.js';

/** The evaluation subsets that use fewer than 1000 classes; their logits are the 1k logits at these indices. */
export type SubsetName = 'imagenet-r' | 'imagenet-a';

/**
 * A class subset in its own order (sorted wnids, as ImageNet-R/-A folder names sort), with the mapping
 * between subset positions and ImageNet-1k indices that evaluators need to slice 1k logits.
 */
export class ClassSubset {
  readonly name: string;
  /** wnids in subset-position order. */
  readonly wnids: readonly string[];
  /** imagenetIndices[position] = ImageNet-1k class index. */
  readonly imagenetIndices: readonly number[];
  readonly #positionOfIndex: ReadonlyMap<number, number>;

  constructor(name: string, wnids: readonly string[], imagenetIndices: readonly number[]) {
    this.name = name;
    this.wnids = wnids;
    this.imagenetIndices = imagenetIndices;
    this.#positionOfIndex = new Map(imagenetIndices.map((index, position) => [index, position]));
  }

  get size(): number {
    return this.wnids.length;
  }

  /** The ImageNet-1k index of a subset position. */
  toImageNetIndex(position: number): number {
    const index = Number.isInteger(position) ? this.imagenetIndices[position] : undefined;
    if (index === undefined) {
      throw new TaxonomyError(
        'INDEX_OUT_OF_RANGE',
        `${this.name} position ${position} is out of range: expected an integer in [0, ${this.size})`,
      );
    }
    return index;
  }

  /** The subset position of an ImageNet-1k index, or undefined when that class is not in the subset. */
  positionOf(imagenetIndex: number): number | undefined {
    return this.#positionOfIndex.get(imagenetIndex);
  }

  /** Whether an ImageNet-1k index belongs to the subset. */
  has(imagenetIndex: number): boolean {
    return this.#positionOfIndex.has(imagenetIndex);
  }
}
