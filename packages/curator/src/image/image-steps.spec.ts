// The image strategies and filters against real embedding and retrieval services (child processes on
// port 0) with the tiny random-weight CLIP fixture, on a small real openclipart pool. With random
// weights the similarities mean nothing about content; the assertions are about what holds for any
// weights: identical pixels give similarity 1, every candidate gets exactly one outcome, rules and
// quotas are obeyed, bad input is refused up front.
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate, Decision, GlobalStep, ChainStep, StepEnvironment } from '../chain/step.js';
import { createStepRegistry } from '../steps.js';
import { CONTAMINATION, requireContaminationGate } from './contamination-step.js';
import { listEvaluationSets, registerEvaluationSet } from './evaluation-sets.js';
import { preparePoolIndex } from './pool-index.js';
import { SD_TXT2IMG, generatedPool } from './sd-generation.js';
import {
  TINY_CLIP,
  context,
  environment,
  labelSpace,
  openClipartCandidates,
  shiftCandidates,
  renderedPng,
  runGlobal,
  smallOpenClipartPool,
  startImageServices,
  writePng,
  type ImageServices,
} from './image-services.test-util.js';

const TENCH = 'n01440764';
const CHIHUAHUA = 'n02085620';
const BANANA = 'n07753592';

let services: ImageServices;
let pool: Awaited<ReturnType<typeof smallOpenClipartPool>>;
let env: StepEnvironment;
const registry = createStepRegistry();

beforeAll(async () => {
  services = await startImageServices();
  pool = await smallOpenClipartPool(services.dir);
  env = environment(services, labelSpace([TENCH, CHIHUAHUA, BANANA]), pool.root);
}, 180_000);
afterAll(async () => services?.close());

async function create(name: string, params: Record<string, unknown>, e: StepEnvironment = env): Promise<ChainStep | GlobalStep> {
  const resolved = registry.resolveParams(name, params);
  const definition = registry.get(name);
  await definition.validate?.(resolved, e);
  return definition.create(resolved, e);
}

/** Every candidate ends kept or with exactly one drop decision of this step. */
function expectOneOutcomeEach(candidates: Candidate[], kept: Candidate[], dropped: Decision[], step: string): void {
  const ids = [...kept.map((c) => c.sourceId), ...dropped.map((d) => d.sourceId)].sort();
  expect(ids).toEqual(candidates.map((c) => c.sourceId).sort());
  for (const d of dropped) expect(d).toMatchObject({ step, kept: false });
}

