// Filter 10: the contamination gate. Every candidate of the build is checked against each registered
// evaluation set by exact content hash (sha256 of the image bytes, and of the JPEG the build would publish
// for it: what an evaluation set made from a shift holds) and by embedding near-duplicate search; matches
// are dropped and reported per evaluation set (contamination_report.json and contamination_matches.csv in
// the shift folder).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  ContaminationGate,
  DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  OnnxSimilarityKernel,
  sha256Hex,
  summarizeMatches,
  type ContaminationMatch,
  type GateItem,
} from '@select/curation-filters';
import { shiftJpegBytes } from '@select/datasets';
import { ServiceError, type GenericServiceClient } from '@select/platform';
import type { Candidate, Decision, GlobalStep, StepContext, StepDefinition, StepEnvironment } from '../chain/step.js';
import { candidateKey, dropDecision } from './candidate-key.js';
import { folderFingerprint, listEvaluationSets, loadEvaluationSet, readSetInfo, registerEvaluationSet } from './evaluation-sets.js';
import { describeEmbeddingModel, embedImages, rasterOf, requireClient } from './service-calls.js';

export const CONTAMINATION = 'contamination-gate';
/** Samples checked against the evaluation sets per pass. */
const CHECK_ROWS = 4096;

export const contaminationDefinition: StepDefinition = {
  name: CONTAMINATION,
  role: 'filter',
  description:
    'Contamination gate: drops every candidate whose image bytes or the JPEG a shift would store for it (sha256), or whose image embedding (cosine >= threshold), match an image of a registered evaluation set, ' +
    `and reports the matches per set. Default threshold ${DEFAULT_NEAR_DUPLICATE_THRESHOLD} (packages/curator/docs/image-strategies.md says why); nearDuplicates false matches by content only.`,
  paperShift: '',
  poolFormats: [],
  params: {
    evalSets: {
      type: 'string-list',
      description: 'folders of evaluation images (any depth; ImageNet val/-V2/-Sketch/-R/-A style); each is registered in the registry on first use (needs model)',
      default: [],
    },
    model: { type: 'string', description: 'embedding model that registers evalSets folders (sets already registered keep their own model)', default: '' },
    registry: { type: 'string', description: 'folder of registered evaluation sets; default <tmp>/select-image-strategies/evaluation-sets', default: '' },
    sets: { type: 'string-list', description: 'registered sets to check against; with no sets and no evalSets: every set in the registry', default: [] },
    threshold: { type: 'number', description: 'near-duplicate: cosine >= threshold', default: DEFAULT_NEAR_DUPLICATE_THRESHOLD, min: 0, exclusiveMin: true, max: 1 },
    nearDuplicates: {
      type: 'boolean',
      description: 'false: match by content (sha256) only, no embedding search (for a model that cannot tell images apart, such as a random-weight test model)',
      default: true,
    },
    batchSize: { type: 'integer', description: 'images per embedding round trip', default: 64, min: 1, max: 1024 },
  },
  async validate(params, env) {
    await resolveSets(params, env, false);
  },
  async create(params, env) {
    const { model, sets } = await resolveSets(params, env, true);
    return new ContaminationStep(params, requireClient(env, 'embedding', CONTAMINATION), model, sets);
  },
};

export function registryOf(params: Readonly<Record<string, unknown>>): string {
  const given = String(params['registry'] ?? '');
  return resolve(given.length > 0 ? given : join(tmpdir(), 'select-image-strategies', 'evaluation-sets'));
}

/**
 * The registry name of an evaluation folder: its base name and a hash of its absolute path and of what it holds
 * (folderFingerprint), so that a folder whose images change is registered anew instead of being checked against
 * the images it held when it was first registered (the main job re-extracts its held-out set into one folder).
 */
export function evaluationSetName(folder: string, fingerprint: string): string {
  const abs = resolve(folder);
  const base = basename(abs).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'set';
  return `${base}-${createHash('sha256').update(`${abs}\n${fingerprint}`).digest('hex').slice(0, 8)}`;
}

/**
 * The sets to check: `sets` by name, plus every `evalSets` folder (registered now when it is not yet);
 * all embedded with one model that the embedding service serves with the same dimension.
 */
