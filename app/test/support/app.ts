import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { changeAdminRole } from '../../src/admin';
import { loadConfig, type AppConfig } from '../../src/config';
import { roleCache } from '../../src/roles';
import { until } from './wait';

/** A validated configuration for tests: silent logs, test defaults, plus the given variables. */
export function testConfig(env: Record<string, string> = {}): AppConfig {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', SEED_DEMO_DATA: 'false', ...env });
}

/** The `sid=...` pair of a response's Set-Cookie header, to send back as a Cookie header. */
export function sessionCookie(response: LightMyRequestResponse): string {
  const header = response.headers['set-cookie'];
  const cookies = Array.isArray(header) ? header : header ? [header] : [];
  const sid = cookies.find((cookie) => cookie.startsWith('sid='));
  if (!sid) throw new Error(`no sid cookie in response ${response.statusCode}: ${response.body}`);
  return sid.split(';')[0];
}

let counter = 0;

/** A unique email for this test run. */
export function uniqueEmail(label = 'user'): string {
  counter += 1;
  return `${label}-${Date.now().toString(36)}-${counter}@example.test`;
}

/** Signs a new user up (which also logs them in) and returns the user and the session cookie. */
export async function signUp(
  app: FastifyInstance,
  email = uniqueEmail(),
  password = 'correct horse battery',
): Promise<{
  user: { id: string; email: string; role: string };
  cookie: string;
  email: string;
  password: string;
}> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/users',
    payload: { email, password, name: 'Test User' },
  });
  if (response.statusCode !== 201) throw new Error(`sign-up failed: ${response.statusCode} ${response.body}`);
  return { user: response.json().user, cookie: sessionCookie(response), email, password };
}

/**
 * Grants the admin role the way an operator does (the admin command's `changeAdminRole`, which invalidates the
 * role in Redis), and also drops the role from this app's own cache (an in-process cache in embedded tests).
 */
export async function grantAdmin(app: FastifyInstance, email: string, action: 'grant' | 'revoke' = 'grant') {
  const { user } = await changeAdminRole(app.shop.db.writer, app.shop.config, action, email);
  await app.shop.cache.invalidateTags([roleCache.tag(user.id)]);
  return user;
}

/** Signs a user up and grants it the admin role (its email must be in the app's ADMIN_EMAILS). */
export async function signUpAdmin(app: FastifyInstance, email: string): ReturnType<typeof signUp> {
  const signedUp = await signUp(app, email);
  await grantAdmin(app, email);
  return signedUp;
}

/** Current value of one series on the app's metrics port (0 when absent). */
export async function metricValue(app: FastifyInstance, series: string): Promise<number> {
  const text = (await app.metricsServer.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/**
 * Waits until every invalidation event recorded in the app's outbox has been relayed and applied by its
 * consumer (the app must be the only consumer of its queue). Each relay batch is one event, marked sent in
 * one transaction, so the batches are the distinct `sent_at` values.
 */
export async function invalidationsApplied(app: FastifyInstance, timeoutMs = 5_000): Promise<void> {
  await until(
    async () => {
      const { rows } = await app.shop.db.query<{ unsent: number; batches: number }>(
        `SELECT count(*) FILTER (WHERE sent_at IS NULL)::int AS unsent,
                count(DISTINCT sent_at)::int AS batches FROM invalidation_outbox`,
      );
      const applied = await metricValue(app, 'queue_messages_total{result="processed"}');
      return rows[0].unsent === 0 && applied >= rows[0].batches;
    },
    'the invalidation events to be applied',
    timeoutMs,
  );
}
