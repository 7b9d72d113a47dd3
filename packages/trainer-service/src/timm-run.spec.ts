// A real timm run through the trainer: timm's test_resnet on a small generated shift at 32 px on CPU — start,
// follow (WatchRun and ClickHouse), cancel, resume, a trainer restart mid-run, ONNX export, and the export
// classifying fresh images through onnxruntime-node (@select/inference).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { trainerV1 } from '@select/contracts';
import { SessionPool, float32 } from '@select/inference';
import { sql } from '@select/metrics';
import { classImage, writeTestShift } from './test-shift.test-util.js';
import { PYTHON, call, startSink, startTestTrainer, tempDir, waitForRun, watchRun } from './trainer-test-kit.test-util.js';

const hasPython = existsSync(PYTHON);

describe.skipIf(!hasPython)('timm backend', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let sink: Awaited<ReturnType<typeof startSink>>;
  let shiftDir: string;

  beforeAll(async () => {
    work = await tempDir('trainer-timm-');
    shiftDir = join(work.path, 'shift');
    await writeTestShift(shiftDir, { classes: 4, perClass: 48, size: 40, samplesPerShard: 32 });
    sink = await startSink();
  }, 120_000);

  afterAll(async () => {
    await sink?.close();
    await work?.remove();
  });

  it('trains, is cancelled, resumes, survives a trainer restart, exports ONNX that classifies, and its curves are in ClickHouse', async () => {
    const runsDir = join(work.path, 'runs');
    const config = { runsDir, publishEvents: true, kafkaTopicPrefix: sink.prefix };
    let t = await startTestTrainer(config);
    const request = { runId: 'timm-test', shiftUri: shiftDir, backend: 'timm', recipeName: 'cpu-tiny', recipe: { epochs: 5 }, valFraction: 0.2 };
    const started = await call<trainerV1.TrainingRun__Output>(t.client, 'StartTraining', request);
    expect(started.runId).toBe('timm-test');
    expect(started.shiftId).toBe('test-shift');
    expect(['JOB_STATE_QUEUED', 'JOB_STATE_RUNNING']).toContain(started.state);

    // the run's status while it trains (GetRun, as `select train get` shows it)
    const statuses = new Set<string>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        statuses.add((await call<trainerV1.TrainingRun__Output>(t.client, 'GetRun', { runId: 'timm-test' })).message);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    // follow until the second epoch is under way (the first one's checkpoint is written), then cancel
    const updates = await watchRun(
      t.client,
      'timm-test',
      (_u, all) => all.some((u) => u.metric === 'top1' && u.split === 'val' && u.epoch === 0) && all.some((u) => u.metric === 'loss' && u.epoch >= 1),
    );
    expect(updates.some((u) => u.metric === 'loss' && u.split === 'train' && Number(u.step) > 0)).toBe(true);
    polling = false;
    await poller;
    // within an epoch the status says where training is (update k of n, the loss; timm-output.spec has the format)
    expect([...statuses].some((m) => /^epoch \d: update \d+\/10, train loss \d+\.\d{4}, \d+ samples\/s/.test(m)), [...statuses].join('\n')).toBe(true);
    const cancelled = await call<trainerV1.TrainingRun__Output>(t.client, 'CancelRun', { runId: 'timm-test' });
    expect(cancelled.state).toBe('JOB_STATE_CANCELLED');
    const outDir = join(runsDir, 'timm-test', 'output', 'train');
    expect(existsSync(join(outDir, 'last.pth.tar'))).toBe(true);
    const epochsAtCancel = (await readFile(join(outDir, 'summary.csv'), 'utf8')).trim().split('\n').length - 1;
    expect(epochsAtCancel).toBeGreaterThanOrEqual(1);
    expect(epochsAtCancel).toBeLessThan(5);

    // resume from last.pth.tar; once it has passed another epoch, stop the trainer (a shutdown, not a cancel)
    const resumed = await call<trainerV1.TrainingRun__Output>(t.client, 'ResumeRun', { runId: 'timm-test' });
    expect(resumed.state).toBe('JOB_STATE_RUNNING');
    await watchRun(t.client, 'timm-test', (u) => u.metric === 'top1' && u.split === 'val' && u.epoch >= epochsAtCancel);
    await t.close();
    const afterStop = (await readFile(join(runsDir, '.jobs', 'timm-test.json'), 'utf8'));
    expect(JSON.parse(afterStop).status.state).toBe('JOB_STATE_RUNNING');

    // a new trainer on the same directory reports the run and finishes it
    t = await startTestTrainer(config);
    try {
      const listed = await call<trainerV1.ListRunsResponse__Output>(t.client, 'ListRuns', {});
      expect(listed.runs.map((r) => r.runId)).toContain('timm-test');
      const done = await waitForRun(t.client, 'timm-test');
      expect(done.state, done.message).toBe('JOB_STATE_SUCCEEDED');
      expect(done.epoch).toBe(5);
      expect(done.results['best_top1']).toBeGreaterThanOrEqual(75);
      expect(done.recipe?.model).toBe('test_resnet');

      // every epoch in summary.csv; the resumes continued from last.pth.tar, never from scratch
      const summary = (await readFile(join(outDir, 'summary.csv'), 'utf8')).trim().split('\n').slice(1);
      expect([...new Set(summary.map((l) => Number(l.split(',')[0])))]).toEqual([0, 1, 2, 3, 4]);
      expect(summary.length).toBeLessThanOrEqual(7);
      const log = await readFile(join(runsDir, 'timm-test', 'train.log'), 'utf8');
      expect(log).toMatch(/Start epoch: [1-4]\./);

      // the export classifies fresh images of the four classes
      const exportDir = done.artifactUri;
      const config = JSON.parse(await readFile(join(exportDir, 'config.json'), 'utf8')) as { label_names: string[]; pretrained_cfg: { input_size: number[]; mean: number[]; std: number[] } };
      expect(config.label_names).toHaveLength(4);
      expect(config.pretrained_cfg.input_size).toEqual([3, 32, 32]);
      const pool = await SessionPool.open({ model: join(exportDir, 'model.onnx') });
      try {
        const n = 4 * 6;
        const input = new Float32Array(n * 3 * 32 * 32);
        const truth: number[] = [];
        for (let i = 0; i < n; i++) {
          const c = i % 4;
          truth.push(c);
          const img = classImage(c, 1000 + i, 32);
          for (let p = 0; p < 32 * 32; p++) {
            for (let ch = 0; ch < 3; ch++) input[i * 3 * 1024 + ch * 1024 + p] = (img.data[p * 3 + ch]! / 255 - config.pretrained_cfg.mean[ch]!) / config.pretrained_cfg.std[ch]!;
          }
        }
        const out = await pool.run('model', { pixel_values: float32(input, [n, 3, 32, 32]) }, ['logits']);
        const logits = out['logits']!.data as Float32Array;
        let right = 0;
        for (let i = 0; i < n; i++) {
          const row = Array.from(logits.subarray(i * 4, i * 4 + 4));
          if (row.indexOf(Math.max(...row)) === truth[i]) right++;
        }
        expect(right / n).toBeGreaterThanOrEqual(0.75);
      } finally {
        await pool.close();
      }

      // the curves, one SQL query away: every epoch's validation top-1 exactly once, and step losses
      const deadline = Date.now() + 30_000;
      let rows: Array<{ epoch: number; value: number }> = [];
      while (Date.now() < deadline) {
        rows = await sink.ch.query<{ epoch: number; value: number }>(
          sql`SELECT epoch, value FROM training_metrics FINAL WHERE run_id = ${'timm-test'} AND split = 'val' AND name = 'top1' ORDER BY epoch`,
        );
        if (rows.length >= 5) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(rows.map((r) => Number(r.epoch))).toEqual([0, 1, 2, 3, 4]);
      const [losses] = await sink.ch.query<{ n: string; shift: string }>(
        sql`SELECT count() AS n, any(shift_id) AS shift FROM training_metrics FINAL WHERE run_id = ${'timm-test'} AND split = 'train' AND name = 'loss'`,
      );
      expect(Number(losses!.n)).toBeGreaterThanOrEqual(5);
      expect(losses!.shift).toBe('test-shift');
    } finally {
      await t.close();
    }
  }, 180_000);
});
