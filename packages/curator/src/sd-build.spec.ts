// Stable Diffusion strategies inside a curator build: the build runs the generation service's batch job
// (a real generation service on port 0, the tiny SD fixtures), reads the generated shift as a pool of format
// `shift`, sends it through the chain (here a per-class quota) over Kafka to a worker, and publishes a shift
// whose samples carry the prompted (or inherited) class, prompt and seed; decisions land in ClickHouse.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readShiftManifest, readWebDataset, renderSvg } from '@select/datasets';
import { sql } from '@select/metrics';
import { unary, type GenericServiceClient } from '@select/platform';
import { spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, type CurationKit } from './curation-test-kit.test-util.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TENCH = 'n01440764';
const BANANA = 'n07753592';
const TINY = { width: 64, height: 64, steps: 2 };

interface PublishedSample {
  wnid: string;
  class_index: number;
  source_id: string;
  prompt?: string;
  seed?: number;
  extra: Record<string, string>;
}

async function publishedSamples(dir: string): Promise<PublishedSample[]> {
  const info = JSON.parse(await readFile(join(dir, '_info.json'), 'utf8')) as { splits: { train: { filenames: string[] } } };
  const out: PublishedSample[] = [];
  for await (const record of readWebDataset({ shards: info.splits.train.filenames.map((f) => join(dir, f)) })) {
    if (record.ok) out.push(JSON.parse(record.sample.files.get('json')!.toString('utf8')) as PublishedSample);
  }
  return out;
}

