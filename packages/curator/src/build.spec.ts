// A whole build through the real curator: gRPC on port 0, tasks over Kafka to a worker, the shift
// through ShiftWriter, decisions through the real metrics sink into ClickHouse, the README's SQL.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readClassShards, readWebDataset } from '@select/datasets';
import { sql } from '@select/metrics';
import { GrpcCallError, status, unary, type GenericServiceClient } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, writeSvgPool, type CurationKit, type SvgItem } from './curation-test-kit.test-util.js';
import { readmeQuery } from './readme-sql.test-util.js';

const imagenet = loadImageNetTaxonomy();
const TENCH = imagenet.classByWnid('n01440764').index;
const GOLDFISH = imagenet.classByWnid('n01443537').index;

const POOL: Array<SvgItem & { expect: string }> = [
  { path: 'animals/tench-1.svg', title: 'tench', keywords: ['fish'], expect: 'kept:tench' },
  { path: 'animals/tench-2.svg', title: 'a tench in a lake', expect: 'kept:tench' },
  { path: 'animals/tench-3.svg', title: 'my pet tench!', expect: 'kept:tench' },
  { path: 'animals/goldfish-1.svg', title: 'goldfish', expect: 'kept:goldfish' },
  { path: 'animals/goldfish-2.svg', title: 'bowl', keywords: ['goldfish'], expect: 'kept:goldfish' },
  { path: 'animals/both.svg', title: 'tench and goldfish', expect: 'substring-match:several-synsets' },
  { path: 'animals/Tench.svg', title: 'Tench', expect: 'substring-match:no-lemma' },
  { path: 'misc/shape.svg', title: 'abstract shape', expect: 'substring-match:no-lemma' },
  { path: 'misc/untitled.svg', expect: 'read:bad-record' },
  { path: 'misc/broken.svg', broken: true, expect: 'read:bad-record' },
];

