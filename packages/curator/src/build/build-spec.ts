import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { curationV1 } from '@select/contracts';
import { canonicalJson } from '@select/datasets';
import { ServiceError } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { LabelSpace, PoolInfo, ServiceClients, StepEnvironment } from '../chain/step.js';
import type { StepRegistry } from '../chain/registry.js';
import type { Logger } from '@select/platform';
import { validatePool } from '../pool/pool-source.js';
import { stagingPaths } from './staging.js';

/** Everything a build needs, canonical: what the job stores, what workers read from spec.json. */
export interface BuildSpec {
  format: 'select-curation-build/1';
  shiftId: string;
  name: string;
  pool: PoolInfo;
  /** Read at most this many pool records; 0 = all. */
  limit: number;
  /** The chain: a strategy then filters, each with every parameter (defaults filled in). */
  steps: Array<{ name: string; params: Record<string, unknown> }>;
  /** Selected class indices (sorted); all 1000 when the request named none. */
  classes: number[];
  maxPerClass: number;
  dryRun: boolean;
  seed: number;
  taskSize: number;
  /** The shift folder (absolute). */
  outputDir: string;
  /** sha256 prefix of the canonical chain (steps, classes, cap, seed): every kept sample's provenance. */
  paramsHash: string;
}

export interface SpecLimits {
  /** Where shifts go when a request gives no output_uri. */
  shiftsDir: string;
  /** @default 1000 records per task */
  defaultTaskSize: number;
  maxTaskSize: number;
}

type CurationRequest = curationV1.CurationRequest__Output;

/** The chain a request asks for: its `steps`, or the legacy `strategy` oneof mapped onto steps. */
function requestedSteps(request: CurationRequest): Array<{ name: string; params: Record<string, unknown> }> {
  if (request.steps.length > 0) {
    return request.steps.map((step, i) => {
      let params: unknown = {};
      if (step.paramsJson.trim() !== '') {
        try {
          params = JSON.parse(step.paramsJson);
        } catch (error) {
          throw ServiceError.invalidArgument(`steps[${i}] (${step.name}): params_json is not JSON: ${(error as Error).message}`);
        }
      }
      if (params === null || typeof params !== 'object' || Array.isArray(params)) throw ServiceError.invalidArgument(`steps[${i}] (${step.name}): params_json must be a JSON object`);
      return { name: step.name.trim(), params: params as Record<string, unknown> };
    });
  }
  switch (request.strategy) {
    case 'captionMatch': {
      const match = request.captionMatch!;
      const steps: Array<{ name: string; params: Record<string, unknown> }> = [{ name: 'substring-match', params: { lowercase: match.lowercase } }];
      if (match.textModel !== '') steps.push({ name: 'text-similarity', params: { model: match.textModel, ...(match.threshold !== 0 ? { threshold: match.threshold } : {}) } });
      return steps;
    }
    case 'schemaMapping': {
      const mapping = request.schemaMapping!;
      return [{ name: 'schema-mapping', params: mapping.minConfidence !== 0 ? { minConfidence: mapping.minConfidence } : {} }];
    }
    case 'imageRetrieval':
    case 'generation':
      throw ServiceError.invalidArgument(`the ${request.strategy} oneof is not mapped onto chain steps; name the steps in CurationRequest.steps (see ListStrategies)`);
    default:
      throw ServiceError.invalidArgument('the request names no chain: give steps (ListStrategies lists them) or a strategy');
  }
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
}

export interface NormalizeDeps {
  registry: StepRegistry;
  limits: SpecLimits;
  services: ServiceClients;
  logger: Logger;
}

/**
 * Validates a CurationRequest and makes it a BuildSpec: INVALID_ARGUMENT for a missing pool, unknown
 * steps, wnids or MIDs and out-of-range parameters; FAILED_PRECONDITION when the output folder holds
 * another build. Runs every step's own validation (files exist, the text model exists).
 */
