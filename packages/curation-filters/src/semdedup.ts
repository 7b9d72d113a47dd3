// Semantic de-duplication (SemDeDup, Abbas et al. 2023) inside one k-means cluster: pairs with cosine
// similarity above 1 - eps are duplicates; which members survive is the keep rule the caller chose.
import { invalidArgument } from './errors.js';
import type { EarlierMax, PairBlock, SetScan, SimilarityKernel } from './similarity-kernel.js';
import type { Matrix } from './vectors.js';

/**
 * - `one-per-group` (default): duplicates form groups (connected components of the "above 1 - eps"
 *   pairs); each group keeps exactly one member, the first in the keep order.
 * - `semdedup`: SemDeDup's published code: with the members in keep order, drop every member whose best
 *   similarity to an earlier member is above 1 - eps (`M = triu(S, 1).max(0); remove M > 1 - eps`). Not
 *   transitive: of a chain a~b~c with a, c apart it keeps a and c.
 */
export const SEMDEDUP_RULES = ['one-per-group', 'semdedup'] as const;
export type SemDeDupRule = (typeof SEMDEDUP_RULES)[number];

/**
 * Which member of a group comes first (is kept):
 * - `nearest-centroid` (default): the most typical member (highest cosine to the cluster centroid);
 * - `farthest-centroid`: SemDeDup's default ("keep hard": clusters sorted by descending distance);
 * - `highest-score`: the highest caller score (CLIP score), then nearest the centroid;
 * - `input`: the order the members were given in.
 * Every order breaks remaining ties by id (ascending), so the result never depends on arrival order.
 */
export const SEMDEDUP_ORDERS = ['nearest-centroid', 'farthest-centroid', 'highest-score', 'input'] as const;
export type SemDeDupOrder = (typeof SEMDEDUP_ORDERS)[number];

export interface SemDeDupOptions {
  /** Pairs with cosine similarity > 1 - eps are duplicates; 0 < eps < 1. */
  eps: number;
  /** @default 'one-per-group' */
  rule?: SemDeDupRule;
  /** @default 'nearest-centroid' */
  order?: SemDeDupOrder;
  /**
   * Members per similarity block (a cluster larger than this is computed block by block). Not used with a
   * kernel that scans a whole cluster at once (`SimilarityKernel.scanSet`: OnnxSimilarityKernel's default).
   * @default 4096
   */
  blockRows?: number;
}

export const SEMDEDUP_DEFAULTS = { rule: 'one-per-group', order: 'nearest-centroid', blockRows: 4096 } as const;

/** The members of one cluster. */
export interface ClusterMembers {
  ids: readonly string[];
  /** One row per id (normalised in a copy). */
  vectors: Matrix;
  /** Cosine to the cluster centroid per member (orders `nearest-centroid`, `farthest-centroid`, `highest-score`). */
  centroidSimilarity?: Float32Array;
  /** Caller score per member, larger is better (order `highest-score`). */
  scores?: Float32Array;
}

/** A removed member, with the pair that made it a duplicate. */
export interface DuplicateRemoval {
  id: string;
  /** The member whose similarity put it over the line: its best match (one-per-group) / its best earlier match (semdedup). */
  matchedId: string;
  similarity: number;
  /** The member kept for its group (one-per-group); equals matchedId under `semdedup`. */
  keptId: string;
}

export interface ClusterDedupResult {
  /** Kept ids, in keep order. */
  kept: string[];
  removed: DuplicateRemoval[];
  /**
   * one-per-group: every pair above 1 - eps in the cluster; semdedup: the pairs that removed a member
   * (the rule computes each member's best earlier match only, not every pair).
   */
  duplicatePairs: number;
}

export function checkSemDeDupOptions(options: SemDeDupOptions): Required<SemDeDupOptions> {
  const { eps } = options;
  if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) throw invalidArgument(`SemDeDup: eps must be in (0, 1), got ${eps}`);
  const rule = options.rule ?? SEMDEDUP_DEFAULTS.rule;
  const order = options.order ?? SEMDEDUP_DEFAULTS.order;
  if (!SEMDEDUP_RULES.includes(rule)) throw invalidArgument(`SemDeDup: rule must be one of ${SEMDEDUP_RULES.join(', ')} (got ${rule})`);
  if (!SEMDEDUP_ORDERS.includes(order)) throw invalidArgument(`SemDeDup: order must be one of ${SEMDEDUP_ORDERS.join(', ')} (got ${order})`);
  const blockRows = options.blockRows ?? SEMDEDUP_DEFAULTS.blockRows;
  if (!Number.isInteger(blockRows) || blockRows < 1) throw invalidArgument(`SemDeDup: blockRows must be a positive integer (got ${blockRows})`);
  return { eps, rule, order, blockRows };
}

