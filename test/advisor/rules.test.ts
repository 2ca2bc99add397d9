/**
 * The advisor's rules as tables of series → verdict: thresholds, the share of windows that must breach, the
 * stage-dependent verdicts, and the flags behind the moves to 1m and global.
 */
import type { AdvisorStageId } from '../../tools/advisor/deployment';
import {
  cacheSignals,
  contextSignals,
  DEFAULT_MIN_SHARE,
  maxConnections,
  NO_DATA,
  quantile,
  readerSignals,
  recommend,
  serviceSignals,
  sizeSignals,
  thresholdSignal,
  worstPerWindow,
  writerSignals,
  type RuleContext,
  type Series,
  type Signal,
} from '../../tools/advisor/rules';

const HOUR = 3_600_000;
/** A series of one value per hour, oldest first. */
const series = (values: number[]): Series => ({ timestamps: values.map((_, i) => i * HOUR), values });
/** `n` windows of which `hot` are at `high` and the rest at `low`. */
const mix = (n: number, hot: number, low: number, high: number): Series =>
  series(Array.from({ length: n }, (_, i) => (i < hot ? high : low)));

const ctx = (stage: AdvisorStageId, flags: RuleContext['flags'] = {}): RuleContext => ({
  stage,
  minShare: DEFAULT_MIN_SHARE,
  albP99LatencyMs: 200,
  alb5xxRatePercent: 1,
  flags,
});
const byId = (signals: Signal[], id: string) => signals.find((signal) => signal.id === id) as Signal;
const verdictOf = (signal: Signal) =>
  signal.verdict.kind === 'move' ? `move ${signal.verdict.to}` : signal.verdict.kind;

const quiet = {
  cpu: mix(100, 0, 20, 20),
  dbLoad: mix(100, 0, 0.5, 0.5),
  connections: mix(100, 0, 50, 50),
  freeableMemory: mix(100, 0, 2 * 2 ** 30, 2 * 2 ** 30),
  bufferCacheHitRatio: mix(100, 0, 99.9, 99.9),
};

describe('windows and thresholds', () => {
  test.each([
    // windows past 80 of 100 → verdict (a breach needs ≥ 20 % of the windows)
    [0, 'fine'],
    [19, 'fine'],
    [20, 'move 100k'],
    [100, 'move 100k'],
  ])('writer CPU over 80 %% in %i of 100 windows on 10k: %s', (hot, expected) => {
    const signals = writerSignals(
      'w',
      'db.t4g.medium',
      true,
      { ...quiet, cpu: mix(100, hot, 50, 95) },
      ctx('10k'),
    );
    expect(verdictOf(byId(signals, 'writer.cpu'))).toBe(expected);
  });

  test('a value equal to the threshold is not past it', () => {
    const signal = thresholdSignal(
      {
        id: 'x',
        area: 'Writer',
        resource: 'r',
        metric: 'm',
        unit: '%',
        comparison: 'above',
        threshold: 80,
        source: 's',
        onBreach: { kind: 'scale', action: 'a' },
      },
      mix(10, 10, 80, 80),
      { minShare: 0.2 },
    );
    expect(signal.stats).toMatchObject({ windows: 10, breaching: 0, share: 0 });
    expect(signal.verdict).toEqual({ kind: 'fine' });
  });

  test('no data is reported as such, never as fine', () => {
    const signals = writerSignals('w', 'db.t4g.medium', true, { ...quiet, dbLoad: NO_DATA }, ctx('10k'));
    expect(byId(signals, 'writer.dbload').verdict).toEqual({ kind: 'no-data' });
  });

  test('the report value is the p95 (or the p5 for "below" rules)', () => {
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21], 0.95)).toBe(
      20,
    );
    const signals = writerSignals(
      'w',
      'db.t4g.medium',
      true,
      { ...quiet, cpu: mix(100, 10, 30, 90) },
      ctx('10k'),
    );
    expect(byId(signals, 'writer.cpu').stats?.summary).toBe(90);
    const low = writerSignals(
      'w',
      'db.t4g.medium',
      true,
      { ...quiet, bufferCacheHitRatio: mix(100, 10, 99.9, 97) },
      ctx('10k'),
    );
    expect(byId(low, 'writer.buffer-cache').stats?.summary).toBe(97);
  });
});

