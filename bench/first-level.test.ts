import { parseWrkOutput, summariseRounds, type RoundFigures } from './first-level';

const round = (bare: number, app: number, appServed = 5000, failures = 0): RoundFigures => ({
  bare: { cpuUs: bare, servedPerSecond: 5000, cores: (bare * 5000) / 1e6, failures: 0 },
  app: { cpuUs: app, servedPerSecond: appServed, cores: (app * appServed) / 1e6, failures },
});

describe('summariseRounds', () => {
  it("takes the median of each round's own ratio, not the ratio of the medians", () => {
    // The machine slows down by 2x in the middle rounds: each round's pair moves together.
    const summary = summariseRounds(
      [round(30, 50), round(60, 100), round(62, 100), round(31, 50), round(30, 60)],
      5000,
    );
    expect(summary.cpuShare).toBe(0.6);
    expect(summary.bareCpuUs).toBe(31);
    expect(summary.appCpuUs).toBe(60);
    // The ratio of the medians would say 31 / 60 = 51.7 %.
    expect(summary.bareCpuUs / summary.appCpuUs).toBeLessThan(0.52);
    expect(summary.roundsShort).toBe(0);
    // Cores busy: the median of each server's slices (5000 requests a second at 31 and 60 µs).
    expect(summary.bareCores).toBe(0.16);
    expect(summary.appCores).toBe(0.3);
  });

  it('counts the rounds where a server fell behind the offered rate or failed requests', () => {
    const summary = summariseRounds([round(30, 50), round(30, 50, 4000), round(30, 50, 5000, 3)], 5000);
    expect(summary.roundsShort).toBe(2);
    expect(summary.appServedPerSecond).toBe(5000);
  });

  it('refuses to summarise no rounds', () => {
    expect(() => summariseRounds([], 5000)).toThrow(/no rounds measured/);
  });
});

describe('parseWrkOutput', () => {
  const output = (extra: string) =>
    `Running 3s test @ http://127.0.0.1:4000\n  1 threads and 64 connections\n` +
    `  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     1.31ms  300.00us   9.00ms   90.00%\n` +
    `  143550 requests in 3.00s, 120.31MB read\n${extra}Requests/sec:  47850.00\nTransfer/sec:     40.10MB\n`;

  it('reads the requests wrk completed', () => {
    expect(parseWrkOutput(output(''))).toEqual({ requests: 143550, failures: 0 });
  });

  it('counts non-2xx/3xx answers and socket errors as failures', () => {
    const parsed = parseWrkOutput(
      output('  Socket errors: connect 0, read 2, write 0, timeout 5\n  Non-2xx or 3xx responses: 40\n'),
    );
    expect(parsed).toEqual({ requests: 143550, failures: 47 });
  });

  it('refuses output without a request count', () => {
    expect(() => parseWrkOutput('unable to connect to 127.0.0.1:4000 Connection refused')).toThrow(
      /no request count/,
    );
  });
});
