import {
  addCounters,
  countersFromMetrics,
  diffCounters,
  diffRouteTimes,
  parsePrometheusText,
  routeTimesFromMetrics,
  sumSamples,
} from './metrics';
import { summariseStatements, type ServerStatements, type StatementStat } from './pg-stats';
import { processCpuSeconds } from './processes';
import {
  cacheFigures,
  cpuPerRequestAtCommonRate,
  evaluateTargets,
  kneeRate,
  orderCost,
  renderMarkdown,
  routeCacheFigures,
  SCENARIO_IDS,
  serverCost,
  sweepRates,
  sweepStepPassed,
  type BenchmarkReport,
  type FixedRateResult,
  type ScenarioResult,
  type SweepStep,
} from './report';
import { escapeXml, renderSvgChart } from './svg-chart';

const PRODUCT = 'SELECT id, sku, name FROM products WHERE id = $1';
const PAGE = 'SELECT id, sku, name FROM products ORDER BY id LIMIT $1';
const ORDER = 'WITH x AS (SELECT 1) INSERT INTO orders (id) SELECT $1';

/** pg_stat_statements sums for a window with the given calls and times. */
function statements(rows: [query: string, calls: number, execMs: number][]): ServerStatements {
  return summariseStatements(
    rows.map(([query, calls, totalExecMs]): StatementStat => ({ query, calls, totalExecMs, rows: 0 })),
  );
}

function fixed(overrides: Partial<FixedRateResult> = {}): FixedRateResult {
  return {
    offeredRate: 250,
    durationSeconds: 30,
    scheduled: 7500,
    requests: 7500,
    requestsPerSecond: 250,
    latencyMs: { p50: 10, p90: 20, p99: 50, max: 120, mean: 12 },
    dispatchLagMs: { p99: 1, max: 3 },
    errors: { non2xx: 0, socket: 0, timeouts: 0 },
    statusCodes: { '200': 7500 },
    operations: { productPage: { count: 4500, non2xx: 0, meanMs: 5, p99Ms: 40 } },
    ...overrides,
  };
}

const step = (rate: number, p99Ms: number, passed = true): SweepStep => ({
  rate,
  requestsPerSecond: rate,
  p99Ms,
  errors: 0,
  dispatchLagP99Ms: 1,
  passed,
});

// 1k: 1,000 requests, 600 product reads + 200 page reads + 100 order reads on the primary, 2,000 ms in all.
const primary1k = statements([
  [PRODUCT, 600, 600],
  [PAGE, 200, 800],
  [ORDER, 80, 600],
]);
// 10k: reads gone from the primary (20 read-your-writes reads left), 400 ms in all.
const primary10k = statements([
  [PRODUCT, 20, 20],
  [ORDER, 80, 380],
]);
const replica10k = statements([[PRODUCT, 40, 40]]);

const baseline: ScenarioResult = {
  id: SCENARIO_IDS.baseline,
  label: 'bare fastify',
  description: '',
  sweep: [step(1000, 5), step(1500, 9), step(2250, 400, false)],
  kneeRate: 1500,
};
const stage1k: ScenarioResult = {
  id: SCENARIO_IDS.stage1k,
  label: 'stage 1k',
  description: '',
  fixed: fixed({ requests: 1000 }),
  primary: serverCost(primary1k, 1000),
  cache: { hits: 0, misses: 0, errors: 0, hitRatio: null },
  routeCache: { productPage: routeCacheFigures(600, [primary1k], 'productPage') },
};
const stage10k: ScenarioResult = {
  id: SCENARIO_IDS.stage10k,
  label: 'stage 10k',
  description: '',
  fixed: fixed({ requests: 1000 }),
  primary: serverCost(primary10k, 1000),
  replica: serverCost(replica10k, 1000),
  cache: { hits: 9, misses: 1, errors: 0, hitRatio: 0.9 },
  routeCache: { productPage: routeCacheFigures(600, [primary10k, replica10k], 'productPage') },
  population: {
    requests: 1000,
    byActor: { customer: 580, anonymous: 400, admin: 20 },
    customers: 10_000,
    activeCustomers: 570,
    minCustomerGapMs: 1200,
    meanCustomerGapMs: 20_000,
    insideRywWindow: 15,
    readsInsideRywWindow: 12,
    reads: 900,
  },
  orderCost: orderCost(10, primary10k, replica10k, 95),
};
const cached: ScenarioResult = {
  id: SCENARIO_IDS.cachedReads,
  label: '1 app process, cached reads',
  description: '',
  sweep: [step(1000, 30), step(1500, 300, false)],
  kneeRate: 1000,
};