describe('writer', () => {
  test.each([
    ['1k', 'move 10k'],
    ['10k', 'move 100k'],
    ['100k', 'scale'],
    ['global', 'scale'],
  ] as const)('a saturated writer on %s: %s', (stage, expected) => {
    const signals = writerSignals(
      'w',
      'db.t4g.medium',
      stage !== '1k',
      { ...quiet, cpu: mix(100, 40, 60, 95) },
      ctx(stage),
    );
    expect(verdictOf(byId(signals, 'writer.cpu'))).toBe(expected);
  });

  test.each([
    // DBLoad against the class's vCPUs: db.t4g.medium has 2, db.r7g.xlarge 4
    ['db.t4g.medium', 3, 'move 100k'],
    ['db.r7g.xlarge', 3, 'fine'],
    ['db.r7g.xlarge', 5, 'move 100k'],
  ])('DBLoad on %s at %d sessions: %s', (writerClass, load, expected) => {
    const signals = writerSignals(
      'w',
      writerClass,
      true,
      { ...quiet, dbLoad: mix(100, 50, 0.5, load) },
      ctx('10k'),
    );
    expect(verdictOf(byId(signals, 'writer.dbload'))).toBe(expected);
  });

  test.each([
    // max_connections: db.t4g.medium 405 → threshold 324
    [false, 330, 'move 10k'],
    [true, 330, 'scale'],
    [true, 320, 'fine'],
  ])('connections with proxy=%s at %d: %s', (hasProxy, connections, expected) => {
    const signals = writerSignals(
      'w',
      'db.t4g.medium',
      hasProxy,
      { ...quiet, connections: mix(100, 30, 50, connections) },
      ctx(hasProxy ? '10k' : '1k'),
    );
    expect(byId(signals, 'writer.connections').threshold).toBe(324);
    expect(verdictOf(byId(signals, 'writer.connections'))).toBe(expected);
  });

  test('max_connections follows the class (documented table, else LEAST(memory/9531392, 5000))', () => {
    expect(maxConnections('db.t4g.medium')).toBe(405);
    expect(maxConnections('db.r7g.large')).toBe(1722);
    expect(maxConnections('db.r7g.4xlarge')).toBe(5000);
    expect(maxConnections('db.x9.huge')).toBeUndefined();
  });

  test.each([
    // freeable memory under 10 % of 4 GiB (410 MiB), buffer cache under 99 %
    ['freeable-memory', { freeableMemory: mix(100, 30, 2 * 2 ** 30, 300 * 2 ** 20) }, 'scale'],
    ['freeable-memory', { freeableMemory: mix(100, 30, 2 * 2 ** 30, 500 * 2 ** 20) }, 'fine'],
    ['buffer-cache', { bufferCacheHitRatio: mix(100, 30, 99.9, 98.5) }, 'scale'],
  ])('writer.%s: %j → %s', (id, override, expected) => {
    const signals = writerSignals('w', 'db.t4g.medium', true, { ...quiet, ...override }, ctx('10k'));
    expect(verdictOf(byId(signals, `writer.${id}`))).toBe(expected);
  });

  test('an unknown instance class is an error naming it, not a silent pass', () => {
    expect(() => writerSignals('w', 'db.x9.huge', true, quiet, ctx('10k'))).toThrow(
      /instance class db\.x9\.huge/,
    );
  });
});

