// The main job (`select benchmark`, README command one): a whole SELECT benchmark on a real pool, driven through
// the services' gRPC APIs exactly as a user's own program would drive them:
//   hold out an evaluation set (strictest rule) → build shifts with different strategy chains, each through the
//   contamination gate → a linear probe on every shift and one timm run → evaluate every model, kNN and shift
//   analysis → the leaderboard from ClickHouse SQL → the HTML report.
// Every request carries a deterministic id (shift, run, evaluation), so a second run finds the finished jobs and
// reuses them. A stage whose service or strategy is not there yet is reported as "not available" and skipped.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectReportData, renderReport } from '@select/evaluator-service';
import { addClickHouseDefaults, createClickHouse, queryReadOnlyTable, sqlString } from '@select/metrics';
import { GrpcCallError, statusName, writeFileAtomic } from '@select/platform';
import { SERVICE_DEFINITIONS, Supervisor, type ResolvedServicesConfig } from '@select/supervisor';
import { formatTable } from '../table-format.js';
import { isTerminal, ServiceClient, type JobStatusMessage } from './service-client.js';

export interface MainJobOptions {
  /** The services config the services were started with (addresses). */
  services: ResolvedServicesConfig;
  /** The file it came from when not the default, for the commands the job prints. */
  configFile?: string;
  /** Where shifts, the report and the job's own summary go. @default <root>/.work/main-job */
  outDir?: string;
  /** The pool. @default the Debian openclipart-svg collection */
  pool?: { uri: string; format: string; limit: number };
  /** Embedding-service model names. */
  models?: Partial<MainJobModels>;
  /** Shifts to build (names from SHIFT_PLANS). @default all */
  shifts?: readonly string[];
  /** Write progress lines here. @default stdout */
  write?: (line: string) => void;
  /** Stop after curation (no training or evaluation): the e2e test's short run. @default false */
  curationOnly?: boolean;
  /** Prefix of every id the job gives (shifts, runs, evaluations). @default 'main' */
  idPrefix?: string;
}

export interface MainJobModels {
  /** CLIP-style image-text model: image/text retrieval, CLIP score, linear-probe features. @default 'tiny-clip' */
  clip: string;
  /** Sentence encoder of the caption-similarity step. @default 'all-minilm-l6-v2', else 'tiny-sentence' */
  text: string;
  /** Image encoder of the SSL kNN evaluation. @default 'tiny-resnet' */
  knnEncoder: string;
  /** Stable Diffusion export of the generation service. @default 'tiny-sd' */
  diffusion: string;
}

export type StageOutcome = 'done' | 'reused' | 'not available' | 'failed' | 'skipped';

export interface StageResult {
  stage: string;
  outcome: StageOutcome;
  detail: string;
  seconds: number;
}

export interface ShiftOutcome {
  name: string;
  shiftId: string;
  uri: string;
  samples: number;
  classes: number;
  jobId: string;
}

export interface MainJobReport {
  stages: StageResult[];
  shifts: ShiftOutcome[];
  evalSet: ShiftOutcome | undefined;
  /** Every run the job asked for; one the trainer refused has state `NOT_STARTED` and the trainer's reason. */
  runs: Array<{ runId: string; shiftId: string; backend: string; artifactUri: string; state: string; message?: string }>;
  evaluations: string[];
  reportPath: string | undefined;
  leaderboard: string | undefined;
}

/** One shift of the benchmark: its chain of steps (names of the curator's registry) and their parameters. */
interface ShiftPlan {
  name: string;
  what: string;
  /** Steps before the contamination gate. */
  steps: (models: MainJobModels, ctx: PlanContext) => Array<{ name: string; params: Record<string, unknown> }>;
  /** Steps the curator must know for this plan to run. */
  needs: readonly string[];
  /** The build's pool when it is not the job's pool (Stable Diffusion builds read the shift they generate). */
  pool?: (ctx: PlanContext) => { uri: string; format: string } | undefined;
  /** Restrict the build to the held-out set's classes (generation draws images per class). */
  evalClassesOnly?: boolean;
  /** Needs the substring shift as labelled references (or as its pool). */
  needsReference?: boolean;
}

interface PlanContext {
  /** The held-out set's folder (reference images of the img2img shift must not be it). */
  evalSetUri: string | undefined;
  /** A labelled shift already built (the img2img shift's references). */
  referenceUri: string | undefined;
  /** Where the image strategies keep the pool's embeddings and generated images (reused by later runs). */
  workDir: string;
  /** Threshold of the text-similarity step when the sentence encoder has no calibrated one (the tiny fixture). */
  textThreshold: number | undefined;
}

