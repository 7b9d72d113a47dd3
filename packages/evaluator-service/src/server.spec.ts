// The evaluator over gRPC on port 0, publishing to real Kafka (a topic prefix of its own), running the committed
// tiny classifier through onnxruntime on solid-colour evaluation sets whose answers are known by hand.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type { commonV1, evaluatorV1 } from '@select/contracts';
import { createClickHouse, sql } from '@select/metrics';
import { createLogger, resolveConfig, status } from '@select/platform';
import { deleteTopicsWithPrefix, testBrokers } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluatorConfigSchema, type EvaluatorConfig } from './config.js';
import { ShiftWriter, writeNpy } from '@select/datasets';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { call, COLORS, connect, FIXTURES, readEvaluationEvents, solidImage, TINY_CLASSIFIER, TINY_CLASSIFIER_7, WNIDS, writeImageFolder, type Client } from './fixtures.test-util.js';
import { startEvaluatorServer, type EvaluatorServer } from './server.js';

type JobStatus = commonV1.JobStatus__Output;
const logger = createLogger({ service: 'evaluator-test', level: 'silent' });

describe('evaluator service', () => {
  let work: string;
  let prefix: string;
  let config: EvaluatorConfig;
  let running: EvaluatorServer;
  let client: Client;
  let valSet: string;

  const start = async (overrides: Partial<EvaluatorConfig> = {}): Promise<void> => {
    running = await startEvaluatorServer({ ...config, ...overrides }, { logger });
    client = connect(running.address);
  };
  const stop = async (): Promise<void> => {
    client.close();
    await running.close();
  };
  const finished = (jobId: string): Promise<JobStatus> => running.runtime.wait(jobId);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'evaluator-'));
    prefix = `t-eval-${randomBytes(4).toString('hex')}-`;
    // The environment's CLICKHOUSE_URL / CLICKHOUSE_DATABASE reach the service as they would in a deployment.
    config = resolveConfig(evaluatorConfigSchema, { dataDir: join(work, 'data'), port: 0, host: '127.0.0.1', kafkaBrokers: testBrokers(), kafkaTopicPrefix: prefix, threads: 1 }, process.env);
    // tench: 3 red (right); goldfish: 2 green (right) + 1 red (wrong); shark: 2 blue (right) + 1 corrupt file
    valSet = await writeImageFolder(join(work, 'val'), { [WNIDS[0]]: ['red', 'red', 'red'], [WNIDS[1]]: ['green', 'green', 'red'], [WNIDS[2]]: ['blue', 'blue'] }, { [`${WNIDS[2]}/broken.png`]: Buffer.from('this is not an image') });
    await start();
  }, 60_000);

  afterAll(async () => {
    await stop();
    await rm(work, { recursive: true, force: true });
    await deleteTopicsWithPrefix(prefix);
  });

  it('evaluates a classifier: hand-worked top-1, per-class accuracy and precision, a corrupt image failing alone, predictions stored, results on Kafka', async () => {
    const started = await call<JobStatus>(client, 'EvaluateModel', {
      evalId: 'tiny-val',
      shiftId: 'shift-a',
      runId: 'run-1',
      seed: 3,
      checkpointUri: TINY_CLASSIFIER,
      sets: [{ name: 'imagenet-val', uri: valSet, format: 'imagefolder' }],
    });
    expect(started.jobId).toBe('tiny-val');
    const ended = await finished('tiny-val');
    expect(ended.state).toBe('JOB_STATE_SUCCEEDED');
    expect(ended.message).toMatch(/imagenet-val top-1 87\.50 on 8 images \(1 unreadable\)/);
    const results = await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId: 'tiny-val' });
    const score = (metric: string) => results.scores.find((s) => s.metric === metric)!;
    expect(score('top1').value).toBeCloseTo(87.5, 10); // 7 of 8
    expect(score('top5').value).toBe(100);
    expect(score('mean_per_class_accuracy').value).toBeCloseTo((100 + 200 / 3 + 100) / 3, 10);
    expect(score('top1').numSamples).toBe('8');
    expect(score('ece').value).toBeGreaterThanOrEqual(0);

    // predictions: one line per readable image with its top 5
    const lines = (await readFile(join(ended.outputUri, 'predictions', 'imagenet-val.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { key: string; label: number; top5: number[] });
    expect(lines).toHaveLength(8);
    const wrong = lines.find((l) => l.key === `${WNIDS[1]}/0002.png`)!; // the red image in the goldfish folder
    expect(wrong.label).toBe(1);
    expect(wrong.top5[0]).toBe(0);

    const events = await readEvaluationEvents(prefix, (e) => e.filter((x) => (x.payload as { evalId: string }).evalId === 'tiny-val').length >= 11);
    const mine = events.map((e) => e.payload as { evalId: string; metric: string; value: number; paramsJson: string; shiftId: string; runId: string }).filter((p) => p.evalId === 'tiny-val');
    // 5 summary metrics + 3 class accuracies + 3 class precisions (each class was predicted at least once)
    expect(mine).toHaveLength(11);
    expect(mine.every((p) => p.shiftId === 'shift-a' && p.runId === 'run-1' && JSON.parse(p.paramsJson).seed === 3)).toBe(true);
    const precision = mine.find((p) => p.metric === 'class_precision' && JSON.parse(p.paramsJson).class_index === 0)!;
    expect(precision.value).toBeCloseTo(75, 10); // tench predicted 4 times, right 3 times

    // the same request again is the same job, already done
    const again = await call<JobStatus>(client, 'EvaluateModel', { evalId: 'tiny-val', shiftId: 'shift-a', runId: 'run-1', seed: 3, checkpointUri: TINY_CLASSIFIER, sets: [{ name: 'imagenet-val', uri: valSet, format: 'imagefolder' }] });
    expect(again.state).toBe('JOB_STATE_SUCCEEDED');
    // the same eval_id with another request is refused, not silently answered with the old job
    await expect(
      call(client, 'EvaluateModel', { evalId: 'tiny-val', shiftId: 'shift-b', checkpointUri: TINY_CLASSIFIER, sets: [{ name: 'imagenet-val', uri: valSet, format: 'imagefolder' }] }),
    ).rejects.toMatchObject({ code: status.ALREADY_EXISTS, message: expect.stringMatching(/eval_id tiny-val already names an evaluation with another request/) });
    const listed = await call<commonV1.ListJobsResponse__Output>(client, 'ListJobs', { kind: 'evaluate-model' });
    expect(listed.jobs.map((j) => j.jobId)).toContain('tiny-val');
  }, 60_000);

  it("uses the model's own preprocessing when asked, and the same answers come out", async () => {
    const started = await call<JobStatus>(client, 'EvaluateModel', {
      evalId: 'tiny-val-model-cfg',
      checkpointUri: TINY_CLASSIFIER,
      sets: [{ name: 'imagenet-val', uri: valSet, format: 'imagefolder', preprocessing: 'model' }],
    });
    const ended = await finished(started.jobId);
    expect(ended.state).toBe('JOB_STATE_SUCCEEDED');
    const results = await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId: 'tiny-val-model-cfg' });
    expect(results.scores.find((s) => s.metric === 'top1')!.value).toBeCloseTo(87.5, 10);
  }, 60_000);

  it('fails with a clear reason and reports nothing for a model of the wrong size, an empty set or a label-space mismatch', async () => {
    const empty = join(work, 'empty-set');
    await mkdir(empty, { recursive: true });
    const foreign = await writeImageFolder(join(work, 'foreign'), { n99999999: ['red'] });
    const cases = [
      { evalId: 'bad-size', checkpointUri: TINY_CLASSIFIER_7, uri: valSet, message: /7 outputs: neither 1000 nor/ },
      { evalId: 'bad-empty', checkpointUri: TINY_CLASSIFIER, uri: empty, message: /empty-set is empty: no class folders/ },
      { evalId: 'bad-labels', checkpointUri: TINY_CLASSIFIER, uri: foreign, message: /label-space mismatch.*n99999999/ },
    ];
    for (const c of cases) {
      await call(client, 'EvaluateModel', { evalId: c.evalId, checkpointUri: c.checkpointUri, sets: [{ name: 'val', uri: c.uri, format: 'imagefolder' }] });
      const ended = await finished(c.evalId);
      expect(ended.state).toBe('JOB_STATE_FAILED');
      expect(ended.message).toMatch(c.message);
      expect(existsSync(join(ended.outputUri, 'results.json'))).toBe(false);
      await expect(call(client, 'GetResults', { evalId: c.evalId })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    }
    await expect(call(client, 'EvaluateModel', { checkpointUri: TINY_CLASSIFIER, sets: [] })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/sets is empty/) });
    await expect(call(client, 'EvaluateModel', { checkpointUri: TINY_CLASSIFIER, sets: [{ name: 'v', uri: valSet, format: 'zip' }] })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(call(client, 'GetJob', { jobId: 'no-such-eval' })).rejects.toMatchObject({ code: status.NOT_FOUND });
    // everything published so far (both earlier evaluations: 22 events), none of the failed ones
    const events = await readEvaluationEvents(prefix, (e) => e.length >= 22);
    expect(events.length).toBe(22);
    expect(events.filter((e) => (e.payload as { evalId: string }).evalId.startsWith('bad-'))).toHaveLength(0);
  }, 90_000);

  it('resumes an interrupted evaluation from its checkpoint and ends with every image counted once', async () => {
    const colors = Array.from({ length: 60 }, (_, i) => (['red', 'green', 'blue'] as const)[i % 3]!);
    const big = await writeImageFolder(join(work, 'big'), { [WNIDS[0]]: colors, [WNIDS[1]]: colors.slice(0, 40) });
    const request = { evalId: 'resumed', checkpointUri: TINY_CLASSIFIER, batchSize: 1, sets: [{ name: 'big', uri: big, format: 'imagefolder' }] };
    await stop();
    await start({ checkpointEvery: 1 });
    await call(client, 'EvaluateModel', request);
    // stop the service once some images are done
    const deadline = Date.now() + 30_000;
    while (Number(running.runtime.get('resumed').done) < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await stop();
    const stateFile = JSON.parse(await readFile(join(config.dataDir, '.jobs', 'resumed.json'), 'utf8')) as { status: JobStatus };
    expect(stateFile.status.state).toBe('JOB_STATE_RUNNING');
    expect(Number(stateFile.status.done)).toBeGreaterThan(0);
    expect(Number(stateFile.status.done)).toBeLessThan(100);
    await start();
    const ended = await finished('resumed');
    expect(ended.state).toBe('JOB_STATE_SUCCEEDED');
    // progress counted against the files the set holds
    expect(ended).toMatchObject({ done: '100', total: '100', unit: 'images' });
    const lines = (await readFile(join(ended.outputUri, 'predictions', 'big.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { key: string }).key);
    expect(lines).toHaveLength(100);
    expect(new Set(lines).size).toBe(100);
    const results = await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId: 'resumed' });
    // tench: 20 of 60 red; goldfish: 13 of 40 green (i % 3 == 1 for i < 40)
    expect(results.scores.find((s) => s.metric === 'top1')).toMatchObject({ value: 33, numSamples: '100' });
  }, 120_000);

  it('evaluates ObjectNet through its class mapping (an unmapped top-1 is wrong), ImageNet-C as the mean of its parts, and WebDataset shards with the ImageNet-R mask', async () => {
    // ObjectNet: "reds" <- tench, "greens" <- goldfish only; a blue image (the shark output) maps to nothing
    const objectnet = await writeImageFolder(join(work, 'objectnet'), { reds: ['red', 'red'], greens: ['green', 'blue'], unmapped_folder: ['red'] });
    const mapping = join(work, 'objectnet-mapping.json');
    await writeFile(mapping, JSON.stringify({ reds: [WNIDS[0]], greens: [WNIDS[1]] }));
    // ImageNet-C: <corruption>/<severity>/<wnid>, images already 224x224 (no resize); one of the wrong size fails alone
    const c = join(work, 'imagenet-c');
    const part = async (path: string, spec: Record<string, Array<keyof typeof COLORS>>) => {
      for (const [wnid, colors] of Object.entries(spec)) {
        await mkdir(join(c, path, wnid), { recursive: true });
        for (const [i, color] of colors.entries()) await writeFile(join(c, path, wnid, `${i}.png`), await solidImage(COLORS[color], 224, 224));
      }
    };
    await part('gauss/1', { [WNIDS[0]]: ['red'], [WNIDS[1]]: ['green'] }); // 100
    await part('gauss/2', { [WNIDS[0]]: ['red'], [WNIDS[1]]: ['red'] }); // 50
    await part('blur/1', { [WNIDS[0]]: ['blue'], [WNIDS[1]]: ['green'] }); // 50
    await writeFile(join(c, 'blur/1', WNIDS[1], 'small.png'), await solidImage(COLORS.green, 100, 100));
    // WebDataset shards labelled by class index: goldfish green, shark blue, and a tench (not an ImageNet-R class)
    const taxonomy = loadImageNetTaxonomy();
    const shards = join(work, 'wds');
    const writer = await ShiftWriter.open(shards, { name: 'wds-eval', strategy: 'test', classes: taxonomy.classes.map((k) => k.wnid) });
    await writer.add({ sourceId: 'a', classIndex: taxonomy.classByWnid(WNIDS[1]).index, image: await solidImage(COLORS.green) });
    await writer.add({ sourceId: 'b', classIndex: taxonomy.classByWnid(WNIDS[2]).index, image: await solidImage(COLORS.blue) });
    await writer.add({ sourceId: 'c', classIndex: taxonomy.classByWnid(WNIDS[0]).index, image: await solidImage(COLORS.red) });
    await writer.close();

    await call(client, 'EvaluateModel', {
      evalId: 'ood-sets',
      checkpointUri: TINY_CLASSIFIER,
      sets: [
        { name: 'objectnet', uri: objectnet, format: 'imagefolder', classSubset: 'objectnet', classMappingUri: mapping },
        { name: 'imagenet-c', uri: c, format: 'imagenet-c' },
        { name: 'imagenet-r', uri: shards, format: 'webdataset', classSubset: 'imagenet-r' },
      ],
    });
    const ended = await finished('ood-sets');
    expect(ended.state, ended.message).toBe('JOB_STATE_SUCCEEDED');
    const results = await call<evaluatorV1.GetResultsResponse__Output>(client, 'GetResults', { evalId: 'ood-sets' });
    const top1 = Object.fromEntries(results.scores.filter((s) => s.metric === 'top1').map((s) => [s.benchmark, [s.value, Number(s.numSamples)]]));
    expect(top1['objectnet']).toEqual([75, 4]); // the unmapped folder is not evaluated
    expect(top1['imagenet-c/gauss/1']).toEqual([100, 2]);
    expect(top1['imagenet-c/gauss/2']).toEqual([50, 2]);
    expect(top1['imagenet-c/blur/1']).toEqual([50, 2]); // the 100x100 image failed alone
    expect(top1['imagenet-c']![0]).toBeCloseTo(200 / 3, 10);
    expect(top1['imagenet-c']![1]).toBe(6);
    expect(top1['imagenet-r']).toEqual([100, 2]); // the tench sample is outside ImageNet-R's classes: failed, not counted
  }, 90_000);

  it('streams a job with WatchJob to its end and cancels a running evaluation (nothing reported)', async () => {
    const colors = Array.from({ length: 150 }, (_, i) => (['red', 'green', 'blue'] as const)[i % 3]!);
    const slow = await writeImageFolder(join(work, 'slow'), { [WNIDS[0]]: colors });
    await stop();
    await start({ checkpointEvery: 1 });
    await call(client, 'EvaluateModel', { evalId: 'to-cancel', checkpointUri: TINY_CLASSIFIER, batchSize: 1, sets: [{ name: 'slow', uri: slow, format: 'imagefolder' }] });
    const watched: JobStatus[] = [];
    const stream = (client as unknown as Record<string, (r: object) => grpc.ClientReadableStream<JobStatus>>)['watchJob']!.call(client, { jobId: 'to-cancel' });
    const streamEnded = new Promise<void>((resolve, reject) => {
      stream.on('data', (s: JobStatus) => watched.push(s));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const deadline = Date.now() + 30_000;
    while (Number(running.runtime.get('to-cancel').done) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const cancelled = await call<JobStatus>(client, 'CancelJob', { jobId: 'to-cancel' });
    expect(['JOB_STATE_CANCELLED', 'JOB_STATE_RUNNING']).toContain(cancelled.state);
    await streamEnded;
    expect(watched[0]!.state).toBe('JOB_STATE_RUNNING');
    expect(watched.at(-1)!.state).toBe('JOB_STATE_CANCELLED');
    expect(Number(watched.at(-1)!.done)).toBeLessThan(150);
    expect(existsSync(join(watched.at(-1)!.outputUri, 'results.json'))).toBe(false);
    await expect(call(client, 'GetResults', { evalId: 'to-cancel' })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, message: expect.stringMatching(/is CANCELLED/) });
  }, 60_000);

  it('loads a published per-class table as a reference shift and refuses a malformed one', async () => {
    const loaded = await call<evaluatorV1.LoadReferenceTableResponse__Output>(client, 'LoadReferenceTable', { shiftId: 'toy-paper', path: join(FIXTURES, 'toy-stats-complete.csv') });
    expect(loaded).toMatchObject({ shiftId: 'toy-paper', classes: 4, duplicateRows: 1 });
    expect(loaded.top1).toBeCloseTo((90 + 70 + 40 + 50) / 4, 10);
    const bad = join(work, 'bad-stats-complete.csv');
    await writeFile(bad, 'classname,accuracy\ntench,0.5\n');
    await expect(call(client, 'LoadReferenceTable', { shiftId: 'x', path: bad })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(/missing column\(s\) precision/) });
  });

  it('analyses a shift from its class counts', async () => {
    const shift = join(work, 'shift');
    await mkdir(shift, { recursive: true });
    await writeFile(join(shift, 'class_counts.json'), JSON.stringify([{ class_index: 0, wnid: WNIDS[0], count: 600 }, { class_index: 5, wnid: 'x', count: 100 }]));
    const analysis = await call<evaluatorV1.ShiftAnalysis__Output>(client, 'AnalyzeShift', { shiftId: 'tiny-shift', shiftUri: shift });
    expect(analysis).toMatchObject({ coverage: 2, lt500: 999, samples: '700' });
    // 5 % of 1000 classes = the 50 largest hold everything
    expect(analysis.ls5pct).toBe(100);
    expect(analysis.extra['lt500_nonempty']).toBe(1);
    await expect(call(client, 'AnalyzeShift', { shiftId: 'nope', shiftUri: join(work, 'missing') })).rejects.toMatchObject({ code: status.NOT_FOUND });

    // embeddings in the embedding service's layout (two files), the curator's gate registry with one set
    const dim = 8;
    const rows = Array.from({ length: 8 }, (_, r) => Array.from({ length: dim }, (_, c): number => (c === r ? 1 : 0)));
    rows[7] = [...rows[6]!.map((v, c) => (c === 0 ? 0.01 : v))]; // row 7 nearly duplicates row 6
    const emb = join(work, 'shift-emb');
    await mkdir(join(emb, 'img_emb'), { recursive: true });
    await mkdir(join(emb, 'text_emb'), { recursive: true });
    await writeNpy(join(emb, 'img_emb', 'img_emb_0.npy'), Float32Array.from(rows.slice(0, 5).flat()), { dim });
    await writeNpy(join(emb, 'img_emb', 'img_emb_1.npy'), Float32Array.from(rows.slice(5).flat()), { dim });
    // captions: the same direction for rows 0..3 (cos 1 -> 100), the opposite for 4..7 (cos -1 -> 0)
    await writeNpy(join(emb, 'text_emb', 'text_emb_0.npy'), Float32Array.from(rows.map((r, i) => r.map((v) => (i < 4 ? v : -v))).flat()), { dim });
    const registry = join(work, 'gate-registry');
    await mkdir(join(registry, 'val-proxy'), { recursive: true });
    await writeFile(join(registry, 'val-proxy', 'set.json'), JSON.stringify({ name: 'val-proxy', dimension: dim, items: 2 }));
    await writeFile(join(registry, 'val-proxy', 'embeddings.f32'), Buffer.from(Float32Array.from([...rows[0]!, ...rows[1]!]).buffer));
    const withEmbeddings = await call<evaluatorV1.ShiftAnalysis__Output>(client, 'AnalyzeShift', {
      shiftId: 'tiny-shift-emb',
      shiftUri: shift,
      embeddingsUri: emb,
      referenceEmbeddingsUri: emb,
      contaminationRegistry: registry,
    });
    expect(withEmbeddings.extra['near_duplicate_rate']).toBeCloseTo(25, 10); // rows 6 and 7 of 8
    expect(withEmbeddings.extra['clipscore']).toBeCloseTo(50, 4);
    expect(Math.abs(withEmbeddings.extra['cmmd']!)).toBeLessThan(1e-6); // against itself
    expect(withEmbeddings.extra['contamination:val-proxy']).toBeCloseTo(25, 10); // rows 0 and 1
  });

  it('serves the leaderboard from ClickHouse with ranks and the gap to a reference, and SELECT’s correlations from per-class results', async () => {
    const database = `select_test_evallb_${randomBytes(4).toString('hex')}`;
    const admin = createClickHouse({ database: 'default' });
    await admin.command(sql`CREATE DATABASE ${sql.id(database)}`);
    const ch = createClickHouse({ database });
    try {
      // the relation GetLeaderboard reads, filled directly (the sink's view over evaluation_results is tested in metrics-sink)
      await ch.command(sql`CREATE TABLE evaluation_scores (shift_id String, benchmark String, metric String, seed Int64, value Float64) ENGINE = Memory`);
      await ch.command(sql`INSERT INTO evaluation_scores VALUES ('in1000', 'imagenet-val', 'top1', 0, 78), ('oi1000', 'imagenet-val', 'top1', 0, 42.3), ('oi1000', 'imagenet-val', 'top1', 1, 44.3)`);
      await stop();
      await start({ clickhouseDatabase: database });
      const board = await call<evaluatorV1.Leaderboard__Output>(client, 'GetLeaderboard', { metric: 'top1', referenceShift: 'in1000' });
      expect(board.rows.map((r) => [r.shiftId, r.rank, r.n, Number(r.mean.toFixed(2)), Number(r.gap.toFixed(2))])).toEqual([
        ['in1000', 1, 1, 78, 0],
        ['oi1000', 2, 2, 43.3, -34.7],
      ]);

      // SELECT's correlations from per-class results (the relation the sink's view provides, filled directly)
      await ch.command(
        sql`CREATE TABLE evaluation_class_results (shift_id String, benchmark String, metric String, class_index Int32, class_name String, seed Int64, value Float64, num_samples UInt64, eval_id String) ENGINE = Memory`,
      );
      await ch.command(sql`INSERT INTO evaluation_class_results VALUES
        ('corr-shift', 'imagenet-val', 'class_accuracy', 0, 'a', 0, 90, 5, 'e'), ('corr-shift', 'imagenet-val', 'class_accuracy', 5, 'b', 0, 40, 5, 'e'), ('corr-shift', 'imagenet-val', 'class_accuracy', 7, 'c', 0, 10, 5, 'e'),
        ('corr-shift', 'imagenet-val', 'class_precision', 0, 'a', 0, 80, 5, 'e'), ('corr-shift', 'imagenet-val', 'class_precision', 5, 'b', 0, 50, 5, 'e'), ('corr-shift', 'imagenet-val', 'class_precision', 7, 'c', 0, 20, 5, 'e'),
        ('in1000', 'imagenet-val', 'class_accuracy', 0, 'a', 0, 70, 5, 'r'), ('in1000', 'imagenet-val', 'class_accuracy', 5, 'b', 0, 75, 5, 'r'), ('in1000', 'imagenet-val', 'class_accuracy', 7, 'c', 0, 80, 5, 'r')`);
      const shift = join(work, 'corr-shift');
      await mkdir(shift, { recursive: true });
      await writeFile(join(shift, 'class_counts.json'), JSON.stringify([{ class_index: 0, wnid: WNIDS[0], count: 600 }, { class_index: 5, wnid: 'x', count: 100 }]));
      const analysis = await call<evaluatorV1.ShiftAnalysis__Output>(client, 'AnalyzeShift', { shiftId: 'corr-shift', shiftUri: shift, correlationBenchmark: 'imagenet-val', referenceShiftId: 'in1000' });
      // precision 80 > 50 > 20 with counts 600 > 100 > 0; accuracy falls where IN1000's rises
      expect(analysis.extra['precision_vs_count_spearman']).toBeCloseTo(1, 12);
      expect(analysis.extra['precision_vs_recall_spearman']).toBeCloseTo(1, 12);
      expect(analysis.extra['accuracy_vs_reference_spearman']).toBeCloseTo(-1, 12);
      expect(analysis.extra['precision_vs_count_pearson']).toBeGreaterThan(0.8);
      await expect(call(client, 'AnalyzeShift', { shiftId: 'x', shiftUri: shift, correlationBenchmark: 'imagenet-sketch' })).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        message: expect.stringMatching(/no per-class accuracy of shift x on imagenet-sketch/),
      });
    } finally {
      await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
      await Promise.all([ch.close(), admin.close()]);
    }
  });
});