export async function normalizeRequest(request: CurationRequest, deps: NormalizeDeps): Promise<BuildSpec> {
  const name = request.shiftName.trim();
  if (name === '') throw ServiceError.invalidArgument('shift_name is required');
  const poolSpec = request.pool;
  if (poolSpec === null || poolSpec.uri.trim() === '' && poolSpec.labelUris.length === 0) throw ServiceError.invalidArgument('pool.uri is required');
  const abs = (path: string): string => (path === '' ? '' : isAbsolute(path) ? path : resolve(path));
  const format = poolSpec.format.trim();
  const pool: PoolInfo = {
    format,
    uri: abs(poolSpec.uri.trim()),
    name: poolSpec.name.trim() || format,
    labelUris: poolSpec.labelUris.map((u) => abs(u.trim())),
    classDescriptionsUri: abs(poolSpec.classDescriptionsUri.trim() || request.schemaMapping?.classDescriptionsUri.trim() || ''),
    hierarchyUri: abs(poolSpec.hierarchyUri.trim()),
    imagesUri: abs(poolSpec.imagesUri.trim() || (format === 'openimages' ? poolSpec.uri.trim() : '')),
  };
  await validatePool(pool);
  const limit = Number(poolSpec.limit);
  if (!Number.isSafeInteger(limit) || limit < 0) throw ServiceError.invalidArgument(`pool.limit must be a whole number, got ${poolSpec.limit}`);

  const imagenet = loadImageNetTaxonomy();
  const unknown = request.wnids.filter((wnid) => !imagenet.hasClass(wnid));
  if (unknown.length > 0) throw ServiceError.invalidArgument(`unknown wnid(s) ${unknown.slice(0, 10).join(', ')}: not among the 1000 ImageNet classes`);
  const classes = request.wnids.length === 0 ? imagenet.classes.map((c) => c.index) : [...new Set(request.wnids.map((w) => imagenet.classByWnid(w).index))].sort((a, b) => a - b);
  const labels: LabelSpace = { wnids: imagenet.classes.map((c) => c.wnid), selected: new Set(classes) };

  const requested = requestedSteps(request);
  if (requested.length === 0) throw ServiceError.invalidArgument('the chain has no steps');
  const steps = requested.map((step, i) => {
    const definition = deps.registry.get(step.name);
    if (i === 0 && definition.role !== 'strategy') throw ServiceError.invalidArgument(`the first step must be a strategy (it gives labels); ${step.name} is a filter`);
    if (i > 0 && definition.role !== 'filter') throw ServiceError.invalidArgument(`only the first step may be a strategy; steps[${i}] ${step.name} is one`);
    if (i === 0 && definition.poolFormats.length > 0 && !definition.poolFormats.includes(format)) {
      throw ServiceError.invalidArgument(`strategy ${step.name} reads ${definition.poolFormats.join(', ')} pools, not ${format}`);
    }
    return { name: step.name, params: deps.registry.resolveParams(step.name, step.params) };
  });
  const env: StepEnvironment = { logger: deps.logger, services: deps.services, labels, pool };
  for (const step of steps) await deps.registry.get(step.name).validate?.(step.params, env);

  const taskSize = request.taskSize === 0 ? deps.limits.defaultTaskSize : request.taskSize;
  if (taskSize < 1 || taskSize > deps.limits.maxTaskSize) throw ServiceError.invalidArgument(`task_size must be in 1..${deps.limits.maxTaskSize}, got ${taskSize}`);
  if (format === 'captions-jsonl' && !request.dryRun) throw ServiceError.invalidArgument('captions-jsonl pools carry no images: run them with dry_run');

  const chain = { steps, classes, maxPerClass: request.maxPerClass, seed: request.seed };
  const paramsHash = createHash('sha256').update(canonicalJson(chain)).digest('hex').slice(0, 16);
  const identity = canonicalJson({ name, pool, limit, chain, dryRun: request.dryRun, taskSize });
  const derivedId = `${slug(name) || 'shift'}-${createHash('sha256').update(identity).digest('hex').slice(0, 12)}`;
  const shiftId = request.shiftId.trim() || derivedId;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(shiftId)) throw ServiceError.invalidArgument(`shift_id ${JSON.stringify(shiftId)} must be 1-128 letters, digits, '.', '_' or '-'`);
  const outputDir = abs(request.outputUri.trim()) || join(deps.limits.shiftsDir, shiftId);
  const spec: BuildSpec = {
    format: 'select-curation-build/1',
    shiftId,
    name,
    pool,
    limit,
    steps,
    classes,
    maxPerClass: request.maxPerClass,
    dryRun: request.dryRun,
    seed: request.seed,
    taskSize,
    outputDir,
    paramsHash,
  };
  const previous = await readSpec(stagingPaths(outputDir).spec).catch(() => undefined);
  if (previous !== undefined && previous.shiftId !== shiftId) {
    throw ServiceError.failedPrecondition(`${outputDir} holds another build (${previous.shiftId}); choose another output_uri`);
  }
  return spec;
}

export async function readSpec(file: string): Promise<BuildSpec> {
  const spec = JSON.parse(await readFile(file, 'utf8')) as BuildSpec;
  if (spec.format !== 'select-curation-build/1') throw new Error(`${file} is not a curation build spec`);
  return spec;
}

/** The label space of a spec. */
export function labelSpaceOf(spec: BuildSpec): LabelSpace {
  const imagenet = loadImageNetTaxonomy();
  return { wnids: imagenet.classes.map((c) => c.wnid), selected: new Set(spec.classes) };
}