describe('a substring-match build (strategy 2) over an openclipart-layout pool', () => {
  let kit: CurationKit;
  let client: GenericServiceClient;
  let root: string;

  beforeAll(async () => {
    kit = await startCurationKit('build');
    root = join(kit.dir, 'pool');
    writeSvgPool(root, POOL);
    ({ client } = await kit.startCurator({ localWorkers: 1 }));
  });
  afterAll(() => kit?.cleanup());

  const request = (overrides: Record<string, unknown> = {}) => ({
    shiftName: 'la-substring',
    pool: { uri: root, format: 'openclipart', name: 'test-clipart' },
    steps: [{ name: 'substring-match', paramsJson: '{}' }],
    taskSize: 3,
    gateOverrideReason: 'test pool: no evaluation set to gate against',
    ...overrides,
  });

  it('publishes a timm-readable shift with idx, counts, manifest and events; every candidate decided once in ClickHouse', async () => {
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', request());
    const job = await waitForJob(client, started.jobId);
    expect(job).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '10', total: '10' });
    expect(job.message).toBe('5 samples in 2 classes from 10 candidates (5 dropped)');

    const dir = started.outputUri;
    const info = JSON.parse(readFileSync(join(dir, '_info.json'), 'utf8')) as { splits: { train: { num_samples: number; filenames: string[] } } };
    expect(info.splits.train.num_samples).toBe(5);
    const counts = JSON.parse(readFileSync(join(dir, 'class_counts.json'), 'utf8')) as Array<{ class_index: number; count: number }>;
    expect(counts).toHaveLength(1000);
    expect(counts.filter((c) => c.count > 0)).toEqual([
      { class_index: TENCH, wnid: 'n01440764', count: 3 },
      { class_index: GOLDFISH, wnid: 'n01443537', count: 2 },
    ]);
    expect(readFileSync(join(dir, 'manifest.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);

    // timm's reader takes .cls; SELECT's kNN reader takes json["idx"]; readClassShards accepts both.
    const shards = info.splits.train.filenames.map((f) => join(dir, f));
    const samples = [];
    for await (const record of readWebDataset({ shards })) if (record.ok) samples.push(record.sample);
    expect(samples).toHaveLength(5);
    for (const sample of samples) {
      const json = JSON.parse(sample.files.get('json')!.toString('utf8')) as { idx: number; class_index: number; extra: Record<string, string>; params_hash: string };
      expect(json.idx).toBe(Number(sample.files.get('cls')!.toString()));
      expect(json.idx).toBe(json.class_index);
      expect(json.extra['source']).toBe('test-clipart');
      expect(sample.files.get('jpg')!.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    }
    const labelled = [];
    for await (const record of readClassShards({ shards })) if (record.ok) labelled.push(record.sample.classIndex);
    expect(labelled.sort()).toEqual([TENCH, TENCH, TENCH, GOLDFISH, GOLDFISH].sort());

    const shiftId = started.jobId;
    type Decision = { source_id: string; step: string; reason: string; kept: number };
    const decisions = await kit.rowsWhen<Decision>(
      sql`SELECT source_id, step, reason, kept FROM curation_decisions FINAL WHERE shift_id = ${shiftId} ORDER BY source_id`,
      (rows) => rows.length >= POOL.length,
    );
    expect(decisions).toHaveLength(POOL.length);
    for (const item of POOL) {
      const row = decisions.find((d) => d.source_id === item.path);
      const [where, why] = item.expect.split(':') as [string, string];
      if (where === 'kept') expect(row, item.path).toMatchObject({ kept: 1, reason: 'kept', step: 'substring-match' });
      else expect(row, item.path).toMatchObject({ kept: 0, step: where, reason: expect.stringContaining(why) });
    }

    // The README's two questions, as a user would paste them.
    const why = await kit.ch.query<{ step: string; reason: string; kept: number }>(readmeQuery('why-dropped', { shift_id: shiftId, source_id: 'animals/both.svg' }));
    expect(why).toEqual([expect.objectContaining({ step: 'substring-match', reason: 'several-synsets', kept: 0 })]);
    const perClass = await kit.ch.query<{ shift_id: string; strategy: string; class_index: number; source: string; samples: string }>(readmeQuery('kept-per-class', {}));
    expect(perClass.filter((r) => r.shift_id === shiftId).map((r) => [r.strategy, r.class_index, r.source, Number(r.samples)])).toEqual([
      ['substring-match', TENCH, 'test-clipart', 3],
      ['substring-match', GOLDFISH, 'test-clipart', 2],
    ]);

    const samplesRows = await kit.rowsWhen<{ n: string }>(sql`SELECT count() AS n FROM samples FINAL WHERE shift_id = ${shiftId}`, (rows) => rows[0]?.n === '5');
    expect(samplesRows[0]?.n).toBe('5');
    const lifecycle = await kit.rowsWhen<{ phase: string; sample_count: string }>(
      sql`SELECT phase, sample_count FROM shift_status WHERE shift_id = ${shiftId}`,
      (rows) => rows[0]?.phase === 'SHIFT_PHASE_COMPLETED',
    );
    expect(lifecycle).toEqual([{ phase: 'SHIFT_PHASE_COMPLETED', sample_count: '5' }]);
    // Published without the contamination gate: the request's reason is recorded with the shift.
    const reason = 'test pool: no evaluation set to gate against';
    const report = JSON.parse(readFileSync(join(dir, 'build.json'), 'utf8')) as { contaminationGate: unknown };
    expect(report.contaminationGate).toEqual({ applied: false, overrideReason: reason });
    const shiftRow = await kit.rowsWhen<{ params_json: string; message: string }>(
      sql`SELECT params_json, message FROM shifts FINAL WHERE shift_id = ${shiftId} AND phase = 'SHIFT_PHASE_COMPLETED'`,
      (rows) => rows.length === 1,
    );
    expect(JSON.parse(shiftRow[0]!.params_json)).toMatchObject({ contaminationGate: { applied: false, overrideReason: reason } });
    expect(shiftRow[0]!.message).toBe(`published without the contamination-gate: ${reason}`);

    // The same request is the same build: nothing is redone or duplicated.
    const again = await unary<{ jobId: string; state: string }>(client, 'StartCuration', request());
    expect(again).toMatchObject({ jobId: shiftId, state: 'JOB_STATE_SUCCEEDED' });

    const shift = await unary<{ samples: string; classes: number; classCounts: Array<{ wnid: string; count: string }> }>(client, 'GetShift', { shiftId });
    expect(shift).toMatchObject({ samples: '5', classes: 2 });
    expect(shift.classCounts.map((c) => [c.wnid, c.count])).toEqual([
      ['n01440764', '3'],
      ['n01443537', '2'],
    ]);
  });

  it('dry run: the same decisions and counts, no images', async () => {
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', request({ dryRun: true }));
    const job = await waitForJob(client, started.jobId);
    expect(job.message).toBe('dry run: 5 samples in 2 classes from 10 candidates (5 dropped)');
    expect(readdirSync(started.outputUri).filter((f) => f.endsWith('.tar'))).toEqual([]);
    const report = JSON.parse(readFileSync(join(started.outputUri, 'dry_run_counts.json'), 'utf8')) as { perClass: Record<string, number>; dropped: Record<string, number> };
    expect(report.perClass).toEqual({ n01440764: 3, n01443537: 2 });
    expect(report.dropped).toEqual({ 'read: bad-record': 2, 'substring-match: no-lemma': 2, 'substring-match: several-synsets': 1 });
    const shifts = await unary<{ shifts: Array<{ shiftId: string; dryRun: boolean }> }>(client, 'ListShifts', {});
    expect(shifts.shifts.map((s) => s.dryRun).sort()).toEqual([false, true]);
  });

  it('max_per_class keeps the first N per class (pool order when no scores) and records the others as dropped', async () => {
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', request({ shiftName: 'capped', maxPerClass: 1 }));
    const job = await waitForJob(client, started.jobId);
    expect(job.message).toBe('2 samples in 2 classes from 10 candidates (8 dropped)');
    const rows = await kit.rowsWhen<{ source_id: string; step: string; kept: number }>(
      sql`SELECT source_id, step, kept FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} AND kept = 0 AND step = 'max-per-class' ORDER BY source_id`,
      (r) => r.length >= 3,
    );
    expect(rows.map((r) => r.source_id)).toEqual(['animals/goldfish-2.svg', 'animals/tench-2.svg', 'animals/tench-3.svg']);
  });

  it('refuses bad requests up front with INVALID_ARGUMENT or FAILED_PRECONDITION and a message naming the problem', async () => {
    const refused = async (req: Record<string, unknown>): Promise<GrpcCallError> => {
      try {
        await unary(client, 'StartCuration', req);
      } catch (error) {
        if (error instanceof GrpcCallError) return error;
        throw error;
      }
      throw new Error('accepted');
    };
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [request({ pool: { uri: join(kit.dir, 'nowhere'), format: 'openclipart' } }), status.INVALID_ARGUMENT, /nowhere does not exist/],
      [request({ pool: { uri: root, format: 'laion-tsv' } }), status.INVALID_ARGUMENT, /pool.format "laion-tsv"/],
      [request({ wnids: ['n01440764', 'n99999999'] }), status.INVALID_ARGUMENT, /unknown wnid\(s\) n99999999/],
      [request({ steps: [{ name: 'magic', paramsJson: '' }] }), status.INVALID_ARGUMENT, /unknown curation step "magic"/],
      [request({ steps: [{ name: 'substring-match', paramsJson: '{"maxCaptionChars": 0}' }] }), status.INVALID_ARGUMENT, /maxCaptionChars" must be >= 1/],
      [request({ steps: [{ name: 'substring-match', paramsJson: '{"lowercase": "yes"}' }] }), status.INVALID_ARGUMENT, /must be true or false/],
      [request({ steps: [{ name: 'substring-match', paramsJson: '{"bogus": 1}' }] }), status.INVALID_ARGUMENT, /has no parameter "bogus"/],
      [request({ steps: [{ name: 'substring-match', paramsJson: '[1' }] }), status.INVALID_ARGUMENT, /params_json is not JSON/],
      [request({ steps: [{ name: 'text-similarity', paramsJson: '{"model":"m"}' }] }), status.INVALID_ARGUMENT, /first step must be a strategy/],
      [request({ steps: [{ name: 'schema-mapping', paramsJson: '{}' }] }), status.INVALID_ARGUMENT, /schema-mapping reads openimages pools, not openclipart/],
      [
        request({ steps: [{ name: 'substring-match', paramsJson: '{}' }, { name: 'text-similarity', paramsJson: '{"model":"all-minilm-l6-v2"}' }] }),
        status.FAILED_PRECONDITION,
        /needs the embedding service/,
      ],
      [request({ taskSize: 5_000_000 }), status.INVALID_ARGUMENT, /task_size must be in 1\.\.1000000/],
      [request({ shiftName: '' }), status.INVALID_ARGUMENT, /shift_name is required/],
      // no contamination gate and no reason: refused, naming both fixes
      [request({ gateOverrideReason: '' }), status.FAILED_PRECONDITION, /no contamination-gate step.*add a contamination-gate step.*gate_override_reason.*--skip-gate/],
      [request({ gateOverrideReason: '   ' }), status.FAILED_PRECONDITION, /gate_override_reason/],
    ];
    for (const [req, code, message] of cases) {
      const error = await refused(req);
      expect(error.code, message.source).toBe(code);
      expect(error.serverMessage).toMatch(message);
    }
    expect(existsSync(join(kit.dir, 'data', 'shifts', 'nowhere'))).toBe(false);
  });

  it('ListStrategies says what each step is, which ImageNet++ shift it reproduces, and its parameters', async () => {
    const list = await unary<{ strategies: Array<{ name: string; paperShift: string; role: string; params: Array<{ name: string; defaultJson: string; range: string }> }> }>(client, 'ListStrategies', {});
    const byName = new Map(list.strategies.map((s) => [s.name, s]));
    expect(byName.get('schema-mapping')).toMatchObject({ role: 'strategy', paperShift: 'OI1000' });
    expect(byName.get('substring-match')?.paperShift).toMatch(/LA1000 txt2img/);
    expect(byName.get('text-similarity')).toMatchObject({ role: 'filter' });
    expect(byName.get('schema-mapping')?.params.find((p) => p.name === 'multiClass')).toMatchObject({ defaultJson: '"every-class"', range: 'one of every-class, drop, most-confident' });
  });
});
