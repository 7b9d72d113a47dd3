// Strategies 6 and 7: Stable Diffusion shifts (SD1000 txt2img / img2img). The curator drives the
// generation service's batch jobs ("A photo of {class}", seeds 1..N per class, UniPC 20 steps; or one
// image variation per reference image, label inherited); the job writes a shift, which becomes the
// build's pool (format shift) — `generatedPool` runs the job and names that pool;
// the chain step then labels each generated candidate from the shift's manifest.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readShiftManifest } from '@select/datasets';
import { ServiceError, unary } from '@select/platform';
import type { Candidate, ChainStep, Decision, LabelSpace, PoolInfo, StepContext, StepDefinition, StepEnvironment, StepResult } from '../chain/step.js';
import { dropDecision } from './candidate-key.js';
import { workDirOf } from './pool-index.js';
import { jobProgressText, requireClient, waitForJob, type JobStatus } from './service-calls.js';

export const SD_TXT2IMG = 'sd-txt2img';
export const SD_IMG2IMG = 'sd-img2img';

const SCHEDULERS = { unipc: 'SCHEDULER_UNIPC', ddim: 'SCHEDULER_DDIM', euler: 'SCHEDULER_EULER', 'euler-ancestral': 'SCHEDULER_EULER_ANCESTRAL' } as const;

const commonParams = {
  model: { type: 'string', description: "generation service model (a Stable Diffusion export's directory name)", required: true },
  scheduler: { type: 'string', description: 'unipc | ddim | euler | euler-ancestral', enum: Object.keys(SCHEDULERS), default: 'unipc' },
  width: { type: 'integer', description: 'pixels, multiple of 8; 0: the model default (512 for SD 1.5)', default: 0, min: 0, max: 2048 },
  height: { type: 'integer', description: 'pixels, multiple of 8; 0: the model default', default: 0, min: 0, max: 2048 },
  workDir: { type: 'string', description: 'folder of the generated shift; default <tmp>/select-image-strategies', default: '' },
} as const;

export const sdTxt2imgDefinition: StepDefinition = {
  name: SD_TXT2IMG,
  role: 'strategy',
  description:
    'Stable Diffusion text-to-image (SD1000 txt2img): the generation service draws imagesPerClass images per selected class from "A photo of {class}", seeds 1..N, ' +
    'UniPC 20 steps by default; the generated shift is the build pool and the label is the prompted class.',
  paperShift: 'SD1000 txt2img',
  poolFormats: ['shift'],
  params: {
    ...commonParams,
    promptTemplate: { type: 'string', description: 'prompt; {class} = the class label', default: 'A photo of {class}' },
    imagesPerClass: { type: 'integer', description: 'seeds 1..N per class (SD1000: 1300)', default: 1300, min: 1, max: 100_000 },
    steps: { type: 'integer', description: 'denoising steps', default: 20, min: 1, max: 150 },
    guidanceScale: { type: 'number', description: 'classifier-free guidance', default: 7.5, min: 0, max: 50 },
  },
  validate(params, env) {
    if (!String(params['promptTemplate']).includes('{class}')) throw ServiceError.invalidArgument(`${SD_TXT2IMG}: promptTemplate must contain {class}`);
    if (env.labels.selected.size === 0) throw ServiceError.invalidArgument(`${SD_TXT2IMG}: the build selects no class`);
    requireClient(env, 'generation', SD_TXT2IMG);
  },
  async create(params, env) {
    return new GeneratedLabelStep(SD_TXT2IMG, params, await manifestOf(await generatedShift(SD_TXT2IMG, params, env), env.labels));
  },
};

export const sdImg2imgDefinition: StepDefinition = {
  name: SD_IMG2IMG,
  role: 'strategy',
  description:
    'Stable Diffusion image variations (SD1000 img2img): one generated variation per labelled reference image (ImageFolder of wnid folders or WebDataset shards), ' +
    'guidance 3, 50 steps by default, the label inherited; the generated shift is the build pool. Needs an image-variations export.',
  paperShift: 'SD1000 img2img',
  poolFormats: ['shift'],
  params: {
    ...commonParams,
    referenceUri: { type: 'string', description: 'labelled reference images: ImageFolder of wnid folders, or WebDataset shards', required: true },
    referenceFormat: { type: 'string', description: 'imagefolder | webdataset', enum: ['imagefolder', 'webdataset'], default: 'imagefolder' },
    variationsPerImage: { type: 'integer', description: 'variations per reference image (seeds 1..N)', default: 1, min: 1, max: 100 },
    steps: { type: 'integer', description: 'denoising steps', default: 50, min: 1, max: 150 },
    guidanceScale: { type: 'number', description: 'classifier-free guidance', default: 3, min: 0, max: 50 },
  },
  validate(params, env) {
    if (!existsSync(String(params['referenceUri']))) throw ServiceError.invalidArgument(`${SD_IMG2IMG}: reference set ${String(params['referenceUri'])} does not exist`);
    requireClient(env, 'generation', SD_IMG2IMG);
  },
  async create(params, env) {
    return new GeneratedLabelStep(SD_IMG2IMG, params, await manifestOf(await generatedShift(SD_IMG2IMG, params, env), env.labels));
  },
};

