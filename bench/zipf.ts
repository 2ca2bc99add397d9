/**
 * Seeded randomness for the benchmark workload: a small PRNG and a Zipf sampler, so two topologies see
 * the same popularity skew (a few hot products, a long tail) and a run can be repeated.
 */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * Mulberry32: a tiny, fast 32-bit PRNG with good statistical quality for load generation (not crypto).
 * @param seed any 32-bit integer; the same seed gives the same sequence
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Samples ranks 0..n-1 with probability proportional to 1 / (rank + 1)^exponent (Zipf's law): rank 0
 * is the most popular item. Built once in O(n) (cumulative table), each sample is a binary search.
 */
export class ZipfSampler {
  private readonly cumulative: Float64Array;

  /**
   * @param n number of items (at least 1)
   * @param exponent skew; 1 is classic Zipf (web catalogues are typically 0.8 to 1.2)
   */
  constructor(
    public readonly n: number,
    public readonly exponent = 1,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`ZipfSampler: n must be an integer >= 1, got ${n}`);
    if (!(exponent >= 0) || !Number.isFinite(exponent)) {
      throw new Error(`ZipfSampler: exponent must be a finite number >= 0, got ${exponent}`);
    }
    this.cumulative = new Float64Array(n);
    let sum = 0;
    for (let rank = 0; rank < n; rank++) {
      sum += 1 / Math.pow(rank + 1, exponent);
      this.cumulative[rank] = sum;
    }
    for (let rank = 0; rank < n; rank++) this.cumulative[rank] /= sum;
  }

  /** The exact probability of a rank under this distribution. */
  probability(rank: number): number {
    if (rank < 0 || rank >= this.n) return 0;
    return this.cumulative[rank] - (rank === 0 ? 0 : this.cumulative[rank - 1]);
  }

  /** Draws one rank using the given uniform source. */
  sample(random: Random): number {
    const u = random();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * Returns a copy of `items` in a seeded random order (Fisher-Yates), so the hot Zipf ranks land on
 * arbitrary products instead of the first ones inserted.
 */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}
