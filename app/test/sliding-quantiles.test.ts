import { Registry, Summary } from 'prom-client';
import { SlidingQuantiles } from '../src/sliding-quantiles';

/** The exact quantile of `values` (nearest rank, as DDSketch ranks). */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

/** `name{labels} value` lines of a rendered registry, as a map from the part before the value to the value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** A one-minute, three-bucket summary `lat` by route in `registry`, as the app's latency quantiles are. */
function latencyQuantiles(registry: Registry, quantiles: number[], now?: () => number) {
  return new SlidingQuantiles({
    name: 'lat',
    help: 'latency',
    labelNames: ['route'],
    quantiles,
    maxAgeSeconds: 60,
    ageBuckets: 3,
    registers: [registry],
    ...(now ? { now } : {}),
  });
}

describe('SlidingQuantiles', () => {
  it("renders exactly the lines and types prom-client's Summary renders, with quantiles within 1 %", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const options = { help: 'latency', labelNames: ['route'] as const, maxAgeSeconds: 60, ageBuckets: 3 };
    const sliding = new SlidingQuantiles({
      name: 'lat',
      quantiles: [0.5, 0.99],
      registers: [ours],
      ...options,
    });
    const summary = new Summary({ name: 'lat', percentiles: [0.5, 0.99], registers: [theirs], ...options });
    // A long-tailed latency distribution (log-normal around 5 ms) on two routes.
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const byRoute: Record<string, number[]> = { '/a': [], '/b/:id': [] };
    for (let i = 0; i < 20_000; i++) {
      const route = i % 3 === 0 ? '/b/:id' : '/a';
      const normal = Math.sqrt(-2 * Math.log(random())) * Math.cos(2 * Math.PI * random());
      const seconds = 0.005 * Math.exp(0.8 * normal);
      byRoute[route].push(seconds);
      sliding.observe({ route }, seconds);
      summary.observe({ route }, seconds);
    }
    const oursText = await ours.metrics();
    const theirsText = await theirs.metrics();
    expect(oursText.split('\n').filter((l) => l.startsWith('#'))).toEqual(
      theirsText.split('\n').filter((l) => l.startsWith('#')),
    );
    const got = samples(oursText);
    const want = samples(theirsText);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [route, values] of Object.entries(byRoute)) {
      expect(got.get(`lat_count{route="${route}"}`)).toBe(values.length);
      expect(got.get(`lat_sum{route="${route}"}`)).toBeCloseTo(
        values.reduce((a, b) => a + b, 0),
        9,
      );
      for (const q of [0.5, 0.99]) {
        const exact = exactQuantile(values, q);
        const value = got.get(`lat{quantile="${q}",route="${route}"}`)!;
        expect(Math.abs(value - exact) / exact).toBeLessThanOrEqual(0.01 + 1e-9);
      }
    }
  });

  it('forgets observations older than the window, keeps _count and _sum, and reads 0 when the window is empty', async () => {
    let now = 1_000_000_020_000; // the start of a 20 s rotation period
    const registry = new Registry();
    const q = latencyQuantiles(registry, [0.99], () => now);
    const p99 = async () => samples(await registry.metrics()).get('lat{quantile="0.99",route="/a"}');
    for (let i = 0; i < 100; i++) q.observe({ route: '/a' }, 2); // slow requests, at t = 0
    now += 30_000;
    for (let i = 0; i < 100; i++) q.observe({ route: '/a' }, 0.01); // fast ones, at t = 30 s
    // Both still in the window: the slow ones are the top half.
    expect(await p99()).toBeCloseTo(2, 1);
    now += 35_000; // t = 65 s: the slow ones' period has left the window, the fast ones' has not
    expect((await p99())!).toBeLessThan(0.0102);
    expect((await p99())!).toBeGreaterThan(0.0098);
    now += 60_000; // t = 125 s: nothing in the window
    expect(await p99()).toBe(0);
    const text = samples(await registry.metrics());
    expect(text.get('lat_count{route="/a"}')).toBe(200);
    expect(text.get('lat_sum{route="/a"}')).toBeCloseTo(201, 6);
    // A new observation after the gap starts from an empty window again.
    q.observe({ route: '/a' }, 0.5);
    expect(await p99()).toBeCloseTo(0.5, 2);
  });

  it('refuses a value that is not a finite number and a window without buckets', () => {
    const registry = new Registry();
    const q = latencyQuantiles(registry, [0.5]);
    expect(() => q.observe({ route: '/a' }, Number.NaN)).toThrow(/lat: value is not a finite number/);
    expect(
      () =>
        new SlidingQuantiles({
          name: 'other',
          help: 'x',
          labelNames: ['route'],
          quantiles: [0.5],
          maxAgeSeconds: 60,
          ageBuckets: 0,
          registers: [],
        }),
    ).toThrow(/other: ageBuckets must be >= 1/);
  });
});
