import type { SessionStore } from '@fastify/session';
import type Redis from 'ioredis';
import { HttpError } from '../errors';
import type { RedisCallGuard } from '../redis-breaker';

/**
 * A session store the app can ask, before it does anything a client could learn from, whether it will be
 * able to keep a session: log-in and sign-up refuse with 503 first, so neither the password check nor a new
 * user row happens while sessions cannot be stored.
 */
export interface CheckedSessionStore extends SessionStore {
  /** Resolves when the store answers; rejects with a 503 {@link HttpError} when it does not. */
  ensureAvailable(): Promise<void>;
}

type Callback = (err?: unknown) => void;
type SessionCallback = (err: unknown, session?: import('fastify').Session | null) => void;
type StoredSession = import('fastify').Session;

function ttlSecondsOf(session: StoredSession, fallbackSeconds: number): number {
  const expires = (session.cookie as { expires?: Date | string | null } | undefined)?.expires;
  if (!expires) return fallbackSeconds;
  return Math.max(1, Math.ceil((new Date(expires).getTime() - Date.now()) / 1000));
}

/** In-process session store for a single instance (the embedded default). Entries expire with the cookie. */
export class MemorySessionStore implements CheckedSessionStore {
  private readonly sessions = new Map<string, { json: string; expiresAt: number }>();

  /** @param ttlSeconds lifetime of a session without cookie expiry. */
  constructor(private readonly ttlSeconds: number) {}

  set(sessionId: string, session: StoredSession, callback: Callback): void {
    const expiresAt = Date.now() + ttlSecondsOf(session, this.ttlSeconds) * 1000;
    this.sessions.set(sessionId, { json: JSON.stringify(session), expiresAt });
    this.sweep();
    callback();
  }

  get(sessionId: string, callback: SessionCallback): void {
    const found = this.sessions.get(sessionId);
    if (!found || found.expiresAt <= Date.now()) {
      this.sessions.delete(sessionId);
      callback(null, null);
      return;
    }
    callback(null, JSON.parse(found.json) as StoredSession);
  }

  destroy(sessionId: string, callback: Callback): void {
    this.sessions.delete(sessionId);
    callback();
  }

  async ensureAvailable(): Promise<void> {}

  /** Number of live sessions (tests). */
  get size(): number {
    return this.sessions.size;
  }

  private sweep() {
    // Amortised clean-up: look at a few of the oldest entries on each write.
    let checked = 0;
    for (const [id, { expiresAt }] of this.sessions) {
      if (checked++ > 10) break;
      if (expiresAt <= Date.now()) this.sessions.delete(id);
    }
  }
}

// Without its session store the app cannot tell who is calling: a 503 the client may retry, not a 500.
const unavailable = (err: unknown) =>
  Object.assign(new HttpError(503, 'sessions are unavailable; try again shortly'), { cause: err });

/**
 * Redis session store shared by every instance: `<prefix>sess:<id>` with the cookie's remaining lifetime.
 * Requests without a session never touch it, so anonymous browsing keeps working when Redis is down.
 */
export class RedisSessionStore implements CheckedSessionStore {
  /**
   * @param client ioredis client
   * @param prefix key prefix, e.g. `shop:`
   * @param ttlSeconds lifetime of a session without cookie expiry
   * @param guard runs every call (the instance's Redis circuit breaker); absent = calls go straight through
   */
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly guard?: RedisCallGuard,
  ) {}

  private run<T>(call: () => Promise<T>): Promise<T> {
    return this.guard ? this.guard.run(call) : call();
  }

  async ensureAvailable(): Promise<void> {
    try {
      await this.run(() => this.client.ping());
    } catch (err) {
      throw unavailable(err);
    }
  }

  private key(sessionId: string) {
    return `${this.prefix}sess:${sessionId}`;
  }

  set(sessionId: string, session: StoredSession, callback: Callback): void {
    this.run(() =>
      this.client.set(
        this.key(sessionId),
        JSON.stringify(session),
        'EX',
        ttlSecondsOf(session, this.ttlSeconds),
      ),
    ).then(
      () => callback(),
      (err) => callback(unavailable(err)),
    );
  }

  get(sessionId: string, callback: SessionCallback): void {
    this.run(() => this.client.get(this.key(sessionId))).then(
      (json) => callback(null, json ? (JSON.parse(json) as StoredSession) : null),
      (err) => callback(unavailable(err)),
    );
  }

  destroy(sessionId: string, callback: Callback): void {
    this.run(() => this.client.del(this.key(sessionId))).then(
      () => callback(),
      (err) => callback(unavailable(err)),
    );
  }
}

/** Where {@link ReadOnlySessionStore} reports a write it refused (a pino logger fits). */
export interface SessionWriteLogger {
  error(obj: object, msg: string): void;
}

/**
 * The session store of a secondary region: the read-only replica of the home region's store. Reads go to it;
 * nothing is ever written. The app does not try (the lazy session's `readOnly` never saves, and writes are
 * answered 421 before they reach a handler); a `set` that comes anyway is a bug, refused with a logged error and
 * a 503 rather than sent to a replica. `destroy` (@fastify/session drops a session whose cookie has expired) is
 * skipped: the home region's copy expires with its TTL and the replica follows.
 */
export class ReadOnlySessionStore implements CheckedSessionStore {
  /** Writes refused (tests assert none happen). */
  refusedWrites = 0;

  constructor(
    private readonly inner: CheckedSessionStore,
    private readonly logger?: SessionWriteLogger,
  ) {}

  ensureAvailable(): Promise<void> {
    return this.inner.ensureAvailable();
  }

  get(sessionId: string, callback: SessionCallback): void {
    this.inner.get(sessionId, callback);
  }

  set(_sessionId: string, _session: StoredSession, callback: Callback): void {
    this.refusedWrites += 1;
    this.logger?.error(
      {},
      'a session write reached the read-only session store of a secondary region (a bug): refused',
    );
    callback(new HttpError(503, 'sessions are read-only in this region; try again shortly'));
  }

  destroy(_sessionId: string, callback: Callback): void {
    callback();
  }
}
