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