/** The generation batch request of a strategy's params (the same params give the same job and shift). */
function batchRequest(step: string, params: Readonly<Record<string, unknown>>, labels: LabelSpace, outputUri: string): Record<string, unknown> {
  const sampling = {
    model: String(params['model']),
    width: Number(params['width']),
    height: Number(params['height']),
    steps: Number(params['steps']),
    guidanceScale: Number(params['guidanceScale']),
    scheduler: SCHEDULERS[String(params['scheduler']) as keyof typeof SCHEDULERS],
    format: 'IMAGE_FORMAT_PNG',
  };
  if (step === SD_TXT2IMG) {
    const wnids = [...labels.selected].sort((a, b) => a - b).map((i) => labels.wnids[i]!);
    return {
      shiftName: `${step}-generated`,
      outputUri,
      sampling,
      classPrompts: { promptTemplate: String(params['promptTemplate']), wnids, imagesPerClass: Number(params['imagesPerClass']) },
    };
  }
  return {
    shiftName: `${step}-generated`,
    outputUri,
    sampling,
    referenceImages: { inputUri: String(params['referenceUri']), inputFormat: String(params['referenceFormat']), variationsPerImage: Number(params['variationsPerImage']) },
  };
}

/** Runs (or finds done) the generation batch job of the params; resolves to the generated shift's folder. */
export async function generatedShift(step: string, params: Readonly<Record<string, unknown>>, env: Pick<StepEnvironment, 'services' | 'labels' | 'logger' | 'progress'>, signal = AbortSignal.timeout(24 * 3600_000)): Promise<string> {
  const generation = requireClient(env, 'generation', step);
  const probe = batchRequest(step, params, env.labels, '');
  const key = createHash('sha256').update(JSON.stringify(probe)).digest('hex').slice(0, 16);
  const dir = join(workDirOf(params), `${step}-${key}`);
  const request = batchRequest(step, params, env.labels, dir);
  env.logger.info({ step, dir }, 'generation batch job');
  const started = await unary<JobStatus>(generation, 'StartBatch', request, { signal, deadlineMs: 60_000 });
  await waitForJob(generation, started, `${step}: generation batch`, signal, {
    pollMs: 500,
    onStatus: (job) => env.progress?.(`generating the pool: ${step} batch job: ${jobProgressText(job)}`),
  });
  return dir;
}

/**
 * The build pool of an SD strategy: its generated shift (format `shift`: the shift folder, read with
 * @select/datasets' readClassShards, candidates keyed by sample key). The curator runs this before
 * planning a build whose first step is sd-txt2img or sd-img2img.
 */
export async function generatedPool(step: string, params: Readonly<Record<string, unknown>>, env: Pick<StepEnvironment, 'services' | 'labels' | 'logger' | 'progress'>, signal?: AbortSignal): Promise<PoolInfo> {
  const dir = await generatedShift(step, params, env, signal);
  if (!existsSync(join(dir, 'manifest.jsonl'))) throw ServiceError.failedPrecondition(`${step}: the generation job wrote no shift into ${dir}`);
  return { format: 'shift', uri: dir, name: step, labelUris: [], classDescriptionsUri: '', hierarchyUri: '', imagesUri: '' };
}

interface Generated {
  classIndex: number;
  seed: number | undefined;
  sourceId: string;
}

async function manifestOf(dir: string, labels: LabelSpace): Promise<Map<string, Generated>> {
  const out = new Map<string, Generated>();
  for await (const e of readShiftManifest(dir)) {
    out.set(e.key, { classIndex: labels.wnids.indexOf(e.wnid), seed: e.seed, sourceId: e.source_id });
  }
  return out;
}

/** Labels the generated shift's samples (the build pool) with their prompted or inherited class. */
class GeneratedLabelStep implements ChainStep {
  readonly scope = 'task' as const;

  constructor(
    readonly name: string,
    readonly params: Readonly<Record<string, unknown>>,
    private readonly generated: ReadonlyMap<string, Generated>,
  ) {}

  async process(batch: Candidate[], ctx: StepContext): Promise<StepResult> {
    const kept: Candidate[] = [];
    const dropped: Decision[] = [];
    for (const c of batch) {
      const g = this.generated.get(c.sourceId);
      if (g === undefined || g.classIndex < 0 || !ctx.labels.selected.has(g.classIndex)) {
        dropped.push(dropDecision(this.name, c, g === undefined ? 'not-generated' : 'class-not-selected'));
        continue;
      }
      c.classIndex = g.classIndex;
      c.wnid = ctx.labels.wnids[g.classIndex]!;
      c.score = Number.NaN;
      if (g.seed !== undefined) c.seed = g.seed;
      c.modelIds = { ...c.modelIds, generator: String(this.params['model']) };
      c.metadata = { ...c.metadata, generatedFrom: g.sourceId };
      kept.push(c);
    }
    return { kept, dropped };
  }
}
