// The HTTP adapter between services (ServiceClient) against a real HTTP server on a free port: timeouts,
// retries only for idempotent calls, the circuit breaker opening, half-opening and closing, and the
// HttpCatalogStock's mapping of the products service's answers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError } from '../../src/errors';
import { HttpCatalogStock } from '../../src/services/http-catalog-stock';
import { DependencyUnavailableError, ServiceClient } from '../../src/services/service-client';
import { until } from '../support/wait';

/** What the fake dependency does with the next requests; every request is recorded. */
let behaviour: (req: IncomingMessage, res: ServerResponse) => void;
let received: { method: string; url: string; body: string }[] = [];
let server: Server;
let baseUrl: string;
const hanging: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body });
      behaviour(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
});

const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};
const never = (_req: IncomingMessage, res: ServerResponse) => {
  hanging.push(res);
};

function client(overrides: Partial<ConstructorParameters<typeof ServiceClient>[0]> = {}) {
  return new ServiceClient({
    name: 'products',
    baseUrl,
    // Long enough for an answer on a loaded machine; the tests of timeouts set 200 ms themselves.
    timeoutMs: 1000,
    retries: 2,
    budgetMs: 2000,
    breakerResetMs: 60_000,
    consecutiveFailures: 100,
    backoffBaseMs: 10,
    ...overrides,
  });
}

test('an answer below 500 is returned as it is (a 4xx is an answer, not an outage)', async () => {
  const c = client({ consecutiveFailures: 1 });
  try {
    behaviour = json(409, { message: 'only 1 in stock' });
    const answer = await c.send({ method: 'POST', path: '/internal/x', body: { a: 1 }, idempotent: true });
    expect(answer).toEqual({ status: 409, body: { message: 'only 1 in stock' } });
    expect(received).toEqual([{ method: 'POST', url: '/internal/x', body: '{"a":1}' }]);
    // AND the breaker counted it as a success
    expect(c.state).toBe('closed');
  } finally {
    c.shutdown();
  }
});

test('a dependency that does not answer is a 503 after the per-call timeout, within the budget', async () => {
  const c = client({ retries: 0, timeoutMs: 200 });
  try {
    behaviour = never;
    const started = Date.now();
    const error = await c.send({ method: 'POST', path: '/slow', idempotent: true }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error).toMatchObject({ statusCode: 503, reason: 'no answer within 200 ms' });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1500);
  } finally {
    c.shutdown();
  }
});

test('the budget bounds all attempts together: retries stop when no attempt could finish in it', async () => {
  const c = client({ retries: 5, timeoutMs: 200, budgetMs: 520 });
  try {
    behaviour = never;
    const started = Date.now();
    await expect(c.send({ method: 'POST', path: '/slow', idempotent: true })).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(1000);
    // 200 ms each in 520 ms: two full attempts; a third would have about 100 ms left, so it is never started.
    expect(received.length).toBeLessThanOrEqual(2);
  } finally {
    c.shutdown();
  }
});

test('idempotent calls are retried on 5xx and succeed when an attempt does', async () => {
  const c = client({ retries: 2 });
  try {
    let calls = 0;
    behaviour = (req, res) => {
      calls += 1;
      (calls < 3 ? json(503, { message: 'busy' }) : json(200, { ok: true }))(req, res);
    };
    const answer = await c.send({ method: 'POST', path: '/internal/r/1', idempotent: true });
    expect(answer).toEqual({ status: 200, body: { ok: true } });
    expect(received.map((r) => r.url)).toEqual(['/internal/r/1', '/internal/r/1', '/internal/r/1']);
  } finally {
    c.shutdown();
  }
});

test('a call that is not idempotent gets exactly one attempt, even on a 5xx or a timeout', async () => {
  const c = client({ retries: 3, timeoutMs: 200 });
  try {
    behaviour = json(500, { message: 'boom' });
    await expect(c.send({ method: 'POST', path: '/once', idempotent: false })).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
    expect(received).toHaveLength(1);
    received = [];
    behaviour = never;
    await expect(c.send({ method: 'POST', path: '/once', idempotent: false })).rejects.toMatchObject({
      reason: 'no answer within 200 ms',
    });
    // The request may reach the server after the client gave up (a loaded machine): wait for it, so it is counted
    // here and cannot arrive in the next test's record.
    await until(() => received.length >= 1, 'the one attempt to reach the server', 5_000);
    expect(received).toHaveLength(1);
  } finally {
    c.shutdown();
  }
});

