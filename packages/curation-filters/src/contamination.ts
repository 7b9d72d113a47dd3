// The contamination gate's matching: every sample of a shift against every registered evaluation set,
// by exact content hash (sha256 of the image bytes) and by embedding near-duplicate search.
import { createHash } from 'node:crypto';
import { CurationFilterError, invalidArgument } from './errors.js';
import type { SimilarityKernel } from './similarity-kernel.js';
import { normalizeRows, type Matrix } from './vectors.js';

/**
 * Cosine similarity at or above which a sample is a near-duplicate of an evaluation image. 0.95 sits
 * between SemDeDup's tightest published ε (0.01..0.07 → 0.93..0.99, where the removed pairs are copies
 * and light edits) and the similarity of different photographs of one class, so it catches resized,
 * re-encoded and lightly cropped copies while two pictures of the same object stay apart. It belongs to
 * the embedding model: calibrate it when the model changes (see the README).
 */
export const DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.95;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface GateItem {
  id: string;
  /** Hex sha256 of the image bytes; computed from `bytes` when absent. */
  sha256?: string;
  bytes?: Uint8Array;
  /**
   * Samples only: hex sha256 of the same image in other encodings, such as the JPEG a shift stores it as (a pool's
   * SVG or PNG is published re-encoded, so an evaluation set made from a shift holds other bytes than the pool). A
   * match on any of them is an exact match.
   */
  alsoSha256?: readonly string[];
  /** Image embedding (any scale: normalised here); needed for the near-duplicate check. */
  embedding?: Float32Array;
}

export interface ContaminationMatch {
  sampleId: string;
  set: string;
  evaluationId: string;
  kind: 'exact' | 'near-duplicate';
  /** Cosine similarity of the embeddings; 1 for an exact match. */
  similarity: number;
}

export interface EvaluationSetSummary {
  name: string;
  items: number;
  withEmbedding: number;
}

export interface ContaminationGateOptions {
  /** @default DEFAULT_NEAR_DUPLICATE_THRESHOLD (0.95) */
  nearDuplicateThreshold?: number;
}

const SHA256 = /^[0-9a-f]{64}$/;

interface EvaluationSet {
  name: string;
  ids: string[];
  items: number;
  embeddings?: Matrix;
}

/** Evaluation sets registered once; `check` tells for each sample which of them it duplicates. */
export class ContaminationGate {
  readonly nearDuplicateThreshold: number;
  private readonly sets = new Map<string, EvaluationSet>();
  private readonly hashes = new Map<string, Array<{ set: string; id: string }>>();
  private dim = -1;

  constructor(options: ContaminationGateOptions = {}) {
    const threshold = options.nearDuplicateThreshold ?? DEFAULT_NEAR_DUPLICATE_THRESHOLD;
    if (!(threshold > 0 && threshold <= 1)) throw invalidArgument(`contamination gate: nearDuplicateThreshold must be in (0, 1], got ${threshold}`);
    this.nearDuplicateThreshold = threshold;
  }

  /** Registers an evaluation set; a name can be registered once. Items without an embedding are matched by hash only. */
  registerSet(name: string, items: Iterable<GateItem>): EvaluationSetSummary {
    if (name.length === 0) throw invalidArgument('contamination gate: an evaluation set needs a name');
    if (this.sets.has(name)) throw invalidArgument(`contamination gate: evaluation set ${name} is already registered`);
    const ids: string[] = [];
    const vectors: Float32Array[] = [];
    const vectorIds: string[] = [];
    let count = 0;
    for (const item of items) {
      count++;
      const hash = hashOf(item, `evaluation set ${name}`);
      const list = this.hashes.get(hash) ?? [];
      list.push({ set: name, id: item.id });
      this.hashes.set(hash, list);
      if (item.embedding !== undefined) {
        if (this.dim < 0) this.dim = item.embedding.length;
        if (item.embedding.length !== this.dim) {
          throw invalidArgument(`contamination gate: ${name}/${item.id} has a ${item.embedding.length}-dimensional embedding; the gate holds ${this.dim}-dimensional ones`);
        }
        vectors.push(item.embedding);
        vectorIds.push(item.id);
      }
    }
    if (count === 0) throw invalidArgument(`contamination gate: evaluation set ${name} is empty`);
    ids.push(...vectorIds);
    let embeddings: Matrix | undefined;
    if (vectors.length > 0) {
      embeddings = { data: new Float32Array(vectors.length * this.dim), rows: vectors.length, dim: this.dim };
      vectors.forEach((v, i) => embeddings!.data.set(v, i * this.dim));
      normalizeRows(embeddings, `${name} embedding`);
    }
    this.sets.set(name, { name, ids, items: count, ...(embeddings ? { embeddings } : {}) });
    return { name, items: count, withEmbedding: vectors.length };
  }

