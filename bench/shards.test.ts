import { describeShardBench, parseShardBenchOptions, percentiles, runShardBench } from './shards';

describe('bench:shards options', () => {
  test('defaults are the issue size', () => {
    expect(parseShardBenchOptions([])).toMatchObject({ users: 100_000, orders: 300_000, maxMoves: 0 });
    expect(
      parseShardBenchOptions(['--users=10', '--orders', '30', '--load-users', '4', '--out', 'none']),
    ).toMatchObject({
      users: 10,
      orders: 30,
      out: null,
    });
  });

  test('fails naming every bad flag', () => {
    expect(() => parseShardBenchOptions(['--users', 'x', '--nope', '1'])).toThrow(
      /--users must be an integer >= 1, got "x".*unknown flag --nope/,
    );
    expect(() => parseShardBenchOptions(['--users', '10', '--orders', '5'])).toThrow(
      /--orders \(5\) must be at least/,
    );
    expect(() => parseShardBenchOptions(['--rollback-window-ms', '100', '--map-refresh-ms', '200'])).toThrow(
      /--rollback-window-ms \(100\) must exceed --map-refresh-ms/,
    );
  });
});

test('percentiles: nearest rank', () => {
  expect(percentiles([])).toEqual({ p50: 0, p99: 0, max: 0 });
  expect(percentiles([5, 1, 3])).toEqual({ p50: 3, p99: 5, max: 5 });
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentiles(hundred)).toEqual({ p50: 50, p99: 99, max: 100 });
});

test('a tiny run: seed over 2 shards, add a third, 2 moves of the plan under an open-loop write load', async () => {
  // About 12 users per logical shard: every moved one has rows.
  const users = 3000;
  const orders = 9000;
  const lines: string[] = [];
  const report = await runShardBench(
    {
      ...parseShardBenchOptions([]),
      users,
      orders,
      ratePerSecond: 20,
      loadUsers: 4,
      maxMoves: 2,
      out: null,
    },
    (line) => lines.push(line),
  );
  process.stdout.write(`${describeShardBench(report).join('\n')}\n`);
  // Every user, order and line seeded once, over both servers.
  expect(report.seed.rows).toBe(users + 2 * orders);
  // 256 logical shards on two, then three: 85 moves planned, 2 run.
  expect(report.plan).toMatchObject({ moves: 85, run: 2, before: { '0': 128, '1': 128, '2': 0 } });
  expect(report.after['2']).toBe(2);
  // Users counted in the databases: every seeded user on exactly one shard, before and after the moves.
  const total = (perShard: Record<string, number>) => Object.values(perShard).reduce((a, b) => a + b, 0);
  expect(total(report.users.before.perShard)).toBe(users);
  expect(total(report.users.after.perShard)).toBe(users);
  expect(Object.keys(report.users.before.perShard)).toEqual(['0', '1']);
  expect(report.users.after.perShard['2']).toBeGreaterThan(0);
  expect(report.users.before.maxOverMean).toBeGreaterThanOrEqual(1);
  expect(report.moves).toHaveLength(2);
  for (const move of report.moves) {
    expect(move.to).toBe('2');
    expect(move.rows).toBeGreaterThan(0);
    expect(move.copyMs).toBeGreaterThan(0);
    expect(move.fenceMs).toBeGreaterThan(0);
  }
  expect(report.copy.rows).toBe(report.moves[0].rows + report.moves[1].rows);
  expect(report.copy.rowsPerSecond).toBeGreaterThan(0);
  // The writes during the moves: answered, and never a 5xx other than 503 with Retry-After.
  expect(report.writes.duringMoves).toBeGreaterThan(0);
  expect(report.writes.serverErrors).toBe(0);
  expect(report.writes.unavailableWithoutRetryAfter).toBe(0);
  expect(report.writes.failed).toBe(0);
  expect(Object.keys(report.writes.statuses).filter((s) => s !== '201' && s !== '503')).toEqual([]);
  expect(describeShardBench(report).join('\n')).toMatch(/fence per move: p50 \d+ ms/);
  expect(lines.some((line) => line.startsWith('plan: 85 moves'))).toBe(true);
}, 180_000);
