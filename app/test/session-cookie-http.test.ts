/**
 * The session cookie over real HTTP, with the app's production settings (NODE_ENV=production, as in the
 * container): a listening server on a free port, requests with fetch, and a cookie jar that behaves as a
 * browser does (a `Secure` cookie is sent back over HTTPS only). The blueprint serves HTTPS by default and
 * plain HTTP only with `-c plainHttp=true`, which sets SESSION_COOKIE_SECURE=false on the task (README
 * "Deploying a stage"); these tests show that each combination lets a user stay logged in exactly when
 * it should. The servers run on one database of the test server (PostgreSQL on 127.0.0.1:5432), migrated once
 * beforehand as the migration task does in production (the embedded database would cost each server seconds of
 * start-up).
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { loadConfig } from '../src/config';
import { testConfig, uniqueEmail } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/postgres';

const PASSWORD = 'correct horse battery';

/** A browser's view of one site: the cookies it holds and whether it reached the site over HTTPS. */
class Browser {
  private readonly cookies = new Map<string, { value: string; secure: boolean }>();

  /**
   * @param baseUrl - the server (always plain HTTP here)
   * @param https - whether the browser talks HTTPS to the load balancer, which forwards plain HTTP with
   *   `X-Forwarded-Proto: https` (the app trusts one proxy hop in production)
   */
  constructor(
    private readonly baseUrl: string,
    private readonly https: boolean,
  ) {}

  /** Sends a request with the cookies a browser would send, and keeps the cookies it sets. */
  async request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; setCookies: string[] }> {
    const cookie = [...this.cookies]
      .filter(([, entry]) => !entry.secure || this.https)
      .map(([name, entry]) => `${name}=${entry.value}`)
      .join('; ');
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(cookie ? { cookie } : {}),
        ...(this.https ? { 'x-forwarded-proto': 'https' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    await response.arrayBuffer();
    const setCookies = response.headers.getSetCookie();
    for (const header of setCookies) {
      const [pair, ...attributes] = header.split(';').map((part) => part.trim());
      const [name, ...value] = pair!.split('=');
      const secure = attributes.some((attribute) => attribute.toLowerCase() === 'secure');
      // A browser ignores a Secure cookie set over plain HTTP.
      if (secure && !this.https) continue;
      this.cookies.set(name!, { value: value.join('='), secure });
    }
    return { status: response.status, setCookies };
  }

  /** Whether the session is logged in. */
  async loggedIn(): Promise<boolean> {
    const { status } = await this.request('GET', '/api/me');
    if (status !== 200 && status !== 401) throw new Error(`GET /api/me answered ${status}`);
    return status === 200;
  }
}

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  // The migration task's part (production servers do not migrate PostgreSQL themselves).
  await (await buildApp({ config: testConfig({ DATABASE_URL: database.url }), logger: false })).close();
});
afterAll(async () => {
  await database?.drop();
});

/** Starts the app with production settings on a free port of 127.0.0.1. */
async function startProductionServer(
  env: Record<string, string>,
): Promise<{ app: FastifyInstance; url: string }> {
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
    SEED_DEMO_DATA: 'false',
    DATABASE_URL: database.url,
    ...env,
  });
  const app = await buildApp({ config, logger: false });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url };
}

const sidOf = (setCookies: readonly string[]) => setCookies.find((cookie) => cookie.startsWith('sid='));

describe('production defaults (HTTPS at the load balancer): the session cookie is Secure', () => {
  let server: { app: FastifyInstance; url: string };
  beforeAll(async () => {
    server = await startProductionServer({});
  });
  afterAll(async () => {
    await server.app.close();
  });

  test('behind the HTTPS listener a sign-up and a log-in stick, with a Secure, HttpOnly cookie', async () => {
    // GIVEN a browser on https:// (the ALB forwards X-Forwarded-Proto: https)
    const browser = new Browser(server.url, true);
    const email = uniqueEmail('https');

    // WHEN
    const signUp = await browser.request('POST', '/api/users', { email, password: PASSWORD, name: 'Https' });

    // THEN
    expect(signUp.status).toBe(201);
    expect(sidOf(signUp.setCookies)).toMatch(/; HttpOnly/i);
    expect(sidOf(signUp.setCookies)).toMatch(/; Secure/i);
    expect(await browser.loggedIn()).toBe(true);

    const fresh = new Browser(server.url, true);
    expect((await fresh.request('POST', '/api/sessions', { email, password: PASSWORD })).status).toBe(200);
    expect(await fresh.loggedIn()).toBe(true);
  });

  test('over plain HTTP nobody stays logged in: the cookie is never stored without HTTPS', async () => {
    // GIVEN a browser on http:// (a load balancer without a certificate)
    const browser = new Browser(server.url, false);
    const email = uniqueEmail('http-refused');

    // WHEN
    const signUp = await browser.request('POST', '/api/users', { email, password: PASSWORD, name: 'Http' });
    const login = await browser.request('POST', '/api/sessions', { email, password: PASSWORD });

    // THEN: the account exists and the password is right, but the session does not survive the response
    expect(signUp.status).toBe(201);
    expect(login.status).toBe(200);
    for (const header of [...signUp.setCookies, ...login.setCookies]) expect(header).toMatch(/; Secure/i);
    expect(await browser.loggedIn()).toBe(false);
  });
});

describe('plain HTTP opted in (SESSION_COOKIE_SECURE=false, set by -c plainHttp=true)', () => {
  let server: { app: FastifyInstance; url: string };
  beforeAll(async () => {
    server = await startProductionServer({ SESSION_COOKIE_SECURE: 'false' });
  });
  afterAll(async () => {
    await server.app.close();
  });

  test('a sign-up and a log-in stick over plain HTTP, with an HttpOnly cookie that is not Secure', async () => {
    // GIVEN
    const browser = new Browser(server.url, false);
    const email = uniqueEmail('http-allowed');

    // WHEN
    const signUp = await browser.request('POST', '/api/users', { email, password: PASSWORD, name: 'Http' });

    // THEN
    expect(signUp.status).toBe(201);
    const sid = sidOf(signUp.setCookies);
    expect(sid).toMatch(/; HttpOnly/i);
    expect(sid).not.toMatch(/; Secure/i);
    expect(await browser.loggedIn()).toBe(true);

    const fresh = new Browser(server.url, false);
    expect((await fresh.request('POST', '/api/sessions', { email, password: PASSWORD })).status).toBe(200);
    expect(await fresh.loggedIn()).toBe(true);
    expect(server.app.shop.config.sessionCookieSecure).toBe(false);
  });
});

describe('SESSION_COOKIE_SECURE', () => {
  test('defaults to Secure in production and not outside it; an invalid value stops the process', () => {
    const secret = { SESSION_SECRET: 'x'.repeat(32) };
    expect(loadConfig({ NODE_ENV: 'production', ...secret }).sessionCookieSecure).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development' }).sessionCookieSecure).toBe(false);
    expect(
      loadConfig({ NODE_ENV: 'production', SESSION_COOKIE_SECURE: 'false', ...secret }).sessionCookieSecure,
    ).toBe(false);
    expect(() => loadConfig({ NODE_ENV: 'production', SESSION_COOKIE_SECURE: 'maybe', ...secret })).toThrow(
      /SESSION_COOKIE_SECURE/,
    );
  });
});
