// The trainer process SIGKILLed in the middle of a timm run: its training process (a process group of its own)
// outlives it; the restarted trainer stops that orphan, resumes the run from last.pth.tar and finishes it.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageDefinition, type trainerV1 } from '@select/contracts';
import { createGrpcClient } from '@select/platform';
import { spawnWithJsonLogs } from '@select/testing';
import { writeTestShift } from './test-shift.test-util.js';
import { SERVICE_NAME } from './server.js';
import { PYTHON, REPO, call, startTestTrainer, tempDir, waitForRun, type TrainerClient } from './trainer-test-kit.test-util.js';

const MAIN = join(REPO, 'packages/trainer-service/dist/main.js');
const EPOCHS = 15;

/** The process runs (a zombie does not count). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe.skipIf(!existsSync(PYTHON) || !existsSync(MAIN))('trainer killed mid-run', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let shiftDir: string;

  beforeAll(async () => {
    work = await tempDir('trainer-kill-');
    shiftDir = join(work.path, 'shift');
    await writeTestShift(shiftDir, { classes: 3, perClass: 64, size: 32, samplesPerShard: 32 });
  });

  afterAll(async () => {
    await work?.remove();
  });

  it('a SIGKILLed trainer leaves no second training process and the run completes after the restart', async () => {
    const runsDir = join(work.path, 'runs');
    const env = { ...process.env, TRAINER_RUNS_DIR: runsDir, TRAINER_PORT: '0', TRAINER_PYTHON: PYTHON, TRAINER_PUBLISH_EVENTS: 'false', TRAINER_MIN_FREE_BYTES: '0' };
    const first = spawnWithJsonLogs(process.execPath, [MAIN], { env });
    const listening = await first.waitForLog('trainer service listening');
    const address = String(listening['address']);
    const client = createGrpcClient(packageDefinition('trainer'), SERVICE_NAME, address, { defaultDeadlineMs: 0 }) as TrainerClient;
    await call<trainerV1.TrainingRun__Output>(client, 'StartTraining', { runId: 'killed', shiftUri: shiftDir, recipeName: 'cpu-tiny', recipe: { epochs: EPOCHS }, valFraction: 0.2 });
    const summary = join(runsDir, 'killed', 'output', 'train', 'summary.csv');
    const deadline = Date.now() + 90_000;
    while (!(existsSync(summary) && (await readFile(summary, 'utf8')).trim().split('\n').length >= 3)) {
      if (Date.now() > deadline) throw new Error('no second epoch within 90 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    client.close();
    const orphan = Number(await readFile(join(runsDir, 'killed', 'train.pid'), 'utf8'));
    first.child.kill('SIGKILL');
    await first.exited;
    // the orphan goes on training (its log lines now go nowhere), so the new trainer must stop it
    await new Promise((r) => setTimeout(r, 1500));
    expect(alive(orphan)).toBe(true);

    const t = await startTestTrainer({ runsDir });
    try {
      const done = await waitForRun(t.client, 'killed');
      expect(done.state, done.message).toBe('JOB_STATE_SUCCEEDED');
      expect(alive(orphan)).toBe(false);
      const rows = (await readFile(summary, 'utf8')).trim().split('\n').slice(1).map((l) => Number(l.split(',')[0]));
      expect([...new Set(rows)]).toEqual([...Array(EPOCHS).keys()]);
      // the restarted trainer's process resumed from last.pth.tar: at least the two epochs seen before the kill
      // are not trained again (on a quiet machine the orphan may have trained more, up to all of them, before
      // the new trainer stopped it)
      // (train.log is appended to: the first process logged 'Start epoch: 0.', the resumed one logs after it)
      const starts = [...(await readFile(join(runsDir, 'killed', 'train.log'), 'utf8')).matchAll(/Start epoch: (\d+)\./g)].map((m) => Number(m[1]));
      expect(starts.length, 'both processes name their start epoch in train.log').toBe(2);
      expect(starts[0]).toBe(0);
      expect(starts[1]).toBeGreaterThanOrEqual(2);
      expect(starts[1]).toBeLessThanOrEqual(EPOCHS);
      expect(existsSync(join(done.artifactUri, 'model.onnx'))).toBe(true);
    } finally {
      await t.close();
    }
  }, 180_000);
});