describe('image strategies', () => {
  it('4: image-to-image retrieval labels the pool images its references find, each once', async () => {
    // references: PNG renderings of three pool SVGs (the way the pool's dataset job renders them), in wnid folders
    const refs = join(services.dir, 'references');
    const picks: Array<[string, string]> = [
      [TENCH, pool.files.find((f) => f.startsWith('animals/') && !f.includes('-copy'))!],
      [BANANA, pool.files.find((f) => f.startsWith('food/') && !f.includes('-copy'))!],
      [CHIHUAHUA, pool.files.find((f) => f.startsWith('buildings/'))!],
    ];
    for (const [wnid, file] of picks) await writePng(join(refs, wnid, `${file.replace(/[/.]/g, '_')}.png`), await renderedPng(join(pool.root, file)));
    const step = (await create('image-retrieval', { model: TINY_CLIP, referenceUri: refs, k: 1, minSimilarity: 0.999, exact: true, workDir: join(services.dir, 'work') })) as ChainStep;
    const candidates = await openClipartCandidates(pool.root);
    const ctx = context(env, services.dir);
    const { kept, dropped } = await step.process(candidates, ctx);
    expectOneOutcomeEach(candidates, kept, dropped, 'image-retrieval');
    // identical pixels: every reference finds its own pool image at similarity ~1 and labels it with its wnid
    // (a planted byte-identical copy ties at the same similarity; the claim takes the nearer id either way)
    expect(kept).toHaveLength(3);
    for (const [wnid, file] of picks) {
      const got = kept.find((c) => c.sourceId === file || c.sourceId === file.replace('.svg', '-copy.svg'));
      expect(got, file).toBeDefined();
      expect(got!.wnid).toBe(wnid);
      expect(got!.score).toBeGreaterThan(0.999);
      expect(got!.metadata?.['reference']).toMatch(new RegExp(`^${wnid}/`));
    }
    expect(dropped.every((d) => d.reason === 'not-retrieved')).toBe(true);
  }, 120_000);

  it('5: text-to-image retrieval fills each selected class from prompt queries, no pool image twice', async () => {
    for (const prompts of ['imagenet-80', 'single'] as const) {
      const step = (await create('text-retrieval', { model: TINY_CLIP, prompts, perClass: 4, exact: true, workDir: join(services.dir, 'work') })) as ChainStep;
      const candidates = await openClipartCandidates(pool.root);
      const { kept, dropped } = await step.process(candidates, context(env, services.dir));
      expectOneOutcomeEach(candidates, kept, dropped, 'text-retrieval');
      const perClass = new Map<string, number>();
      for (const c of kept) perClass.set(c.wnid!, (perClass.get(c.wnid!) ?? 0) + 1);
      expect([...perClass.keys()].every((w) => [TENCH, CHIHUAHUA, BANANA].includes(w))).toBe(true);
      expect([...perClass.values()].every((n) => n <= 4)).toBe(true);
      // 3 classes x 4 queries over 26 images: whatever the random weights, contested images are given once,
      // so at least 4 (one class's full quota) and at most 12 are kept
      expect(kept.length).toBeGreaterThanOrEqual(4);
      expect(kept.length).toBeLessThanOrEqual(12);
      for (const c of kept) expect(Math.abs(c.score!)).toBeLessThanOrEqual(1.0001);
    }
  }, 180_000);

  it('a build that reads only the pool\'s first records embeds and indexes only those, in an index of their own', async () => {
    const signal = new AbortController().signal;
    const workDir = join(services.dir, 'work');
    const whole = await preparePoolIndex(env, 'image-retrieval', TINY_CLIP, 16, workDir, signal);
    const first = await preparePoolIndex({ ...env, poolLimit: 5 }, 'image-retrieval', TINY_CLIP, 16, workDir, signal);
    expect(whole.size).toBe(pool.files.length);
    expect(first.size).toBe(5);
    expect(first.index).not.toBe(whole.index);
    // the same limit again is the same index (a rerun, another worker)
    expect((await preparePoolIndex({ ...env, poolLimit: 5 }, 'image-retrieval', TINY_CLIP, 16, workDir, signal)).index).toBe(first.index);
  }, 120_000);

  it('6: SD txt2img drives a generation batch job and labels its images by the prompted class', async () => {
    const params = { model: 'tiny-sd', imagesPerClass: 2, width: 64, height: 64, workDir: join(services.dir, 'work') };
    const pool = await generatedPool(SD_TXT2IMG, registry.resolveParams(SD_TXT2IMG, params), env);
    expect(pool.format).toBe('shift');
    const step = (await create(SD_TXT2IMG, params)) as ChainStep;
    const candidates = await shiftCandidates(pool.uri);
    expect(candidates).toHaveLength(6);
    const { kept, dropped } = await step.process(candidates, context(env, services.dir));
    expect(dropped).toEqual([]);
    // seeds 1..2 for each of the three selected classes, label = the prompted class
    expect(kept.map((c) => `${c.wnid}:${c.seed}`).sort()).toEqual([`${TENCH}:1`, `${TENCH}:2`, `${CHIHUAHUA}:1`, `${CHIHUAHUA}:2`, `${BANANA}:1`, `${BANANA}:2`]);
    for (const c of kept) {
      expect(c.image?.format).toMatch(/^(png|jpe?g|webp)$/);
      expect(c.image?.bytes?.length).toBeGreaterThan(100);
    }
    // the generated images go on through the chain like any other source: CLIP score on them
    const clip = (await create('clip-score', { model: TINY_CLIP, threshold: -1 })) as ChainStep;
    const captioned = kept.map((c) => ({ ...c, caption: `A photo of ${c.wnid}` }));
    const scored = await clip.process(captioned, context(env, services.dir));
    expect(scored.kept).toHaveLength(6);
    // the same request is the same job: a second run reuses the shift
    expect((await generatedPool(SD_TXT2IMG, registry.resolveParams(SD_TXT2IMG, params), env)).uri).toBe(pool.uri);
  }, 180_000);
});

