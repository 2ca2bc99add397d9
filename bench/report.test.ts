import {
  addCounters,
  countersFromMetrics,
  diffCounters,
  diffRouteTimes,
  parsePrometheusText,
  routeTimesFromMetrics,
  sumSamples,
} from './metrics';
import {
  cacheFigures,
  dbFigures,
  evaluateTargets,
  renderMarkdown,
  SCENARIO_IDS,
  type BenchmarkReport,
  type ScenarioResult,
} from './report';
import { escapeXml, renderSvgChart } from './svg-chart';

function scenario(overrides: Partial<ScenarioResult> & Pick<ScenarioResult, 'id' | 'label'>): ScenarioResult {
  return {
    description: '',
    connections: 32,
    durationSeconds: 20,
    requests: 20_000,
    requestsPerSecond: 1000,
    latencyMs: { p50: 10, p99: 50, max: 120, mean: 12 },
    errors: { non2xx: 0, socket: 0, timeouts: 0 },
    statusCodes: { '200': 20_000 },
    ...overrides,
  };
}

const baseline = scenario({ id: SCENARIO_IDS.baseline, label: 'bare fastify', requestsPerSecond: 10_000 });
const stage1k = scenario({
  id: SCENARIO_IDS.stage1k,
  label: 'stage 1k',
  db: { primaryQueries: 30_000, replicaQueries: 0, primaryPer1000: 1500, replicaPer1000: 0 },
  cache: { hits: 0, misses: 0, errors: 0, hitRatio: null },
});
const stage10k = scenario({
  id: SCENARIO_IDS.stage10k,
  label: 'stage 10k',
  db: { primaryQueries: 2_000, replicaQueries: 4_000, primaryPer1000: 100, replicaPer1000: 200 },
  cache: { hits: 9, misses: 1, errors: 0, hitRatio: 0.9 },
});
const cached = scenario({
  id: SCENARIO_IDS.cachedReads,
  label: '1 app process, cached reads',
  requestsPerSecond: 4_500,
});

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

describe('derived figures', () => {
  const counters = { dbWriter: 300, dbReader: 700, cacheHit: 80, cacheMiss: 15, cacheError: 5 };

  it('counts both pools on the primary when there is no replica (stage 1k)', () => {
    expect(dbFigures(counters, 2000, { writer: 'primary', reader: 'primary' })).toEqual({
      primaryQueries: 1000,
      replicaQueries: 0,
      primaryPer1000: 500,
      replicaPer1000: 0,
    });
  });

  it('splits primary and replica when the reader pool is the replica (stage 10k)', () => {
    expect(dbFigures(counters, 2000, { writer: 'primary', reader: 'replica' })).toMatchObject({
      primaryPer1000: 150,
      replicaPer1000: 350,
    });
    expect(dbFigures(counters, 0, { writer: 'primary', reader: 'replica' }).primaryPer1000).toBe(0);
  });

  it('computes the hit ratio, and null without cache lookups', () => {
    expect(cacheFigures(counters).hitRatio).toBeCloseTo(0.8, 12);
    expect(cacheFigures({ ...counters, cacheHit: 0, cacheMiss: 0, cacheError: 0 }).hitRatio).toBeNull();
  });
});