/** The keep order of a cluster's members: a permutation of 0..n-1. */
export function keepOrder(members: ClusterMembers, order: SemDeDupOrder): number[] {
  const n = members.ids.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  const ids = members.ids;
  const byId = (a: number, b: number): number => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0);
  const need = (what: 'centroidSimilarity' | 'scores'): Float32Array => {
    const values = members[what];
    if (values === undefined || values.length !== n) throw invalidArgument(`SemDeDup: order ${order} needs ${what} for every member`);
    return values;
  };
  switch (order) {
    case 'input':
      return idx;
    case 'nearest-centroid': {
      const c = need('centroidSimilarity');
      return idx.sort((a, b) => c[b]! - c[a]! || byId(a, b));
    }
    case 'farthest-centroid': {
      const c = need('centroidSimilarity');
      return idx.sort((a, b) => c[a]! - c[b]! || byId(a, b));
    }
    case 'highest-score': {
      const s = need('scores');
      const c = members.centroidSimilarity;
      return idx.sort((a, b) => s[b]! - s[a]! || (c ? c[b]! - c[a]! : 0) || byId(a, b));
    }
  }
}

/** De-duplicates one cluster. */
export async function dedupCluster(members: ClusterMembers, options: SemDeDupOptions, kernel: SimilarityKernel): Promise<ClusterDedupResult> {
  const { eps, rule, order, blockRows } = checkSemDeDupOptions(options);
  const n = members.ids.length;
  if (members.vectors.rows !== n) throw invalidArgument(`SemDeDup: ${n} ids but ${members.vectors.rows} vectors`);
  if (n <= 1) return { kept: [...members.ids], removed: [], duplicatePairs: 0 };
  const perm = keepOrder(members, order);
  if (kernel.scanSet !== undefined) {
    const scan = await kernel.scanSet(members.vectors, Int32Array.from(perm), 1 - eps, rule === 'one-per-group');
    return fromScan(members, perm, rule, 1 - eps, scan);
  }
  const dim = members.vectors.dim;
  const ordered = orderedUnitRows(members.vectors.data, perm, dim);
  const threshold = 1 - eps;

  // positions below are in keep order
  const bestEarlier = new Float32Array(n).fill(-Infinity);
  const bestEarlierAt = new Int32Array(n).fill(-1);
  const groups = new DuplicateGroups(n);
  let duplicatePairs = 0;
  for (let cs = 0; cs < n; cs += blockRows) {
    const ce = Math.min(n, cs + blockRows);
    const cols: Matrix = { data: ordered.subarray(cs * dim, ce * dim), rows: ce - cs, dim };
    for (let rs = 0; rs <= cs; rs += blockRows) {
      const re = Math.min(n, rs + blockRows);
      const rows: Matrix = { data: ordered.subarray(rs * dim, re * dim), rows: re - rs, dim };
      // the code rule needs only each member's best earlier match; the group rule needs every pair
      const block: EarlierMax & Partial<PairBlock> =
        rule === 'semdedup' ? await kernel.earlierMax(rows, rs === cs ? undefined : cols) : await kernel.pairs(rows, cols, rs === cs ? 1 : -rows.rows, threshold);
      for (let j = 0; j < cols.rows; j++) {
        const col = cs + j;
        // only rows before the column count (the diagonal block masks the rest to 0)
        if (rs + (block.columnArgmax[j] ?? 0) < col && block.columnMax[j]! > bestEarlier[col]!) {
          bestEarlier[col] = block.columnMax[j]!;
          bestEarlierAt[col] = rs + block.columnArgmax[j]!;
        }
      }
      const { pairs, pairScores } = block;
      if (pairs === undefined || pairScores === undefined) continue;
      for (let p = 0; p < pairScores.length; p++) {
        const i = rs + pairs[2 * p]!;
        const j = cs + pairs[2 * p + 1]!;
        const s = pairScores[p]!;
        duplicatePairs++;
        groups.add(i, j, s);
      }
    }
  }

  const id = (position: number): string => members.ids[perm[position]!]!;
  const kept: string[] = [];
  const removed: DuplicateRemoval[] = [];
  if (rule === 'semdedup') {
    for (let p = 0; p < n; p++) {
      if (bestEarlier[p]! > threshold) {
        duplicatePairs++;
        const matched = id(bestEarlierAt[p]!);
        removed.push({ id: id(p), matchedId: matched, similarity: bestEarlier[p]!, keptId: matched });
      } else kept.push(id(p));
    }
  } else groups.split(id, kept, removed);
  return { kept, removed, duplicatePairs };
}