describe('Stable Diffusion strategies in a curator build', () => {
  let kit: CurationKit;
  let generation: JsonLogProcess;
  let client: GenericServiceClient;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'curator-sd-'));
    await mkdir(join(dir, 'sd-models'));
    await symlink(join(ROOT, 'tools/fixtures/tiny-sd/model'), join(dir, 'sd-models', 'tiny-sd'));
    await symlink(join(ROOT, 'tools/fixtures/tiny-sd/model-variations'), join(dir, 'sd-models', 'tiny-sd-variations'));
    generation = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', join(ROOT, 'packages/generation-service/src/main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        GENERATION_HOST: '127.0.0.1',
        GENERATION_PORT: '0',
        GENERATION_MODELS_DIR: join(dir, 'sd-models'),
        GENERATION_JOBS_DIR: join(dir, 'generation-jobs'),
        GENERATION_INTRA_OP_THREADS: '1',
        GENERATION_PUBLISH_JOB_EVENTS: 'false',
        LOG_LEVEL: 'info',
      },
    });
    const [started] = await Promise.all([generation.waitForLog('grpc server listening', 90_000), (async () => (kit = await startCurationKit('sd')))()]);
    ({ client } = await kit.startCurator({ localWorkers: 1, generationAddress: String(started['address']) }));
  }, 180_000);
  afterAll(async () => {
    await kit?.cleanup();
    generation?.child.kill('SIGTERM');
    await generation?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('sd-txt2img: the generated images go through the chain into the shift with their prompted class, prompt and seed', async () => {
    const steps = [
      { name: 'sd-txt2img', params: { model: 'tiny-sd', imagesPerClass: 2, ...TINY, workDir: join(dir, 'work') } },
      { name: 'quota', params: { mode: 'cap', perClass: 1 } },
    ];
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'sd-tiny',
      wnids: [TENCH, BANANA],
      steps: steps.map((s) => ({ name: s.name, paramsJson: JSON.stringify(s.params) })),
      gateOverrideReason: 'tiny-sd test: random weights, nothing to be contaminated with',
    });
    const job = await waitForJob(client, started.jobId, 300_000);
    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    expect(job.message).toBe('2 samples in 2 classes from 4 candidates (2 dropped)');

    // the build's pool is the generation job's shift (format shift), 2 classes x seeds 1..2
    const spec = JSON.parse(await readFile(join(started.outputUri, '.build', 'spec.json'), 'utf8')) as { pool: { format: string; uri: string; name: string } };
    expect(spec.pool).toMatchObject({ format: 'shift', name: 'sd-txt2img' });
    const generated = [];
    for await (const entry of readShiftManifest(spec.pool.uri)) generated.push(entry);
    expect(generated.map((e) => `${e.wnid}:${e.seed}`).sort()).toEqual([`${TENCH}:1`, `${TENCH}:2`, `${BANANA}:1`, `${BANANA}:2`]);

    // one sample per class after the quota, each with the prompted class, its prompt and seed
    const taxonomy = loadImageNetTaxonomy();
    const samples = await publishedSamples(started.outputUri);
    expect(samples.map((s) => s.wnid).sort()).toEqual([TENCH, BANANA]);
    for (const s of samples) {
      expect(s.class_index).toBe(taxonomy.classByWnid(s.wnid).index);
      expect(s.prompt).toBe(`A photo of ${taxonomy.classByWnid(s.wnid).label}`);
      expect([1, 2]).toContain(s.seed);
      expect(s.extra['generatedFrom']).toBe(s.wnid);
      const source = generated.find((e) => e.key === s.source_id);
      expect(source, s.source_id).toMatchObject({ wnid: s.wnid, seed: s.seed });
    }

    // one decision per generated candidate: kept by the strategy, or dropped by the quota
    type Row = { source_id: string; step: string; reason: string; kept: number | string };
    const decisions = await kit.rowsWhen<Row>(
      sql`SELECT source_id, step, reason, kept FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} ORDER BY source_id`,
      (rows) => rows.length === 4 && rows.filter((r) => Number(r.kept) === 1).length === 2,
    );
    expect(decisions.map((d) => d.source_id).sort()).toEqual(generated.map((e) => e.key).sort());
    expect(decisions.filter((d) => Number(d.kept) === 0).map((d) => `${d.step}:${d.reason}`)).toEqual(['quota:over-quota', 'quota:over-quota']);
    const provenance = await kit.rowsWhen<{ provenance_prompt: string; provenance_seed: string }>(
      sql`SELECT provenance_prompt, provenance_seed FROM samples FINAL WHERE shift_id = ${started.jobId}`,
      (rows) => rows.length === 2,
    );
    expect(provenance.map((p) => p.provenance_prompt).sort()).toEqual(samples.map((s) => s.prompt).sort());
    expect(provenance.every((p) => ['1', '2'].includes(String(p.provenance_seed)))).toBe(true);
  }, 420_000);

  it('sd-img2img: one variation per reference image, the label inherited from the reference', async () => {
    const references = join(dir, 'references');
    const svg = (fill: string) => Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="${fill}"/></svg>`);
    for (const [wnid, fill] of [[TENCH, 'green'], [BANANA, 'yellow']] as const) {
      await mkdir(join(references, wnid), { recursive: true });
      await writeFile(join(references, wnid, 'ref.png'), await renderSvg(svg(fill), 32));
    }
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'sd-variations',
      wnids: [TENCH, BANANA],
      steps: [{ name: 'sd-img2img', paramsJson: JSON.stringify({ model: 'tiny-sd-variations', referenceUri: references, ...TINY, workDir: join(dir, 'work') }) }],
      gateOverrideReason: 'tiny-sd test: random weights, nothing to be contaminated with',
    });
    const job = await waitForJob(client, started.jobId, 300_000);
    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    const samples = await publishedSamples(started.outputUri);
    expect(samples.map((s) => [s.extra['generatedFrom'], s.wnid, s.seed]).sort()).toEqual([
      [`${TENCH}/ref.png`, TENCH, 1],
      [`${BANANA}/ref.png`, BANANA, 1],
    ]);
  }, 420_000);

  it('refuses a pool next to a generating strategy, and a bad shift pool, up front', async () => {
    const sdStep = { name: 'sd-txt2img', paramsJson: JSON.stringify({ model: 'tiny-sd', imagesPerClass: 1, ...TINY }) };
    await expect(
      unary(client, 'StartCuration', { shiftName: 'x', wnids: [TENCH], pool: { uri: dir, format: 'shift' }, steps: [sdStep], gateOverrideReason: 'test' }),
    ).rejects.toThrow(/INVALID_ARGUMENT.*sd-txt2img generates its own pool.*leave pool.uri and pool.format empty/);
    const textStep = { name: 'substring-match', paramsJson: '{}' };
    await expect(unary(client, 'StartCuration', { shiftName: 'x', pool: { uri: join(dir, 'nowhere'), format: 'shift' }, steps: [textStep] })).rejects.toThrow(
      /INVALID_ARGUMENT.*nowhere does not exist/,
    );
    await expect(unary(client, 'StartCuration', { shiftName: 'x', pool: { uri: dir, format: 'shift' }, steps: [textStep] })).rejects.toThrow(
      /INVALID_ARGUMENT.*is not a shift folder: it has no _info.json/,
    );
  });
});
