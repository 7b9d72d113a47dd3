// Filter 8: CLIP score (DataComp's baseline): cosine between a candidate's image embedding and its
// caption's, both from one CLIP model in the same pass; keep at or above a threshold, or the top
// fraction of the whole build.
import { DATACOMP_CLIP_SCORE_BASELINES, TopFractionFilter, checkClipScoreRule, clipScores, topFractionCut } from '@select/curation-filters';
import { ServiceError, type GenericServiceClient } from '@select/platform';
import type { Candidate, ChainStep, Decision, GlobalStep, StepContext, StepDefinition, StepResult } from '../chain/step.js';
import { describeEmbeddingModel, embedCandidateImages, embedTexts, requireClient } from './service-calls.js';

export const CLIP_SCORE = 'clip-score';

const BASELINES = Object.keys(DATACOMP_CLIP_SCORE_BASELINES) as Array<keyof typeof DATACOMP_CLIP_SCORE_BASELINES>;

export const clipScoreDefinition: StepDefinition = {
  name: CLIP_SCORE,
  role: 'filter',
  description:
    "CLIP score (DataComp): cosine between the candidate's image and caption embeddings from one CLIP model; keeps score >= threshold, or the top fraction of the build. " +
    'DataComp baselines (OpenAI ViT-B/32): threshold 0.25 or 0.28, or the top 30%.',
  paperShift: '',
  poolFormats: [],
  params: {
    model: { type: 'string', description: 'embedding service model with an image and a text tower (CLIP)', required: true },
    threshold: { type: 'number', description: 'keep if score >= threshold (cosine)', min: -1, max: 1 },
    topFraction: { type: 'number', description: 'keep the best fraction of the whole build (a build-wide step: two passes)', min: 0, exclusiveMin: true, max: 1 },
    baseline: { type: 'string', description: `a DataComp baseline instead of threshold/topFraction: ${BASELINES.join(', ')}`, enum: BASELINES },
    batchSize: { type: 'integer', description: 'candidates per embedding round trip', default: 64, min: 1, max: 1024 },
  },
  async validate(params, env) {
    ruleOf(params);
    await describeEmbeddingModel(env, CLIP_SCORE, String(params['model']), ['image', 'text']);
  },
  async create(params, env) {
    const info = await describeEmbeddingModel(env, CLIP_SCORE, String(params['model']), ['image', 'text']);
    const rule = ruleOf(params);
    const scorer = new ClipScorer(requireClient(env, 'embedding', CLIP_SCORE), info.name, info.modelId, Number(params['batchSize']));
    return rule.threshold !== undefined ? new ClipScoreThresholdStep(params, scorer, rule.threshold) : new ClipScoreTopFractionStep(params, scorer, rule.topFraction);
  },
};

function ruleOf(params: Readonly<Record<string, unknown>>): { threshold: number; topFraction?: undefined } | { topFraction: number; threshold?: undefined } {
  const given = ['threshold', 'topFraction', 'baseline'].filter((k) => params[k] !== undefined);
  if (given.length !== 1) throw ServiceError.invalidArgument(`${CLIP_SCORE}: give exactly one of threshold, topFraction and baseline (got ${given.join(', ') || 'none'})`);
  const baseline = params['baseline'] === undefined ? undefined : DATACOMP_CLIP_SCORE_BASELINES[params['baseline'] as (typeof BASELINES)[number]];
  const rule = baseline ?? { threshold: params['threshold'] as number | undefined, topFraction: params['topFraction'] as number | undefined };
  try {
    return checkClipScoreRule(rule);
  } catch (error) {
    throw ServiceError.invalidArgument(`${CLIP_SCORE}: ${(error as Error).message}`);
  }
}

/** Scores candidates in batches: image and caption embeddings from the same model. */
class ClipScorer {
  constructor(
    private readonly client: GenericServiceClient,
    private readonly model: string,
    readonly modelId: string,
    readonly batchSize: number,
  ) {}

