// A whole build through the real curator with image steps: gRPC on port 0, tasks over Kafka to a worker,
// the embedding and retrieval services as child processes (tiny CLIP), decisions through the real metrics
// sink into ClickHouse. Strategy 5 labels the openclipart pool, then CLIP score, SemDeDup, the
// contamination gate and a quota run as chain steps; every candidate ends kept or dropped by one step.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from '@select/metrics';
import { unary, type GenericServiceClient } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, type CurationKit } from '../curation-test-kit.test-util.js';
import { TINY_CLIP, renderedPng, smallOpenClipartPool, startImageServices, writePng, type ImageServices } from './image-services.test-util.js';

const CLASSES = ['n01440764', 'n02085620', 'n07753592'];

describe('a build with image steps through the curator', () => {
  let kit: CurationKit;
  let services: ImageServices;
  let client: GenericServiceClient;
  let pool: Awaited<ReturnType<typeof smallOpenClipartPool>>;

  beforeAll(async () => {
    [kit, services] = await Promise.all([startCurationKit('image'), startImageServices()]);
    pool = await smallOpenClipartPool(services.dir);
    ({ client } = await kit.startCurator({
      localWorkers: 1,
      embeddingAddress: services.embedding.getChannel().getTarget().replace(/^dns:/, ''),
      retrievalAddress: services.retrieval.getChannel().getTarget().replace(/^dns:/, ''),
    }));
  }, 180_000);
  afterAll(async () => {
    await kit?.cleanup();
    await services?.close();
  });

  it('publishes the shift with every decision of every image step in ClickHouse', async () => {
    // an evaluation folder holding a rendering of one pool image (same pixels, other bytes)
    const evalDir = join(services.dir, 'eval');
    const planted = new Set(pool.copies.flat());
    const held = pool.files.find((f) => f.startsWith('food/') && !planted.has(f))!;
    await writePng(join(evalDir, 'n07753592', 'held.png'), await renderedPng(join(pool.root, held)));
    const workDir = join(services.dir, 'work');
    const steps = [
      // perClass = the pool size: every image is claimed by some class, so every later step sees all 26
      { name: 'text-retrieval', params: { model: TINY_CLIP, perClass: 26, exact: true, workDir } },
      { name: 'clip-score', params: { model: TINY_CLIP, threshold: -1 } },
      { name: 'semdedup', params: { model: TINY_CLIP, eps: 1e-4, clusters: 2 } },
      { name: 'contamination-gate', params: { evalSets: [evalDir], model: TINY_CLIP, threshold: 0.9999, registry: join(workDir, 'registry') } },
      { name: 'quota', params: { mode: 'cap', perClass: 3 } },
    ];
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'image-chain',
      pool: { uri: pool.root, format: 'openclipart', name: 'clipart' },
      wnids: CLASSES,
      steps: steps.map((s) => ({ name: s.name, paramsJson: JSON.stringify(s.params) })),
      taskSize: 10,
    });
    const job = await waitForJob(client, started.jobId, 300_000);
    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');

    const counts = JSON.parse(readFileSync(join(started.outputUri, 'class_counts.json'), 'utf8')) as Array<{ wnid: string; count: number }>;
    const published = counts.reduce((a, c) => a + c.count, 0);
    type Row = { source_id: string; step: string; reason: string; kept: number | string };
    // a build-wide step's drop replaces the task's kept row (ReplacingMergeTree by stage): wait until
    // every candidate has its final row
    const decisions = await kit.rowsWhen<Row>(
      sql`SELECT source_id, step, reason, kept FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} ORDER BY source_id`,
      (rows) => rows.length === pool.files.length && rows.filter((r) => Number(r.kept) === 1).length === published,
    );
    // one decision per candidate, from exactly one step
    expect(decisions.map((d) => d.source_id).sort()).toEqual([...pool.files].sort());
    const kept = decisions.filter((d) => Number(d.kept) === 1);
    const dropped = decisions.filter((d) => Number(d.kept) === 0);
    const byStep = (step: string) => dropped.filter((d) => d.step === step);
    expect(byStep('text-retrieval')).toEqual([]);
    // SemDeDup: one image of each planted byte-identical pair
    expect(byStep('semdedup').every((d) => d.reason === 'semantic-duplicate')).toBe(true);
    for (const [original, copy] of pool.copies) {
      expect(byStep('semdedup').filter((d) => d.source_id === original || d.source_id === copy), original).toHaveLength(1);
    }
    expect(byStep('quota').every((d) => d.reason === 'over-quota')).toBe(true);
    // the rendering of `held` is in the evaluation folder: the gate drops it, and nothing else
    expect(byStep('contamination-gate').map((d) => [d.source_id, d.reason.replace(/-[0-9a-f]{8}$/, '')])).toEqual([[held, 'contaminated-near:eval']]);
    // at most 3 per class after the quota, and the shift agrees
    const nonEmpty = counts.filter((c) => c.count > 0);
    expect(nonEmpty.every((c) => CLASSES.includes(c.wnid) && c.count <= 3)).toBe(true);
    expect(published).toBe(kept.length);
    expect(kept.length).toBeGreaterThan(0);
    expect(existsSync(join(started.outputUri, 'contamination_report.json'))).toBe(true);
  }, 360_000);

  it('a shift held out for evaluation, registered as its JPEGs: a later gated build drops each of its pool images as an exact copy', async () => {
    const build = async (shiftName: string, steps: Array<{ name: string; params: Record<string, unknown> }>, extra: Record<string, unknown> = {}) => {
      const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
        shiftName,
        pool: { uri: pool.root, format: 'openclipart', name: 'clipart' },
        wnids: CLASSES,
        steps: steps.map((step) => ({ name: step.name, paramsJson: JSON.stringify(step.params) })),
        taskSize: 10,
        ...extra,
      });
      const job = await waitForJob(client, started.jobId, 300_000);
      expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
      const manifest = readFileSync(join(started.outputUri, 'manifest.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
      return { dir: started.outputUri, sources: manifest.map((line) => (JSON.parse(line) as { source_id: string }).source_id) };
    };
    const workDir = join(services.dir, 'held-out-work');
    // The pool's SVGs are published rendered and re-encoded: the held-out JPEGs share no bytes with the pool files.
    const heldOut = await build('held-out', [{ name: 'text-retrieval', params: { model: TINY_CLIP, perClass: 2, exact: true, workDir } }], {
      gateOverrideReason: 'the held-out evaluation set itself',
    });
    expect(heldOut.sources.length).toBeGreaterThan(1);
    const evalDir = join(services.dir, 'held-out-jpegs');
    mkdirSync(evalDir, { recursive: true });
    execFileSync('tar', ['-xf', join(heldOut.dir, '00000.tar'), '-C', evalDir, '--wildcards', '*.jpg']);

    // nearDuplicates false: the random-weight tiny CLIP cannot tell these images apart, so only content counts
    const gated = await build('after-held-out', [
      { name: 'text-retrieval', params: { model: TINY_CLIP, perClass: 26, exact: true, workDir } },
      { name: 'contamination-gate', params: { evalSets: [evalDir], model: TINY_CLIP, nearDuplicates: false, registry: join(workDir, 'registry') } },
    ]);
    expect(gated.sources.filter((source) => heldOut.sources.includes(source))).toEqual([]);
    const matches = readFileSync(join(gated.dir, 'contamination_matches.csv'), 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
    expect(matches.every((m) => m[3] === 'exact')).toBe(true);
    // every held-out image, and besides them only the pool's planted byte-identical copies of one
    const dropped = new Set(matches.map((m) => m[0]!));
    for (const source of heldOut.sources) expect(dropped.has(source), source).toBe(true);
    const copyOfHeld = (source: string) => pool.copies.some((pair) => pair.includes(source) && pair.some((other) => heldOut.sources.includes(other)));
    expect([...dropped].filter((source) => !heldOut.sources.includes(source) && !copyOfHeld(source))).toEqual([]);
    // and the rest of the pool is published: 26 SVGs, 2 of them planted copies
    expect(gated.sources.length + dropped.size).toBe(pool.files.length);
    const report = JSON.parse(readFileSync(join(gated.dir, 'contamination_report.json'), 'utf8')) as { nearDuplicates: boolean; contaminatedSamples: number; perSet: Record<string, { exact: number; nearDuplicate: number }> };
    expect(report).toMatchObject({ nearDuplicates: false, contaminatedSamples: dropped.size });
    expect(Object.values(report.perSet)[0]).toMatchObject({ exact: matches.length, nearDuplicate: 0 });
  }, 360_000);
});
