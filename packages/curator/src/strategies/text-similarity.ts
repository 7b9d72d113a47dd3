import { GrpcCallError, ServiceError, status, unary, type GenericServiceClient } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { Candidate, ChainStep, Decision, StepContext, StepDefinition, StepEnvironment, StepResult } from '../chain/step.js';

export const TEXT_SIMILARITY = 'text-similarity';

/**
 * Thresholds that belong to text models (cosine of L2-normalised embeddings, keep if strictly above).
 * LAIONet: 0.82 for CLIP ViT-B/32 text and 0.58 for all-mpnet-base-v2; SELECT relaxed CLIP to 0.5.
 * all-MiniLM-L6-v2: calibrated on the openclipart pool (README "Calibrating the MiniLM threshold").
 */
export const TEXT_MODEL_THRESHOLDS: Readonly<Record<string, { threshold: number; source: string }>> = {
  'clip-vit-base-patch32': { threshold: 0.5, source: 'SELECT (LAIONet used 0.82)' },
  'all-mpnet-base-v2': { threshold: 0.58, source: 'LAIONet' },
  'all-minilm-l6-v2': { threshold: 0.43, source: 'calibrated on the openclipart pool (F1 over 106 hand-judged substring matches), see packages/curator/README.md' },
};

/** `"<name> which is <definition>"`, `<name>` the head of the WordNet synset name, underscores as spaces. */
export function synsetText(classIndex: number): string {
  const cls = loadImageNetTaxonomy().classByIndex(classIndex);
  const head = cls.wordnetName.split('.')[0] ?? cls.label;
  return `${head.replace(/_/g, ' ')} which is ${cls.gloss}`;
}

interface TextEmbeddingOut {
  vector: number[];
  error?: { message: string } | null;
}

export const textSimilarityDefinition: StepDefinition = {
  name: TEXT_SIMILARITY,
  role: 'filter',
  description:
    'Caption-class text similarity (LAIONet\'s second stage): cosine between the caption\'s text embedding and the synset text "<name> which is <definition>", computed by the embedding service; kept if strictly above the text model\'s threshold.',
  paperShift: 'LA1000 txt2img (second stage, after substring-match)',
  poolFormats: [],
  params: {
    model: { type: 'string', description: "embedding service model with a text tower (its name in the service's ListModels)", required: true },
    threshold: {
      type: 'number',
      description: `keep if cosine > threshold; default: the model's own (${Object.entries(TEXT_MODEL_THRESHOLDS)
        .map(([m, t]) => `${m} ${t.threshold}`)
        .join(', ')})`,
      min: -1,
      max: 1,
    },
    batchSize: { type: 'integer', description: 'captions per EmbedTexts call', default: 64, min: 1, max: 1024 },
  },
  async validate(params, env) {
    const model = String(params['model']);
    if (params['threshold'] === undefined && TEXT_MODEL_THRESHOLDS[model] === undefined) {
      throw ServiceError.invalidArgument(
        `text-similarity: model ${model} has no known threshold; give params.threshold (known: ${Object.keys(TEXT_MODEL_THRESHOLDS).join(', ')})`,
      );
    }
    await describeTextModel(env, model);
  },
  async create(params, env) {
    const info = await describeTextModel(env, String(params['model']));
    const threshold = params['threshold'] === undefined ? TEXT_MODEL_THRESHOLDS[String(params['model'])]!.threshold : Number(params['threshold']);
    return new TextSimilarityStep({ ...params, threshold }, env.services.embedding!, info.modelId);
  },
};

