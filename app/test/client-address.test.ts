// CLIENT_IP_HEADER (contract amendment of issue #14): behind stage 1m's API Gateway, which overwrites
// x-client-ip with the caller's source IP, rate limits and request logs take the client address from it, and a
// spoofed X-Forwarded-For changes nothing; a request without it falls back to the proxy's address (warned once).
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { ConfigError, loadConfig } from '../src/config';
import { testConfig } from './support/app';

jest.setTimeout(60_000);

const MAX = 3;
let app: FastifyInstance;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  app = await buildApp({
    config: testConfig({
      CLIENT_IP_HEADER: 'X-Client-IP',
      // One proxy hop is trusted (the internal ALB): X-Forwarded-For alone would decide the address
      TRUST_PROXY_HOPS: '1',
      RATE_LIMIT_AUTH_MAX: String(MAX),
      METRICS_PORT: '0',
    }),
    logger: { level: 'info', stream },
  });
});

afterAll(async () => {
  await app?.close();
});

const logIn = (headers: Record<string, string>) =>
  app.inject({
    method: 'POST',
    url: '/api/sessions',
    headers,
    payload: { email: 'nobody@example.test', password: 'not the password' },
  });

test('two clients with different x-client-ip have separate budgets; a spoofed X-Forwarded-For changes nothing', async () => {
  // GIVEN client A uses up its budget, each time claiming another address in X-Forwarded-For
  for (let i = 0; i < MAX; i++) {
    const response = await logIn({ 'x-client-ip': '203.0.113.7', 'x-forwarded-for': `198.51.100.${i}` });
    expect(response.statusCode).toBe(401);
  }
  // THEN its next attempt is refused, whatever X-Forwarded-For says
  for (const forwarded of ['198.51.100.99', '192.0.2.1, 198.51.100.98']) {
    const refused = await logIn({ 'x-client-ip': '203.0.113.7', 'x-forwarded-for': forwarded });
    expect(refused.statusCode).toBe(429);
  }
  // AND client B, same proxy hop and same X-Forwarded-For, still has its own budget
  const other = await logIn({ 'x-client-ip': '2001:db8::1', 'x-forwarded-for': '198.51.100.99' });
  expect(other.statusCode).toBe(401);
  // AND the request log line names the client by the header
  const incoming = lines.filter((l) => l.msg === 'incoming request');
  expect(incoming.at(-1)).toMatchObject({ req: { remoteAddress: '2001:db8::1' } });
  expect(lines.find((l) => l.msg === 'rate limited')).toMatchObject({ ip: '203.0.113.7' });
});

test('a request without the header falls back to the proxy-reported address, warned once', async () => {
  const warnings = () => lines.filter((l) => String(l.msg).startsWith('CLIENT_IP_HEADER is x-client-ip'));
  expect(warnings()).toHaveLength(0);
  // Missing, and not an address (a repeated header arrives joined)
  for (const headers of <Record<string, string>[]>[
    { 'x-forwarded-for': '198.51.100.50' },
    { 'x-forwarded-for': '198.51.100.50', 'x-client-ip': 'not-an-ip' },
  ]) {
    expect((await logIn(headers)).statusCode).toBe(401);
  }
  expect(warnings()).toHaveLength(1);
  expect(warnings()[0]).toMatchObject({ level: 40, header: 'x-client-ip', fallback: '198.51.100.50' });
  // The fallback is the trusted proxies' address: X-Forwarded-For's last hop, with its own budget
  for (let i = 2; i < MAX; i++)
    expect((await logIn({ 'x-forwarded-for': '198.51.100.50' })).statusCode).toBe(401);
  expect((await logIn({ 'x-forwarded-for': '198.51.100.50' })).statusCode).toBe(429);
  expect((await logIn({ 'x-forwarded-for': '198.51.100.51' })).statusCode).toBe(401);
});

test('CLIENT_IP_HEADER must be a header name the proxy overwrites', () => {
  const problemsOf = (value: string) => {
    try {
      loadConfig({ CLIENT_IP_HEADER: value });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };
  expect(loadConfig({}).clientIpHeader).toBeUndefined();
  expect(loadConfig({ CLIENT_IP_HEADER: 'X-Client-IP' }).clientIpHeader).toBe('x-client-ip');
  expect(problemsOf('x client ip')).toEqual([
    'CLIENT_IP_HEADER must be an HTTP header name, e.g. x-client-ip (got "x client ip")',
  ]);
  expect(problemsOf('X-Forwarded-For')).toEqual([
    expect.stringMatching(/^CLIENT_IP_HEADER=x-forwarded-for is refused/),
  ]);
});
