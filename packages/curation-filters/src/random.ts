// Seeded randomness: every sampling decision of the package derives from a caller's seed, so the same
// input, parameters and seed give the same output on every machine.

/** A small, fast, seeded generator (SplitMix32 finaliser over a Weyl sequence): uniform in [0, 1). */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  }

  /** The next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits. */
  next(): number {
    return (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11)) / 2 ** 53;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/**
 * `m` distinct indices of [0, n), sorted ascending (Floyd's algorithm: O(m) work and memory, whatever n).
 * All of [0, n) when m >= n.
 */
export function sampleIndices(n: number, m: number, seed: number): Uint32Array {
  if (m >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  const random = new SeededRandom(seed);
  const chosen = new Set<number>();
  for (let j = n - m; j < n; j++) {
    const t = random.below(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return Uint32Array.from([...chosen].sort((a, b) => a - b));
}

/**
 * A uniform sample of at most `capacity` items from a stream of unknown length (reservoir sampling,
 * Algorithm R), seeded. `items()` returns them in stream order.
 */
export class Reservoir<T> {
  private readonly kept: Array<{ position: number; item: T }> = [];
  private seen = 0;
  private readonly random: SeededRandom;

  constructor(
    readonly capacity: number,
    seed: number,
  ) {
    this.random = new SeededRandom(seed);
  }

  offer(item: T): void {
    const position = this.seen++;
    if (this.kept.length < this.capacity) {
      this.kept.push({ position, item });
      return;
    }
    const slot = this.random.below(position + 1);
    if (slot < this.capacity) this.kept[slot] = { position, item };
  }

  /** Items offered so far. */
  get offered(): number {
    return this.seen;
  }

  items(): T[] {
    return [...this.kept].sort((a, b) => a.position - b.position).map((k) => k.item);
  }
}