/** The model's id for provenance (`name@sha256-prefix`); INVALID_ARGUMENT / FAILED_PRECONDITION when unusable. */
async function describeTextModel(env: StepEnvironment, model: string): Promise<{ modelId: string }> {
  const client = env.services.embedding;
  if (client === undefined) throw ServiceError.failedPrecondition('text-similarity needs the embedding service; configure CURATOR_EMBEDDING_ADDRESS');
  let info: { name: string; kind: string; files: Array<{ sha256: string }> };
  try {
    info = await unary(client, 'GetModel', { name: model }, { deadlineMs: 30_000 });
  } catch (error) {
    if (error instanceof GrpcCallError && error.code === status.NOT_FOUND) {
      throw ServiceError.invalidArgument(`text-similarity: the embedding service has no model "${model}": ${error.serverMessage}`);
    }
    throw ServiceError.unavailable(`text-similarity: embedding service unreachable: ${(error as Error).message}`, { cause: error });
  }
  if (info.kind === 'MODEL_KIND_IMAGE_ONLY') throw ServiceError.invalidArgument(`text-similarity: model ${model} has no text tower`);
  return { modelId: `${info.name}@${(info.files[0]?.sha256 ?? '').slice(0, 12)}` };
}

class TextSimilarityStep implements ChainStep {
  readonly scope = 'task' as const;
  readonly name = TEXT_SIMILARITY;
  private readonly classVectors = new Map<number, Float32Array>();
  private readonly threshold: number;
  private readonly batchSize: number;
  private readonly model: string;

  constructor(
    readonly params: Readonly<Record<string, unknown>>,
    private readonly client: GenericServiceClient,
    private readonly modelId: string,
  ) {
    this.threshold = Number(params['threshold']);
    this.batchSize = Number(params['batchSize']);
    this.model = String(params['model']);
  }

  async process(batch: Candidate[], ctx: StepContext): Promise<StepResult> {
    const kept: Candidate[] = [];
    const dropped: Decision[] = [];
    const drop = (c: Candidate, reason: string, score = Number.NaN): void => {
      dropped.push({ sourceId: c.sourceId, step: this.name, kept: false, reason, score, classIndex: c.classIndex ?? -1 });
    };
    const usable = batch.filter((c) => {
      if (c.classIndex === undefined) drop(c, 'no-class');
      else if ((c.caption ?? '').trim() === '') drop(c, 'empty-caption');
      else return true;
      return false;
    });
    await this.classVectorsFor(usable.map((c) => c.classIndex!), ctx);
    for (let start = 0; start < usable.length; start += this.batchSize) {
      const slice = usable.slice(start, start + this.batchSize);
      const embeddings = await this.embed(
        slice.map((c) => c.caption!),
        ctx,
      );
      slice.forEach((candidate, i) => {
        const out = embeddings[i];
        if (out === undefined || (out.error ?? undefined) !== undefined || out.vector.length === 0) {
          drop(candidate, `embedding-error: ${out?.error?.message ?? 'no vector'}`);
          return;
        }
        const score = cosine(out.vector, this.classVectors.get(candidate.classIndex!)!);
        if (score > this.threshold) {
          candidate.score = score;
          candidate.modelIds = { ...candidate.modelIds, text: this.modelId };
          kept.push(candidate);
        } else {
          drop(candidate, 'below-threshold', score);
        }
      });
    }
    return { kept, dropped };
  }

  private async classVectorsFor(classes: number[], ctx: StepContext): Promise<void> {
    const missing = [...new Set(classes)].filter((c) => !this.classVectors.has(c)).sort((a, b) => a - b);
    for (let start = 0; start < missing.length; start += this.batchSize) {
      const slice = missing.slice(start, start + this.batchSize);
      const out = await this.embed(slice.map(synsetText), ctx);
      slice.forEach((classIndex, i) => {
        const vector = out[i];
        if (vector === undefined || vector.vector.length === 0) throw new Error(`the embedding service gave no vector for class ${classIndex}: ${vector?.error?.message ?? ''}`);
        this.classVectors.set(classIndex, Float32Array.from(vector.vector));
      });
    }
  }

  private async embed(texts: string[], ctx: StepContext): Promise<TextEmbeddingOut[]> {
    const response = await unary<{ embeddings: TextEmbeddingOut[] }>(this.client, 'EmbedTexts', { model: this.model, texts }, { signal: ctx.signal, deadlineMs: 120_000 });
    return response.embeddings;
  }
}

function cosine(a: readonly number[], b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