describe('metrics parsing', () => {
  const text = [
    '# HELP db_queries_total SQL queries sent to the database, by pool',
    '# TYPE db_queries_total counter',
    'db_queries_total{pool="writer"} 120',
    'db_queries_total{pool="reader"} 30',
    'cache_requests_total{result="hit"} 90',
    'cache_requests_total{result="miss"} 9',
    'cache_requests_total{result="error"} 1',
    'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/x",status_code="200"} 5',
    'process_cpu_seconds_total 1.5e1',
    '',
  ].join('\n');

  it('reads labelled samples, exponents and +Inf', () => {
    const samples = parsePrometheusText(text);
    expect(sumSamples(samples, 'db_queries_total')).toBe(150);
    expect(sumSamples(samples, 'db_queries_total', { pool: 'reader' })).toBe(30);
    expect(sumSamples(samples, 'process_cpu_seconds_total')).toBe(15);
    expect(samples.find((s) => s.name === 'http_request_duration_seconds_bucket')?.labels.le).toBe('+Inf');
  });

  it('extracts, diffs and adds the app counters', () => {
    const after = countersFromMetrics(text);
    expect(after).toEqual({ dbWriter: 120, dbReader: 30, cacheHit: 90, cacheMiss: 9, cacheError: 1 });
    const before = { dbWriter: 20, dbReader: 10, cacheHit: 40, cacheMiss: 4, cacheError: 0 };
    const delta = diffCounters(before, after);
    expect(delta).toEqual({ dbWriter: 100, dbReader: 20, cacheHit: 50, cacheMiss: 5, cacheError: 1 });
    expect(addCounters(delta, delta).dbWriter).toBe(200);
  });

  it('sums server-side time per route and diffs it across processes', () => {
    const at = (count: number, sum: number) =>
      routeTimesFromMetrics(
        `http_request_duration_seconds_sum{method="GET",route="/api/x",status_code="200"} ${sum}\n` +
          `http_request_duration_seconds_count{method="GET",route="/api/x",status_code="200"} ${count}\n` +
          `http_request_duration_seconds_count{method="GET",route="/api/x",status_code="404"} 1\n` +
          `http_request_duration_seconds_sum{method="GET",route="/api/x",status_code="404"} 0.5\n`,
      );
    expect(at(3, 0.3)).toEqual({ 'GET /api/x': { count: 4, seconds: 0.8 } });
    const delta = diffRouteTimes([
      { before: at(3, 0.3), after: at(5, 0.5) },
      { before: {}, after: at(1, 0.1) },
    ]);
    expect(delta['GET /api/x'].count).toBe(4);
    expect(delta['GET /api/x'].seconds).toBeCloseTo(0.8, 10);
  });

  it('fails clearly when the app exposes no db_queries_total', () => {
    expect(() => countersFromMetrics('up 1\n')).toThrow(/no db_queries_total counter/);
  });
});

describe('per-request figures', () => {
  it('divides statements, reads and execution time by the requests served', () => {
    const cost = serverCost(primary1k, 1000);
    expect(cost.statements).toBe(880);
    expect(cost.statementsPerRequest).toBeCloseTo(0.88, 12);
    expect(cost.execMsPer1000).toBe(2000);
    expect(cost.readsPer1000).toBe(800);
    expect(cost.per1000ByKind.write).toBe(80);
    expect(serverCost(primary1k, 0).execMsPer1000).toBe(0);
  });

  it("route hit ratio: the route's requests that did not read the database on any server", () => {
    expect(routeCacheFigures(600, [primary10k, replica10k], 'productPage')).toEqual({
      requests: 600,
      databaseReads: 60,
      hitRatio: 0.9,
    });
    expect(routeCacheFigures(600, [primary1k], 'productPage').hitRatio).toBe(0);
    expect(routeCacheFigures(0, [primary1k], 'catalogPage').hitRatio).toBeNull();
  });

  it('app cache counters: hit ratio, and null without lookups', () => {
    const counters = { dbWriter: 300, dbReader: 700, cacheHit: 80, cacheMiss: 15, cacheError: 5 };
    expect(cacheFigures(counters).hitRatio).toBeCloseTo(0.8, 12);
    expect(cacheFigures({ ...counters, cacheHit: 0, cacheMiss: 0, cacheError: 0 }).hitRatio).toBeNull();
  });

  it('order cost: statements, kinds, replica statements and app round trips per order', () => {
    const cost = orderCost(
      10,
      statements([
        ['BEGIN', 10, 0.1],
        [ORDER, 10, 5],
        ['COMMIT', 10, 1],
        ['SELECT pg_current_wal_lsn()::text AS lsn', 10, 0.2],
      ]),
      statements([['SELECT pg_last_wal_replay_lsn()', 9, 0.1]]),
      49,
    );
    expect(cost).toMatchObject({
      orders: 10,
      primaryStatementsPerOrder: 4,
      replicaStatementsPerOrder: 0.9,
      appRoundTripsPerOrder: 4.9,
    });
    expect(cost.primaryByKindPerOrder).toMatchObject({ write: 1, transaction: 2, 'replication-position': 1 });
    expect(cost.primaryExecMsPerOrder).toBeCloseTo(0.63, 12);
  });
});

