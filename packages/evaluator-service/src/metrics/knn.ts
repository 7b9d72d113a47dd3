// SELECT's self-supervised kNN evaluation (ssl/eval_knn.py, DESIGN.md "Self-supervised kNN"): a class-balanced
// bank of frozen-encoder features of the shift, cosine similarity, the k nearest bank rows vote for their class
// with weight exp(sim / T), top-1 and top-5 over all evaluation images. Pure code; the products run in linalg.ts.
import { EvaluatorInputError } from '../errors.js';
import { normalizeRows, type Matrix, type TopKResult } from './linalg.js';
import { SeededRandom } from './random.js';

/** SELECT's defaults. */
export const KNN_DEFAULTS = { ks: [10, 20, 100, 200], temperature: 0.07 } as const;

export interface BalancedBank {
  /** perClass x classes rows, L2-normalised, class by class (class c holds rows c*perClass .. ). */
  features: Matrix;
  labels: Int32Array;
  perClass: number;
  seed: number;
  /** Classes filled with draws from their mean and std (fewer than perClass samples). */
  oversampledClasses: number[];
  /** Classes without a single sample (a random point in the features' bounding box plus noisy copies). */
  emptyClasses: number[];
  /** Rows nudged because they duplicated an earlier row exactly. */
  nudgedDuplicates: number;
}

/**
 * Builds the bank as SELECT does, before L2 normalisation: exact duplicate rows (after the first) nudged by
 * N(0, 1e-3); per class the first `perClass` rows; a short class filled with draws from N(class mean, class std)
 * (std with n - 1; one sample -> 1e-5); an empty class gets one uniform point inside the features' bounding box
 * (norm >= 10, up to 5 tries, else the last try) plus perClass - 1 copies with N(0, 0.01) noise. Then every row
 * is L2-normalised. Seeded: the same inputs and seed give the same bank.
 */
export function buildBalancedBank(features: Matrix, labels: ArrayLike<number>, classes: number, perClass: number, seed: number): BalancedBank {
  const { rows, cols: d } = features;
  if (labels.length !== rows) throw new EvaluatorInputError(`the bank has ${rows} feature rows but ${labels.length} labels`);
  if (rows === 0) throw new EvaluatorInputError('the shift has no features to build a kNN bank from');
  if (!Number.isInteger(perClass) || perClass < 1) throw new EvaluatorInputError(`per_class must be a positive integer, got ${perClass}`);
  const rng = new SeededRandom(seed);
  const x = features.data.slice();

  let nudgedDuplicates = 0;
  const seen = new Set<string>();
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * d, (r + 1) * d);
    const key = Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64');
    if (seen.has(key)) {
      for (let c = 0; c < d; c++) row[c]! += 1e-3 * rng.normal();
      nudgedDuplicates++;
    } else seen.add(key);
  }

  const rowsOfClass: number[][] = Array.from({ length: classes }, () => []);
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new EvaluatorInputError(`bank row ${r} has label ${label}, outside the ${classes} classes`);
    }
    rowsOfClass[label]!.push(r);
  }

  const lo = new Float64Array(d).fill(Number.POSITIVE_INFINITY);
  const hi = new Float64Array(d).fill(Number.NEGATIVE_INFINITY);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < d; c++) {
      const v = x[r * d + c]!;
      if (v < lo[c]!) lo[c] = v;
      if (v > hi[c]!) hi[c] = v;
    }
  }

  const out = new Float32Array(classes * perClass * d);
  const outLabels = new Int32Array(classes * perClass);
  const oversampledClasses: number[] = [];
  const emptyClasses: number[] = [];
  for (let cls = 0; cls < classes; cls++) {
    const members = rowsOfClass[cls]!;
    const base = cls * perClass;
    outLabels.fill(cls, base, base + perClass);
    const kept = Math.min(perClass, members.length);
    for (let i = 0; i < kept; i++) out.set(x.subarray(members[i]! * d, (members[i]! + 1) * d), (base + i) * d);
    if (members.length >= perClass) continue;
    if (members.length > 0) {
      oversampledClasses.push(cls);
      const mean = new Float64Array(d);
      const std = new Float64Array(d);
      for (const r of members) for (let c = 0; c < d; c++) mean[c]! += x[r * d + c]! / members.length;
      for (const r of members) for (let c = 0; c < d; c++) std[c]! += (x[r * d + c]! - mean[c]!) ** 2;
      for (let c = 0; c < d; c++) std[c] = members.length > 1 ? Math.sqrt(std[c]! / (members.length - 1)) : 1e-5;
      for (let i = kept; i < perClass; i++) {
        for (let c = 0; c < d; c++) out[(base + i) * d + c] = mean[c]! + std[c]! * rng.normal();
      }
      continue;
    }
    emptyClasses.push(cls);
    const point = new Float64Array(d);
    for (let attempt = 0; attempt < 5; attempt++) {
      let norm = 0;
      for (let c = 0; c < d; c++) {
        point[c] = lo[c]! + (hi[c]! - lo[c]!) * rng.uniform();
        norm += point[c]! ** 2;
      }
      if (Math.sqrt(norm) >= 10) break;
    }
    for (let c = 0; c < d; c++) out[base * d + c] = point[c]!;
    for (let i = 1; i < perClass; i++) {
      for (let c = 0; c < d; c++) out[(base + i) * d + c] = point[c]! + 0.01 * rng.normal();
    }
  }
  const bank = normalizeRows({ data: out, rows: classes * perClass, cols: d });
  return { features: bank, labels: outLabels, perClass, seed, oversampledClasses, emptyClasses, nudgedDuplicates };
}

