import { describe, expect, it } from 'vitest';
import { DATACOMP_CLIP_SCORE_BASELINES, TopFractionFilter, checkClipScoreRule, clipScores, topFractionCut } from './clip-score.js';

describe('CLIP score', () => {
  it('is the cosine of each image with its own caption', () => {
    const images = { data: Float32Array.from([2, 0, 0, 3, 1, 1]), rows: 3, dim: 2 };
    const texts = { data: Float32Array.from([0.6, 0.8, 0, -1, 0, 0]), rows: 3, dim: 2 };
    const s = clipScores(images, texts);
    expect(s[0]).toBeCloseTo(0.6, 6);
    expect(s[1]).toBeCloseTo(-1, 6);
    expect(s[2]).toBeNaN(); // a zero caption embedding has no direction
    expect(() => clipScores(images, { data: new Float32Array(9), rows: 3, dim: 3 })).toThrow(/2-dimensional image embeddings cannot be compared with 3-dimensional/);
  });

  it("carries DataComp's ViT-B/32 baselines", () => {
    expect(DATACOMP_CLIP_SCORE_BASELINES['vit-b32-threshold-0.25'].threshold).toBe(0.25);
    expect(DATACOMP_CLIP_SCORE_BASELINES['vit-b32-threshold-0.28'].threshold).toBe(0.28);
    expect(DATACOMP_CLIP_SCORE_BASELINES['vit-b32-top-30pct'].topFraction).toBe(0.3);
  });

  it('keeps exactly ceil(fraction x scored) in pool order, ties at the cut in arrival order', () => {
    const scores = Float32Array.from([0.1, 0.5, 0.5, 0.3, Number.NaN]);
    const cut = topFractionCut(scores, 0.25); // 4 scored -> keep 1
    expect(cut).toEqual({ cutoff: 0.5, keepAtCutoff: 1, keep: 1 });
    const filter = new TopFractionFilter(cut);
    expect([...scores].map((s) => filter.keeps(s))).toEqual([false, true, false, false, false]);
    const half = new TopFractionFilter(topFractionCut(scores, 0.75)); // keep 3
    expect([...scores].map((s) => half.keeps(s))).toEqual([false, true, true, true, false]);
  });

  it('refuses a rule with both or neither parameter and values out of range', () => {
    expect(() => checkClipScoreRule({})).toThrow(/exactly one of threshold and topFraction/);
    expect(() => checkClipScoreRule({ threshold: 0.3, topFraction: 0.3 })).toThrow(/exactly one/);
    expect(() => checkClipScoreRule({ threshold: 1.2 })).toThrow(/threshold must be in \[-1, 1\]/);
    expect(() => checkClipScoreRule({ topFraction: 0 })).toThrow(/topFraction must be in \(0, 1\]/);
  });
});