const SUBSTRING = 'substring-match';
const TEXT_SIMILARITY = 'text-similarity';

export const SHIFT_PLANS: readonly ShiftPlan[] = [
  {
    name: 'substring',
    what: 'LAIONet substring matching (exactly one synset in the caption)',
    needs: [SUBSTRING],
    steps: () => [{ name: SUBSTRING, params: {} }],
  },
  {
    name: 'substring-textsim',
    what: 'substring matching + caption–class text similarity with the sentence encoder (LA1000 txt2img)',
    needs: [SUBSTRING, TEXT_SIMILARITY],
    steps: (m, ctx) => [
      { name: SUBSTRING, params: {} },
      { name: TEXT_SIMILARITY, params: { model: m.text, ...(ctx.textThreshold !== undefined ? { threshold: ctx.textThreshold } : {}) } },
    ],
  },
  {
    name: 'img2img',
    what: 'image-to-image retrieval: pool images nearest to the labelled references (the substring shift), label inherited (LA1000 img2img)',
    needs: ['image-retrieval'],
    needsReference: true,
    steps: (m, ctx) => [{ name: 'image-retrieval', params: { model: m.clip, referenceUri: ctx.referenceUri ?? '', k: 2, workDir: ctx.workDir } }],
  },
  {
    name: 'txt2img',
    what: "text-to-image retrieval: pool images nearest to each class's CLIP prompts",
    needs: ['text-retrieval'],
    steps: (m, ctx) => [{ name: 'text-retrieval', params: { model: m.clip, perClass: 5, workDir: ctx.workDir } }],
  },
  {
    name: 'sd-txt2img',
    what: 'Stable Diffusion text-to-image on the tiny model, "A photo of {class}", 4 images per held-out class (SD1000 txt2img)',
    needs: ['sd-txt2img'],
    evalClassesOnly: true,
    // The strategy generates its own pool (the generation service's batch output): pool.uri and format stay empty.
    pool: () => ({ uri: '', format: '' }),
    steps: (m, ctx) => [{ name: 'sd-txt2img', params: { model: m.diffusion, imagesPerClass: 4, steps: 4, width: 64, height: 64, workDir: ctx.workDir } }],
  },
];

const DEFAULT_MODELS: MainJobModels = { clip: 'tiny-clip', text: 'all-minilm-l6-v2', knnEncoder: 'tiny-resnet', diffusion: 'tiny-sd' };
export const DEFAULT_POOL = { uri: '/usr/share/openclipart/svg', format: 'openclipart', limit: 0 };
const EVAL_SET = 'eval-holdout';
/** The held-out set's name in evaluation results (the leaderboard's benchmark column). */
const HOLDOUT_BENCHMARK = 'openclipart-holdout';
/** The leaderboard rows the job prints (every metric is in ClickHouse; `select sql` shows the rest). */
const LEADERBOARD_METRICS = ['top1', 'top5', 'mean_per_class_accuracy', 'knn_top1@20', 'coverage', 'lt500', 'ls5pct'];

interface StrategyInfo {
  name: string;
  role?: string;
}