describe('evaluateTargets', () => {
  it('passes when every threshold is met', () => {
    const targets = evaluateTargets([baseline, stage1k, stage10k, cached]);
    expect(targets.map((t) => [t.id, t.met])).toEqual([
      ['primary-query-reduction', true],
      ['cached-read-throughput', true],
      ['p99-and-errors:bare-fastify', true],
      ['p99-and-errors:stage-1k', true],
      ['p99-and-errors:stage-10k', true],
      ['p99-and-errors:app-cached-reads', true],
    ]);
    expect(targets[0].measured).toBe('93.3% fewer (1500.0 -> 100.0 primary queries per 1,000 requests)');
    expect(targets[1].measured).toBe('45.0% (4500 vs 10000 req/s)');
  });

  it('fails each target on its own threshold, without loosening', () => {
    const targets = evaluateTargets([
      baseline,
      stage1k,
      { ...stage10k, db: { ...stage10k.db!, primaryPer1000: 151 } }, // 89.9% fewer
      { ...cached, requestsPerSecond: 3_999 }, // 39.99%
    ]);
    expect(targets.find((t) => t.id === 'primary-query-reduction')!.met).toBe(false);
    expect(targets.find((t) => t.id === 'cached-read-throughput')!.met).toBe(false);
    const slow = evaluateTargets([{ ...stage1k, latencyMs: { ...stage1k.latencyMs, p99: 200 } }]);
    expect(slow.find((t) => t.id === 'p99-and-errors:stage-1k')!.met).toBe(false);
    const failing = evaluateTargets([{ ...stage1k, errors: { non2xx: 0, socket: 1, timeouts: 0 } }]);
    expect(failing.find((t) => t.id === 'p99-and-errors:stage-1k')).toMatchObject({
      met: false,
      measured: 'p99 50 ms, 1 errors',
    });
  });

  it('reports a missing scenario as not met', () => {
    const targets = evaluateTargets([stage1k]);
    expect(targets[0]).toMatchObject({ id: 'primary-query-reduction', met: false });
    expect(targets[0].measured).toMatch(/not measured/);
    expect(targets[1]).toMatchObject({ id: 'cached-read-throughput', met: false });
  });
});

describe('renderMarkdown', () => {
  it('renders one row per scenario, the targets and the notes', () => {
    const scenarios = [
      baseline,
      { ...stage1k, serverRoutes: { 'GET /api/orders': { count: 10, meanMs: 4.25 } } },
      {
        ...stage10k,
        notes: ['10k note'],
        serverRoutes: {
          'GET /api/orders': { count: 12, meanMs: 3 },
          'POST /api/orders': { count: 2, meanMs: 30 },
        },
      },
      cached,
    ];
    const report: BenchmarkReport = {
      generatedAt: '2026-11-28T05:00:00.000Z',
      machine: { cpus: 2, cpuModel: 'Test CPU', node: '20.0.0', os: 'Linux' },
      options: { durationSeconds: 20, connections: 32 },
      scenarios,
      targets: evaluateTargets(scenarios),
      notes: ['run note'],
    };
    const md = renderMarkdown(report);
    expect(md).toContain('on 2 cores (Test CPU), Node 20.0.0; 20 s per scenario, 32 connections.');
    expect(md).toContain('| bare fastify | 10000 | 10.0 | 50.0 | 120.0 | 0 | – | – | – |');
    expect(md).toContain('| stage 1k | 1000 | 10.0 | 50.0 | 120.0 | 0 | 1500.0 | 0.0 | – |');
    expect(md).toContain('| stage 10k | 1000 | 10.0 | 50.0 | 120.0 | 0 | 100.0 | 200.0 | 90.0% |');
    expect(md).toMatch(/\| stage 10k sends >= 90.0% fewer .* \| 93.3% fewer .* \| yes \|/);
    expect(md).toContain('- run note\n- 10k note\n');
    expect(md).toContain('| server-side mean latency, ms (app histogram) | stage 1k | stage 10k |');
    expect(md).toContain('| `GET /api/orders` | 4.3 (10) | 3.0 (12) |');
    expect(md).toContain('| `POST /api/orders` | – | 30.0 (2) |');
  });
});

describe('renderSvgChart', () => {
  const svg = renderSvgChart([baseline, stage1k, stage10k], { title: 'A <chart> & more' });

  it('is a standalone SVG with one bar per scenario and panel', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('A &lt;chart&gt; &amp; more');
    // throughput and p99 for 3 scenarios, primary queries only for the 2 with a database
    expect(svg.match(/<rect [^>]*data-scenario=/g)).toHaveLength(3 + 3 + 2);
    expect(svg).toContain('>n/a<');
    expect(svg).toContain('target 200 ms');
  });

  it('scales bars to the largest value of each panel', () => {
    const widths = [...svg.matchAll(/data-scenario="([^"]+)" data-value="([^"]+)"/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(widths.slice(0, 3)).toEqual([
      ['bare-fastify', 10_000],
      ['stage-1k', 1000],
      ['stage-10k', 1000],
    ]);
    const rects = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(rects[0]).toBeCloseTo(rects[1] * 10, 0);
  });

  it('is deterministic and escapes XML', () => {
    expect(renderSvgChart([baseline, stage1k, stage10k], { title: 'A <chart> & more' })).toBe(svg);
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});
