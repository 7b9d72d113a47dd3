import { setMaxListeners } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { curationV1 } from '@select/contracts';
import { countGroupMembers, type EventProducer } from '@select/events';
import { JobRuntime, type JobKind, type JobStatus } from '@select/jobs';
import { ServiceError, writeFileAtomic, type Logger } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { StepRegistry } from './chain/registry.js';
import type { ParamSpec, ServiceClients } from './chain/step.js';
import { normalizeRequest, type BuildSpec, type SpecLimits } from './build/build-spec.js';
import { runBuild, type BuildDeps, type BuildReport } from './build/build-runner.js';
import type { CuratorConfig } from './config.js';

type CurationRequest = curationV1.CurationRequest__Output;

export const CURATE_JOB_KIND = 'curate';

interface ShiftIndexEntry {
  shiftId: string;
  name: string;
  strategy: string;
  outputDir: string;
  paramsHash: string;
  dryRun: boolean;
  /** The request as StartCuration got it, for ResumeCuration. */
  request: CurationRequest;
}

export interface CurationServiceDeps {
  config: CuratorConfig;
  registry: StepRegistry;
  services: ServiceClients;
  producer: EventProducer | undefined;
  /** For decision batches (large events, few per request). @default producer */
  decisionProducer?: EventProducer | undefined;
  logger: Logger;
}

/**
 * The curator's domain behind the gRPC handlers: builds as `curate` jobs on the job runtime (one job per
 * shift: the job id is the shift id), the shift index (what ListShifts/GetShift/ResumeCuration read),
 * request validation and the step catalogue.
 */
export class CurationService {
  private constructor(
    private readonly deps: CurationServiceDeps,
    readonly jobs: JobRuntime,
    private readonly index: Map<string, ShiftIndexEntry>,
    private readonly indexFile: string,
  ) {}

  static async open(deps: CurationServiceDeps): Promise<CurationService> {
    const dataDir = resolve(deps.config.dataDir);
    await mkdir(join(dataDir, 'shifts'), { recursive: true });
    const indexFile = join(dataDir, 'shifts.json');
    const entries = await readFile(indexFile, 'utf8').then(
      (text) => JSON.parse(text) as ShiftIndexEntry[],
      () => [] as ShiftIndexEntry[],
    );
    const jobs = await JobRuntime.open({
      dir: join(dataDir, 'jobs'),
      service: 'curator',
      concurrency: deps.config.concurrentBuilds,
      events: { brokers: deps.config.kafkaBrokers, topicPrefix: deps.config.kafkaTopicPrefix },
      progressIntervalMs: deps.config.progressIntervalMs,
      logger: deps.logger,
    });
    const service = new CurationService(deps, jobs, new Map(entries.map((e) => [e.shiftId, e])), indexFile);
    jobs.register(service.jobKind());
    return service;
  }

  /** Restarts builds a stop interrupted. */
  resume(): Promise<void> {
    return this.jobs.resume();
  }

  close(): Promise<void> {
    return this.jobs.close();
  }

  private get limits(): SpecLimits {
    return { shiftsDir: join(resolve(this.deps.config.dataDir), 'shifts'), defaultTaskSize: this.deps.config.taskSize, maxTaskSize: this.deps.config.maxTaskSize };
  }

  normalize(request: CurationRequest): Promise<BuildSpec> {
    return normalizeRequest(request, { registry: this.deps.registry, limits: this.limits, services: this.deps.services, logger: this.deps.logger });
  }

  private jobKind(): JobKind<CurationRequest, null, BuildSpec> {
    return {
      kind: CURATE_JOB_KIND,
      unit: 'candidates',
      normalize: (request) => this.normalize(request),
      jobId: (spec) => spec.shiftId,
      outputUri: (spec) => spec.outputDir,
      resumeMessage: () => 'resuming: committed tasks are kept',
      run: async (ctx) => {
        // Every task poll, read and publish of the build listens on the job's signal.
        setMaxListeners(0, ctx.signal);
        const report = await runBuild(ctx.request, {
          registry: this.deps.registry,
          services: this.deps.services,
          logger: ctx.logger,
          producer: this.deps.producer,
          decisionProducer: this.deps.decisionProducer ?? this.deps.producer,
          signal: ctx.signal,
          progress: (done, total, message) => ctx.progress(done, total, message),
          ...(this.deps.config.noWorkerCheckMs === 0 ? {} : this.workerCheck()),
        });
        return summarize(report);
      },
    };
  }

  /** How a build asks Kafka whether its tasks have any worker to go to (BuildDeps.workerCount). */
  private workerCheck(): Pick<BuildDeps, 'workerCount' | 'workerGroup' | 'noWorkerCheckMs'> {
    const { kafkaBrokers, workerGroupId, noWorkerCheckMs } = this.deps.config;
    return { workerCount: () => countGroupMembers({ clientId: 'curator', brokers: kafkaBrokers }, workerGroupId), workerGroup: workerGroupId, noWorkerCheckMs };
  }

