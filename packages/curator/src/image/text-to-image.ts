// Strategy 5: text-to-image retrieval. Per selected class a text query from prompt templates (CLIP's 80
// ImageNet templates, embeddings normalised and averaged as CLIP does, or one template) -> the nearest
// pool images in the retrieval index, up to the per-class quota; a pool image found for several classes
// goes to the most similar query (or is dropped, claimRule drop-contested).
import { CLAIM_RULES, ClaimResolver, PROMPT_MODES, SINGLE_TEMPLATE, averagePromptEmbeddings, classPrompts } from '@select/curation-filters';
import { ServiceError } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { StepDefinition, StepEnvironment } from '../chain/step.js';
import { ClaimLabelStep, memoizeClaimStep } from './claim-label-step.js';
import { checkPoolFormat, preparePoolIndex, searchPool, workDirOf } from './pool-index.js';
import { describeEmbeddingModel, embedTexts, requireClient } from './service-calls.js';

export const TEXT_TO_IMAGE = 'text-retrieval';

export const textToImageDefinition: StepDefinition = {
  name: TEXT_TO_IMAGE,
  role: 'strategy',
  description:
    "Text-to-image retrieval: per class, CLIP's zero-shot prompt(s) for the class name embedded by the embedding service (80 templates averaged, or one), " +
    'then the nearest pool images in a retrieval index of the pool (embedding dataset job + BulkLoad), up to perClass; a pool image found for several classes goes to the most similar one.',
  paperShift: 'text-query variant of LA1000 (LAION retrieval by class prompt)',
  poolFormats: ['openclipart', 'webdataset'],
  params: {
    model: { type: 'string', description: 'embedding service model with an image and a text tower (CLIP)', required: true },
    prompts: { type: 'string', description: "imagenet-80 (CLIP's 80 templates, averaged) | single", enum: PROMPT_MODES, default: 'imagenet-80' },
    template: { type: 'string', description: 'single mode: the template, {} = class name', default: SINGLE_TEMPLATE },
    perClass: { type: 'integer', description: 'pool images retrieved per class (the per-class quota)', default: 100, min: 1, max: 10_000 },
    minSimilarity: { type: 'number', description: 'keep neighbours with cosine >= this', default: -1, min: -1, max: 1 },
    claimRule: { type: 'string', description: 'most-similar | drop-contested', enum: CLAIM_RULES, default: 'most-similar' },
    exact: { type: 'boolean', description: 'exact search instead of the HNSW graph', default: false },
    workDir: { type: 'string', description: "folder for the pool's embeddings (clip-retrieval layout); default <tmp>/select-image-strategies", default: '' },
  },
  async validate(params, env) {
    checkPoolFormat(TEXT_TO_IMAGE, env.pool);
    if (params['prompts'] === 'single' && !String(params['template']).includes('{}')) {
      throw ServiceError.invalidArgument(`${TEXT_TO_IMAGE}: template "${String(params['template'])}" has no {} for the class name`);
    }
    if (env.labels.selected.size === 0) throw ServiceError.invalidArgument(`${TEXT_TO_IMAGE}: the build selects no class`);
    await describeEmbeddingModel(env, TEXT_TO_IMAGE, String(params['model']), ['image', 'text']);
  },
  create: (params, env) => createMemoized(params, env),
};

const createMemoized = memoizeClaimStep(createStep);

async function createStep(params: Readonly<Record<string, unknown>>, env: StepEnvironment): Promise<ClaimLabelStep> {
  const model = await describeEmbeddingModel(env, TEXT_TO_IMAGE, String(params['model']), ['image', 'text']);
  const signal = AbortSignal.timeout(6 * 3600_000);
  const pool = await preparePoolIndex(env, TEXT_TO_IMAGE, model.name, model.dimension, workDirOf(params), signal);
  const taxonomy = loadImageNetTaxonomy();
  const classes = [...env.labels.selected].sort((a, b) => a - b);
  const embedding = requireClient(env, 'embedding', TEXT_TO_IMAGE);
  const queries: Float32Array[] = [];
  for (const classIndex of classes) {
    const prompts = classPrompts(taxonomy.classByIndex(classIndex).label, params['prompts'] as 'imagenet-80' | 'single', String(params['template']));
    const vectors = await embedTexts(embedding, model.name, prompts, signal);
    const failed = vectors.find((v): v is Error => v instanceof Error);
    if (failed) throw ServiceError.failedPrecondition(`${TEXT_TO_IMAGE}: prompt embedding failed for class ${env.labels.wnids[classIndex]}: ${failed.message}`);
    const dim = (vectors[0] as Float32Array).length;
    const data = new Float32Array(vectors.length * dim);
    (vectors as Float32Array[]).forEach((v, i) => data.set(v, i * dim));
    queries.push(averagePromptEmbeddings({ data, rows: vectors.length, dim }));
  }
  const neighbours = await searchPool(requireClient(env, 'retrieval', TEXT_TO_IMAGE), pool.index, queries, Number(params['perClass']), params['exact'] === true, signal);
  const resolver = new ClaimResolver(params['claimRule'] as 'most-similar' | 'drop-contested');
  const floor = Number(params['minSimilarity']);
  classes.forEach((classIndex, i) => {
    resolver.add(`class:${env.labels.wnids[classIndex]}`, classIndex, neighbours[i]!.filter((n) => n.similarity >= floor));
  });
  const outcome = resolver.outcome();
  env.logger.info({ step: TEXT_TO_IMAGE, classes: classes.length, claimed: outcome.kept.length, contested: outcome.contested, index: pool.index }, 'text-to-image claims settled');
  return new ClaimLabelStep(TEXT_TO_IMAGE, params, outcome, env.labels, { clip: model.modelId }, 'query');
}
