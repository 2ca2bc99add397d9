import type { SessionStore } from '@fastify/session';
import type Redis from 'ioredis';
import { HttpError } from '../errors';

type Callback = (err?: unknown) => void;
type SessionCallback = (err: unknown, session?: import('fastify').Session | null) => void;
type StoredSession = import('fastify').Session;

function ttlSecondsOf(session: StoredSession, fallbackSeconds: number): number {
  const expires = (session.cookie as { expires?: Date | string | null } | undefined)?.expires;
  if (!expires) return fallbackSeconds;
  return Math.max(1, Math.ceil((new Date(expires).getTime() - Date.now()) / 1000));
}

/** In-process session store for a single instance (the embedded default). Entries expire with the cookie. */
export class MemorySessionStore implements SessionStore {
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
export class RedisSessionStore implements SessionStore {
  /**
   * @param client ioredis client
   * @param prefix key prefix, e.g. `shop:`
   * @param ttlSeconds lifetime of a session without cookie expiry
   */
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private key(sessionId: string) {
    return `${this.prefix}sess:${sessionId}`;
  }

  set(sessionId: string, session: StoredSession, callback: Callback): void {
    this.client
      .set(this.key(sessionId), JSON.stringify(session), 'EX', ttlSecondsOf(session, this.ttlSeconds))
      .then(
        () => callback(),
        (err) => callback(unavailable(err)),
      );
  }

  get(sessionId: string, callback: SessionCallback): void {
    this.client.get(this.key(sessionId)).then(
      (json) => callback(null, json ? (JSON.parse(json) as StoredSession) : null),
      (err) => callback(unavailable(err)),
    );
  }

  destroy(sessionId: string, callback: Callback): void {
    this.client.del(this.key(sessionId)).then(
      () => callback(),
      (err) => callback(unavailable(err)),
    );
  }
}
