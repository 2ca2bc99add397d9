import { createPopulationPlanner, type PopulationOptions } from './population';
import {
  DEFAULT_MIX,
  OperationPicker,
  PRODUCT_READS_MIX,
  validateMix,
  writeShare,
  type Operation,
  type WorkloadData,
} from './workload';
import { createRandom } from './zipf';

const data: WorkloadData = {
  productIds: Array.from({ length: 1000 }, (_, i) => `p${i}`),
  catalogCursors: [null, 'c1', 'c2', 'c3'],
  customerCookies: ['sid=a', 'sid=b', 'sid=c'],
  adminCookie: 'sid=admin',
};

/** The population planner as a plain "next request" function (no think time: the data has 3 customers). */
function createRequestPlanner(workload: WorkloadData, options: Omit<PopulationOptions, 'minThinkMs'>) {
  const planner = createPopulationPlanner(workload, { ...options, minThinkMs: 0 });
  let at = 0;
  return () => planner.next((at += 10));
}

describe('workload mix', () => {
  it('the default mix is 90% reads and 10% writes', () => {
    expect(writeShare(DEFAULT_MIX)).toBeCloseTo(0.1, 12);
    expect(writeShare(PRODUCT_READS_MIX)).toBe(0);
    expect(() => validateMix(DEFAULT_MIX)).not.toThrow();
  });

  it('generated requests follow the mix (100,000 draws, within 0.5 percentage points)', () => {
    // GIVEN
    const plan = createRequestPlanner(data, { mix: DEFAULT_MIX, random: createRandom(99) });
    const counts: Record<string, number> = {};
    const draws = 100_000;

    // WHEN
    for (let i = 0; i < draws; i++) {
      const op = plan().op;
      counts[op] = (counts[op] ?? 0) + 1;
    }

    // THEN
    for (const [op, weight] of Object.entries(DEFAULT_MIX)) {
      expect(Math.abs((counts[op] ?? 0) / draws - weight)).toBeLessThan(0.005);
    }
    const writes = (counts.placeOrder + counts.updateProduct) / draws;
    expect(Math.abs(writes - 0.1)).toBeLessThan(0.005);
  });

  it('each operation builds the request the app API expects', () => {
    const plan = createRequestPlanner(data, { mix: DEFAULT_MIX, random: createRandom(5) });
    const seen = new Map<Operation, ReturnType<typeof plan>>();
    for (let i = 0; i < 2000 && seen.size < 5; i++) {
      const r = plan();
      if (!seen.has(r.op)) seen.set(r.op, r);
    }
    expect(seen.get('productPage')).toMatchObject({
      method: 'GET',
      path: expect.stringMatching(/^\/api\/products\/p\d+$/),
    });
    expect(seen.get('catalogPage')).toMatchObject({
      method: 'GET',
      path: expect.stringMatching(/^\/api\/products\?limit=20(&cursor=c\d)?$/),
    });
    expect(seen.get('myOrders')).toMatchObject({
      method: 'GET',
      path: '/api/orders',
      headers: { cookie: expect.stringMatching(/^sid=[abc]$/) },
    });
    const order = seen.get('placeOrder')!;
    expect(order).toMatchObject({
      method: 'POST',
      path: '/api/orders',
      headers: { 'content-type': 'application/json' },
    });
    const items = JSON.parse(order.body!).items as { productId: string; quantity: number }[];
    expect(items.length).toBeGreaterThanOrEqual(1);
    expect(items.length).toBeLessThanOrEqual(3);
    expect(new Set(items.map((i) => i.productId)).size).toBe(items.length);
    const update = seen.get('updateProduct')!;
    expect(update).toMatchObject({ method: 'PATCH', headers: { cookie: 'sid=admin' } });
    expect(JSON.parse(update.body!)).toEqual({ priceCents: expect.any(Number) });
  });

  it('product pages are Zipf-skewed: the hottest product gets ~13% of 1,000 (s = 1)', () => {
    const plan = createRequestPlanner(data, { mix: PRODUCT_READS_MIX, random: createRandom(3) });
    let hottest = 0;
    const draws = 50_000;
    for (let i = 0; i < draws; i++) if (plan().path === '/api/products/p0') hottest++;
    // 1 / H(1000) = 0.1336
    expect(hottest / draws).toBeGreaterThan(0.12);
    expect(hottest / draws).toBeLessThan(0.147);
  });

  it('is reproducible with the same seed', () => {
    const a = createRequestPlanner(data, { mix: DEFAULT_MIX, random: createRandom(11) });
    const b = createRequestPlanner(data, { mix: DEFAULT_MIX, random: createRandom(11) });
    for (let i = 0; i < 100; i++) expect(b()).toEqual(a());
  });

  it('rejects a bad mix, naming every problem', () => {
    expect(() => validateMix({ ...DEFAULT_MIX, productPage: -1 })).toThrow(
      /mix.productPage must be a number >= 0, got -1/,
    );
    expect(() => validateMix({ ...DEFAULT_MIX, productPage: 0.7 })).toThrow(/must sum to 1, got 1.1/);
    expect(() => new OperationPicker({ ...DEFAULT_MIX, catalogPage: Number.NaN })).toThrow(/mix.catalogPage/);
  });

  it('rejects data that cannot serve the mix', () => {
    expect(() =>
      createRequestPlanner(
        { productIds: [], catalogCursors: [], customerCookies: [] },
        { mix: DEFAULT_MIX, random: createRandom(1) },
      ),
    ).toThrow(
      /productIds is empty; catalogCursors is empty; customerCookies is empty; adminCookie is missing/,
    );
    expect(() =>
      createRequestPlanner(
        { productIds: ['p'], catalogCursors: [], customerCookies: [] },
        {
          mix: PRODUCT_READS_MIX,
          random: createRandom(1),
          customerBrowseShare: 0,
        },
      ),
    ).not.toThrow();
  });
});