describe('image filters', () => {
  it('8: CLIP score keeps at or above the threshold, and exactly the top fraction build-wide', async () => {
    const candidates = await openClipartCandidates(pool.root);
    const ctx = context(env, services.dir);
    const threshold = (await create('clip-score', { model: TINY_CLIP, threshold: 0 })) as ChainStep;
    const { kept, dropped } = await threshold.process(candidates, ctx);
    expectOneOutcomeEach(candidates, kept, dropped, 'clip-score');
    for (const c of kept) {
      expect(c.score).toBeGreaterThanOrEqual(0);
      expect(c.embeddings?.image).toHaveLength(16);
      expect(c.modelIds?.['clip']).toMatch(/^tiny-clip@[0-9a-f]{12}$/);
    }
    for (const d of dropped) {
      expect(d.reason).toBe('below-threshold');
      expect(d.score).toBeLessThan(0);
    }
    const top = (await create('clip-score', { model: TINY_CLIP, topFraction: 0.3 })) as GlobalStep;
    const fresh = await openClipartCandidates(pool.root);
    const topDropped = await runGlobal(top, fresh, ctx);
    expect(fresh.length - topDropped.length).toBe(Math.ceil(0.3 * fresh.length));
    const keptScores = fresh.filter((c) => !topDropped.some((d) => d.sourceId === c.sourceId)).map((c) => c.embeddings!);
    expect(keptScores).toHaveLength(Math.ceil(0.3 * fresh.length));
    const worstKept = Math.min(...fresh.filter((c) => !topDropped.some((d) => d.sourceId === c.sourceId)).map((c) => scoreOf(c)));
    for (const d of topDropped) expect(d.score).toBeLessThanOrEqual(worstKept);
  }, 120_000);

  it('9: SemDeDup removes one of each planted byte-identical pair and records the pair', async () => {
    const sideDir = await mkdtemp(join(services.dir, 'side-'));
    const step = (await create('semdedup', { model: TINY_CLIP, eps: 1e-4, clusters: 3, order: 'input' })) as GlobalStep;
    const candidates = await openClipartCandidates(pool.root);
    const dropped = await runGlobal(step, candidates, context(env, sideDir, 7));
    const removed = new Set(dropped.map((d) => d.sourceId));
    for (const [original, copy] of pool.copies) {
      expect(removed.has(original) !== removed.has(copy), `${original} / ${copy}`).toBe(true);
    }
    for (const d of dropped) expect(d).toMatchObject({ step: 'semdedup', reason: 'semantic-duplicate' });
    const pairs = (await readFile(join(sideDir, 'semdedup_pairs.csv'), 'utf8')).trim().split('\n');
    expect(pairs[0]).toBe('removed,matched,kept,similarity,cluster');
    expect(pairs).toHaveLength(dropped.length + 1);
    for (const [original, copy] of pool.copies) {
      const row = pairs.find((l) => l.startsWith(`${original},`) || l.startsWith(`${copy},`));
      expect(row, original).toBeDefined();
      expect(row!.split(',').slice(0, 2).sort()).toEqual([original, copy].sort());
      expect(Number(row!.split(',')[3])).toBeGreaterThan(0.9999);
    }
  }, 120_000);

  it('10: the contamination gate drops exact and near-duplicate copies of a registered evaluation set, per set', async () => {
    const registryDir = join(services.dir, 'eval-registry');
    // "val": two pool SVGs byte for byte (exact) ; "sketch": a PNG rendering of a third (near-duplicate, other bytes)
    const exact = pool.files.filter((f) => f.startsWith('food/') && !f.includes('-copy')).slice(1, 3);
    const near = pool.files.filter((f) => f.startsWith('buildings/'))[2]!;
    const val = await registerEvaluationSet({
      registry: registryDir,
      name: 'val',
      source: { files: exact.map((f) => ({ id: f, path: join(pool.root, f) })), description: 'two pool files' },
      model: TINY_CLIP,
      modelId: 'tiny-clip',
      embedding: services.embedding,
      signal: new AbortController().signal,
    });
    expect(val).toMatchObject({ name: 'val', items: 2, withoutEmbedding: 0, dimension: 16 });
    const sketchDir = join(services.dir, 'sketch');
    await writePng(join(sketchDir, CHIHUAHUA, 'near.png'), await renderedPng(join(pool.root, near)));
    await registerEvaluationSet({ registry: registryDir, name: 'sketch', source: { imagesDir: sketchDir }, model: TINY_CLIP, modelId: 'tiny-clip', embedding: services.embedding, signal: new AbortController().signal });
    // registering the same set again is a no-op; from another source it is refused
    await expect(
      registerEvaluationSet({ registry: registryDir, name: 'sketch', source: { imagesDir: refsOr(sketchDir) }, model: 'tiny-resnet', modelId: 'x', embedding: services.embedding, signal: new AbortController().signal }),
    ).rejects.toThrow(/already registered/);

    const sideDir = await mkdtemp(join(services.dir, 'side-'));
    const step = (await create(CONTAMINATION, { registry: registryDir })) as GlobalStep;
    const candidates = await openClipartCandidates(pool.root);
    const dropped = await runGlobal(step, candidates, context(env, sideDir));
    const bySource = new Map(dropped.map((d) => [d.sourceId, d]));
    for (const f of exact) expect(bySource.get(f)?.reason).toBe('contaminated-exact:val');
    expect(bySource.get(near)?.reason).toBe('contaminated-near:sketch');
    expect(bySource.get(near)!.score).toBeGreaterThan(0.999);
    const report = JSON.parse(await readFile(join(sideDir, 'contamination_report.json'), 'utf8')) as { perSet: Record<string, { exact: number; nearDuplicate: number }>; checked: number };
    expect(report.checked).toBe(candidates.length);
    expect(report.perSet['val']!.exact).toBe(2);
    expect(report.perSet['sketch']!.nearDuplicate).toBeGreaterThanOrEqual(1);
    // an evaluation folder given directly is registered on first use and reused after
    // (threshold 0.9999: the random-weight tiny CLIP puts many unrelated clip-art images above 0.95)
    const folderGate = { evalSets: [sketchDir], model: TINY_CLIP, registry: join(services.dir, 'eval-registry-folders'), threshold: 0.9999 };
    for (let run = 0; run < 2; run++) {
      const again = await runGlobal((await create(CONTAMINATION, folderGate)) as GlobalStep, await openClipartCandidates(pool.root), context(env, sideDir));
      expect(again.map((d) => [d.sourceId, d.reason.replace(/:.*/, '')])).toEqual([[near, 'contaminated-near']]);
    }
    // the folder gains an image: it is registered anew (another name), and the gate checks what it holds now
    const near2 = pool.files.filter((f) => f.startsWith('buildings/'))[4]!;
    await writePng(join(sketchDir, CHIHUAHUA, 'near2.png'), await renderedPng(join(pool.root, near2)));
    const grown = await runGlobal((await create(CONTAMINATION, folderGate)) as GlobalStep, await openClipartCandidates(pool.root), context(env, sideDir));
    expect(grown.map((d) => d.sourceId).sort()).toEqual([near, near2].sort());
    expect(new Set(grown.map((d) => d.reason)).size).toBe(1);
    expect(await listEvaluationSets(folderGate.registry)).toHaveLength(2);
    await invalid(create(CONTAMINATION, { evalSets: [sketchDir] }), /evalSets folders are registered with an embedding model; give params.model/);
    // a chain without the gate publishes only with a recorded reason
    expect(() => requireContaminationGate(['substring-match'], undefined)).toThrow(/published only after the contamination-gate step/);
    expect(requireContaminationGate(['substring-match'], 'pool is disjoint from every evaluation set by construction')).toEqual({
      gated: false,
      overrideReason: 'pool is disjoint from every evaluation set by construction',
    });
  }, 120_000);

  it('11: quotas cap every class in score order', async () => {
    const candidates = (await openClipartCandidates(pool.root)).map((c, i) => ({ ...c, classIndex: i % 2, score: (i * 37) % 11 }));
    const step = (await create('quota', { mode: 'cap', perClass: 3 })) as GlobalStep;
    const dropped = await runGlobal(step, candidates, context(env, services.dir));
    const kept = candidates.filter((c) => !dropped.some((d) => d.sourceId === c.sourceId));
    for (const cls of [0, 1]) {
      const inClass = candidates.filter((c) => c.classIndex === cls);
      const best = [...inClass].sort((a, b) => b.score - a.score || (a.sourceId < b.sourceId ? -1 : 1)).slice(0, 3);
      expect(kept.filter((c) => c.classIndex === cls).map((c) => c.sourceId).sort()).toEqual(best.map((c) => c.sourceId).sort());
    }
    expect(dropped.every((d) => d.reason === 'over-quota')).toBe(true);
  });
});