/** The result from a kernel's whole-cluster scan (positions in keep order): the same rules as the block path. */
function fromScan(members: ClusterMembers, perm: readonly number[], rule: SemDeDupRule, threshold: number, scan: SetScan): ClusterDedupResult {
  const n = perm.length;
  const id = (position: number): string => members.ids[perm[position]!]!;
  const kept: string[] = [];
  const removed: DuplicateRemoval[] = [];
  if (rule === 'semdedup') {
    for (let p = 0; p < n; p++) {
      if (scan.best[p]! > threshold) {
        const matched = id(scan.bestAt[p]!);
        removed.push({ id: id(p), matchedId: matched, similarity: scan.best[p]!, keptId: matched });
      } else kept.push(id(p));
    }
    return { kept, removed, duplicatePairs: removed.length };
  }
  const groups = new DuplicateGroups(n);
  const { pairs, pairScores } = scan;
  for (let q = 0; q < pairScores.length; q++) groups.add(pairs[2 * q]!, pairs[2 * q + 1]!, pairScores[q]!);
  groups.split(id, kept, removed);
  return { kept, removed, duplicatePairs: pairScores.length };
}

/** Rows of `data` in `perm` order, L2-normalised, in one pass (a zero or non-finite row is refused). */
function orderedUnitRows(data: Float32Array, perm: readonly number[], dim: number): Float32Array {
  const out = new Float32Array(perm.length * dim);
  for (let dst = 0; dst < perm.length; dst++) {
    const s = perm[dst]! * dim;
    const o = dst * dim;
    let q = 0;
    for (let t = 0; t < dim; t++) q += data[s + t]! * data[s + t]!;
    if (!(q > 0 && Number.isFinite(q))) throw invalidArgument(`SemDeDup: embedding ${perm[dst]} ${q === 0 ? 'is all zeros and has no direction' : 'contains NaN or infinite values'}`);
    const inv = 1 / Math.sqrt(q);
    for (let t = 0; t < dim; t++) out[o + t] = data[s + t]! * inv;
  }
  return out;
}

/**
 * The groups that duplicate pairs join (positions in keep order), with each position's best partner (ties: the
 * lower position): the 'groups' rule's state, shared by the block path and the whole-cluster scan.
 */
class DuplicateGroups {
  private readonly parent: Int32Array;
  private readonly bestPartner: Int32Array;
  // Float64 holds the block path's float32 scores exactly and the scan's float64 ones.
  private readonly bestPartnerScore: Float64Array;

  constructor(private readonly n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
    this.bestPartner = new Int32Array(n).fill(-1);
    this.bestPartnerScore = new Float64Array(n).fill(-Infinity);
  }

  add(i: number, j: number, score: number): void {
    union(this.parent, i, j);
    this.offer(i, j, score);
    this.offer(j, i, score);
  }

  /** Keeps each group's root (its first member in keep order: union keeps the smaller position as root). */
  split(id: (position: number) => string, kept: string[], removed: DuplicateRemoval[]): void {
    for (let p = 0; p < this.n; p++) {
      const root = find(this.parent, p);
      if (root === p) kept.push(id(p));
      else removed.push({ id: id(p), matchedId: id(this.bestPartner[p]!), similarity: this.bestPartnerScore[p]!, keptId: id(root) });
    }
  }

  private offer(p: number, partner: number, score: number): void {
    const best = this.bestPartnerScore[p]!;
    if (score > best || (score === best && partner < this.bestPartner[p]!)) {
      this.bestPartnerScore[p] = score;
      this.bestPartner[p] = partner;
    }
  }
}

function find(parent: Int32Array, i: number): number {
  let r = i;
  while (parent[r] !== r) r = parent[r]!;
  while (parent[i] !== r) {
    const next = parent[i]!;
    parent[i] = r;
    i = next;
  }
  return r;
}

function union(parent: Int32Array, a: number, b: number): void {
  const ra = find(parent, a);
  const rb = find(parent, b);
  if (ra === rb) return;
  if (ra < rb) parent[rb] = ra;
  else parent[ra] = rb;
}