  registered(): EvaluationSetSummary[] {
    return [...this.sets.values()].map((s) => ({ name: s.name, items: s.items, withEmbedding: s.embeddings?.rows ?? 0 }));
  }

  /** Embedding dimension of the registered sets (-1 before any embedding). */
  get dimension(): number {
    return this.dim;
  }

  /**
   * Every match of every sample: exact hash matches (one per evaluation image with the same bytes) and,
   * per evaluation set, the most similar evaluation image when it is at or above the threshold.
   * Samples without an embedding are checked by hash only.
   */
  async check(samples: readonly GateItem[], kernel: SimilarityKernel): Promise<ContaminationMatch[]> {
    if (this.sets.size === 0) throw new CurationFilterError('FAILED_PRECONDITION', 'contamination gate: no evaluation set is registered');
    const matches: ContaminationMatch[] = [];
    const embedded: number[] = [];
    samples.forEach((sample, i) => {
      const seen = new Set<string>();
      for (const hash of [hashOf(sample, 'sample'), ...(sample.alsoSha256 ?? []).map((h) => checkedHash(h, `sample ${sample.id}`))]) {
        for (const hit of this.hashes.get(hash) ?? []) {
          const key = `${hit.set}\u0000${hit.id}`;
          if (seen.has(key)) continue;
          seen.add(key);
          matches.push({ sampleId: sample.id, set: hit.set, evaluationId: hit.id, kind: 'exact', similarity: 1 });
        }
      }
      if (sample.embedding !== undefined) {
        if (this.dim >= 0 && sample.embedding.length !== this.dim) {
          throw invalidArgument(`contamination gate: sample ${sample.id} has a ${sample.embedding.length}-dimensional embedding; the evaluation sets are ${this.dim}-dimensional`);
        }
        embedded.push(i);
      }
    });
    if (embedded.length > 0 && this.dim > 0) {
      const queries: Matrix = { data: new Float32Array(embedded.length * this.dim), rows: embedded.length, dim: this.dim };
      embedded.forEach((s, i) => queries.data.set(samples[s]!.embedding!, i * this.dim));
      normalizeRows(queries, 'sample embedding');
      for (const set of this.sets.values()) {
        if (set.embeddings === undefined) continue;
        const { index, score } = await kernel.nearest(queries, set.embeddings);
        for (let i = 0; i < embedded.length; i++) {
          if (score[i]! >= this.nearDuplicateThreshold) {
            matches.push({ sampleId: samples[embedded[i]!]!.id, set: set.name, evaluationId: set.ids[index[i]!]!, kind: 'near-duplicate', similarity: score[i]! });
          }
        }
      }
    }
    return matches;
  }
}

/** Matches per evaluation set and kind, for the gate's report. */
export function summarizeMatches(matches: readonly ContaminationMatch[]): Record<string, { exact: number; nearDuplicate: number; samples: number }> {
  const out: Record<string, { exact: number; nearDuplicate: number; samples: Set<string> }> = {};
  for (const m of matches) {
    const entry = (out[m.set] ??= { exact: 0, nearDuplicate: 0, samples: new Set() });
    if (m.kind === 'exact') entry.exact++;
    else entry.nearDuplicate++;
    entry.samples.add(m.sampleId);
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { exact: v.exact, nearDuplicate: v.nearDuplicate, samples: v.samples.size }]));
}

function hashOf(item: GateItem, what: string): string {
  if (item.sha256 !== undefined) return checkedHash(item.sha256, `${what} ${item.id}`);
  if (item.bytes !== undefined) return sha256Hex(item.bytes);
  throw invalidArgument(`contamination gate: ${what} ${item.id} has neither image bytes nor a sha256`);
}

function checkedHash(sha256: string, whose: string): string {
  const hash = sha256.toLowerCase();
  if (!SHA256.test(hash)) throw invalidArgument(`contamination gate: ${whose} has a malformed sha256 (${sha256})`);
  return hash;
}
