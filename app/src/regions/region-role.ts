import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config';

/**
 * Cookie that pins a viewer's API requests to the home region for the read-your-writes window (stage global).
 * The edge function and the local geo router read it; the infrastructure's copy is `HOME_PIN_COOKIE` in
 * lib/config/global-routing.ts (app/test/regions/home-pin-contract.test.ts keeps the two equal).
 */
export const HOME_PIN_COOKIE = 'shop_home_pin';

/** Methods a secondary region serves itself; every other method is a write, served by the home region. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** SQLSTATE of a write on a read-only connection (a hot standby, an Aurora secondary cluster). */
export const READ_ONLY_SQL_TRANSACTION = '25006';

/** The body of a secondary region's answer to a write. */
export function writesServedByHome(homeRegion: string): { error: string } {
  return { error: `writes are served by the home region ${homeRegion}` };
}

/** True when `error` (or one of its causes) is Postgres refusing a write on a read-only server (25006). */
export function isReadOnlyWriteError(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if ((e as { code?: unknown }).code === READ_ONLY_SQL_TRANSACTION) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The request hooks of the region role, registered before any other hook of the app:
 *
 * - `secondary`: a write (any method but GET, HEAD and OPTIONS) is answered 421 Misdirected Request with
 *   {@link writesServedByHome} before anything else runs (no session is read, no handler runs): the region has
 *   no writer, and the edge routes writes home, so one arriving here was misrouted.
 * - `home`: after every successful (2xx/3xx) write the response sets {@link HOME_PIN_COOKIE}
 *   (`Max-Age` = READ_YOUR_WRITES_WINDOW_MS rounded up to seconds, Path=/, HttpOnly, SameSite=Lax, Secure as the
 *   session cookie), so the edge keeps this viewer's reads at home while their replica may lag behind the write.
 * - `single`: nothing.
 *
 * The pin cookie is set with @fastify/cookie's `setCookie`, which must be registered on the app.
 */
export function registerRegionRole(app: FastifyInstance, config: AppConfig): void {
  const { role, homeRegion } = config.region;
  if (role === 'secondary') {
    const body = JSON.stringify(writesServedByHome(homeRegion ?? 'unknown'));
    app.addHook('onRequest', (request, reply, done) => {
      if (SAFE_METHODS.has(request.method)) return done();
      reply.code(421).type('application/json; charset=utf-8').send(body);
    });
  }
  if (role === 'home') {
    const maxAge = Math.ceil(config.readYourWritesWindowMs / 1000);
    app.addHook('onSend', (request, reply, payload, done) => {
      if (
        !SAFE_METHODS.has(request.method) &&
        reply.statusCode >= 200 &&
        reply.statusCode < 400 &&
        maxAge > 0
      )
        reply.setCookie(HOME_PIN_COOKIE, '1', {
          maxAge,
          path: '/',
          httpOnly: true,
          sameSite: 'lax',
          secure: config.sessionCookieSecure,
        });
      done(null, payload);
    });
  }
}
