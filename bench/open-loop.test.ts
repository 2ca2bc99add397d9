import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { runOpenLoop, scheduledCount, scheduledTimeMs } from './open-loop';
import type { PlannedRequest } from './workload';

/** A server that handles one request at a time, `serviceMs` each, and notes when each request arrived. */
async function serialServer(serviceMs: number) {
  const arrivals: number[] = [];
  let queue = Promise.resolve();
  const server = http.createServer((req, res) => {
    arrivals.push(performance.now());
    if (req.url === '/hang') return; // never answers
    if (req.url === '/fail') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      return;
    }
    queue = queue.then(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
            resolve();
          }, serviceMs),
        ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const get = (path: string): PlannedRequest => ({ op: 'productPage', method: 'GET', path, headers: {} });

describe('open-loop schedule', () => {
  it('spaces requests evenly at the rate and schedules rate × duration of them', () => {
    expect(scheduledTimeMs(0, 200)).toBe(0);
    expect(scheduledTimeMs(1, 200)).toBe(5);
    expect(scheduledTimeMs(199, 200)).toBe(995);
    expect(scheduledCount(200, 1.5)).toBe(300);
    expect(() => scheduledCount(0, 1)).toThrow('rate 0/s');
    expect(() => scheduledCount(10, -1)).toThrow('-1 s');
  });
});

describe('runOpenLoop', () => {
  it('keeps sending at the rate when the server is slower, and counts the queueing in the latency', async () => {
    // GIVEN a server that can do 50 requests/s (20 ms each, one at a time)
    const server = await serialServer(20);
    try {
      // WHEN it is offered 200 requests/s for one second
      const scheduled: number[] = [];
      const result = await runOpenLoop({
        url: server.url,
        ratePerSecond: 200,
        durationSeconds: 1,
        plan: (at) => {
          scheduled.push(at);
          return get('/ok');
        },
      });
      // THEN all 200 were sent within about the second (a closed loop would have needed 4 s) ...
      expect(result.scheduled).toBe(200);
      expect(result.requests).toBe(200);
      expect(scheduled[199]).toBeCloseTo(995, 6);
      const spread = server.arrivals[199] - server.arrivals[0];
      expect(spread).toBeLessThan(2_000);
      // ... and the last answers came ~4 s after the start, so ~3 s after they were due
      expect(result.latencyMs.max).toBeGreaterThan(2_900);
      expect(result.latencyMs.p50).toBeGreaterThan(1_000);
      expect(result.errors).toEqual({ non2xx: 0, socket: 0, timeouts: 0 });
      expect(result.operations.productPage).toMatchObject({ count: 200, non2xx: 0 });
    } finally {
      await server.close();
    }
  });

  it('counts non-2xx answers and timeouts as errors, with samples', async () => {
    const server = await serialServer(1);
    try {
      let i = 0;
      const result = await runOpenLoop({
        url: server.url,
        ratePerSecond: 30,
        durationSeconds: 1,
        timeoutSeconds: 0.5,
        plan: () => get(['/ok', '/fail', '/hang'][i++ % 3]),
      });
      expect(result.scheduled).toBe(30);
      expect(result.statusCodes).toEqual({ 200: 10, 500: 10 });
      expect(result.requests).toBe(20);
      expect(result.errors).toEqual({ non2xx: 10, socket: 0, timeouts: 10 });
      expect(result.sampleFailures.some((f) => f.includes('500: boom'))).toBe(true);
      // A timed-out request counts at least its timeout in the latency.
      expect(result.latencyMs.max).toBeGreaterThanOrEqual(500);
    } finally {
      await server.close();
    }
  });
});
