// Pearson and Spearman correlation, the two SELECT's reported correlations could mean (the paper does not say
// which): per-class precision vs class count, precision vs recall, accuracy vs the reference shift's accuracy.
// Pairs where either value is not finite (a class without images has no accuracy) are left out.

export interface Correlation {
  pearson: number;
  spearman: number;
  /** Pairs used. */
  n: number;
}

export function correlate(xs: readonly number[], ys: readonly number[]): Correlation {
  if (xs.length !== ys.length) throw new RangeError(`correlation of ${xs.length} against ${ys.length} values`);
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (Number.isFinite(xs[i]) && Number.isFinite(ys[i])) {
      x.push(xs[i]!);
      y.push(ys[i]!);
    }
  }
  return { pearson: pearson(x, y), spearman: pearson(ranks(x), ranks(y)), n: x.length };
}

/** Pearson's r; NaN with fewer than two pairs or a constant side. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2) return Number.NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** Ranks 1..n, ties sharing their average rank (as scipy.stats.rankdata's default). */
export function ranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) out[order[t]![1]] = rank;
    i = j + 1;
  }
  return out;
}

/** Per-class inputs of SELECT's reported correlations; maps are keyed by class index. */
export interface ShiftCorrelationInput {
  counts: readonly number[];
  accuracy: ReadonlyMap<number, number>;
  precision: ReadonlyMap<number, number>;
  referenceAccuracy?: ReadonlyMap<number, number>;
  referenceCounts?: ReadonlyMap<number, number>;
}

/** Named correlations over the classes both sides have a value for. */
export function shiftCorrelations(input: ShiftCorrelationInput): Record<string, Correlation> {
  const classes = [...new Set([...input.accuracy.keys(), ...input.precision.keys()])].sort((a, b) => a - b);
  const pick = (m: ReadonlyMap<number, number> | undefined, c: number): number => m?.get(c) ?? Number.NaN;
  const out: Record<string, Correlation> = {
    precision_vs_count: correlate(classes.map((c) => pick(input.precision, c)), classes.map((c) => input.counts[c] ?? Number.NaN)),
    precision_vs_recall: correlate(classes.map((c) => pick(input.precision, c)), classes.map((c) => pick(input.accuracy, c))),
  };
  if (input.referenceAccuracy) out['accuracy_vs_reference'] = correlate(classes.map((c) => pick(input.accuracy, c)), classes.map((c) => pick(input.referenceAccuracy, c)));
  if (input.referenceCounts) {
    const all = input.counts.map((_, c) => c);
    out['count_vs_reference_count'] = correlate(all.map((c) => input.counts[c]!), all.map((c) => pick(input.referenceCounts, c)));
  }
  return out;
}
