import { createPopulationPlanner, customerRate } from './population';
import { DEFAULT_MIX, PRODUCT_READS_MIX, type Operation, type WorkloadData } from './workload';
import { createRandom } from './zipf';

function data(customers: number): WorkloadData {
  return {
    productIds: Array.from({ length: 1000 }, (_, i) => `p${i}`),
    catalogCursors: [null, 'c1', 'c2'],
    customerCookies: Array.from({ length: customers }, (_, i) => `sid=c${i}`),
    adminCookie: 'sid=admin',
  };
}

/** Plans `count` requests at `rate` per second; returns them with their times. */
function planAt(planner: ReturnType<typeof createPopulationPlanner>, rate: number, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const at = (i * 1000) / rate;
    return { at, request: planner.next(at) };
  });
}

describe('population planner', () => {
  it('keeps the 90/10 mix and sends orders as customers, updates as the admin, pages partly anonymously', () => {
    const planner = createPopulationPlanner(data(5000), { mix: DEFAULT_MIX, random: createRandom(1) });
    const planned = planAt(planner, 400, 40_000);
    const counts: Partial<Record<Operation, number>> = {};
    for (const { request } of planned) counts[request.op] = (counts[request.op] ?? 0) + 1;
    for (const [op, weight] of Object.entries(DEFAULT_MIX)) {
      expect(Math.abs((counts[op as Operation] ?? 0) / 40_000 - weight)).toBeLessThan(0.006);
    }
    for (const { request } of planned) {
      if (request.op === 'placeOrder' || request.op === 'myOrders')
        expect(request.headers.cookie).toMatch(/^sid=c\d+$/);
      if (request.op === 'updateProduct') expect(request.headers.cookie).toBe('sid=admin');
    }
    const pages = planned.filter(({ request }) => request.op === 'productPage');
    const anonymous =
      pages.filter(({ request }) => request.headers.cookie === undefined).length / pages.length;
    expect(anonymous).toBeGreaterThan(0.47);
    expect(anonymous).toBeLessThan(0.53);
    const stats = planner.stats();
    expect(stats.requests).toBe(40_000);
    expect(stats.byActor.customer + stats.byActor.anonymous + stats.byActor.admin).toBe(40_000);
    expect(stats.reads).toBe(40_000 - (counts.placeOrder ?? 0) - (counts.updateProduct ?? 0));
  });

  it('never lets a customer send two requests less than the think time apart, and spreads over the population', () => {
    const planner = createPopulationPlanner(data(5000), {
      mix: DEFAULT_MIX,
      random: createRandom(2),
      minThinkMs: 1000,
    });
    const planned = planAt(planner, 400, 12_000); // 30 s
    const last = new Map<string, number>();
    let minGap = Infinity;
    for (const { at, request } of planned) {
      const cookie = request.headers.cookie;
      if (!cookie || cookie === 'sid=admin') continue;
      const previous = last.get(cookie);
      if (previous !== undefined) minGap = Math.min(minGap, at - previous);
      last.set(cookie, at);
    }
    expect(minGap).toBeGreaterThanOrEqual(1000);
    const stats = planner.stats();
    expect(stats.minCustomerGapMs).toBe(minGap);
    expect(stats.activeCustomers).toBe(last.size);
    // ~232 customer requests/s over 5,000 customers: one request per customer every ~21 s on average (a 30 s
    // window only sees the shorter gaps, so the observed mean is lower).
    expect(stats.meanCustomerGapMs).toBeGreaterThan(5_000);
    expect(stats.activeCustomers).toBeGreaterThan(3000);
  });

  it('counts requests inside the sender’s read-your-writes window, reads separately', () => {
    // One customer, orders and "my orders" only, one request every 1.5 s (think time 1 s): every request after
    // an order within 5 s is inside the window.
    const planner = createPopulationPlanner(data(1), {
      mix: { productPage: 0, catalogPage: 0, myOrders: 0.5, placeOrder: 0.5, updateProduct: 0 },
      random: createRandom(3),
      rywWindowMs: 5000,
    });
    const ops: { at: number; op: Operation }[] = [];
    for (let i = 0; i < 200; i++) ops.push({ at: i * 1500, op: planner.next(i * 1500).op });
    let inside = 0;
    let readsInside = 0;
    let lastOrder = -Infinity;
    for (const { at, op } of ops) {
      if (at - lastOrder < 5000) {
        inside++;
        if (op === 'myOrders') readsInside++;
      }
      if (op === 'placeOrder') lastOrder = at;
    }
    const stats = planner.stats();
    expect(stats.insideRywWindow).toBe(inside);
    expect(stats.readsInsideRywWindow).toBe(readsInside);
    expect(readsInside).toBeGreaterThan(0);
  });

  it('fails with a clear message when the population is too small for the rate', () => {
    const planner = createPopulationPlanner(data(10), { mix: DEFAULT_MIX, random: createRandom(4) });
    expect(() => planAt(planner, 1000, 1000)).toThrow(/all 10 customers sent a request in the last 1000 ms/);
  });

  it('needs the data the mix uses, and requests in time order', () => {
    expect(() =>
      createPopulationPlanner(
        { productIds: [], catalogCursors: [], customerCookies: [] },
        { mix: DEFAULT_MIX, random: createRandom(5) },
      ),
    ).toThrow(
      'productIds is empty; catalogCursors is empty; customerCookies is empty; adminCookie is missing',
    );
    const anonymousOnly = createPopulationPlanner(
      { productIds: ['p1'], catalogCursors: [], customerCookies: [] },
      { mix: PRODUCT_READS_MIX, random: createRandom(6), customerBrowseShare: 0 },
    );
    expect(anonymousOnly.next(10).headers).toEqual({});
    expect(() => anonymousOnly.next(5)).toThrow('time order');
  });

  it('customerRate: the customers’ share of the arrival rate', () => {
    // 10% my orders + 8% orders + half of 80% page views = 58% of 400/s
    expect(customerRate(DEFAULT_MIX, 400, 0.5)).toBeCloseTo(232, 6);
  });
});