  /** Score per candidate, or the reason it has none. Sets `embeddings` on scored candidates. */
  async score(batch: readonly Candidate[], ctx: StepContext): Promise<Array<number | string>> {
    const out: Array<number | string> = [];
    for (let start = 0; start < batch.length; start += this.batchSize) {
      const slice = batch.slice(start, start + this.batchSize);
      const captioned = slice.map((c) => (c.caption ?? '').trim() !== '');
      const [images, texts] = await Promise.all([
        embedCandidateImages(this.client, this.model, slice, ctx),
        embedTexts(this.client, this.model, slice.filter((_, i) => captioned[i]).map((c) => c.caption!), ctx.signal),
      ]);
      let t = 0;
      slice.forEach((candidate, i) => {
        const image = images[i]!;
        const text = captioned[i] ? texts[t++]! : new Error('no-caption');
        if (!captioned[i]) return out.push('no-caption');
        if (image instanceof Error) return out.push(`embedding-error: ${image.message}`.slice(0, 200));
        if (text instanceof Error) return out.push(`embedding-error: ${text.message}`.slice(0, 200));
        const [score] = clipScores({ data: image, rows: 1, dim: image.length }, { data: text, rows: 1, dim: text.length });
        candidate.embeddings = { ...candidate.embeddings, image, text };
        candidate.modelIds = { ...candidate.modelIds, clip: this.modelId };
        return out.push(score!);
      });
    }
    return out;
  }
}

const decision = (c: Candidate, reason: string, score: number): Decision => ({
  sourceId: c.sourceId,
  step: CLIP_SCORE,
  kept: false,
  reason,
  score,
  classIndex: c.classIndex ?? -1,
  ...(c.seed !== undefined ? { seed: c.seed } : {}),
});

class ClipScoreThresholdStep implements ChainStep {
  readonly scope = 'task' as const;
  readonly name = CLIP_SCORE;
  constructor(
    readonly params: Readonly<Record<string, unknown>>,
    private readonly scorer: ClipScorer,
    private readonly threshold: number,
  ) {}

  async process(batch: Candidate[], ctx: StepContext): Promise<StepResult> {
    const scores = await this.scorer.score(batch, ctx);
    const kept: Candidate[] = [];
    const dropped: Decision[] = [];
    batch.forEach((c, i) => {
      const s = scores[i]!;
      if (typeof s === 'string') dropped.push(decision(c, s, Number.NaN));
      else if (Number.isNaN(s)) dropped.push(decision(c, 'embedding-error: zero vector', s));
      else if (s >= this.threshold) {
        c.score = s;
        kept.push(c);
      } else dropped.push(decision(c, 'below-threshold', s));
    });
    return { kept, dropped };
  }
}

/** Top fraction of the build: pass 1 scores every candidate (kept in pool order), pass 2 drops below the cut. */
class ClipScoreTopFractionStep implements GlobalStep {
  readonly scope = 'build' as const;
  readonly name = CLIP_SCORE;
  constructor(
    readonly params: Readonly<Record<string, unknown>>,
    private readonly scorer: ClipScorer,
    private readonly fraction: number,
  ) {}

  async run(candidates: () => AsyncIterable<Candidate>, ctx: StepContext, drop: (decision: Decision) => void): Promise<void> {
    let scores = new Float32Array(1024);
    const failures = new Map<number, string>();
    let n = 0;
    let batch: Candidate[] = [];
    const flush = async (): Promise<void> => {
      const got = await this.scorer.score(batch, ctx);
      for (const s of got) {
        if (n === scores.length) {
          const grown = new Float32Array(scores.length * 2);
          grown.set(scores);
          scores = grown;
        }
        if (typeof s === 'string') failures.set(n, s);
        scores[n++] = typeof s === 'string' ? Number.NaN : s;
      }
      batch = [];
    };
    for await (const c of candidates()) {
      batch.push(c);
      if (batch.length >= this.scorer.batchSize) await flush();
    }
    await flush();
    const cut = topFractionCut(scores.subarray(0, n), this.fraction);
    ctx.logger.info({ step: CLIP_SCORE, scored: n - failures.size, keep: cut.keep, cutoff: cut.cutoff }, 'clip-score top fraction cut');
    const filter = new TopFractionFilter(cut);
    let i = 0;
    for await (const c of candidates()) {
      const s = scores[i]!;
      const failure = failures.get(i);
      i++;
      if (failure !== undefined) drop(decision(c, failure, Number.NaN));
      else if (!filter.keeps(s)) drop(decision(c, 'below-top-fraction', s));
    }
  }
}
