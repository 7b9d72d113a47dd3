// Per-class quotas and balancing: a cap per class, or a target distribution (uniform or given counts),
// filled in score order (highest first; ties by id, ascending).
import { invalidArgument } from './errors.js';

export type QuotaTarget =
  /** At most `perClass` per class. */
  | { kind: 'cap'; perClass: number }
  /** The same count in every class that has candidates: `perClass`, or by default the smallest such class's count. */
  | { kind: 'uniform'; perClass?: number }
  /** A given count per class index (classes not listed get none). */
  | { kind: 'counts'; counts: ReadonlyMap<number, number> };

export function checkQuotaTarget(target: QuotaTarget): QuotaTarget {
  const positiveInt = (n: number | undefined, what: string): void => {
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw invalidArgument(`quota: ${what} must be a non-negative integer (got ${n})`);
  };
  switch (target.kind) {
    case 'cap':
      positiveInt(target.perClass, 'perClass');
      if (target.perClass === undefined) throw invalidArgument('quota: a cap needs perClass');
      return target;
    case 'uniform':
      positiveInt(target.perClass, 'perClass');
      return target;
    case 'counts':
      for (const [c, n] of target.counts) {
        if (!Number.isInteger(c) || c < 0) throw invalidArgument(`quota: class index ${c} is not a class index`);
        positiveInt(n, `the count of class ${c}`);
      }
      return target;
    default:
      throw invalidArgument(`quota: unknown target kind ${(target as { kind: string }).kind}`);
  }
}

/** How many samples each class keeps, given how many candidates it has. */
export function planQuotas(available: ReadonlyMap<number, number>, target: QuotaTarget): Map<number, number> {
  checkQuotaTarget(target);
  const out = new Map<number, number>();
  const present = [...available].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  switch (target.kind) {
    case 'cap':
      for (const [c, n] of present) out.set(c, Math.min(n, target.perClass));
      break;
    case 'uniform': {
      const per = target.perClass ?? Math.min(...present.map(([, n]) => n));
      for (const [c, n] of present) out.set(c, Math.min(n, per));
      break;
    }
    case 'counts':
      for (const [c, n] of present) out.set(c, Math.min(n, target.counts.get(c) ?? 0));
      break;
  }
  return out;
}

export interface QuotaItem {
  id: string;
  classIndex: number;
  /** Larger is better; NaN ranks last. */
  score: number;
}

/**
 * Fills quotas in score order from a stream: keeps, per class, the `quota` best items seen (a bounded
 * min-heap per class, memory O(sum of quotas)). `kept()` answers after the whole stream was offered.
 */
export class QuotaFiller {
  private readonly heaps = new Map<number, QuotaItem[]>();

  constructor(private readonly quotas: ReadonlyMap<number, number>) {}

  offer(item: QuotaItem): void {
    const quota = this.quotas.get(item.classIndex) ?? 0;
    if (quota === 0) return;
    let heap = this.heaps.get(item.classIndex);
    if (heap === undefined) this.heaps.set(item.classIndex, (heap = []));
    if (heap.length < quota) {
      heap.push(item);
      siftUp(heap, heap.length - 1);
    } else if (better(item, heap[0]!)) {
      heap[0] = item;
      siftDown(heap, 0);
    }
  }

  /** The kept items per class, best first. */
  kept(): Map<number, QuotaItem[]> {
    const out = new Map<number, QuotaItem[]>();
    for (const c of [...this.heaps.keys()].sort((a, b) => a - b)) out.set(c, [...this.heaps.get(c)!].sort((a, b) => (better(a, b) ? -1 : 1)));
    return out;
  }

  keptIds(): Set<string> {
    const ids = new Set<string>();
    for (const heap of this.heaps.values()) for (const item of heap) ids.add(item.id);
    return ids;
  }
}

/** a ranks before b: higher score, then smaller id. */
export function better(a: QuotaItem, b: QuotaItem): boolean {
  const sa = Number.isNaN(a.score) ? -Infinity : a.score;
  const sb = Number.isNaN(b.score) ? -Infinity : b.score;
  if (sa !== sb) return sa > sb;
  return a.id < b.id;
}

// min-heap by rank: the root is the worst kept item
function siftUp(h: QuotaItem[], i: number): void {
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!better(h[p]!, h[i]!)) break;
    [h[p], h[i]] = [h[i]!, h[p]!];
    i = p;
  }
}

function siftDown(h: QuotaItem[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let worst = i;
    if (l < h.length && better(h[worst]!, h[l]!)) worst = l;
    if (r < h.length && better(h[worst]!, h[r]!)) worst = r;
    if (worst === i) return;
    [h[worst], h[i]] = [h[i]!, h[worst]!];
    i = worst;
  }
}
