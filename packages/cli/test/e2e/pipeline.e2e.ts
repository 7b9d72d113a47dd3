// End to end, every service a separate process (started by the supervisor as `select services up` starts them),
// over gRPC, Kafka and ClickHouse: a small pool through two strategy chains, a training run and an evaluation;
// ClickHouse ends with exactly the expected samples, decisions, metrics and results. Clients that are not ours
// take part: grpcurl drives the first curation by reflection, kcat reads the dataset events and protoc decodes
// their bodies with the published protos, clickhouse-client answers the README's SQL as the read-only user.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { addClickHouseDefaults, sql, sqlString } from '@select/metrics';
import { testBrokers } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_SERVICES, ROOT, buildRequest, readShiftFiles, runJob, startDeployment, writePool, type Deployment, type PoolItem } from './e2e-kit.js';

const run = promisify(execFile);
const GRPCURL = join(ROOT, '.work/bin/grpcurl');
const COPIES = 6; // 60 clip-art files: 24 tench, 12 goldfish, 12 naming two classes, 12 naming none
const THRESHOLD = 0; // text-similarity keeps a caption whose cosine to its class text is > 0 (tiny random encoder)

let d: Deployment;
let pool: PoolItem[];
let poolRoot: string;
const shifts: Record<'substring' | 'textsim', { shiftId: string; uri: string }> = {
  substring: { shiftId: '', uri: '' },
  textsim: { shiftId: '', uri: '' },
};

beforeAll(async () => {
  d = await startDeployment('pipeline');
  poolRoot = join(d.dir, 'pool');
  pool = writePool(poolRoot, COPIES);
  const up = await d.supervisor.up([...E2E_SERVICES]);
  const bad = up.filter((r) => r.outcome !== 'started' && r.outcome !== 'disabled');
  if (bad.length > 0) throw new Error(`services did not start: ${bad.map((r) => `${r.instance} ${r.outcome}: ${r.detail}`).join('\n')}`);
}, 300_000);

afterAll(async () => {
  await d?.cleanup();
}, 120_000);