async function resolveSets(params: Readonly<Record<string, unknown>>, env: StepEnvironment, register: boolean): Promise<{ model: string; sets: string[] }> {
  const registry = registryOf(params);
  const folders = (params['evalSets'] as string[] | undefined) ?? [];
  const named = (params['sets'] as string[] | undefined) ?? [];
  const sets = [...named];
  if (folders.length > 0) {
    const model = String(params['model'] ?? '');
    if (model === '') throw ServiceError.invalidArgument(`${CONTAMINATION}: evalSets folders are registered with an embedding model; give params.model`);
    const info = await describeEmbeddingModel(env, CONTAMINATION, model, ['image']);
    for (const folder of folders) {
      if (!existsSync(folder)) throw ServiceError.invalidArgument(`${CONTAMINATION}: evaluation folder ${folder} does not exist`);
      const name = evaluationSetName(folder, await folderFingerprint(folder));
      if (register) {
        await registerEvaluationSet({
          registry,
          name,
          source: { imagesDir: resolve(folder) },
          model: info.name,
          modelId: info.modelId,
          embedding: requireClient(env, 'embedding', CONTAMINATION),
          signal: AbortSignal.timeout(6 * 3600_000),
          batchSize: Number(params['batchSize'] ?? 64),
          onProgress: (done, total) => env.progress?.(`${CONTAMINATION}: registering the evaluation set ${folder}: ${done}/${total} images`),
        });
      }
      sets.push(name);
    }
    if (!register) return { model: info.name, sets };
  } else if (sets.length === 0) {
    sets.push(...(await listEvaluationSets(registry)));
  }
  if (sets.length === 0) throw ServiceError.failedPrecondition(`${CONTAMINATION}: no evaluation set is registered in ${registry}`);
  const infos = await Promise.all(sets.map((s) => readSetInfo(registry, s)));
  const models = [...new Set(infos.map((i) => i.model))];
  if (models.length > 1) throw ServiceError.invalidArgument(`${CONTAMINATION}: the evaluation sets were embedded with different models (${models.join(', ')}); register them with one`);
  const model = await describeEmbeddingModel(env, CONTAMINATION, models[0]!, ['image']);
  for (const info of infos) {
    if (info.dimension !== 0 && info.dimension !== model.dimension) {
      throw ServiceError.invalidArgument(
        `${CONTAMINATION}: evaluation set ${info.name} holds ${info.dimension}-dimensional embeddings but model ${model.name} now gives ${model.dimension}; register the set again`,
      );
    }
  }
  return { model: model.name, sets };
}

class ContaminationStep implements GlobalStep {
  readonly scope = 'build' as const;
  readonly name = CONTAMINATION;

  constructor(
    readonly params: Readonly<Record<string, unknown>>,
    private readonly client: GenericServiceClient,
    private readonly model: string,
    private readonly sets: readonly string[],
  ) {}

