import fastifyCookie from '@fastify/cookie';
import { MemoryStore } from '@fastify/session';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { existingSession, registerLazySession } from '../src/sessions/lazy-session';

// @fastify/session behind registerLazySession: no session is made for a request without a cookie until
// something reads it, and everything else behaves as the plugin does (store, cookie, rotation, log-out).
declare module 'fastify' {
  interface Session {
    userId?: string;
    visits?: number;
  }
}

let app: FastifyInstance;
let sessionsMade = 0;
const stored = new Map<string, unknown>();
const storeCalls: string[] = [];

class RecordingStore extends MemoryStore {
  constructor() {
    super(stored as Map<string, never>);
  }
  set(id: string, session: Parameters<MemoryStore['set']>[1], callback: Parameters<MemoryStore['set']>[2]) {
    storeCalls.push('set');
    super.set(id, session, callback);
  }
  get(id: string, callback: Parameters<MemoryStore['get']>[1]) {
    storeCalls.push('get');
    super.get(id, callback);
  }
}

const cookieOf = (response: LightMyRequestResponse) => {
  const header = response.headers['set-cookie'];
  const first = Array.isArray(header) ? header[0] : header;
  return first ? first.split(';')[0]! : undefined;
};

beforeAll(async () => {
  app = Fastify({ logger: false });
  await app.register(fastifyCookie);
  let n = 0;
  await registerLazySession(app, {
    secret: 'a-session-secret-of-at-least-32-characters',
    cookieName: 'sid',
    cookie: { httpOnly: true, secure: false, sameSite: 'lax', path: '/', maxAge: 60_000 },
    saveUninitialized: false,
    store: new RecordingStore(),
    idGenerator: () => {
      sessionsMade += 1;
      return `session-${++n}-${'x'.repeat(20)}`;
    },
  });
  app.get('/page', async (request) => ({ has: existingSession(request) !== undefined }));
  app.get('/me', async (request) => ({ userId: request.session.userId ?? null }));
  app.post('/login', async (request) => {
    await request.session.regenerate();
    request.session.userId = 'u1';
    return { ok: true };
  });
  app.post('/visit', async (request) => {
    request.session.visits = (request.session.visits ?? 0) + 1;
    return { visits: request.session.visits };
  });
  app.delete('/login', async (request) => {
    await request.session.destroy();
    return { ok: true };
  });
});

afterAll(() => app.close());

beforeEach(() => {
  sessionsMade = 0;
  storeCalls.length = 0;
});

test('an anonymous request that never reads the session makes none: no id, no store call, no cookie', async () => {
  const response = await app.inject({ method: 'GET', url: '/page' });
  expect(response.json()).toEqual({ has: false });
  expect(sessionsMade).toBe(0);
  expect(storeCalls).toEqual([]);
  expect(response.headers['set-cookie']).toBeUndefined();
  // Unknown routes and errors alike.
  expect((await app.inject({ method: 'GET', url: '/nothing' })).headers['set-cookie']).toBeUndefined();
  expect(sessionsMade).toBe(0);
});

test('reading the session makes it then, as the plugin would have; unmodified, it is not saved', async () => {
  const response = await app.inject({ method: 'GET', url: '/me' });
  expect(response.json()).toEqual({ userId: null });
  expect(sessionsMade).toBe(1);
  expect(storeCalls).toEqual([]);
  expect(response.headers['set-cookie']).toBeUndefined();
});

test('a session first written by an anonymous request is saved and its cookie set', async () => {
  const first = await app.inject({ method: 'POST', url: '/visit' });
  expect(first.json()).toEqual({ visits: 1 });
  const cookie = cookieOf(first);
  expect(cookie).toMatch(/^sid=session-\d+-x+\./);
  expect(storeCalls).toEqual(['set']);
  const second = await app.inject({ method: 'POST', url: '/visit', headers: { cookie: cookie! } });
  expect(second.json()).toEqual({ visits: 2 });
});

test('log-in rotates the id, the cookie carries the user, existingSession sees it, log-out ends it', async () => {
  const anonymous = await app.inject({ method: 'POST', url: '/visit' });
  const before = cookieOf(anonymous)!;
  const login = await app.inject({ method: 'POST', url: '/login', headers: { cookie: before } });
  const after = cookieOf(login)!;
  expect(after).toMatch(/^sid=/);
  expect(after).not.toBe(before);
  expect(stored.has(before.slice(4).split('.')[0]!)).toBe(false);

  expect((await app.inject({ method: 'GET', url: '/me', headers: { cookie: after } })).json()).toEqual({
    userId: 'u1',
  });
  expect((await app.inject({ method: 'GET', url: '/page', headers: { cookie: after } })).json()).toEqual({
    has: true,
  });
  expect((await app.inject({ method: 'GET', url: '/me', headers: { cookie: before } })).json()).toEqual({
    userId: null,
  });

  await app.inject({ method: 'DELETE', url: '/login', headers: { cookie: after } });
  expect((await app.inject({ method: 'GET', url: '/me', headers: { cookie: after } })).json()).toEqual({
    userId: null,
  });
});

test('a cookie signed with another secret gets a fresh, empty session', async () => {
  const response = await app.inject({
    method: 'GET',
    url: '/me',
    headers: { cookie: 'sid=session-1-xxxxxxxxxxxxxxxxxxxx.forged' },
  });
  expect(response.json()).toEqual({ userId: null });
  expect(storeCalls).toEqual([]);
});

test('a cookie prefix is refused with the option named', async () => {
  const other = Fastify({ logger: false });
  await other.register(fastifyCookie);
  await expect(
    registerLazySession(other, { secret: 'a-session-secret-of-at-least-32-characters', cookiePrefix: 's:' }),
  ).rejects.toThrow('cookiePrefix');
  await other.close();
});
