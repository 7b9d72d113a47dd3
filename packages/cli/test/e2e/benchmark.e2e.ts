// README command one, `select benchmark`, as a user runs it: the built CLI as a child process against every service
// as its own process (generation included), on the first records of the real openclipart pool (Debian
// openclipart-svg, which scripts/setup.sh installs). What a user would notice: every stage ends done, no shift holds
// a held-out image (the gate dropped each one, and says so in SQL), the leaderboard and the report cover every
// shift; the same command again reuses every finished job; Ctrl-C says what goes on and the same command picks up.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from '@select/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_SERVICES_WITH_GENERATION, ROOT, readShiftFiles, startDeployment, type Deployment } from './e2e-kit.js';

const POOL = '/usr/share/openclipart/svg';
const POOL_LIMIT = '600';
const SHIFT_NAMES = ['substring', 'substring-textsim', 'img2img', 'txt2img', 'sd-txt2img'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface MainJobJson {
  stages: Array<{ stage: string; outcome: string; detail: string }>;
  shifts: Array<{ name: string; shiftId: string; uri: string; samples: number; classes: number }>;
  evalSet: { shiftId: string; uri: string; samples: number; classes: number };
  runs: Array<{ runId: string; shiftId: string; backend: string; state: string; message?: string }>;
  evaluations: string[];
  reportPath: string;
}

let d: Deployment;

/** `select benchmark <args>` with the deployment's config; `interruptWhen` sends SIGINT once stdout matches it. */
function benchmark(args: string[], interruptWhen?: RegExp): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'packages/cli/bin/select.js'), 'benchmark', '--config', d.configFile, '--pool', POOL, '--pool-limit', POOL_LIMIT, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (interruptWhen && !signalled && interruptWhen.test(stdout)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function mainJob(out: string): MainJobJson {
  return JSON.parse(readFileSync(join(out, 'main-job.json'), 'utf8')) as MainJobJson;
}

const sourceIds = (uri: string): string[] => readShiftFiles(uri).entries.map((e) => e.source_id);

beforeAll(async () => {
  d = await startDeployment('benchmark', { workers: 2, generation: true });
  const up = await d.supervisor.up([...E2E_SERVICES_WITH_GENERATION]);
  const bad = up.filter((r) => r.outcome !== 'started');
  if (bad.length > 0) throw new Error(`services did not start: ${bad.map((r) => `${r.instance} ${r.outcome}: ${r.detail}`).join('\n')}`);
}, 300_000);

afterAll(async () => {
  await d?.cleanup();
}, 120_000);

describe('select benchmark (README command one) against every service as its own process', () => {
  let out: string;
  let first: MainJobJson;

  it('runs every stage: a held-out set, five gated shifts, training, evaluation, the leaderboard from SQL and the report', async () => {
    out = join(d.dir, 'job');
    const run = await benchmark(['--out', out, '--id-prefix', 'e2e']);
    expect(run.code, run.stderr).toBe(0);
    // the job's own summary (every stage's outcome and seconds) in the test log: where a slow CI run spent its time
    console.log(run.stdout.slice(run.stdout.indexOf('==> summary'), run.stdout.indexOf('==> where things are')).trimEnd());
    first = mainJob(out);
    expect(first.stages.map((s) => [s.stage.split(':')[0], s.outcome])).toEqual([
      ['services', 'done'],
      ['strategies', 'done'],
      ['hold out the evaluation set "eval-holdout" (substring + text similarity)', 'done'],
      ...SHIFT_NAMES.map((name) => [`shift "${name}"`, 'done']),
      ['training', 'done'],
      ['evaluation', 'done'],
      ['leaderboard (ClickHouse SQL)', 'done'],
      ['HTML report', 'done'],
    ]);
    expect(first.shifts.map((s) => s.name)).toEqual(SHIFT_NAMES);
    expect(first.evalSet.samples).toBeGreaterThan(0);
    for (const name of ['substring', 'img2img', 'sd-txt2img']) expect(first.shifts.find((s) => s.name === name)!.samples, name).toBeGreaterThan(0);
    // A probe on every shift with samples and one timm run: each run the trainer started succeeded (the job prints
    // why one did not); a shift too small for the probe's splits is refused up front and the job says why.
    const training = run.stdout.slice(run.stdout.indexOf('==> [9/12]'), run.stdout.indexOf('==> [10/12]'));
    expect(training.split('\n').filter((line) => / ended JOB_STATE_/.test(line)), training).toEqual([]);
    for (const shift of first.shifts.filter((s) => s.samples > 0)) {
      const probe = first.runs.find((r) => r.runId === `e2e-probe-${shift.name}`);
      if (shift.samples >= 6) expect(probe?.state, shift.name).toBe('JOB_STATE_SUCCEEDED');
      else {
        expect(probe).toMatchObject({ state: 'NOT_STARTED', message: expect.stringContaining(`holds ${shift.samples} samples: too few for a linear probe`) });
        expect(training).toContain(`run e2e-probe-${shift.name} not started: `);
      }
    }
    expect(first.runs.filter((r) => r.backend === 'timm').map((r) => r.state)).toEqual(['JOB_STATE_SUCCEEDED']);
  });

  it('no shift holds a held-out image: the gate dropped every one of them from the substring shift, with its reason in SQL', async () => {
    const heldOut = sourceIds(first.evalSet.uri);
    expect(heldOut.length).toBe(first.evalSet.samples);
    for (const shift of first.shifts) {
      const ids = sourceIds(shift.uri);
      expect(ids.length, shift.name).toBe(shift.samples);
      expect(ids.filter((id) => heldOut.includes(id)), shift.name).toEqual([]);
    }
    // The held-out set is chosen from the substring chain's own candidates, so that build met each held-out image.
    const substring = first.shifts.find((s) => s.name === 'substring')!;
    const gated = await d.rowsWhen<{ source_id: string; reason: string }>(
      sql`SELECT source_id, reason FROM curation_decisions FINAL WHERE shift_id = ${substring.shiftId} AND step = 'contamination-gate' AND kept = 0`,
      (rows) => rows.length >= heldOut.length,
    );
    expect(heldOut.filter((id) => !gated.some((g) => g.source_id === id))).toEqual([]);
    expect(gated.every((g) => g.reason.startsWith('contaminated-exact:'))).toBe(true);
  });

  it('the leaderboard in ClickHouse and the HTML report cover every shift a probe was trained on', async () => {
    const trained = new Set(first.runs.filter((r) => r.backend === 'linear-probe' && r.state === 'JOB_STATE_SUCCEEDED').map((r) => r.shiftId));
    const withSamples = first.shifts.filter((s) => trained.has(s.shiftId));
    expect(withSamples.length).toBeGreaterThanOrEqual(1); // sd-txt2img at least: 4 images for each held-out class
    const rows = await d.rowsWhen<{ shift_id: string }>(
      sql`SELECT DISTINCT shift_id FROM leaderboard WHERE benchmark = 'openclipart-holdout' AND metric = 'top1'`,
      (r) => r.length >= withSamples.length,
    );
    expect(rows.map((r) => r.shift_id).sort()).toEqual(withSamples.map((s) => s.shiftId).sort());
    expect(existsSync(first.reportPath)).toBe(true);
    const html = readFileSync(first.reportPath, 'utf8');
    for (const shift of withSamples) expect(html, shift.shiftId).toContain(shift.shiftId);
  });

  it('the same command again reuses every finished shift, run and evaluation', async () => {
    const run = await benchmark(['--out', out, '--id-prefix', 'e2e']);
    expect(run.code, run.stderr).toBe(0);
    const again = mainJob(out);
    expect(again.stages.slice(2, -2).map((s) => [s.stage.split(':')[0], s.outcome])).toEqual(
      first.stages.slice(2, -2).map((s) => [s.stage.split(':')[0], 'reused']),
    );
    expect(again.shifts.map((s) => [s.shiftId, s.samples])).toEqual(first.shifts.map((s) => [s.shiftId, s.samples]));
  });

  it('Ctrl-C stops the command only (exit 130, with what to do next); the same command then picks the job up and ends with the same shift', async () => {
    const outInterrupted = join(d.dir, 'job-interrupted');
    const args = ['--out', outInterrupted, '--id-prefix', 'e2e-int', '--shifts', 'substring', '--curation-only'];
    const interrupted = await benchmark(args, /==> \[4\/4\] shift "substring"/);
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain('select benchmark: interrupted. The builds, runs and evaluations it started go on in the services.');
    expect(interrupted.stderr).toContain('run the same command again (same --id-prefix)');
    expect(existsSync(join(outInterrupted, 'main-job.json'))).toBe(false);

    const resumed = await benchmark(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    const job = mainJob(outInterrupted);
    expect(job.stages[2]!.outcome).toBe('reused');
    expect(['done', 'reused']).toContain(job.stages[3]!.outcome);
    // the same pool, chain and held-out set: the same shift as the uninterrupted run's
    const substring = job.shifts.find((s) => s.name === 'substring')!;
    expect(sourceIds(substring.uri).sort()).toEqual(sourceIds(first.shifts.find((s) => s.name === 'substring')!.uri).sort());
  });
});