/** The job cannot start: services the config enables are not running (or not built). */
export class MainJobSetupError extends Error {
  override readonly name = 'MainJobSetupError';
  constructor(
    message: string,
    /** What to do about it. */
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Runs the whole job; never throws for a stage that fails (it is reported), only for a broken setup (MainJobSetupError). */
export async function runMainJob(options: MainJobOptions): Promise<MainJobReport> {
  const job = new MainJob(options);
  try {
    return await job.run();
  } finally {
    job.close();
  }
}

class MainJob {
  private readonly write: (line: string) => void;
  private readonly outDir: string;
  private readonly pool: { uri: string; format: string; limit: number };
  private readonly prefix: string;
  private models: MainJobModels;
  private readonly clients = new Map<string, ServiceClient>();
  private readonly report: MainJobReport = { stages: [], shifts: [], evalSet: undefined, runs: [], evaluations: [], reportPath: undefined, leaderboard: undefined };
  private stageCount = 0;
  private evalImagesDir: string | undefined;
  private stagesPlanned = 0;
  private strategies: StrategyInfo[] = [];

  constructor(private readonly options: MainJobOptions) {
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
    this.outDir = options.outDir ?? join(options.services.root, '.work', 'main-job');
    this.pool = options.pool ?? DEFAULT_POOL;
    this.prefix = options.idPrefix ?? 'main';
    this.models = { ...DEFAULT_MODELS, ...options.models };
  }

  async run(): Promise<MainJobReport> {
    const plans = SHIFT_PLANS.filter((p) => !this.options.shifts || this.options.shifts.includes(p.name));
    this.stagesPlanned = 3 + plans.length + (this.options.curationOnly ? 0 : 4);
    await mkdir(this.outDir, { recursive: true });

    await this.stage('services', () => this.checkServices());
    await this.stage('strategies', () => this.loadStrategies());
    await this.stage(`hold out the evaluation set "${EVAL_SET}" (substring + text similarity)`, () => this.buildEvalSet());
    for (const plan of plans) await this.stage(`shift "${plan.name}": ${plan.what}`, () => this.buildShift(plan));
    if (!this.options.curationOnly) {
      await this.stage('training: a linear probe on every shift and one timm run', () => this.train());
      await this.stage('evaluation: classifiers on the held-out set, SSL kNN, shift analysis', () => this.evaluate());
      await this.stage('leaderboard (ClickHouse SQL)', () => this.leaderboard());
      await this.stage('HTML report', () => this.htmlReport());
    }
    await writeFile(join(this.outDir, 'main-job.json'), `${JSON.stringify(this.report, null, 2)}\n`);
    this.summary();
    return this.report;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }

  // ---- stages ----

  private async stage(title: string, work: () => Promise<{ outcome: StageOutcome; detail: string }>): Promise<void> {
    this.stageCount++;
    const began = Date.now();
    this.write(`\n==> [${this.stageCount}/${this.stagesPlanned}] ${title}`);
    let result: { outcome: StageOutcome; detail: string };
    try {
      result = await work();
    } catch (err) {
      if (err instanceof MainJobSetupError) throw err;
      result = { outcome: 'failed', detail: describeError(err) };
    }
    const seconds = (Date.now() - began) / 1000;
    this.report.stages.push({ stage: title, ...result, seconds });
    this.write(`    ${result.outcome}${result.detail ? `: ${result.detail}` : ''} (${seconds.toFixed(1)} s)`);
  }

  private async checkServices(): Promise<{ outcome: StageOutcome; detail: string }> {
    const supervisor = new Supervisor(this.options.services);
    const status = await supervisor.status();
    const lines = status.map((s) => `${s.instance}: ${s.state}`);
    for (const line of lines) this.write(`    ${line}`);
    // A service the config enables must be up: the job would otherwise skip most of its stages and end "done".
    // One the config disables (enabled: false) only makes the stages that need it "not available".
    const down = status.filter((s) => !['healthy', 'external', 'disabled'].includes(s.state));
    if (down.length > 0) {
      const config = this.options.configFile !== undefined ? ` --config ${this.options.configFile}` : '';
      const notBuilt = down.some((s) => s.state === 'not built');
      throw new MainJobSetupError(
        `services the config enables are not running: ${down.map((s) => `${s.instance} (${s.state})`).join(', ')}`,
        [
          ...(notBuilt ? ['Build them first: `npx nx run-many -t build`.'] : []),
          `Start them with \`npx select services up${config}\` (\`npm run main\` builds, starts them and runs this job); \`npx select services logs <name>\` says why one stopped.`,
        ].join(' '),
      );
    }
    // The sentence encoder: the real one when it was exported and is served, else the tiny fixture.
    const embedding = this.client('embedding');
    if (embedding && (await embedding.healthy())) {
      const models = await embedding.call<{ models: Array<{ name: string }> }>('ListModels', {}).catch(() => ({ models: [] }));
      const names = models.models.map((m) => m.name);
      if (!names.includes(this.models.text) && this.options.models?.text === undefined) {
        const fallback = names.find((n) => n.includes('sentence')) ?? this.models.text;
        this.write(`    the sentence encoder ${this.models.text} is not served (export it: see README "Main job"); using ${fallback}, whose scores mean nothing`);
        this.models = { ...this.models, text: fallback };
      }
    }
    const disabled = status.filter((s) => s.state === 'disabled');
    return {
      outcome: 'done',
      detail: `${status.length - disabled.length} processes healthy${disabled.length > 0 ? `; disabled in the config: ${disabled.map((s) => s.instance).join(', ')}` : ''}`,
    };
  }

  private async loadStrategies(): Promise<{ outcome: StageOutcome; detail: string }> {
    const curator = await this.healthyClient('curator');
    if (!curator) return { outcome: 'not available', detail: 'the curator service is not running (disabled in the services config)' };
    const { strategies } = await curator.call<{ strategies: StrategyInfo[] }>('ListStrategies', {});
    this.strategies = strategies;
    return { outcome: 'done', detail: strategies.map((s) => s.name).join(', ') };
  }

  private async buildEvalSet(): Promise<{ outcome: StageOutcome; detail: string }> {
    const missing = this.missingSteps([SUBSTRING, TEXT_SIMILARITY]);
    if (missing) return missing;
    const shift = await this.curate(
      EVAL_SET,
      [
        { name: SUBSTRING, params: {} },
        { name: TEXT_SIMILARITY, params: { model: this.models.text, ...(this.textThreshold() !== undefined ? { threshold: this.textThreshold() } : {}) } },
      ],
      { maxPerClass: 3, gate: false, gateOverride: 'the held-out evaluation set itself: the other shifts are checked against it' },
    );
    this.report.evalSet = shift;
    // The contamination gate registers evaluation sets as folders of images: the held-out shift's JPEGs. One build
    // of a single record registers it before the shifts' builds, whose workers would otherwise all register it at
    // once.
    this.evalImagesDir = await extractImages(shift.uri, join(this.outDir, 'eval-images'));
    if (this.hasStep('contamination-gate')) {
      const registration = await this.curate('gate-registration', [{ name: SUBSTRING, params: {} }], { maxPerClass: 0, gate: true, limit: 1, dryRun: true });
      this.write(`    evaluation set registered with the contamination gate (${registration.jobId})`);
    }
    return {
      outcome: shift.reused ? 'reused' : 'done',
      detail: `${shift.samples} images in ${shift.classes} classes, labelled by the strictest rule — a proxy for ImageNet val, not ImageNet val (${shift.uri})`,
    };
  }

  private async buildShift(plan: ShiftPlan): Promise<{ outcome: StageOutcome; detail: string }> {
    const missing = this.missingSteps(plan.needs);
    if (missing) return missing;
    const context: PlanContext = {
      evalSetUri: this.report.evalSet?.uri,
      referenceUri: this.report.shifts.find((s) => s.name === 'substring' && s.samples > 0)?.uri,
      workDir: join(this.outDir, 'work'),
      textThreshold: this.textThreshold(),
    };
    if (plan.needsReference && !context.referenceUri) return { outcome: 'skipped', detail: 'needs the substring shift (with samples), which was not built' };
    if (plan.evalClassesOnly && !this.report.evalSet) return { outcome: 'skipped', detail: 'needs the held-out set (its classes), which was not built' };
    // The retrieval strategies embed and index the pool's records the build reads (once: the services key those
    // jobs by request, and every worker of the build waits for the same ones).
    const steps = plan.steps(this.models, context);
    let shift: ShiftOutcome & { reused: boolean };
    try {
      shift = await this.buildPlan(plan, steps, context);
    } catch (err) {
      // The curator lists the Stable Diffusion strategies before its builds can read the pools they generate.
      if (err instanceof GrpcCallError && statusName(err.code) === 'INVALID_ARGUMENT' && /pool\.format "shift" is not one of/.test(err.message)) {
        return { outcome: 'not available', detail: 'the curator cannot build from generated (shift) pools yet' };
      }
      throw err;
    }
    this.report.shifts.push(shift);
    return { outcome: shift.reused ? 'reused' : 'done', detail: `${shift.samples} samples in ${shift.classes} classes (${shift.uri})` };
  }

  private async buildPlan(
    plan: ShiftPlan,
    steps: Array<{ name: string; params: Record<string, unknown> }>,
    context: PlanContext,
  ): Promise<ShiftOutcome & { reused: boolean }> {
    return this.curate(plan.name, steps, {
      maxPerClass: 0,
      gate: true,
      ...(plan.pool ? { pool: plan.pool(context)! } : {}),
      ...(plan.evalClassesOnly ? { wnids: await this.evalClasses() } : {}),
    });
  }

  private async train(): Promise<{ outcome: StageOutcome; detail: string }> {
    const trainer = await this.healthyClient('trainer');
    if (!trainer) return { outcome: 'not available', detail: 'the trainer service is not running (disabled in the services config)' };
    const usable = this.report.shifts.filter((s) => s.samples > 0);
    if (usable.length === 0) return { outcome: 'skipped', detail: 'no shift with samples to train on' };
    const requests: Array<Record<string, unknown> & { runId: string }> = usable.map((shift) => ({
      runId: `${this.prefix}-probe-${shift.name}`,
      shiftId: shift.shiftId,
      shiftUri: shift.uri,
      backend: 'linear-probe',
      embeddingModel: this.models.clip,
      allowMissingClasses: true,
      // The CLIP paper's protocol with a short sweep of the regularisation: minutes on 2 cores for five shifts.
      linearProbe: { protocol: 'clip', cValues: [0.1, 10], maxIter: 100 },
    }));
    // One real timm run (tiny test model on CPU) on the shift with the most samples.
    const largest = [...usable].sort((a, b) => b.samples - a.samples)[0]!;
    requests.push({ runId: `${this.prefix}-timm-${largest.name}`, shiftId: largest.shiftId, shiftUri: largest.uri, backend: 'timm', recipeName: 'cpu-tiny', allowMissingClasses: true });
    // All runs are started first: the trainer queues them (TRAINER_CONCURRENCY) and extracts one run's features
    // through the embedding service while another fits.
    let reused = 0;
    const started: Array<{ runId: string; state: string }> = [];
    for (const request of requests) {
      try {
        started.push(await trainer.call<{ runId: string; state: string }>('StartTraining', request));
      } catch (err) {
        // A shift the trainer cannot train on (too few samples for the probe's splits, say): that run only.
        if (!(err instanceof GrpcCallError && statusName(err.code) === 'FAILED_PRECONDITION')) throw err;
        this.write(`    run ${request.runId} not started: ${err.serverMessage}`);
        this.report.runs.push({ runId: request.runId, shiftId: String(request['shiftId']), backend: String(request['backend']), artifactUri: '', state: 'NOT_STARTED', message: err.serverMessage });
      }
    }
    for (const run of started) {
      if (run.state === 'JOB_STATE_SUCCEEDED') reused++;
      const final = isTerminal(run.state) ? run : await this.follow(trainer, run.runId, `run ${run.runId}`);
      const info = await trainer.call<{ runId: string; shiftId: string; backend: string; artifactUri: string; state: string; message: string }>('GetRun', { runId: run.runId });
      this.report.runs.push({ runId: info.runId, shiftId: info.shiftId, backend: info.backend, artifactUri: info.artifactUri, state: info.state });
      if (final.state !== 'JOB_STATE_SUCCEEDED') this.write(`    run ${info.runId} ended ${final.state}: ${info.message}`);
    }
    const ok = this.report.runs.filter((r) => r.state === 'JOB_STATE_SUCCEEDED').length;
    const refused = requests.length - started.length;
    const detail = `${ok} of ${started.length} runs succeeded${refused > 0 ? `; ${refused} not started (the trainer's reasons are above)` : ''}`;
    if (started.length === 0) return { outcome: 'skipped', detail };
    return { outcome: ok === 0 ? 'failed' : reused === started.length ? 'reused' : 'done', detail };
  }

  private async evaluate(): Promise<{ outcome: StageOutcome; detail: string }> {
    const evaluator = await this.healthyClient('evaluator');
    if (!evaluator) return { outcome: 'not available', detail: 'the evaluator service is not running (disabled in the services config)' };
    const evalSet = this.report.evalSet;
    if (!evalSet || evalSet.samples === 0) return { outcome: 'skipped', detail: 'no held-out evaluation set' };
    const set = { name: HOLDOUT_BENCHMARK, uri: evalSet.uri, format: 'webdataset', classSubset: 'eval-classes' };
    const jobs: Array<{ evalId: string; start: () => Promise<JobStatusMessage> }> = [];
    // a knn-bank run's artifact is a bank (retrieval://<index>), not a model: it feeds the kNN evaluation below
    const banks = new Map(this.report.runs.filter((r) => r.state === 'JOB_STATE_SUCCEEDED' && r.backend === 'knn-bank' && r.artifactUri.startsWith('retrieval://')).map((r) => [r.shiftId, r.artifactUri]));
    for (const run of this.report.runs.filter((r) => r.state === 'JOB_STATE_SUCCEEDED' && r.artifactUri && r.backend !== 'knn-bank')) {
      const evalId = `${this.prefix}-eval-${run.runId}`;
      // A timm run of the CPU recipe trains at its own small size: evaluate it with the model's own preprocessing.
      const sets = [{ ...set, ...(run.backend === 'timm' ? { preprocessing: 'model' } : {}) }];
      jobs.push({ evalId, start: () => evaluator.call('EvaluateModel', { evalId, runId: run.runId, shiftId: run.shiftId, checkpointUri: run.artifactUri, sets }) });
    }
    for (const shift of this.report.shifts.filter((s) => s.samples > 0)) {
      const evalId = `${this.prefix}-knn-${shift.name}`;
      // the trainer's bank in the retrieval service when it stored one, else a bank the evaluator builds from the shift
      const bank = banks.has(shift.shiftId) ? { bankUri: banks.get(shift.shiftId) } : { shiftUri: shift.uri, perClass: 5 };
      jobs.push({
        evalId,
        start: () => evaluator.call('EvaluateKnn', { evalId, shiftId: shift.shiftId, ...bank, encoderModel: this.models.knnEncoder, evalSet: set }),
      });
    }
    let failed = 0;
    let reused = 0;
    for (const job of jobs) {
      const started = await job.start();
      if (started.state === 'JOB_STATE_SUCCEEDED') reused++;
      const final = isTerminal(started.state) ? started : await this.follow(evaluator, started.jobId, `evaluation ${job.evalId}`);
      if (final.state === 'JOB_STATE_SUCCEEDED') this.report.evaluations.push(job.evalId);
      else {
        failed++;
        this.write(`    ${job.evalId} ended ${final.state}: ${final.message}`);
      }
    }
    for (const shift of this.report.shifts.filter((s) => s.samples > 0)) {
      const analysis = await evaluator.call<{ coverage: number; lt500: number; ls5pct: number; samples: string }>('AnalyzeShift', { shiftId: shift.shiftId, shiftUri: shift.uri });
      this.write(`    ${shift.name}: coverage ${analysis.coverage}, LT@500 ${analysis.lt500}, LS@5pct ${analysis.ls5pct.toFixed(3)}, ${analysis.samples} samples`);
    }
    const outcome: StageOutcome = failed === jobs.length && jobs.length > 0 ? 'failed' : reused === jobs.length && jobs.length > 0 ? 'reused' : 'done';
    return { outcome, detail: `${jobs.length - failed} of ${jobs.length} evaluations succeeded` };
  }

  private async leaderboard(): Promise<{ outcome: StageOutcome; detail: string }> {
    const statement =
      `SELECT shift_id, run_id, benchmark, metric, round(value, 4) AS value, num_samples FROM leaderboard ` +
      `WHERE metric IN (${LEADERBOARD_METRICS.map((m) => sqlString(m)).join(', ')}) AND shift_id IN (${this.report.shifts.map((s) => sqlString(s.shiftId)).join(', ') || "''"}) ` +
      'ORDER BY benchmark, metric, value DESC';
    const database = this.database();
    // The sink lands events a moment after the services publish them.
    let rows: unknown[][] = [];
    let columns: Array<{ name: string; type: string }> = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      ({ columns, rows } = await queryReadOnlyTable(statement, { database }));
      if (rows.length > 0 || this.report.evaluations.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const text = formatTable(columns, rows);
    this.report.leaderboard = text;
    this.write(`    select sql "${statement}"`);
    for (const line of text.trimEnd().split('\n')) this.write(`    ${line}`);
    return { outcome: 'done', detail: `${rows.length} rows` };
  }

  private async htmlReport(): Promise<{ outcome: StageOutcome; detail: string }> {
    const path = join(this.outDir, 'report.html');
    const ch = createClickHouse({ database: this.database() });
    try {
      const data = await collectReportData(ch, {
        title: 'SELECT on the openclipart pool (main job)',
        perClassBenchmark: HOLDOUT_BENCHMARK,
        shiftDirs: Object.fromEntries(this.report.shifts.map((s) => [s.shiftId, s.uri])),
        // this run's shifts and its held-out set only: the database also holds other runs (other --id-prefix)
        shifts: [...this.report.shifts.map((s) => s.shiftId), ...(this.report.evalSet ? [this.report.evalSet.shiftId] : [])],
        notes: [
          `Evaluation set: ${this.report.evalSet?.samples ?? 0} openclipart images held out by the strictest rule (substring matching + text similarity with ${this.models.text}) and registered with the contamination gate: a proxy for ImageNet val, not ImageNet val.`,
          `Models: ${this.models.clip}, ${this.models.knnEncoder}, ${this.models.text}, ${this.models.diffusion}. Fixture models have random weights: accuracies, kNN scores, similarities and CLIP scores only prove the machinery; the class counts, coverage, long-tail metrics and the curation funnel are real for this pool.`,
        ],
      });
      await writeFileAtomic(path, renderReport(data));
    } finally {
      await ch.close();
    }
    this.report.reportPath = path;
    return { outcome: 'done', detail: path };
  }

  // ---- helpers ----

  private async curate(
    name: string,
    steps: Array<{ name: string; params: Record<string, unknown> }>,
    options: { maxPerClass: number; gate: boolean; gateOverride?: string; pool?: { uri: string; format: string }; wnids?: string[]; limit?: number; dryRun?: boolean },
  ): Promise<ShiftOutcome & { reused: boolean }> {
    const curator = this.client('curator')!;
    const shiftId = `${this.prefix}-${name}`;
    const gate = options.gate && this.evalImagesDir !== undefined && this.hasStep('contamination-gate');
    const chain = gate
      ? [
          ...steps,
          {
            name: 'contamination-gate',
            params: {
              evalSets: [this.evalImagesDir],
              model: this.models.clip,
              registry: join(this.outDir, 'eval-registry'),
              // The fixture CLIP has random weights and maps every image to nearly the same vector (cosine ≈ 0.9999):
              // even at threshold 1, float32 rounding matches unrelated clip art. With it the gate matches by content
              // only: each candidate's bytes and the JPEG it would be published as, which is what the held-out shift
              // holds for its images.
              ...(this.models.clip === DEFAULT_MODELS.clip ? { nearDuplicates: false } : {}),
            },
          },
        ]
      : steps;
    if (options.gate && !gate) this.write('    (no contamination gate: the gate step or the held-out set is not available; this shift is built without it)');
    const pool = options.pool
      ? { uri: options.pool.uri, format: options.pool.format, name: options.pool.format || name }
      : { uri: this.pool.uri, format: this.pool.format, limit: String(options.limit ?? this.pool.limit), name: 'openclipart' };
    const request = {
      shiftName: name,
      shiftId,
      pool,
      outputUri: join(this.outDir, 'shifts', shiftId),
      maxPerClass: options.maxPerClass,
      wnids: options.wnids ?? [],
      dryRun: options.dryRun ?? false,
      // The curator publishes a shift only after the gate, or with the reason it went without (recorded with it).
      ...(gate ? {} : { gateOverrideReason: options.gateOverride ?? 'no held-out evaluation set to check against (its stage did not run)' }),
      seed: 0,
      steps: chain.map((s) => ({ name: s.name, paramsJson: JSON.stringify(s.params) })),
    };
    const started = await curator.call<JobStatusMessage>('StartCuration', request);
    const reused = started.state === 'JOB_STATE_SUCCEEDED';
    const final = isTerminal(started.state) ? started : await this.follow(curator, started.jobId, `shift ${name}`);
    if (final.state !== 'JOB_STATE_SUCCEEDED') throw new Error(`curation of ${name} ended ${final.state}: ${final.message}`);
    const info = await curator.call<{ shiftId: string; uri: string; samples: string; classes: number }>('GetShift', { shiftId });
    if (!options.dryRun && !existsSync(join(info.uri, '_info.json'))) {
      throw new Error(`shift ${shiftId} is finished, but its folder ${info.uri} is gone; run the job with another --id-prefix to build it again`);
    }
    return { name, shiftId: info.shiftId, uri: info.uri, samples: Number(info.samples), classes: info.classes, jobId: started.jobId, reused };
  }

  /** The wnids of the held-out set's classes (what generation draws images for). */
  private async evalClasses(): Promise<string[]> {
    const evalSet = this.report.evalSet;
    if (!evalSet) return [];
    const curator = this.client('curator')!;
    const info = await curator.call<{ classCounts: Array<{ wnid: string; count: string }> }>('GetShift', { shiftId: evalSet.shiftId });
    return info.classCounts.filter((c) => Number(c.count) > 0).map((c) => c.wnid);
  }

  /** The database the services' sink writes: the services config's CLICKHOUSE_DATABASE, else this process's. */
  private database(): string {
    return this.options.services.env['CLICKHOUSE_DATABASE'] ?? addClickHouseDefaults().database;
  }

  /** The sentence encoder's threshold when the curator knows none for it (only the tiny fixture: its scores mean nothing). */
  private textThreshold(): number | undefined {
    return ['all-minilm-l6-v2', 'all-mpnet-base-v2', 'clip-vit-base-patch32'].includes(this.models.text) ? undefined : 0;
  }

  /** Prints a job's progress (rate, ETA) when it changed, at most every 5 s; returns its final status. */
  private async follow(client: ServiceClient, jobId: string, what: string): Promise<JobStatusMessage> {
    const began = Date.now();
    let lastPrint = 0;
    let lastText = '';
    return client.waitForJob(jobId, (status) => {
      const now = Date.now();
      const done = Number(status.done);
      const total = Number(status.total);
      const text = `${status.state} ${done} ${total} ${status.message}`;
      if (!isTerminal(status.state) && (text === lastText || now - lastPrint < 5_000)) return;
      lastPrint = now;
      lastText = text;
      const rate = done / Math.max((now - began) / 1000, 0.001);
      const eta = total > 0 && rate > 0 && !isTerminal(status.state) ? `, ETA ${Math.ceil((total - done) / rate)} s` : '';
      const state = status.state.replace('JOB_STATE_', '').toLowerCase();
      this.write(`    ${what}: ${state} ${done}${total ? `/${total}` : ''} ${status.unit}${rate > 0 && !isTerminal(status.state) ? ` (${rate.toFixed(1)}/s${eta})` : ''}${status.message ? ` — ${status.message}` : ''}`);
    });
  }

  private missingSteps(needed: readonly string[]): { outcome: StageOutcome; detail: string } | undefined {
    if (this.strategies.length === 0) return { outcome: 'not available', detail: 'the curator is not running' };
    const missing = needed.filter((n) => !this.hasStep(n));
    return missing.length > 0 ? { outcome: 'not available', detail: `the curator has no ${missing.join(', ')} step yet` } : undefined;
  }

  private hasStep(name: string): boolean {
    return this.strategies.some((s) => s.name === name);
  }

  private client(service: string): ServiceClient | undefined {
    const existing = this.clients.get(service);
    if (existing) return existing;
    const area = SERVICE_AREAS[service];
    const config = this.options.services.services[service];
    if (!area || !config) return undefined;
    const host = this.options.services.host === '0.0.0.0' ? '127.0.0.1' : this.options.services.host;
    const client = new ServiceClient(service, `${host}:${config.port}`, area.area, area.service);
    this.clients.set(service, client);
    return client;
  }

  private async healthyClient(service: string): Promise<ServiceClient | undefined> {
    const client = this.client(service);
    return client && (await client.healthy()) ? client : undefined;
  }

  private summary(): void {
    this.write('\n==> summary');
    const rows = this.report.stages.map((s, i) => [i + 1, s.stage.length > 70 ? `${s.stage.slice(0, 69)}…` : s.stage, s.outcome, s.seconds.toFixed(1)]);
    for (const line of formatTable([{ name: '#', type: 'UInt32' }, { name: 'stage' }, { name: 'outcome' }, { name: 'seconds', type: 'Float64' }], rows, { footer: false, maxCellWidth: 0 }).trimEnd().split('\n')) {
      this.write(`    ${line}`);
    }
    const unavailable = this.report.stages.filter((s) => s.outcome === 'not available');
    if (unavailable.length > 0) this.write(`    not available yet: ${unavailable.map((s) => `${s.stage} (${s.detail})`).join('; ')}`);
    this.write('\n==> where things are');
    if (this.report.evalSet) this.write(`    held-out evaluation set: ${this.report.evalSet.uri}`);
    for (const shift of this.report.shifts) this.write(`    shift ${shift.name}: ${shift.uri}`);
    if (this.report.reportPath) this.write(`    HTML report: ${this.report.reportPath}`);
    this.write(`    service logs: ${this.options.services.logsDir} (select services logs <name>)`);
    this.write(`    this run's summary: ${join(this.outDir, 'main-job.json')}`);
    this.write(`    SQL: select sql "SELECT * FROM leaderboard" · select sql "SELECT * FROM curation_drops"`);
  }
}

const SERVICE_AREAS: Record<string, { area: 'curation' | 'embedding' | 'retrieval' | 'generation' | 'trainer' | 'evaluator'; service: string }> = {
  curator: { area: 'curation', service: 'select.curation.v1.CuratorService' },
  embedding: { area: 'embedding', service: 'select.embedding.v1.EmbeddingService' },
  retrieval: { area: 'retrieval', service: 'select.retrieval.v1.RetrievalService' },
  generation: { area: 'generation', service: 'select.generation.v1.GenerationService' },
  trainer: { area: 'trainer', service: 'select.trainer.v1.TrainerService' },
  evaluator: { area: 'evaluator', service: 'select.evaluator.v1.EvaluatorService' },
};

/** The JPEGs of a shift's shards, extracted into `dir` (once): the folder the contamination gate registers. */
async function extractImages(shiftDir: string, dir: string): Promise<string> {
  const info = JSON.parse(await readFile(join(shiftDir, '_info.json'), 'utf8')) as { splits: { train: { filenames: string[] } } };
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const shard of info.splits.train.filenames) {
    await new Promise<void>((resolve, reject) => {
      execFile('tar', ['-xf', join(shiftDir, shard), '-C', dir, '--wildcards', '*.jpg'], (error) => (error ? reject(error) : resolve()));
    });
  }
  return dir;
}

function describeError(err: unknown): string {
  if (err instanceof GrpcCallError) return `${statusName(err.code)}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** The services of the table, for `select benchmark --help`. */
export const BENCHMARK_SERVICES = SERVICE_DEFINITIONS.map((d) => d.name);