  async start(request: CurationRequest): Promise<JobStatus> {
    const spec = await this.normalize(request);
    await this.remember(spec, request);
    return this.jobs.start(CURATE_JOB_KIND, request);
  }

  async resumeShift(shiftId: string): Promise<JobStatus> {
    const entry = this.entry(shiftId);
    return this.jobs.start(CURATE_JOB_KIND, entry.request);
  }

  async validate(request: CurationRequest): Promise<curationV1.CurationPlan> {
    const spec = await this.normalize(request);
    return {
      shiftId: spec.shiftId,
      jobId: spec.shiftId,
      chainJson: JSON.stringify({ steps: spec.steps, maxPerClass: spec.maxPerClass, seed: spec.seed }),
      paramsHash: spec.paramsHash,
      classes: spec.classes.length,
      outputUri: spec.outputDir,
    };
  }

  listStrategies(): curationV1.ListStrategiesResponse {
    return {
      strategies: this.deps.registry.list().map((d) => ({
        name: d.name,
        description: d.description,
        paperShift: d.paperShift,
        role: d.role,
        poolFormats: [...d.poolFormats],
        params: Object.entries(d.params).map(([name, spec]) => ({
          name,
          type: spec.type,
          description: spec.description,
          defaultJson: 'default' in spec && spec.default !== undefined ? JSON.stringify(spec.default) : '',
          range: rangeOf(spec),
          required: 'required' in spec && spec.required === true,
        })),
      })),
    };
  }

  async listShifts(): Promise<curationV1.ListShiftsResponse> {
    const shifts = await Promise.all([...this.index.values()].map((entry) => this.info(entry, false)));
    return { shifts: shifts.sort((a, b) => ((a.shiftId ?? '') < (b.shiftId ?? '') ? -1 : 1)) };
  }

  getShift(shiftId: string): Promise<curationV1.ShiftInfo> {
    return this.info(this.entry(shiftId), true);
  }

  private entry(shiftId: string): ShiftIndexEntry {
    const entry = this.index.get(shiftId);
    if (entry === undefined) throw ServiceError.notFound(`no shift ${shiftId}; ListShifts lists the known ones`);
    return entry;
  }

  private async info(entry: ShiftIndexEntry, withCounts: boolean): Promise<curationV1.ShiftInfo> {
    let job: JobStatus | undefined;
    try {
      job = this.jobs.get(entry.shiftId);
    } catch {
      job = undefined;
    }
    const report = await readReport(entry);
    return {
      shiftId: entry.shiftId,
      name: entry.name,
      strategy: entry.strategy,
      uri: entry.outputDir,
      samples: String(report?.samples ?? 0),
      classes: report?.classes ?? 0,
      jobId: entry.shiftId,
      state: job?.state ?? 'JOB_STATE_UNSPECIFIED',
      paramsHash: entry.paramsHash,
      dryRun: entry.dryRun,
      candidates: report ? String(report.candidates) : (job?.done ?? '0'),
      classCounts: withCounts && report
        ? Object.entries(report.perClass)
            .map(([wnid, count]) => ({ wnid, count: String(count), classIndex: classIndexOf(wnid) }))
            .sort((a, b) => a.classIndex - b.classIndex)
        : [],
    };
  }

  private async remember(spec: BuildSpec, request: CurationRequest): Promise<void> {
    if (this.index.has(spec.shiftId)) return;
    this.index.set(spec.shiftId, {
      shiftId: spec.shiftId,
      name: spec.name,
      strategy: spec.steps.map((s) => s.name).join('+'),
      outputDir: spec.outputDir,
      paramsHash: spec.paramsHash,
      dryRun: spec.dryRun,
      request,
    });
    await writeFileAtomic(this.indexFile, `${JSON.stringify([...this.index.values()], null, 1)}\n`);
  }
}

function classIndexOf(wnid: string): number {
  const imagenet = loadImageNetTaxonomy();
  return imagenet.hasClass(wnid) ? imagenet.classByWnid(wnid).index : -1;
}

async function readReport(entry: ShiftIndexEntry): Promise<BuildReport | undefined> {
  const file = join(entry.outputDir, entry.dryRun ? 'dry_run_counts.json' : 'build.json');
  return readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as BuildReport,
    () => undefined,
  );
}

function summarize(report: BuildReport): string {
  const dropped = Object.values(report.dropped).reduce((a, b) => a + b, 0);
  return `${report.dryRun ? 'dry run: ' : ''}${report.samples} samples in ${report.classes} classes from ${report.candidates} candidates (${dropped} dropped)`;
}

function rangeOf(spec: ParamSpec): string {
  switch (spec.type) {
    case 'number':
      return `${spec.exclusiveMin === true ? '(' : '['}${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`;
    case 'integer':
      return `[${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`;
    case 'string':
      return spec.enum === undefined ? '' : `one of ${spec.enum.join(', ')}`;
    default:
      return '';
  }
}