describe('the whole system as separate processes', () => {
  it('runs every service as its own healthy process', async () => {
    const status = await d.supervisor.status([...E2E_SERVICES]);
    expect(status.map((s) => [s.instance, s.state])).toEqual(
      ['metrics-sink', 'embedding', 'retrieval', 'curator', 'curator-worker-1', 'curator-worker-2', 'trainer', 'evaluator'].map((n) => [n, 'healthy']),
    );
    const pids = status.map((s) => s.pid);
    expect(new Set(pids).size).toBe(pids.length);
    expect(pids).not.toContain(process.pid);
  });

  it('chain 1, substring matching, started and watched by grpcurl through reflection: exactly the captions naming one synset', async () => {
    const address = `127.0.0.1:${d.config.services['curator']!.port}`;
    expect(existsSync(GRPCURL), 'grpcurl (scripts/setup.sh puts it in .work/bin)').toBe(true);
    const listed = await run(GRPCURL, ['-plaintext', address, 'list']);
    expect(listed.stdout).toContain('select.curation.v1.CuratorService');
    const shiftId = 'e2e-substring';
    const request = buildRequest(shiftId, poolRoot, join(d.dir, 'shifts', shiftId), [{ name: 'substring-match' }], 10);
    const started = await run(GRPCURL, ['-plaintext', '-d', JSON.stringify(request), address, 'select.curation.v1.CuratorService/StartCuration']);
    const job = JSON.parse(started.stdout) as { jobId: string; outputUri: string };
    // WatchJob streams every status change and ends at a terminal state.
    const watched = await run(GRPCURL, ['-plaintext', '-max-time', '300', '-d', JSON.stringify({ jobId: job.jobId }), address, 'select.curation.v1.CuratorService/WatchJob'], { maxBuffer: 16 << 20 });
    expect(watched.stdout).toContain('JOB_STATE_SUCCEEDED');
    shifts.substring = { shiftId, uri: job.outputUri };

    const expected = pool.filter((p) => p.wnid !== undefined);
    expect(expected).toHaveLength(36);
    const files = readShiftFiles(job.outputUri);
    expect(files.infoSamples).toBe(36);
    expect(files.entries.map((e) => e.source_id).sort()).toEqual(expected.map((p) => p.path).sort());
    for (const entry of files.entries) expect(entry.wnid).toBe(pool.find((p) => p.path === entry.source_id)!.wnid);
    expect(new Set(files.entries.map((e) => e.key)).size).toBe(36);

    const info = await d.client('curator').call<{ samples: string; classes: number }>('GetShift', { shiftId });
    expect(info).toMatchObject({ samples: '36', classes: 2 });

    // Every candidate decided exactly once, with the reason; every kept sample one row of `samples`.
    type Count = { kept: number; reason: string; n: string };
    const decisions = await d.rowsWhen<Count>(
      sql`SELECT kept, reason, count() AS n FROM curation_decisions FINAL WHERE shift_id = ${shiftId} GROUP BY kept, reason ORDER BY kept, reason`,
      (rows) => rows.reduce((sum, r) => sum + Number(r.n), 0) >= 60,
    );
    expect(decisions.map((r) => [r.kept, r.reason, Number(r.n)])).toEqual([
      [0, 'no-lemma', 12],
      [0, 'several-synsets', 12],
      [1, 'kept', 36],
    ]);
    const samples = await d.rowsWhen<{ n: string; ids: string; tench: string; goldfish: string }>(
      sql`SELECT count() AS n, uniqExact(sample_id) AS ids, countIf(wnid = 'n01440764') AS tench, countIf(wnid = 'n01443537') AS goldfish FROM samples FINAL WHERE shift_id = ${shiftId}`,
      (rows) => Number(rows[0]?.n) >= 36,
    );
    expect(samples[0]).toEqual({ n: '36', ids: '36', tench: '24', goldfish: '12' });
  }, 400_000);

  it('chain 2, substring + text similarity: every text-similarity decision follows its score, and the shift is exactly the kept ones', async () => {
    const curator = d.client('curator');
    const shiftId = 'e2e-textsim';
    const request = buildRequest(
      shiftId,
      poolRoot,
      join(d.dir, 'shifts', shiftId),
      [{ name: 'substring-match' }, { name: 'text-similarity', params: { model: 'tiny-sentence', threshold: THRESHOLD } }],
      10,
    );
    const job = await runJob(curator, () => curator.call('StartCuration', request));
    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    shifts.textsim = { shiftId, uri: job.outputUri };

    type Decision = { source_id: string; step: string; kept: number; score: number };
    const decisions = await d.rowsWhen<Decision>(
      sql`SELECT source_id, step, kept, score FROM curation_decisions FINAL WHERE shift_id = ${shiftId}`,
      (rows) => rows.length >= 60,
    );
    expect(decisions).toHaveLength(60);
    const bySimilarity = decisions.filter((r) => r.step === 'text-similarity');
    // Everything substring matching kept reached the similarity step, and nothing else did.
    expect(bySimilarity.map((r) => r.source_id).sort()).toEqual(pool.filter((p) => p.wnid).map((p) => p.path).sort());
    for (const row of bySimilarity) expect(row.kept, `${row.source_id} score ${row.score}`).toBe(row.score > THRESHOLD ? 1 : 0);
    const kept = bySimilarity.filter((r) => r.kept === 1).map((r) => r.source_id).sort();

    const files = readShiftFiles(job.outputUri);
    expect(files.entries.map((e) => e.source_id).sort()).toEqual(kept);
    expect(files.infoSamples).toBe(kept.length);
    const samples = await d.rowsWhen<{ n: string; ids: string }>(
      sql`SELECT count() AS n, uniqExact(sample_id) AS ids FROM samples FINAL WHERE shift_id = ${shiftId}`,
      (rows) => Number(rows[0]?.n) >= kept.length,
    );
    expect(samples[0]).toEqual({ n: String(kept.length), ids: String(kept.length) });

    // The same request again is the same job: reported as finished, nothing curated twice.
    const again = await curator.call<{ jobId: string; state: string }>('StartCuration', request);
    expect(again).toMatchObject({ jobId: job.jobId, state: 'JOB_STATE_SUCCEEDED' });
  }, 400_000);

  it('a linear probe trained on chain 1 and evaluated on chain 2: metrics and results land in ClickHouse exactly once', async () => {
    const trainer = d.client('trainer');
    const runId = 'e2e-probe-substring';
    const started = await trainer.call<{ runId: string }>('StartTraining', {
      runId,
      shiftId: shifts.substring.shiftId,
      shiftUri: shifts.substring.uri,
      backend: 'linear-probe',
      embeddingModel: 'tiny-clip',
      allowMissingClasses: true,
    });
    expect(started.runId).toBe(runId);
    const final = await trainer.waitForJob(runId, () => undefined);
    const trained = await trainer.call<{ state: string; message: string; artifactUri: string; results: Record<string, number> }>('GetRun', { runId });
    expect(final.state, trained.message).toBe('JOB_STATE_SUCCEEDED');
    expect(existsSync(join(trained.artifactUri, 'model.onnx'))).toBe(true);

    type Metric = { name: string; split: string; step: string; n: string };
    const metrics = await d.rowsWhen<Metric>(
      sql`SELECT name, split, toString(step) AS step, count() AS n FROM training_metrics FINAL WHERE run_id = ${runId} GROUP BY name, split, step`,
      (rows) => rows.length > 0,
    );
    expect(metrics.length).toBeGreaterThan(0);
    for (const metric of metrics) expect(Number(metric.n), `${metric.name}/${metric.split}/${metric.step} once`).toBe(1);

    const evaluator = d.client('evaluator');
    const evalId = 'e2e-eval-probe';
    const evaluation = await runJob(evaluator, () =>
      evaluator.call('EvaluateModel', {
        evalId,
        runId,
        shiftId: shifts.substring.shiftId,
        checkpointUri: trained.artifactUri,
        sets: [{ name: 'e2e-textsim', uri: shifts.textsim.uri, format: 'webdataset', classSubset: 'eval-classes' }],
      }),
    );
    expect(evaluation.state, evaluation.message).toBe('JOB_STATE_SUCCEEDED');
    const { scores } = await evaluator.call<{ scores: Array<{ benchmark: string; metric: string; value: number }> }>('GetResults', { evalId });
    expect(scores.length).toBeGreaterThan(0);
    type Result = { benchmark: string; metric: string; value: number; n: string };
    const rows = await d.rowsWhen<Result>(
      sql`SELECT benchmark, metric, any(value) AS value, count() AS n FROM evaluation_results FINAL WHERE eval_id = ${evalId} GROUP BY benchmark, metric`,
      (r) => r.length >= new Set(scores.map((s) => `${s.benchmark}/${s.metric}`)).size,
    );
    for (const score of scores) {
      const row = rows.find((r) => r.benchmark === score.benchmark && r.metric === score.metric);
      expect(row, `${score.benchmark}/${score.metric}`).toBeDefined();
      expect(Number(row!.n)).toBe(1);
      if (Number.isFinite(score.value)) expect(row!.value).toBeCloseTo(score.value, 6);
    }
  }, 600_000);

  it("kcat reads chain 1's dataset events from Kafka, and protoc decodes every body with the published protos", async () => {
    const topic = `${d.prefix}select.samples.v1`;
    const broker = testBrokers()[0]!;
    // %R: the body's length as a 32-bit big-endian integer, then the body itself.
    const consumed = await runBinary('kcat', ['-C', '-b', broker, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%R%s']);
    const bodies: Buffer[] = [];
    for (let offset = 0; offset < consumed.length; ) {
      const length = consumed.readUInt32BE(offset);
      bodies.push(consumed.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    const decoded = await Promise.all(bodies.map((body) => runBinary('protoc', ['--proto_path', join(ROOT, 'protos'), '--decode', 'select.events.v1.SampleCurated', 'select/events/v1/events.proto'], body)));
    const ofShift = decoded.map((b) => b.toString('utf8')).filter((text) => text.includes(`shift_id: "${shifts.substring.shiftId}"`));
    const sampleIds = new Set(ofShift.map((text) => /sample_id: "([^"]+)"/.exec(text)?.[1]));
    expect(sampleIds.size).toBe(36);
    for (const text of ofShift) expect(text).toMatch(/wnid: "n0144(0764|3537)"/);
  }, 120_000);

  it("clickhouse-client, as the read-only user, answers the README's SQL; a write is refused", async () => {
    const { url, readerUsername, readerPassword } = addClickHouseDefaults();
    const host = new URL(url).hostname;
    const client = (query: string) =>
      run('clickhouse-client', ['--host', host, '--port', process.env['CLICKHOUSE_TCP_PORT'] ?? '9000', '--user', readerUsername, '--password', readerPassword, '--database', d.database, '--query', query]);
    const queries = readmeQueries();
    expect(Object.keys(queries)).toEqual(expect.arrayContaining(['samples-per-class', 'leaderboard']));
    const perClass = await client(queries['samples-per-class']!.replace('{shift_id}', sqlString(shifts.substring.shiftId)));
    expect(perClass.stdout.trim().split('\n').map((line) => line.split('\t').slice(-2))).toEqual([
      ['n01440764', '24'],
      ['n01443537', '12'],
    ]);
    const leaderboard = await client(queries['leaderboard']!);
    expect(leaderboard.stdout).toContain('e2e-eval-probe');
    await expect(client('INSERT INTO curation_decisions (shift_id) VALUES (\'x\')')).rejects.toThrow(/readonly|Cannot execute query in readonly mode/i);
  }, 60_000);
});

/** `-- README query: <name>` SQL blocks of the root README (the "Main job" section), by name. */
function readmeQueries(): Record<string, string> {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const out: Record<string, string> = {};
  for (const match of text.matchAll(/```sql\n-- README query: ([\w-]+)\n([\s\S]*?)```/g)) out[match[1]!] = match[2]!.trim();
  return out;
}

/** Runs a program with `input` on stdin and resolves to its stdout bytes; rejects with its stderr. */
function runBinary(command: string, args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${command} exited ${code}: ${err}`))));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}
