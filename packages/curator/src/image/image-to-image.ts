// Strategy 4: image-to-image retrieval (LA1000 img2img). A labelled reference set (ImageFolder with one
// folder per wnid, or a shift) and the pool are embedded by the
// embedding service's dataset jobs; the pool is bulk-loaded into a retrieval index; each reference image
// claims its k nearest pool images with similarity >= the floor, labelled with the reference's class.
// A pool image claimed by several references goes to the most similar one (claimRule), never twice.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CLAIM_RULES, ClaimResolver } from '@select/curation-filters';
import { readParquetPool } from '@select/datasets';
import { ServiceError, unary } from '@select/platform';
import type { StepDefinition, StepEnvironment } from '../chain/step.js';
import { ClaimLabelStep, memoizeClaimStep } from './claim-label-step.js';
import { checkPoolFormat, preparePoolIndex, searchPool, workDirOf } from './pool-index.js';
import { describeEmbeddingModel, jobProgressText, requireClient, waitForJob, type JobStatus } from './service-calls.js';

export const IMAGE_TO_IMAGE = 'image-retrieval';
const WNID = /^n\d{8}$/;

export const imageToImageDefinition: StepDefinition = {
  name: IMAGE_TO_IMAGE,
  role: 'strategy',
  description:
    'Image-to-image retrieval (LA1000 img2img): every image of a labelled reference set (ImageFolder of wnid folders) claims its k nearest pool images ' +
    'with cosine >= minSimilarity in a retrieval index of the pool; the label comes from the reference; a pool image claimed several times goes to the most similar reference.',
  paperShift: 'LA1000 img2img',
  poolFormats: ['openclipart', 'webdataset'],
  params: {
    model: { type: 'string', description: 'embedding service model with an image tower', required: true },
    referenceUri: {
      type: 'string',
      description: 'the labelled reference set: an ImageFolder whose sub-folders are wnids (ImageNet train), or a shift folder (shift.json; labels from its samples)',
      required: true,
    },
    k: { type: 'integer', description: 'nearest pool images per reference image (SELECT does not publish its k)', default: 1, min: 1, max: 10_000 },
    minSimilarity: { type: 'number', description: 'similarity floor (cosine)', default: 0.5, min: -1, max: 1 },
    claimRule: { type: 'string', description: 'most-similar | drop-contested', enum: CLAIM_RULES, default: 'most-similar' },
    exact: { type: 'boolean', description: 'exact search instead of the HNSW graph', default: false },
    workDir: { type: 'string', description: 'folder for the embeddings (clip-retrieval layout); default <tmp>/select-image-strategies', default: '' },
  },
  async validate(params, env) {
    checkPoolFormat(IMAGE_TO_IMAGE, env.pool);
    await checkReferences(resolve(String(params['referenceUri'])), env);
    await describeEmbeddingModel(env, IMAGE_TO_IMAGE, String(params['model']), ['image']);
  },
  create: (params, env) => createMemoized(params, env),
};

const createMemoized = memoizeClaimStep(createStep);

