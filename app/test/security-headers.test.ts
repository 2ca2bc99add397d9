import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import { contentSecurityPolicy } from '../src/app';
import { addSecurityHeaders, helmetHeaders } from '../src/security-headers';

// The headers computed once must be exactly those helmet sets per response on a real server.
const options: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: contentSecurityPolicy },
  hsts: { maxAge: 31_536_000, includeSubDomains: true },
  referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
  frameguard: { action: 'deny' },
};

/** The helmet-set headers a plain node server answers with when helmet runs on each request. */
async function headersHelmetSets(helmetOptions: HelmetOptions): Promise<Record<string, string>> {
  const middleware = helmet(helmetOptions);
  const server = http.createServer((req, res) => middleware(req, res, () => res.end('ok')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await response.text();
    const ignored = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!ignored.has(name)) headers[name] = value;
    });
    return headers;
  } finally {
    server.close();
  }
}

describe('security headers computed once', () => {
  test.each([
    ['the app options (production, with HSTS)', options],
    ['the app options without HSTS', { ...options, hsts: false }],
    ['helmet defaults', {}],
  ])('%s: the same headers as helmet per response', async (_name, helmetOptions) => {
    const computed = helmetHeaders(helmetOptions);
    expect(computed).toEqual(await headersHelmetSets(helmetOptions));
    expect(Object.keys(computed).length).toBeGreaterThan(8);
  });

  test('a bad helmet option fails at start-up, naming the directive', () => {
    expect(() =>
      helmetHeaders({
        contentSecurityPolicy: { useDefaults: false, directives: { 'bad directive': ['x'] } },
      }),
    ).toThrow(/bad directive/);
  });

  test('every response of the app instance carries them: routes, 404s and errors', async () => {
    const app = Fastify({ logger: false });
    addSecurityHeaders(app, options);
    app.get('/ok', async () => ({ ok: true }));
    app.get('/fails', async () => {
      throw new Error('boom');
    });
    try {
      for (const url of ['/ok', '/missing', '/fails']) {
        const { headers } = await app.inject({ method: 'GET', url });
        expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
        expect(headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
        expect(headers['x-frame-options']).toBe('DENY');
      }
    } finally {
      await app.close();
    }
  });
});
