// Filter 9: semantic de-duplication (SemDeDup) over the whole build: k-means on a sample of the image
// embeddings, assignment in a stream, pairs above 1 - eps inside a cluster are duplicates; the keep rule
// and order are parameters. Removed pairs go to semdedup_pairs.csv in the shift folder.
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxSimilarityKernel, SEMDEDUP_ORDERS, SEMDEDUP_RULES, semDeDupPool, type DuplicateRemoval } from '@select/curation-filters';
import { ServiceError, type GenericServiceClient } from '@select/platform';
import type { Candidate, Decision, GlobalStep, StepContext, StepDefinition } from '../chain/step.js';
import { candidateKey, dropDecision } from './candidate-key.js';
import { EmbeddingSpill } from './embedding-spill.js';
import { describeEmbeddingModel, embedCandidateImages, requireClient } from './service-calls.js';

export const SEMDEDUP = 'semdedup';

export const semdedupDefinition: StepDefinition = {
  name: SEMDEDUP,
  role: 'filter',
  description:
    'Semantic de-duplication (SemDeDup): spherical k-means over the image embeddings, then within each cluster pairs with cosine > 1 - eps are duplicates; ' +
    'one-per-group keeps one member of each duplicate group (by the keep order), semdedup applies the paper code\'s rule. Removed pairs are written to semdedup_pairs.csv.',
  paperShift: '',
  poolFormats: [],
  params: {
    model: { type: 'string', description: 'embedding service model with an image tower (used for candidates that carry no image embedding yet)', required: true },
    eps: { type: 'number', description: 'duplicates: cosine > 1 - eps', default: 0.05, min: 0, exclusiveMin: true, max: 0.999 },
    clusters: { type: 'integer', description: 'k-means clusters; 0: ceil(candidates / 1000)', default: 0, min: 0, max: 1_000_000 },
    rule: { type: 'string', description: 'one-per-group | semdedup', enum: SEMDEDUP_RULES, default: 'one-per-group' },
    order: { type: 'string', description: 'which member a group keeps first: nearest-centroid | farthest-centroid | highest-score | input', enum: SEMDEDUP_ORDERS, default: 'nearest-centroid' },
    iterations: { type: 'integer', description: 'k-means iterations at most', default: 20, min: 1, max: 1000 },
    sampleSize: { type: 'integer', description: 'embeddings k-means trains on; 0: 256 per cluster', default: 0, min: 0 },
    maxClusterMiB: { type: 'integer', description: 'warn when one cluster holds more vectors than this', default: 1024, min: 1 },
    batchSize: { type: 'integer', description: 'images per embedding round trip', default: 64, min: 1, max: 1024 },
  },
  async validate(params, env) {
    await describeEmbeddingModel(env, SEMDEDUP, String(params['model']), ['image']);
  },
  async create(params, env) {
    const info = await describeEmbeddingModel(env, SEMDEDUP, String(params['model']), ['image']);
    return new SemDeDupStep(params, requireClient(env, 'embedding', SEMDEDUP), info.name);
  },
};

class SemDeDupStep implements GlobalStep {
  readonly scope = 'build' as const;
  readonly name = SEMDEDUP;

  constructor(
    readonly params: Readonly<Record<string, unknown>>,
    private readonly client: GenericServiceClient,
    private readonly model: string,
  ) {}

  async run(candidates: () => AsyncIterable<Candidate>, ctx: StepContext, drop: (decision: Decision) => void): Promise<void> {
    const work = await mkdtemp(join(tmpdir(), 'select-semdedup-'));
    const kernel = await OnnxSimilarityKernel.open();
    try {
      // 1. one embedding per candidate, spilled to disk (candidates that carry one are not embedded again)
      const spill = new EmbeddingSpill(join(work, 'embeddings.bin'));
      const failed = new Map<string, string>();
      let batch: Candidate[] = [];
      const flush = async (): Promise<void> => {
        const missing = batch.filter((c) => c.embeddings?.image === undefined);
        const embedded = await embedCandidateImages(this.client, this.model, missing, ctx);
        const byKey = new Map(missing.map((c, i) => [candidateKey(c), embedded[i]!]));
        for (const c of batch) {
          const vector = c.embeddings?.image ?? byKey.get(candidateKey(c))!;
          if (vector instanceof Error) failed.set(candidateKey(c), `embedding-error: ${vector.message}`);
          else await spill.append({ id: candidateKey(c), vector, ...(c.score !== undefined ? { score: c.score } : {}) });
        }
        batch = [];
      };
      for await (const c of candidates()) {
        batch.push(c);
        if (batch.length >= Number(this.params['batchSize'])) await flush();
      }
      await flush();
      await spill.close();
      if (spill.rows === 0) {
        ctx.logger.warn({ step: SEMDEDUP, failed: failed.size }, 'semdedup: no candidate has an embedding; nothing to de-duplicate');
      }

      // 2. SemDeDup over the spilled embeddings
      const removed = new Map<string, DuplicateRemoval & { cluster: number }>();
      if (spill.rows > 0) {
        const requested = Number(this.params['clusters']);
        const clusters = Math.min(spill.rows, requested > 0 ? requested : Math.ceil(spill.rows / 1000));
        const order = String(this.params['order']) as (typeof SEMDEDUP_ORDERS)[number];
        if (order === 'highest-score' && spill.unscored > 0) {
          throw ServiceError.failedPrecondition(`${SEMDEDUP}: order highest-score needs a score on every candidate; ${spill.unscored} have none (run clip-score first)`);
        }
        const sampleSize = Number(this.params['sampleSize']);
        const summary = await semDeDupPool(
          () => spill.read(),
          {
            clusters,
            eps: Number(this.params['eps']),
            rule: String(this.params['rule']) as (typeof SEMDEDUP_RULES)[number],
            order,
            iterations: Number(this.params['iterations']),
            seed: ctx.seed,
            ...(sampleSize > 0 ? { sampleSize } : {}),
            spillDir: join(work, 'partitions'),
            maxClusterBytes: Number(this.params['maxClusterMiB']) * 2 ** 20,
          },
          kernel,
          {
            signal: ctx.signal,
            onWarning: (message) => ctx.logger.warn({ step: SEMDEDUP }, message),
            onCluster: (cluster, result) => {
              for (const r of result.removed) removed.set(r.id, { ...r, cluster });
            },
          },
        );
        ctx.logger.info(
          { step: SEMDEDUP, rows: summary.rows, clusters, removed: summary.removed, pairs: summary.duplicatePairs, kmeansIterations: summary.training.iterations },
          'semdedup done',
        );
        await mkdir(ctx.sideDir, { recursive: true });
        await writePairs(join(ctx.sideDir, 'semdedup_pairs.csv'), removed);
      }

      // 3. decisions
      for await (const c of candidates()) {
        const key = candidateKey(c);
        const failure = failed.get(key);
        const r = removed.get(key);
        if (failure !== undefined) drop(dropDecision(SEMDEDUP, c, failure));
        else if (r !== undefined) drop(dropDecision(SEMDEDUP, c, 'semantic-duplicate', r.similarity));
      }
    } finally {
      await kernel.close();
      await rm(work, { recursive: true, force: true });
    }
  }
}

async function writePairs(path: string, removed: ReadonlyMap<string, DuplicateRemoval & { cluster: number }>): Promise<void> {
  const out = createWriteStream(path);
  const quote = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  out.write('removed,matched,kept,similarity,cluster\n');
  for (const r of [...removed.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    out.write(`${quote(r.id)},${quote(r.matchedId)},${quote(r.keptId)},${r.similarity.toFixed(6)},${r.cluster}\n`);
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

