import { createRandom, shuffled, ZipfSampler } from './zipf';

describe('createRandom', () => {
  it('is deterministic per seed and uniform in [0, 1)', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const fromA = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(fromA);
    expect(Array.from({ length: 5 }, c)).not.toEqual(fromA);

    const random = createRandom(7);
    const buckets = new Array(10).fill(0);
    let min = 1;
    let max = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = random();
      min = Math.min(min, u);
      max = Math.max(max, u);
      buckets[Math.floor(u * 10)]++;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });
});

describe('ZipfSampler', () => {
  it('has probabilities proportional to 1/rank^s that sum to 1', () => {
    const zipf = new ZipfSampler(1000, 1);
    let sum = 0;
    for (let rank = 0; rank < 1000; rank++) sum += zipf.probability(rank);
    expect(sum).toBeCloseTo(1, 10);
    expect(zipf.probability(0) / zipf.probability(1)).toBeCloseTo(2, 10);
    expect(zipf.probability(0) / zipf.probability(9)).toBeCloseTo(10, 10);
    expect(zipf.probability(-1)).toBe(0);
    expect(zipf.probability(1000)).toBe(0);
  });

  it('samples match the distribution (chi-square over the head and the tail)', () => {
    // GIVEN 10,000 items, classic Zipf
    const n = 10_000;
    const zipf = new ZipfSampler(n, 1);
    const random = createRandom(1234);
    const draws = 200_000;
    const counts = new Map<number, number>();
    let lowest = n;
    let highest = -1;

    // WHEN
    for (let i = 0; i < draws; i++) {
      const rank = zipf.sample(random);
      lowest = Math.min(lowest, rank);
      highest = Math.max(highest, rank);
      counts.set(rank, (counts.get(rank) ?? 0) + 1);
    }
    expect(lowest).toBe(0);
    expect(highest).toBeLessThan(n);
    expect(highest).toBeGreaterThan(n / 2); // the long tail is reached

    // THEN the top ranks and the tail bucket are where the theory says (chi-square, 11 cells)
    const cells: [number, number][] = [];
    let headProbability = 0;
    let headCount = 0;
    for (let rank = 0; rank < 10; rank++) {
      cells.push([counts.get(rank) ?? 0, zipf.probability(rank) * draws]);
      headProbability += zipf.probability(rank);
      headCount += counts.get(rank) ?? 0;
    }
    cells.push([draws - headCount, (1 - headProbability) * draws]);
    const chiSquare = cells.reduce(
      (sum, [observed, expected]) => sum + (observed - expected) ** 2 / expected,
      0,
    );
    expect(chiSquare).toBeLessThan(29.6); // 99.9th percentile for 10 degrees of freedom
    // Rank 0 gets ~10.2% of the traffic with n = 10,000, s = 1 (1 / H(10000)).
    expect((counts.get(0) ?? 0) / draws).toBeCloseTo(1 / 9.7876, 2);
  });

  it('exponent 0 is uniform, a larger exponent is more skewed', () => {
    const uniform = new ZipfSampler(100, 0);
    expect(uniform.probability(0)).toBeCloseTo(0.01, 12);
    expect(uniform.probability(99)).toBeCloseTo(0.01, 12);
    expect(new ZipfSampler(100, 1.5).probability(0)).toBeGreaterThan(new ZipfSampler(100, 1).probability(0));
  });

  it('rejects bad parameters naming them', () => {
    expect(() => new ZipfSampler(0)).toThrow(/n must be an integer >= 1, got 0/);
    expect(() => new ZipfSampler(1.5)).toThrow(/n must be an integer/);
    expect(() => new ZipfSampler(10, -1)).toThrow(/exponent must be a finite number >= 0, got -1/);
    expect(() => new ZipfSampler(10, Number.NaN)).toThrow(/exponent/);
  });
});

describe('shuffled', () => {
  it('returns a seeded permutation and leaves the input alone', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const a = shuffled(items, createRandom(1));
    expect(a).not.toEqual(items);
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(shuffled(items, createRandom(1))).toEqual(a);
    expect(items[0]).toBe(0);
  });
});