describe('bad input is refused up front', () => {
  it('reference sets with unknown wnids or no labels, models lacking a modality, empty pools, parameters out of range', async () => {
    const refs = join(services.dir, 'bad-refs');
    await writePng(join(refs, 'n99999999', 'x.png'), await renderedPng(join(pool.root, pool.files[0]!)));
    await invalid(create('image-retrieval', { model: TINY_CLIP, referenceUri: refs }), /not ImageNet-1k wnids: n99999999/);
    const loose = join(services.dir, 'loose-refs');
    await writePng(join(loose, 'x.png'), await renderedPng(join(pool.root, pool.files[0]!)));
    await invalid(create('image-retrieval', { model: TINY_CLIP, referenceUri: loose }), /has no labels: expected one folder per wnid/);
    await invalid(create('text-retrieval', { model: 'tiny-resnet' }), /model tiny-resnet has no text tower/);
    await invalid(create('semdedup', { model: 'tiny-sentence' }), /model tiny-sentence has no image tower/);
    await invalid(create('clip-score', { model: 'no-such-model', threshold: 0.3 }), /has no model "no-such-model"/);
    expect(() => registry.resolveParams('semdedup', { model: TINY_CLIP, eps: 0 })).toThrow(/parameter "eps" must be > 0/);
    expect(() => registry.resolveParams('semdedup', { model: TINY_CLIP, eps: 1.5 })).toThrow(/parameter "eps" must be <= 0.999/);
    expect(() => registry.resolveParams('clip-score', { model: TINY_CLIP, threshold: 2 })).toThrow(/parameter "threshold" must be <= 1/);
    await invalid(create('clip-score', { model: TINY_CLIP, threshold: 0.2, topFraction: 0.3 }), /exactly one of threshold, topFraction and baseline/);
    await invalid(create('quota', { mode: 'counts', counts: ['n99999999=3'] }), /n99999999 is not an ImageNet-1k wnid/);
    const emptyRoot = join(services.dir, 'empty-pool');
    await writePng(join(emptyRoot, 'animals', 'not-an-svg.txt'), Buffer.from('x'));
    await invalid(create('text-retrieval', { model: TINY_CLIP, workDir: join(services.dir, 'work') }, environment(services, env.labels, emptyRoot)), /is empty/);
  }, 120_000);

  it('a contamination set embedded with other dimensions is a dimension mismatch', async () => {
    const registryDir = join(services.dir, 'eval-registry-2');
    await registerEvaluationSet({
      registry: registryDir,
      name: 'v2',
      source: { files: [{ id: 'a', path: join(pool.root, pool.files[0]!) }], description: 'one file' },
      model: TINY_CLIP,
      modelId: 'tiny-clip',
      embedding: services.embedding,
      signal: new AbortController().signal,
    });
    const infoPath = join(registryDir, 'v2', 'set.json');
    const info = JSON.parse(await readFile(infoPath, 'utf8')) as { dimension: number };
    await writeFile(infoPath, JSON.stringify({ ...info, dimension: 512 }));
    await invalid(create(CONTAMINATION, { registry: registryDir }), /v2 holds 512-dimensional embeddings but model tiny-clip now gives 16/);
  }, 60_000);
});

function invalid(promise: Promise<unknown>, message: RegExp): Promise<void> {
  return expect(promise).rejects.toSatisfy((e: unknown) => e instanceof ServiceError && e.code === 3 /* INVALID_ARGUMENT */ && message.test(e.message));
}

function scoreOf(c: Candidate): number {
  const { image, text } = c.embeddings!;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < image!.length; i++) {
    ab += image![i]! * text![i]!;
    aa += image![i]! ** 2;
    bb += text![i]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

function refsOr(dir: string): string {
  return `${dir}-elsewhere`;
}