test('the breaker opens after failures in a row, fails fast without calling, half-opens after the reset, and closes on a good probe', async () => {
  const states: string[] = [];
  const c = client({
    retries: 0,
    consecutiveFailures: 3,
    breakerResetMs: 300,
    onStateChange: (state) => states.push(state),
  });
  try {
    // GIVEN a dependency answering 502
    behaviour = json(502, { message: 'bad gateway' });
    for (let i = 0; i < 3; i++)
      await expect(c.send({ method: 'GET', path: '/f', idempotent: true })).rejects.toBeInstanceOf(
        DependencyUnavailableError,
      );
    // THEN the breaker is open
    expect(c.state).toBe('open');
    expect(received).toHaveLength(3);
    // AND calls fail at once without reaching the dependency, with a Retry-After of the reset time
    const started = Date.now();
    const error = await c.send({ method: 'GET', path: '/f', idempotent: true }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(100);
    expect(error).toMatchObject({ reason: 'circuit breaker open', retryAfterSeconds: 1 });
    expect(received).toHaveLength(3);

    // WHEN the reset time has passed, the breaker is half-open and lets one probe through
    await until(() => c.state === 'half-open', 'the breaker to half-open', 5_000);
    behaviour = json(200, { ok: true });
    expect((await c.send({ method: 'GET', path: '/probe', idempotent: true })).status).toBe(200);
    // THEN the probe's success closes it
    expect(c.state).toBe('closed');
    expect(received.map((r) => r.url)).toEqual(['/f', '/f', '/f', '/probe']);
    expect(states).toEqual(['open', 'half-open', 'closed']);
  } finally {
    c.shutdown();
  }
});

test('a failed probe in half-open opens the breaker again', async () => {
  const c = client({ retries: 0, consecutiveFailures: 1, breakerResetMs: 200 });
  try {
    behaviour = json(500, {});
    await expect(c.send({ method: 'GET', path: '/a', idempotent: true })).rejects.toThrow();
    expect(c.state).toBe('open');
    await until(() => c.state === 'half-open', 'the breaker to half-open', 5_000);
    await expect(c.send({ method: 'GET', path: '/a', idempotent: true })).rejects.toThrow();
    expect(c.state).toBe('open');
  } finally {
    c.shutdown();
  }
});

test('a refused connection is a 503 at once (products down), and counts as a failure', async () => {
  // A port nothing listens on (just freed).
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const down = new ServiceClient({
    name: 'products',
    baseUrl: `http://127.0.0.1:${port}`,
    timeoutMs: 1000,
    retries: 2,
    budgetMs: 3000,
    breakerResetMs: 60_000,
    consecutiveFailures: 3,
    backoffBaseMs: 10,
  });
  try {
    const started = Date.now();
    await expect(down.send({ method: 'POST', path: '/x', idempotent: true })).rejects.toMatchObject({
      statusCode: 503,
      reason: 'ECONNREFUSED',
    });
    expect(Date.now() - started).toBeLessThan(1000);
    // three attempts (1 + 2 retries), all refused: the breaker is open
    expect(down.state).toBe('open');
  } finally {
    down.shutdown();
  }
});

describe('HttpCatalogStock', () => {
  const order = {
    id: '01900000-0000-7000-8000-000000000001',
    userId: '01900000-0000-7000-8000-000000000002',
    lines: [
      { productId: '01900000-0000-7000-8000-000000000003', quantity: 2, field: 'body/items/0/productId' },
    ],
  };

  test('reserve posts the lines to the internal API and returns the priced lines', async () => {
    const c = client();
    try {
      const lines = [{ productId: order.lines[0].productId, name: 'Mug', quantity: 2, unitPriceCents: 500 }];
      behaviour = json(200, { lines });
      expect(await new HttpCatalogStock(c).reserve(order, ['catalog'])).toEqual(lines);
      expect(received).toEqual([
        {
          method: 'POST',
          url: `/internal/reservations/${order.id}`,
          body: JSON.stringify({ userId: order.userId, lines: order.lines }),
        },
      ]);
    } finally {
      c.shutdown();
    }
  });

  test("a 409 of products is the order's 409 with the same message; a 404 is an unavailable products", async () => {
    const c = client();
    try {
      behaviour = json(409, { statusCode: 409, message: 'body/items/0/productId: only 1 of "Mug" in stock' });
      const conflict = await new HttpCatalogStock(c).reserve(order, []).catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(HttpError);
      expect(conflict).toMatchObject({
        statusCode: 409,
        message: 'body/items/0/productId: only 1 of "Mug" in stock',
      });
      behaviour = json(404, { message: 'no route' });
      await expect(new HttpCatalogStock(c).confirm(order.id)).rejects.toBeInstanceOf(
        DependencyUnavailableError,
      );
    } finally {
      c.shutdown();
    }
  });

  test("every call passes the public request's id on as X-Request-Id", async () => {
    const c = client();
    const ids: unknown[] = [];
    try {
      const answer = (status: number, body?: unknown) => (req: IncomingMessage, res: ServerResponse) => {
        ids.push(req.headers['x-request-id']);
        res.writeHead(status, { 'content-type': 'application/json' }).end(body ? JSON.stringify(body) : '');
      };
      behaviour = answer(200, { lines: [] });
      await new HttpCatalogStock(c).reserve({ ...order, requestId: 'req-reserve' }, []);
      behaviour = answer(204);
      await new HttpCatalogStock(c).confirm(order.id, 'req-confirm');
      behaviour = answer(200, { released: 0 });
      await new HttpCatalogStock(c).release(order.id, [], 'req-release');
      expect(ids).toEqual(['req-reserve', 'req-confirm', 'req-release']);
    } finally {
      c.shutdown();
    }
  });

  test('release returns the lines released', async () => {
    const c = client();
    try {
      behaviour = json(200, { released: 1 });
      expect(await new HttpCatalogStock(c).release(order.id)).toBe(1);
      expect(received[0].url).toBe(`/internal/reservations/${order.id}/release`);
    } finally {
      c.shutdown();
    }
  });
});