describe('sweep', () => {
  it('steps geometrically and validates its parameters', () => {
    expect(sweepRates(200, 1.5, 4)).toEqual([200, 300, 450, 675]);
    expect(() => sweepRates(200, 1, 4)).toThrow('factor > 1');
  });

  it('a step passes with p99 within the limit, no errors and the rate served', () => {
    const ok = { rate: 1000, requestsPerSecond: 990, p99Ms: 200, errors: 0, dispatchLagP99Ms: 1 };
    expect(sweepStepPassed(ok)).toBe(true);
    expect(sweepStepPassed({ ...ok, p99Ms: 200.1 })).toBe(false);
    expect(sweepStepPassed({ ...ok, errors: 1 })).toBe(false);
    expect(sweepStepPassed({ ...ok, requestsPerSecond: 900 })).toBe(false);
  });

  it('the knee is the last rate of the passing prefix', () => {
    expect(kneeRate([step(100, 5), step(150, 9), step(225, 300, false), step(340, 5)])).toBe(150);
    expect(kneeRate([step(100, 500, false)])).toBeNull();
  });

  it('compares server CPU per request at the highest rate both sweeps served in full', () => {
    const cpu = (s: SweepStep, us?: number): SweepStep => ({ ...s, serverCpuUsPerRequest: us });
    const unserved = { ...step(400, 900, false), requestsPerSecond: 300 };
    const cachedSteps = [cpu(step(100, 5), 130), cpu(step(200, 300, false), 120), cpu(unserved, 110)];
    const bareSteps = [cpu(step(100, 5), 45), cpu(step(200, 5), 40), cpu(step(400, 5), 30)];
    expect(cpuPerRequestAtCommonRate(cachedSteps, bareSteps)).toEqual({ rate: 200, a: 120, b: 40 });
    expect(cpuPerRequestAtCommonRate(cachedSteps, [cpu(step(200, 5))])).toBeNull();
  });

  it("reads a process's CPU time from /proc, growing while it works", () => {
    const before = processCpuSeconds(process.pid);
    expect(before).toBeGreaterThan(0);
    // Work until the process itself counts 80 ms of CPU (wall time would depend on the machine's load).
    const start = process.cpuUsage();
    const used = () => {
      const u = process.cpuUsage(start);
      return (u.user + u.system) / 1e6;
    };
    while (used() < 0.08) Math.sqrt(Math.random());
    expect(processCpuSeconds(process.pid)! - before!).toBeGreaterThanOrEqual(0.05);
    expect(processCpuSeconds(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('evaluateTargets', () => {
  it('passes when every threshold is met', () => {
    const targets = evaluateTargets([baseline, stage1k, stage10k, cached]);
    expect(targets.map((t) => [t.id, t.met])).toEqual([
      ['primary-time-reduction', true],
      ['primary-read-reduction', true],
      ['product-page-hit-ratio', true],
      ['p99-and-errors:stage-1k', true],
      ['p99-and-errors:stage-10k', true],
      ['cached-read-vs-baseline', null],
      ['cached-read-vs-baseline-cpu', null],
    ]);
    expect(targets[0].measured).toBe('80.0% lower (2000.0 -> 400.0 ms), aim met');
    expect(targets[1].measured).toBe('97.5% fewer (800.0 -> 20.0 per 1,000 requests)');
    expect(targets[2].measured).toBe('90.0% of product pages answered without a database read');
    expect(targets[5].measured).toBe('66.7% (1000 vs 1500 req/s)');
  });

  it('fails each target on its own threshold, without loosening', () => {
    // 10k at 601 ms: 69.95% lower; 41 primary reads: 94.9% fewer; 61 product reads: 89.8% hits
    const worse = {
      ...stage10k,
      primary: serverCost(
        statements([
          [PRODUCT, 41, 41],
          [ORDER, 80, 560],
        ]),
        1000,
      ),
      routeCache: { productPage: routeCacheFigures(600, [statements([[PRODUCT, 61, 1]])], 'productPage') },
    };
    const targets = evaluateTargets([stage1k, worse]);
    expect(targets.find((t) => t.id === 'primary-time-reduction')!.met).toBe(false);
    expect(targets.find((t) => t.id === 'primary-read-reduction')!.met).toBe(false);
    expect(targets.find((t) => t.id === 'product-page-hit-ratio')!.met).toBe(false);
    const slow = evaluateTargets([
      { ...stage1k, fixed: fixed({ latencyMs: { p50: 1, p90: 1, p99: 100, max: 1, mean: 1 } }) },
    ]);
    expect(slow.find((t) => t.id === 'p99-and-errors:stage-1k')!.met).toBe(false);
    const failing = evaluateTargets([
      { ...stage1k, fixed: fixed({ errors: { non2xx: 0, socket: 1, timeouts: 0 } }) },
    ]);
    expect(failing.find((t) => t.id === 'p99-and-errors:stage-1k')).toMatchObject({
      met: false,
      measured: 'p99 50.0 ms, 1 errors',
    });
  });

  it('reports a missing scenario as not met', () => {
    const targets = evaluateTargets([stage1k]);
    expect(targets[0]).toMatchObject({ id: 'primary-time-reduction', met: false });
    expect(targets[0].measured).toMatch(/not measured/);
    expect(targets.find((t) => t.id === 'product-page-hit-ratio')).toMatchObject({
      met: false,
      measured: 'not measured',
    });
  });
});

describe('renderMarkdown', () => {
  it('renders the fixed-rate rows, order cost, sweep, targets and notes', () => {
    const scenarios = [
      baseline,
      { ...stage1k, serverRoutes: { 'GET /api/orders': { count: 10, meanMs: 4.25 } } },
      { ...stage10k, notes: ['10k note'] },
      cached,
    ];
    const report: BenchmarkReport = {
      generatedAt: '2026-11-30T18:00:00.000Z',
      machine: {
        cpus: 2,
        cpuModel: 'Test CPU',
        node: '20.0.0',
        os: 'Linux',
        loadAverage: { start: [1, 2, 3], end: [4, 5, 6] },
      },
      options: { rate: 250, durationSeconds: 30 },
      scenarios,
      targets: evaluateTargets(scenarios),
      notes: ['run note'],
    };
    const md = renderMarkdown(report);
    expect(md).toContain(
      'open loop at 250 req/s for 30 s per topology; load average (1/5/15 min) 1.00 / 2.00 / 3.00 at the start, 4.00 / 5.00 / 6.00 at the end.',
    );
    expect(md).toContain(
      '| stage 1k | 250 | 250 | 10.0 | 50.0 | 120.0 | 0 | 2000.0 | 0 | 0.88 | 800.0 | – | 0.0% | – | – |',
    );
    expect(md).toContain(
      '| stage 10k | 250 | 250 | 10.0 | 50.0 | 120.0 | 0 | 400.0 | 0 | 0.10 | 20.0 | 0.04 | 90.0% | – | 1.5% (reads 1.2%) |',
    );
    expect(md).toContain('| stage 10k (10 orders) | 10.00 | 0.00 | 0.00 | 4.00 | 9.50 | 40.000 |');
    expect(md).toContain(
      '| bare fastify | 1500 | 1000 -> 5 (1000); 1500 -> 9 (1500); 2250 -> 400 (2250) ✗ |',
    );
    expect(md).not.toMatch(/\| bare fastify \| \d+ \| \d+ \| [\d.]+ \| [\d.]+ \|/); // no fixed-rate row
    expect(md).toMatch(/\| primary database time .* \| 80.0% lower .* \| yes \|/);
    expect(md).toMatch(/\| one cached-read app process .* \| 66.7% .* \| reported \|/);
    expect(md).toContain('- run note\n- 10k note\n');
    expect(md).toContain('| `GET /api/orders` | 4.3 (10) |');
  });
});

describe('renderSvgChart', () => {
  const svg = renderSvgChart([baseline, stage1k, stage10k], { title: 'A <chart> & more' });

  it('is a standalone SVG with one bar per scenario and panel, n/a where a figure does not apply', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('A &lt;chart&gt; &amp; more');
    // p99, primary time and primary reads for the 2 stages; the knee only for the swept baseline
    expect(svg.match(/<rect [^>]*data-scenario=/g)).toHaveLength(2 + 2 + 2 + 1);
    expect(svg.match(/>n\/a</g)).toHaveLength(1 + 1 + 1 + 2);
    expect(svg).toContain('target 100 ms');
  });

  it('scales bars to the largest value of each panel', () => {
    const widths = [...svg.matchAll(/data-scenario="([^"]+)" data-value="([^"]+)"/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(widths.slice(2, 4)).toEqual([
      ['stage-1k', 2000],
      ['stage-10k', 400],
    ]);
    const rects = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(rects[2]).toBeCloseTo(rects[3] * 5, 0);
  });

  it('is deterministic and escapes XML', () => {
    expect(renderSvgChart([baseline, stage1k, stage10k], { title: 'A <chart> & more' })).toBe(svg);
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});