async function createStep(params: Readonly<Record<string, unknown>>, env: StepEnvironment): Promise<ClaimLabelStep> {
  const references = resolve(String(params['referenceUri']));
  const referenceFormat = await checkReferences(references, env);
  const model = await describeEmbeddingModel(env, IMAGE_TO_IMAGE, String(params['model']), ['image']);
  const signal = AbortSignal.timeout(6 * 3600_000);
  const workDir = workDirOf(params);
  const pool = await preparePoolIndex(env, IMAGE_TO_IMAGE, model.name, model.dimension, workDir, signal);

  // the reference set, embedded by a dataset job (label = its wnid folder)
  const embedding = requireClient(env, 'embedding', IMAGE_TO_IMAGE);
  const key = createHash('sha256').update(JSON.stringify([references, model.name])).digest('hex').slice(0, 16);
  const refDir = join(workDir, `references-${key}`);
  await mkdir(refDir, { recursive: true });
  const job = await unary<JobStatus>(
    embedding,
    'StartEmbedDataset',
    { model: model.name, inputUri: references, inputFormat: referenceFormat, outputUri: refDir, embedImages: true, embedTexts: false },
    { signal, deadlineMs: 60_000 },
  );
  await waitForJob(embedding, job, `${IMAGE_TO_IMAGE}: embedding the references ${references}`, signal, {
    onStatus: (status) => env.progress?.(`${IMAGE_TO_IMAGE}: embedding the references ${references}: ${jobProgressText(status)}`),
  });

  const ids: string[] = [];
  const classes: number[] = [];
  const vectors: Float32Array[] = [];
  let skipped = 0;
  const unknown = new Set<string>();
  let unlabelled = 0;
  // the reader wants a caption on every row; reference rows have none, so their label column stands in
  for await (const record of readParquetPool({ embeddingsDir: refDir, embeddings: 'image', columns: { caption: ['label'] }, extraColumns: ['label'], signal })) {
    if (!record.ok) throw ServiceError.failedPrecondition(`${IMAGE_TO_IMAGE}: reading the reference embeddings: ${record.error.message}`);
    const s = record.sample;
    const wnid = String(s.metadata['label'] ?? '');
    const classIndex = env.labels.wnids.indexOf(wnid);
    if (wnid === '') unlabelled++;
    else if (classIndex < 0) unknown.add(wnid);
    if (classIndex < 0 || !env.labels.selected.has(classIndex)) {
      skipped++;
      continue;
    }
    if (s.imageEmbedding === undefined) continue;
    if (s.imageEmbedding.length !== pool.dimension) {
      throw ServiceError.invalidArgument(`${IMAGE_TO_IMAGE}: dimension mismatch: reference embeddings have ${s.imageEmbedding.length} dimensions, the pool index ${pool.dimension}`);
    }
    ids.push(s.path ?? s.sourceId);
    classes.push(classIndex);
    vectors.push(s.imageEmbedding);
  }
  if (unlabelled > 0 || unknown.size > 0) {
    throw ServiceError.invalidArgument(
      `${IMAGE_TO_IMAGE}: reference set ${references}: ${unlabelled} images have no label` +
        (unknown.size > 0 ? `, labels that are not ImageNet-1k wnids: ${[...unknown].slice(0, 10).join(', ')}` : ''),
    );
  }
  if (vectors.length === 0) throw ServiceError.invalidArgument(`${IMAGE_TO_IMAGE}: no reference image of a selected class could be embedded from ${references}`);
  const neighbours = await searchPool(requireClient(env, 'retrieval', IMAGE_TO_IMAGE), pool.index, vectors, Number(params['k']), params['exact'] === true, signal);
  const resolver = new ClaimResolver(params['claimRule'] as 'most-similar' | 'drop-contested');
  const floor = Number(params['minSimilarity']);
  ids.forEach((id, i) => resolver.add(id, classes[i]!, neighbours[i]!.filter((n) => n.similarity >= floor)));
  const outcome = resolver.outcome();
  env.logger.info(
    { step: IMAGE_TO_IMAGE, references: ids.length, skippedUnselected: skipped, claimed: outcome.kept.length, contested: outcome.contested, index: pool.index },
    'image-to-image claims settled',
  );
  return new ClaimLabelStep(IMAGE_TO_IMAGE, params, outcome, env.labels, { image: model.modelId }, 'reference');
}

/**
 * Up front: the folder exists; a shift (shift.json) is taken as it is (its labels are checked once its
 * embeddings are read, before any search); an ImageFolder must hold wnid folders only, every wnid known.
 */
async function checkReferences(references: string, env: Pick<StepEnvironment, 'labels'>): Promise<'shift' | 'imagefolder'> {
  if (!existsSync(references)) throw ServiceError.invalidArgument(`${IMAGE_TO_IMAGE}: reference set ${references} does not exist`);
  if (existsSync(join(references, 'shift.json'))) return 'shift';
  const entries = await readdir(references, { withFileTypes: true });
  const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  const loose = entries.filter((e) => e.isFile()).length;
  if (folders.length === 0) {
    throw ServiceError.invalidArgument(
      `${IMAGE_TO_IMAGE}: reference set ${references} has no labels: expected one folder per wnid (n01440764/...), found ${loose} loose files`,
    );
  }
  const notWnids = folders.filter((f) => !WNID.test(f));
  const unknown = folders.filter((f) => WNID.test(f) && !env.labels.wnids.includes(f));
  if (notWnids.length > 0 || unknown.length > 0) {
    throw ServiceError.invalidArgument(
      `${IMAGE_TO_IMAGE}: reference set ${references} has folders that are not ImageNet-1k wnids: ${[...notWnids, ...unknown].slice(0, 10).join(', ')}` +
        `${notWnids.length + unknown.length > 10 ? ` and ${notWnids.length + unknown.length - 10} more` : ''}`,
    );
  }
  return 'imagefolder';
}