  async run(candidates: () => AsyncIterable<Candidate>, ctx: StepContext, drop: (decision: Decision) => void): Promise<void> {
    const registry = registryOf(this.params);
    const sets = this.sets;
    const gate = new ContaminationGate({ nearDuplicateThreshold: Number(this.params['threshold']) });
    const nearDuplicates = this.params['nearDuplicates'] !== false;
    for (const name of sets) {
      const { items } = await loadEvaluationSet(registry, name);
      gate.registerSet(name, items);
    }
    const kernel = await OnnxSimilarityKernel.open();
    const matches: ContaminationMatch[] = [];
    let checked = 0;
    let unreadable = 0;
    try {
      // embedding round trips of batchSize; the similarity search in groups of CHECK_ROWS samples, so
      // that each pass over the evaluation sets serves many samples (only ids and hashes are held)
      let batch: Candidate[] = [];
      let pending: Array<{ decisionOf: Candidate; item: GateItem }> = [];
      const check = async (): Promise<void> => {
        if (pending.length === 0) return;
        const found = await gate.check(
          pending.map((p) => p.item),
          kernel,
        );
        const bySample = new Map<string, ContaminationMatch>();
        for (const m of found) {
          matches.push(m);
          const best = bySample.get(m.sampleId);
          if (best === undefined || (best.kind !== 'exact' && (m.kind === 'exact' || m.similarity > best.similarity))) bySample.set(m.sampleId, m);
        }
        for (const { decisionOf, item } of pending) {
          const m = bySample.get(item.id);
          if (m !== undefined) drop(dropDecision(CONTAMINATION, decisionOf, `contaminated-${m.kind === 'exact' ? 'exact' : 'near'}:${m.set}`, m.similarity));
        }
        checked += pending.length;
        pending = [];
      };
      const flush = async (): Promise<void> => {
        const images = await Promise.all(batch.map((c) => gateImage(c, ctx)));
        const embedded = nearDuplicates
          ? await embedImages(
              this.client,
              this.model,
              images.map((image) => (image instanceof Error ? image : (image.raster ?? new Error(`image cannot be rendered: ${image.rasterError}`)))),
              ctx.signal,
            )
          : images.map(() => new Error('near-duplicate search is off'));
        for (const [i, c] of batch.entries()) {
          const image = images[i]!;
          if (image instanceof Error) {
            unreadable++;
            drop(dropDecision(CONTAMINATION, c, `unreadable-image: ${image.message}`));
            continue;
          }
          const v = embedded[i]!;
          const light: Candidate = { sourceId: c.sourceId, ...(c.seed !== undefined ? { seed: c.seed } : {}), ...(c.classIndex !== undefined ? { classIndex: c.classIndex } : {}) };
          pending.push({
            decisionOf: light,
            item: {
              id: candidateKey(c),
              sha256: sha256Hex(image.bytes),
              ...(image.published !== undefined && !image.published.equals(image.bytes) ? { alsoSha256: [sha256Hex(image.published)] } : {}),
              ...(v instanceof Error ? {} : { embedding: v }),
            },
          });
        }
        batch = [];
        if (pending.length >= CHECK_ROWS) await check();
      };
      for await (const c of candidates()) {
        ctx.signal.throwIfAborted();
        batch.push(c);
        if (batch.length >= Number(this.params['batchSize'])) await flush();
      }
      await flush();
      await check();
    } finally {
      await kernel.close();
    }
    const report = {
      model: this.model,
      threshold: gate.nearDuplicateThreshold,
      nearDuplicates,
      sets: gate.registered(),
      checked,
      unreadable,
      contaminatedSamples: new Set(matches.map((m) => m.sampleId)).size,
      perSet: summarizeMatches(matches),
    };
    await mkdir(ctx.sideDir, { recursive: true });
    await writeFile(join(ctx.sideDir, 'contamination_report.json'), `${JSON.stringify(report, null, 2)}\n`);
    const csv = ['sample,set,evaluation_id,kind,similarity', ...matches.map((m) => [m.sampleId, m.set, m.evaluationId, m.kind, m.similarity.toFixed(6)].map(csvField).join(','))];
    await writeFile(join(ctx.sideDir, 'contamination_matches.csv'), `${csv.join('\n')}\n`);
    ctx.logger.info({ step: CONTAMINATION, checked, contaminated: report.contaminatedSamples, perSet: report.perSet }, 'contamination gate done');
  }
}

/**
 * A candidate's image as the gate checks it: the loaded bytes (an Error when they cannot be read: that candidate
 * is dropped as unreadable), the raster the embedding model sees (SVG rendered), and the JPEG the build would
 * publish, whose hash is what an evaluation set made from a shift holds. An image that loads but cannot be
 * rendered or encoded is still checked by its bytes' hash; publishing drops it later with its reason.
 */
async function gateImage(c: Candidate, ctx: StepContext): Promise<Error | { bytes: Buffer; raster?: Buffer; rasterError?: string; published?: Buffer }> {
  let bytes: Buffer;
  try {
    bytes = await ctx.loadImage(c);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
  try {
    const raster = await rasterOf(c, bytes);
    return { bytes, raster, published: await shiftJpegBytes(raster).catch(() => undefined) };
  } catch (error) {
    return { bytes, rasterError: (error as Error).message };
  }
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Publication rule: a chain without the contamination gate publishes only with an override reason
 * (recorded with the shift by the caller). FAILED_PRECONDITION otherwise.
 */
export function requireContaminationGate(stepNames: readonly string[], overrideReason: string | undefined): { gated: boolean; overrideReason?: string } {
  if (stepNames.includes(CONTAMINATION)) return { gated: true };
  const reason = overrideReason?.trim() ?? '';
  if (reason.length === 0) {
    throw ServiceError.failedPrecondition(
      `a shift is published only after the ${CONTAMINATION} step; add it to the chain, or override with a reason (recorded with the shift)`,
    );
  }
  return { gated: false, overrideReason: reason };
}
