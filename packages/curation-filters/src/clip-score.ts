// CLIP score filtering (DataComp's "CLIP score" baselines): the cosine between an image's embedding and
// its caption's, keep above a threshold or the top fraction of the pool.
import { invalidArgument } from './errors.js';
import type { Matrix } from './vectors.js';

/** DataComp's published CLIP-score baselines for OpenAI CLIP ViT-B/32 embeddings. */
export const DATACOMP_CLIP_SCORE_BASELINES = {
  'vit-b32-threshold-0.25': { threshold: 0.25 },
  'vit-b32-threshold-0.28': { threshold: 0.28 },
  'vit-b32-top-30pct': { topFraction: 0.3 },
} as const;

/** Keep `score >= threshold`, or the `topFraction` best of the whole pool. */
export type ClipScoreRule = { threshold: number; topFraction?: undefined } | { topFraction: number; threshold?: undefined };

export function checkClipScoreRule(rule: { threshold?: number; topFraction?: number }): ClipScoreRule {
  const { threshold, topFraction } = rule;
  if ((threshold === undefined) === (topFraction === undefined)) throw invalidArgument('CLIP score: give exactly one of threshold and topFraction');
  if (threshold !== undefined) {
    if (!(threshold >= -1 && threshold <= 1)) throw invalidArgument(`CLIP score: threshold must be in [-1, 1] (a cosine), got ${threshold}`);
    return { threshold };
  }
  if (!(topFraction! > 0 && topFraction! <= 1)) throw invalidArgument(`CLIP score: topFraction must be in (0, 1], got ${topFraction}`);
  return { topFraction: topFraction! };
}

/** Row-wise cosine of image i with text i. */
export function clipScores(images: Matrix, texts: Matrix): Float32Array {
  if (images.dim !== texts.dim) {
    throw invalidArgument(`CLIP score: ${images.dim}-dimensional image embeddings cannot be compared with ${texts.dim}-dimensional text embeddings`);
  }
  if (images.rows !== texts.rows) throw invalidArgument(`CLIP score: ${images.rows} image embeddings but ${texts.rows} text embeddings`);
  const out = new Float32Array(images.rows);
  const d = images.dim;
  for (let r = 0; r < images.rows; r++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let t = 0; t < d; t++) {
      const a = images.data[r * d + t]!;
      const b = texts.data[r * d + t]!;
      ab += a * b;
      aa += a * a;
      bb += b * b;
    }
    out[r] = aa === 0 || bb === 0 ? Number.NaN : ab / Math.sqrt(aa * bb);
  }
  return out;
}

/**
 * The cut of a top-fraction rule over a whole pool: keep `score > cutoff`, and of the scores equal to
 * the cutoff the first `keepAtCutoff` met in the pool's (fixed) order. Together exactly
 * `ceil(fraction x scored)` samples; NaN scores (no embedding) are never kept.
 */
export interface TopFractionCut {
  cutoff: number;
  keepAtCutoff: number;
  keep: number;
}

export function topFractionCut(scores: Float32Array, fraction: number): TopFractionCut {
  checkClipScoreRule({ topFraction: fraction });
  const valid = scores.filter((s) => !Number.isNaN(s)).sort((a, b) => b - a);
  const keep = Math.ceil(fraction * valid.length);
  if (keep === 0) return { cutoff: Infinity, keepAtCutoff: 0, keep: 0 };
  const cutoff = valid[keep - 1]!;
  let above = 0;
  for (const s of valid) if (s > cutoff) above++;
  return { cutoff, keepAtCutoff: keep - above, keep };
}

/** Applies a TopFractionCut to scores met in pool order (stateful: counts the ties it has kept). */
export class TopFractionFilter {
  private tiesKept = 0;
  constructor(private readonly cut: TopFractionCut) {}
  keeps(score: number): boolean {
    if (Number.isNaN(score)) return false;
    if (score > this.cut.cutoff) return true;
    if (score === this.cut.cutoff && this.tiesKept < this.cut.keepAtCutoff) {
      this.tiesKept++;
      return true;
    }
    return false;
  }
}
