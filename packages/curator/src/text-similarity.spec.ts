// Strategy 3 through the real embedding service (a child process on port 0, the committed tiny
// sentence-encoder fixture): the scores the curator records are the cosines a client computes from the
// service's own vectors, and the keep rule is "strictly above the threshold".
import { join } from 'node:path';
import { packageDefinition } from '@select/contracts';
import { sql } from '@select/metrics';
import { createGrpcClient, unary, type GenericServiceClient } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, writeSvgPool, type CurationKit } from './curation-test-kit.test-util.js';
import { FIXTURE_MODELS, startEmbeddingService } from './embedding-service.test-util.js';
import { synsetText } from './strategies/text-similarity.js';

const CAPTIONS = ['tench', 'a tench in a lake', 'big tench fishing trophy', 'goldfish', 'goldfish bowl on a table', 'small goldfish', 'tench fish in green water', 'goldfish cartoon'];

describe('text-similarity (strategy 3) after substring-match, through the embedding service', () => {
  let kit: CurationKit;
  let embedding: Awaited<ReturnType<typeof startEmbeddingService>>;
  let client: GenericServiceClient;
  let embedClient: GenericServiceClient;
  let root: string;

  beforeAll(async () => {
    kit = await startCurationKit('textsim');
    embedding = await startEmbeddingService(FIXTURE_MODELS);
    embedClient = createGrpcClient<GenericServiceClient>(packageDefinition('embedding'), 'select.embedding.v1.EmbeddingService', embedding.address);
    root = join(kit.dir, 'pool');
    writeSvgPool(root, CAPTIONS.map((title, i) => ({ path: `c/${String(i).padStart(2, '0')}.svg`, title })));
    ({ client } = await kit.startCurator({ localWorkers: 1, embeddingAddress: embedding.address }));
  }, 180_000);
  afterAll(async () => {
    embedClient?.close();
    await embedding?.stop();
    await kit?.cleanup();
  });

  it('records each caption\'s cosine to "<name> which is <definition>" and keeps exactly those strictly above the threshold', async () => {
    const imagenet = loadImageNetTaxonomy();
    const tench = imagenet.classByWnid('n01440764').index;
    const goldfish = imagenet.classByWnid('n01443537').index;
    expect(synsetText(tench)).toBe('tench which is freshwater dace-like game fish of Europe and western Asia noted for ability to survive outside water');

    // The oracle: cosines from the service's own vectors, computed here.
    const embed = async (texts: string[]) => (await unary<{ embeddings: Array<{ vector: number[] }> }>(embedClient, 'EmbedTexts', { model: 'tiny-sentence', texts })).embeddings.map((e) => e.vector);
    const [tenchText, goldfishText] = await embed([synsetText(tench), synsetText(goldfish)]);
    const captionVectors = await embed(CAPTIONS);
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);
    const expected = CAPTIONS.map((caption, i) => dot(captionVectors[i]!, caption.includes('tench') ? tenchText! : goldfishText!));
    const sorted = [...expected].sort((a, b) => a - b);
    // A threshold between two scores: half the captions pass.
    const threshold = (sorted[3]! + sorted[4]!) / 2;

    const started = await unary<{ jobId: string }>(client, 'StartCuration', {
      shiftName: 'la-txt2img-tiny',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: root, format: 'openclipart' },
      steps: [
        { name: 'substring-match', paramsJson: '{}' },
        { name: 'text-similarity', paramsJson: JSON.stringify({ model: 'tiny-sentence', threshold, batchSize: 3 }) },
      ],
      taskSize: 4,
    });
    const job = await waitForJob(client, started.jobId);
    expect(job.state).toBe('JOB_STATE_SUCCEEDED');
    expect(job.message).toMatch(/^4 samples in \d classes from 8 candidates \(4 dropped\)/);

    const rows = await kit.rowsWhen<{ source_id: string; step: string; kept: number; reason: string; score: number }>(
      sql`SELECT source_id, step, kept, reason, score FROM curation_decisions FINAL WHERE shift_id = ${started.jobId} ORDER BY source_id`,
      (r) => r.length === CAPTIONS.length,
    );
    rows.forEach((row, i) => {
      expect(row.score, CAPTIONS[i]).toBeCloseTo(expected[i]!, 5);
      expect(row.kept, CAPTIONS[i]).toBe(expected[i]! > threshold ? 1 : 0);
      expect(row.step).toBe('text-similarity');
      expect(row.reason).toBe(row.kept === 1 ? 'kept' : 'below-threshold');
    });
  });

  it('refuses a model the service does not have and a text model without a known threshold', async () => {
    const chain = (params: Record<string, unknown>) => ({
      shiftName: 'x',
      pool: { uri: root, format: 'openclipart' },
      steps: [{ name: 'substring-match', paramsJson: '{}' }, { name: 'text-similarity', paramsJson: JSON.stringify(params) }],
    });
    await expect(unary(client, 'StartCuration', chain({ model: 'no-such-model', threshold: 0.5 }))).rejects.toThrow(/INVALID_ARGUMENT.*no model "no-such-model"/);
    await expect(unary(client, 'StartCuration', chain({ model: 'tiny-sentence' }))).rejects.toThrow(/INVALID_ARGUMENT.*has no known threshold; give params.threshold/);
    await expect(unary(client, 'StartCuration', chain({ model: 'tiny-sentence', threshold: 1.5 }))).rejects.toThrow(/INVALID_ARGUMENT.*threshold" must be <= 1/);
    await expect(unary(client, 'StartCuration', chain({ model: 'tiny-resnet', threshold: 0.5 }))).rejects.toThrow(/INVALID_ARGUMENT.*tiny-resnet has no text tower/);
  });
});
