// The preparations every worker of a build does when it sets up the chain — registering the
// contamination gate's evaluation sets, embedding the pool and creating its retrieval index — run at
// the same time in several worker processes. They must all end with the one shared result: no
// ENOENT on a half-written registry folder, no ALREADY_EXISTS from the retrieval service, and a build
// that completes with every task committed once.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unary, type GenericServiceClient } from '@select/platform';
import type { JsonLogProcess } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, type CurationKit } from '../curation-test-kit.test-util.js';
import { listEvaluationSets, registerEvaluationSet } from './evaluation-sets.js';
import { TINY_CLIP, renderedPng, smallOpenClipartPool, startImageServices, writePng, type ImageServices } from './image-services.test-util.js';

const CLASSES = ['n01440764', 'n02085620', 'n07753592'];
const addressOf = (client: GenericServiceClient): string => client.getChannel().getTarget().replace(/^dns:/, '');

describe('shared preparations done by several workers at once', () => {
  let kit: CurationKit;
  let services: ImageServices;
  let pool: Awaited<ReturnType<typeof smallOpenClipartPool>>;

  beforeAll(async () => {
    [kit, services] = await Promise.all([startCurationKit('prep'), startImageServices()]);
    pool = await smallOpenClipartPool(services.dir);
  }, 180_000);
  afterAll(async () => {
    await kit?.cleanup();
    await services?.close();
  });

  it('registering one evaluation set four times at once gives one set, the same to every caller', async () => {
    const evalDir = join(services.dir, 'eval-at-once');
    await writePng(join(evalDir, 'n07753592', 'a.png'), await renderedPng(join(pool.root, pool.files[0]!)));
    await writePng(join(evalDir, 'n01440764', 'b.png'), await renderedPng(join(pool.root, pool.files[1]!)));
    const registry = join(services.dir, 'registry-at-once');
    const register = () =>
      registerEvaluationSet({ registry, name: 'val', source: { imagesDir: evalDir }, model: TINY_CLIP, modelId: 'tiny-clip', embedding: services.embedding, signal: new AbortController().signal, batchSize: 1 });
    const results = await Promise.all([register(), register(), register(), register()]);
    expect(new Set(results.map((r) => r.created)).size).toBe(1);
    expect(results.every((r) => r.items === 2 && r.withoutEmbedding === 0 && r.model === TINY_CLIP)).toBe(true);
    expect(await listEvaluationSets(registry)).toEqual(['val']);
    // every losing copy is gone
    expect(readdirSync(registry)).toEqual(['val']);
  }, 120_000);

  it('two worker processes preparing the same retrieval build and gate at once: the build completes, every task once', async () => {
    const { client } = await kit.startCurator({
      localWorkers: 0,
      embeddingAddress: addressOf(services.embedding),
      retrievalAddress: addressOf(services.retrieval),
    });
    const spawnWorker = (id: string): JsonLogProcess =>
      kit.spawnWorker(id, { CURATOR_EMBEDDING_ADDRESS: addressOf(services.embedding), CURATOR_RETRIEVAL_ADDRESS: addressOf(services.retrieval) });
    const a = spawnWorker('prep-a');
    const b = spawnWorker('prep-b');
    await Promise.all([a.waitForLog('curator worker consuming tasks', 90_000), b.waitForLog('curator worker consuming tasks', 90_000)]);

    const evalDir = join(services.dir, 'eval-build');
    await writePng(join(evalDir, 'n07753592', 'held.png'), await renderedPng(join(pool.root, pool.files.find((f) => f.startsWith('food/'))!)));
    const workDir = join(services.dir, 'work-build');
    const steps = [
      { name: 'text-retrieval', params: { model: TINY_CLIP, perClass: 26, exact: true, workDir } },
      { name: 'contamination-gate', params: { evalSets: [evalDir], model: TINY_CLIP, threshold: 0.9999, registry: join(workDir, 'registry') } },
    ];
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'prepared-at-once',
      pool: { uri: pool.root, format: 'openclipart', name: 'clipart' },
      wnids: CLASSES,
      steps: steps.map((s) => ({ name: s.name, paramsJson: JSON.stringify(s.params) })),
      taskSize: 2,
    });
    const messages = new Set<string>();
    const job = await waitForJob(client, started.jobId, 240_000, { pollMs: 25, onStatus: (status) => messages.add(status.message) });
    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    // While the workers set up the steps, the build's status said what they were doing, with the job's count.
    const preparing = [...messages].filter((m) => m.startsWith('0/') && m.includes('; preparing ('));
    expect(preparing.length, [...messages].join('\n')).toBeGreaterThan(0);
    expect(preparing.some((m) => /: embedding the pool .+: (\d+\/\d+ \w+|starting)$/.test(m)), preparing.join('\n')).toBe(true);
    // ...and no note is left in the tasks folder once the build is done
    expect(readdirSync(join(started.outputUri, '.build', 'tasks')).filter((n) => n.includes('.preparing.json'))).toEqual([]);

    // Both processes prepared the chain (each embeds the pool and creates the index: one job, one index).
    const prepared = (w: JsonLogProcess) => w.logs.some((l) => l.msg === 'embedding the pool (dataset job)');
    expect([prepared(a), prepared(b)]).toEqual([true, true]);
    expect([...a.logs, ...b.logs].filter((l) => l.msg === 'task failed')).toEqual([]);

    const tasksDir = join(started.outputUri, '.build', 'tasks');
    const tasks = readdirSync(tasksDir).filter((n) => !n.includes('.'));
    expect(tasks).toHaveLength(Math.ceil(pool.files.length / 2));
    const byWorker = new Set(tasks.map((t) => (JSON.parse(readFileSync(join(tasksDir, t, 'task.json'), 'utf8')) as { worker: string }).worker));
    expect(byWorker).toEqual(new Set(['prep-a', 'prep-b']));
    const manifest = readFileSync(join(started.outputUri, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    expect(new Set(manifest).size).toBe(manifest.length);
    expect(manifest.length).toBeGreaterThan(0);
    expect(existsSync(join(workDir, 'registry'))).toBe(true);
    expect(readdirSync(join(workDir, 'registry')).filter((n) => n.endsWith('.partial'))).toEqual([]);

    // Another build over the same pool finds the pool index prepared in these processes: its status does not
    // replay the finished preparation's last line as if it were running.
    const again = await unary<{ jobId: string }>(client, 'StartCuration', {
      shiftName: 'prepared-before',
      pool: { uri: pool.root, format: 'openclipart', name: 'clipart' },
      wnids: CLASSES,
      steps: [{ name: 'text-retrieval', paramsJson: JSON.stringify({ model: TINY_CLIP, perClass: 10, exact: true, workDir }) }],
      gateOverrideReason: 'second build of the preparation test',
      taskSize: 2,
    });
    const seen = new Set<string>();
    const second = await waitForJob(client, again.jobId, 240_000, { pollMs: 25, onStatus: (status) => seen.add(status.message) });
    expect(second.state, second.message).toBe('JOB_STATE_SUCCEEDED');
    expect([...seen].filter((m) => m.includes('the pool'))).toEqual([]);
  }, 360_000);
});
