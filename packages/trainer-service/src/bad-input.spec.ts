// Bad input: the right status with a message a user can act on, failed runs keep their state, the service stays
// up and other runs go on.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { trainerV1 } from '@select/contracts';
import { ShiftWriter } from '@select/datasets';
import { PYTHON, REPO, call, startTestTrainer, tempDir, waitForRun } from './trainer-test-kit.test-util.js';
import { writeTestShift } from './test-shift.test-util.js';

const hasPython = existsSync(PYTHON);
type Run = trainerV1.TrainingRun__Output;

describe.skipIf(!hasPython)('bad input', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let t: Awaited<ReturnType<typeof startTestTrainer>>;
  let shiftDir: string;
  let gappyDir: string;
  let emptyDir: string;
  let tinyDir: string;
  let oneShardDir: string;

  beforeAll(async () => {
    work = await tempDir('trainer-bad-');
    shiftDir = join(work.path, 'shift');
    gappyDir = join(work.path, 'gappy');
    emptyDir = join(work.path, 'empty');
    tinyDir = join(work.path, 'tiny');
    oneShardDir = join(work.path, 'one-shard');
    await writeTestShift(oneShardDir, { name: 'one-shard', classes: 3, perClass: 24, size: 32, samplesPerShard: 1000 });
    await writeTestShift(shiftDir, { classes: 3, perClass: 24, size: 32, samplesPerShard: 24 });
    await writeTestShift(tinyDir, { name: 'tiny', classes: 2, perClass: 2, size: 32, samplesPerShard: 4 });
    await writeTestShift(gappyDir, { name: 'gappy', classes: 3, perClass: 8, size: 32, samplesPerShard: 8, labelSpace: 5 });
    await (await ShiftWriter.open(emptyDir, { name: 'empty', strategy: 'nothing', classes: ['n01440764'] })).close();
    t = await startTestTrainer({
      runsDir: join(work.path, 'runs'),
      concurrency: 3,
      timmCommand: `${PYTHON} ${join(REPO, 'packages/trainer-service/python/tests/misbehaving_train.py')}`,
    });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await work?.remove();
  });

  const refused = async (request: object, code: number, message: RegExp): Promise<void> => {
    const err = await call<Run>(t.client, 'StartTraining', request).then(
      () => null,
      (e: { code: number; serverMessage: string }) => e,
    );
    expect(err, JSON.stringify(request)).not.toBeNull();
    expect(err!.serverMessage).toMatch(message);
    expect(err!.code).toBe(code);
  };

  it('refuses unknown, empty and incomplete shifts, shifts with missing classes, bad recipes and unknown backends', async () => {
    await refused({ shiftUri: join(work.path, 'nope') }, GrpcStatus.NOT_FOUND, /does not exist/);
    await refused({ shiftUri: '' }, GrpcStatus.INVALID_ARGUMENT, /shift_uri is required/);
    await refused({ shiftUri: 'relative/shift' }, GrpcStatus.INVALID_ARGUMENT, /must be absolute/);
    await refused({ shiftUri: work.path }, GrpcStatus.FAILED_PRECONDITION, /no shift\.json/);
    await refused({ shiftUri: emptyDir }, GrpcStatus.FAILED_PRECONDITION, /is empty/);
    await refused({ shiftUri: gappyDir, recipeName: 'cpu-tiny' }, GrpcStatus.FAILED_PRECONDITION, /2 of 5 classes without samples \(n01491361, n01494475\).*allow_missing_classes/);
    await refused({ shiftUri: shiftDir, recipeName: 'no-such' }, GrpcStatus.INVALID_ARGUMENT, /recipe_name "no-such" is not one of select, .*cpu-tiny/);
    await refused(
      { shiftUri: shiftDir, recipeName: 'cpu-tiny', recipe: { lr: -1, interpolation: 'lanczos9', cropPct: 1.5, epochs: 3, warmupEpochs: 4 } },
      GrpcStatus.INVALID_ARGUMENT,
      /lr -1 is outside.*warmup_epochs 4 must be fewer than epochs 3.*crop_pct 1\.5.*interpolation "lanczos9"/,
    );
    await refused({ shiftUri: shiftDir, backend: 'onnx-cpu' }, GrpcStatus.INVALID_ARGUMENT, /backend "onnx-cpu" is not one of timm, linear-probe, knn-bank/);
    await refused({ shiftUri: shiftDir, runId: '../escape' }, GrpcStatus.INVALID_ARGUMENT, /run_id/);
    await refused({ shiftUri: shiftDir, backend: 'linear-probe' }, GrpcStatus.FAILED_PRECONDITION, /no embedding service.*features_uri/);
    await refused({ shiftUri: shiftDir, backend: 'knn-bank' }, GrpcStatus.FAILED_PRECONDITION, /no retrieval service/);
    // a shift too small for the probe's val and test splits is refused up front, not failed after its features
    await refused(
      { shiftUri: tinyDir, backend: 'linear-probe', featuresUri: work.path },
      GrpcStatus.FAILED_PRECONDITION,
      /holds 4 samples: too few for a linear probe with val_fraction 0\.1 and test_fraction 0\.1, which would split them into train 4, val 0 and test 0; .*\(the fewest samples that give each one: 6\)/,
    );
    const missing = await call<Run>(t.client, 'GetRun', { runId: 'never-started' }).catch((e: { code: number }) => e);
    expect((missing as { code: number }).code).toBe(GrpcStatus.NOT_FOUND);
  });

  it('a crashing command, one printing garbage and one writing a bad summary fail with the reason while a good run succeeds', async () => {
    const start = (runId: string, model: string, shiftUri = shiftDir): Promise<Run> =>
      call<Run>(t.client, 'StartTraining', { runId, shiftUri, recipeName: 'cpu-tiny', recipe: { model, epochs: 2 }, valFraction: 0.34 });
    // the good run's shift is one shard: the trainer copies it into shards to hold some out for validation
    await Promise.all([start('crash', 'crash'), start('garbage', 'garbage'), start('good', 'test_resnet', oneShardDir)]);
    const [crash, garbage] = await Promise.all([waitForRun(t.client, 'crash'), waitForRun(t.client, 'garbage')]);
    expect(crash.state).toBe('JOB_STATE_FAILED');
    expect(crash.message).toMatch(/training command exited with code 1 after 0 of 2 epochs; last output:[\s\S]*out of memory \(simulated\)/);
    expect(garbage.state).toBe('JOB_STATE_FAILED');
    expect(garbage.message).toMatch(/exited 0 but summary\.csv holds 0 of 2 epochs \(\d+ unreadable output lines\)/);
    // the failed run's state is kept: its folder, its log, its request
    expect(await readFile(join(crash.outputUri, 'train.log'), 'utf8')).toContain('Traceback');
    expect(existsSync(join(crash.outputUri, 'request.json'))).toBe(true);

    await start('bad-summary', 'bad-summary');
    const bad = await waitForRun(t.client, 'bad-summary');
    expect(bad.state).toBe('JOB_STATE_FAILED');
    expect(bad.message).toMatch(/summary\.csv row 1: eval_loss is "oops", not a number/);

    const good = await waitForRun(t.client, 'good');
    expect(good.state, good.message).toBe('JOB_STATE_SUCCEEDED');
    expect(existsSync(join(good.artifactUri, 'model.onnx'))).toBe(true);
    const info = JSON.parse(await readFile(join(good.outputUri, 'data', '_info.json'), 'utf8')) as { splits: Record<string, { num_samples: number; filenames: string[] }> };
    expect(info.splits['train']!.num_samples + info.splits['validation']!.num_samples).toBe(72);
    expect(info.splits['validation']!.filenames.length).toBeGreaterThanOrEqual(1);
    expect(good.shiftId).toBe('one-shard');

    const listed = await call<trainerV1.ListRunsResponse__Output>(t.client, 'ListRuns', { backend: 'timm' });
    expect(listed.runs.map((r) => `${r.runId}:${r.state}`).sort()).toEqual([
      'bad-summary:JOB_STATE_FAILED',
      'crash:JOB_STATE_FAILED',
      'garbage:JOB_STATE_FAILED',
      'good:JOB_STATE_SUCCEEDED',
    ]);
    // the common job API sees the same runs as jobs
    const jobs = await call<{ jobs: Array<{ jobId: string; kind: string; unit: string }>; nextPageToken: string }>(t.client, 'ListJobs', { kind: 'train', pageSize: 2 });
    expect(jobs.jobs).toHaveLength(2);
    expect(jobs.nextPageToken).not.toBe('');
    expect(jobs.jobs[0]).toMatchObject({ kind: 'train', unit: 'epochs' });
    const job = await call<{ jobId: string; state: string; done: string; total: string }>(t.client, 'GetJob', { jobId: 'good' });
    expect(job).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '2', total: '2' });
  }, 120_000);

  it('a full disk fails the run with the reason and keeps its state; the service stays up', async () => {
    const full = await startTestTrainer({ runsDir: join(work.path, 'runs-full'), minFreeBytes: 2 ** 50 });
    try {
      await call<Run>(full.client, 'StartTraining', { runId: 'no-room', shiftUri: shiftDir, recipeName: 'cpu-tiny' });
      const run = await waitForRun(full.client, 'no-room');
      expect(run.state).toBe('JOB_STATE_FAILED');
      expect(run.message).toMatch(/disk full: .* MiB free, less than TRAINER_MIN_FREE_BYTES .*free space and resume the run/);
      const recipes = await call<trainerV1.ListRecipesResponse__Output>(full.client, 'ListRecipes', {});
      expect(recipes.recipes.map((r) => r.name)).toContain('select');
      expect(recipes.recipes.find((r) => r.name === 'select')!.recipe).toMatchObject({ model: 'resnet50', imgSize: 192, batchSize: 192, lr: 0.5, mixup: expect.closeTo(0.2, 6), cutmix: 1, smoothing: expect.closeTo(0.1, 6) });
    } finally {
      await full.close();
    }
  });
});