export interface KnnScore {
  k: number;
  /** Percent of evaluation images whose top-1 vote is right. */
  top1: number;
  /** Percent whose label is among the min(5, k) best-voted classes. */
  top5: number;
}

export interface KnnState {
  images: number;
  top1: number[];
  top5: number[];
}

/**
 * Accumulates kNN votes block by block. Per query and k: votes[c] = sum over the k nearest bank rows of class c
 * of exp(sim / T); classes rank by votes, ties to the lower class index; a class without a vote never counts
 * as predicted (SELECT's torch sort leaves the order of zero votes unspecified).
 */
export class KnnAccumulator {
  readonly ks: number[];
  readonly temperature: number;
  readonly #bankLabels: Int32Array;
  readonly #votes: Float64Array;
  readonly #state: KnnState;

  constructor(options: { ks: readonly number[]; temperature: number; classes: number; bankLabels: Int32Array }, state?: KnnState) {
    this.ks = [...new Set(options.ks)].sort((a, b) => a - b);
    if (this.ks.length === 0 || this.ks.some((k) => !Number.isInteger(k) || k < 1)) {
      throw new EvaluatorInputError(`k must be positive integers, got [${options.ks.join(', ')}]`);
    }
    if (!(options.temperature > 0)) throw new EvaluatorInputError(`temperature must be > 0, got ${options.temperature}`);
    this.temperature = options.temperature;
    this.#bankLabels = options.bankLabels;
    this.#votes = new Float64Array(options.classes);
    this.#state = state ? structuredClone(state) : { images: 0, top1: this.ks.map(() => 0), top5: this.ks.map(() => 0) };
  }

  get maxK(): number {
    return this.ks[this.ks.length - 1]!;
  }

  /** Adds the neighbours of `labels.length` queries (rows of `neighbours`, best first). */
  add(neighbours: TopKResult, labels: ArrayLike<number>): void {
    const votes = this.#votes;
    const touched: number[] = [];
    for (let q = 0; q < labels.length; q++) {
      const label = labels[q]!;
      for (const c of touched) votes[c] = 0;
      touched.length = 0;
      let ki = 0;
      for (let j = 0; j < neighbours.k && ki < this.ks.length; j++) {
        const cls = this.#bankLabels[neighbours.indices[q * neighbours.k + j]!]!;
        if (votes[cls] === 0) touched.push(cls);
        votes[cls]! += Math.exp(neighbours.values[q * neighbours.k + j]! / this.temperature);
        // a k beyond the bank size is scored with every bank row
        while (ki < this.ks.length && (j + 1 === this.ks[ki]! || (j + 1 === neighbours.k && this.ks[ki]! > neighbours.k))) {
          this.#score(ki, label, touched);
          ki++;
        }
      }
    }
    this.#state.images += labels.length;
  }

  #score(ki: number, label: number, touched: number[]): void {
    const votes = this.#votes;
    const mine = votes[label]!;
    if (mine === 0) return;
    let ahead = 0;
    for (const c of touched) if (votes[c]! > mine || (votes[c] === mine && c < label)) ahead++;
    if (ahead === 0) this.#state.top1[ki]!++;
    if (ahead < Math.min(5, this.ks[ki]!)) this.#state.top5[ki]!++;
  }

  state(): KnnState {
    return structuredClone(this.#state);
  }

  get images(): number {
    return this.#state.images;
  }

  scores(): KnnScore[] {
    if (this.#state.images === 0) throw new EvaluatorInputError('the evaluation set has no images');
    return this.ks.map((k, i) => ({
      k,
      top1: (100 * this.#state.top1[i]!) / this.#state.images,
      top5: (100 * this.#state.top5[i]!) / this.#state.images,
    }));
  }
}