describe('readers, size, ECS, cache', () => {
  test.each([
    [mix(100, 25, 20, 150), mix(100, 0, 30, 30), 'scale', 'fine'],
    [mix(100, 10, 20, 150), mix(100, 30, 30, 90), 'fine', 'scale'],
  ])('replica lag and reader CPU', (lag, cpu, lagVerdict, cpuVerdict) => {
    const signals = readerSignals('r', lag, cpu, ctx('10k'));
    expect(verdictOf(byId(signals, 'readers.lag'))).toBe(lagVerdict);
    expect(verdictOf(byId(signals, 'readers.cpu'))).toBe(cpuVerdict);
  });

  test.each([
    ['10k', 600e9, 0, 'move 100k', 'fine'],
    ['10k', 100e9, 1.2e9, 'fine', 'move 100k'],
    ['100k', 600e9, 0, 'scale', 'fine'],
    ['1k', 600e9, 0, 'move 10k', 'fine'],
  ] as const)('size on %s: volume %d B, xids %d', (stage, bytes, xids, volume, transactionIds) => {
    const signals = sizeSignals('s', mix(50, 50, bytes, bytes), mix(50, 50, xids, xids), ctx(stage));
    expect(verdictOf(byId(signals, 'size.volume'))).toBe(volume);
    expect(verdictOf(byId(signals, 'size.transaction-ids'))).toBe(transactionIds);
  });

  test('ECS CPU counts only windows at the maximum task count', () => {
    const cpu = mix(100, 50, 40, 90);
    // Hot in windows 0-49, but at 12 tasks only in windows 0-9: 10 % of the windows.
    const fewAtMax = serviceSignals(
      's',
      12,
      { cpu, memory: NO_DATA, runningTasks: mix(100, 10, 6, 12) },
      ctx('10k'),
    );
    expect(verdictOf(byId(fewAtMax, 'ecs.cpu'))).toBe('fine');
    const manyAtMax = serviceSignals(
      's',
      12,
      { cpu, memory: NO_DATA, runningTasks: mix(100, 50, 6, 12) },
      ctx('10k'),
    );
    expect(byId(manyAtMax, 'ecs.cpu').verdict).toEqual({
      kind: 'scale',
      action: 'raise the task maximum above 12 (or a larger task size)',
    });
    const unknownCount = serviceSignals('s', 12, { cpu, memory: NO_DATA, runningTasks: NO_DATA }, ctx('1k'));
    expect(verdictOf(byId(unknownCount, 'ecs.cpu'))).toBe('move 10k');
  });

  test('cache rules take the worst node per window; small nodes use host CPU over 90 / vCPUs', () => {
    const node = (values: number[]) => series(values);
    expect(worstPerWindow([node([1, 5]), node([3, 2])], 'above').values).toEqual([3, 5]);
    expect(worstPerWindow([node([1, 5]), node([3, 2])], 'below').values).toEqual([1, 2]);
    const quietNodes = {
      engineCpu: [NO_DATA],
      cpu: [mix(10, 0, 20, 20), mix(10, 0, 20, 20)],
      memory: [mix(10, 0, 50, 50)],
      evictions: [mix(10, 0, 0, 0)],
      swap: [mix(10, 0, 0, 0)],
      hitRate: [mix(10, 0, 95, 95)],
    };
    const small = cacheSignals(
      'c',
      'cache.t4g.small',
      { ...quietNodes, cpu: [mix(10, 0, 20, 20), mix(10, 3, 20, 50)] },
      ctx('10k'),
    );
    expect(byId(small, 'cache.cpu')).toMatchObject({ threshold: 45, verdict: { kind: 'scale' } });
    const large = cacheSignals(
      'c',
      'cache.r7g.xlarge',
      { ...quietNodes, cpu: [mix(10, 3, 20, 50)], engineCpu: [mix(10, 3, 20, 50)] },
      ctx('10k'),
    );
    expect(byId(large, 'cache.cpu')).toMatchObject({ threshold: 90, verdict: { kind: 'fine' } });
    const evicting = cacheSignals(
      'c',
      'cache.t4g.small',
      { ...quietNodes, evictions: [mix(10, 2, 0, 40)] },
      ctx('10k'),
    );
    expect(verdictOf(byId(evicting, 'cache.evictions'))).toBe('scale');
    const missing = cacheSignals(
      'c',
      'cache.t4g.small',
      { ...quietNodes, hitRate: [mix(10, 5, 95, 60)] },
      ctx('10k'),
    );
    expect(verdictOf(byId(missing, 'cache.hit-rate'))).toBe('scale');
  });
});

describe('flags: what metrics cannot show', () => {
  test.each([
    ['100k', { teams: 4 }, 'context.teams', 'move 1m'],
    ['100k', { teams: 2 }, 'context.teams', 'fine'],
    ['10k', { teams: 4 }, 'context.teams', 'fine'],
    ['1m', { userContinents: 2 }, 'context.geography', 'move global'],
    ['1m', { rtoMinutes: 15 }, 'context.rto', 'move global'],
    ['1m', { rtoMinutes: 240 }, 'context.rto', 'fine'],
    ['1m', { rpoSeconds: 5 }, 'context.rpo', 'move global'],
  ] as const)('on %s with %j: %s is %s', (stage, flags, id, expected) => {
    const signal = byId(contextSignals(ctx(stage, flags)), id);
    expect(verdictOf(signal)).toBe(expected);
    expect(signal.flags?.length).toBe(1);
  });

  test('a flag that applies later says so', () => {
    expect(byId(contextSignals(ctx('10k', { teams: 4 })), 'context.teams').note).toBe(
      'applies from stage 100k: upgrade stage by stage',
    );
    expect(contextSignals(ctx('10k'))).toEqual([]);
  });
});

test('the recommendation is the furthest move, else scaling, else none', () => {
  const cpu = byId(
    writerSignals('w', 'db.t4g.medium', true, { ...quiet, cpu: mix(10, 5, 20, 95) }, ctx('10k')),
    'writer.cpu',
  );
  const lag = byId(readerSignals('r', mix(10, 5, 20, 500), NO_DATA, ctx('10k')), 'readers.lag');
  const fine = byId(readerSignals('r', NO_DATA, mix(10, 0, 20, 20), ctx('10k')), 'readers.cpu');
  expect(recommend([fine, lag, cpu])).toMatchObject({ kind: 'move', to: '100k', because: [cpu] });
  expect(recommend([fine, lag])).toMatchObject({ kind: 'scale', because: [lag] });
  expect(recommend([fine])).toEqual({ kind: 'fine', because: [] });
});
