import type Redis from 'ioredis';
import { HttpError } from './errors';
import type { RedisCallGuard } from './redis-breaker';

type Counter = { current: number; ttl: number };
type CounterCallback = (err: Error | null, result?: Counter) => void;

/** The part of @fastify/rate-limit's RedisStore this wrapper uses (the library ships no types for it). */
interface LibraryRedisStore {
  incr(key: string, cb: CounterCallback, timeWindow: number, max: number): void;
  read(key: string, cb: CounterCallback, timeWindow: number, max: number): void;
  child(routeOptions: unknown): LibraryRedisStore;
}

// The library's own Redis store (its Lua script, key layout and per-route children), used as it is.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const LibraryRedisStoreClass = require('@fastify/rate-limit/store/RedisStore') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  redis: Redis,
  nameSpace: string,
) => LibraryRedisStore;

/** What the limited routes answer when their counters cannot be reached. */
export const RATE_LIMIT_UNAVAILABLE = 'log-in and sign-up are unavailable right now; try again shortly';

/**
 * Builds a @fastify/rate-limit `store` class: the library's Redis store, called through the instance's Redis
 * circuit breaker, whose failures become a 503.
 *
 * Only log-in and sign-up are rate limited. When their counters cannot be reached they must refuse, not let
 * the request through: a limiter that fails open turns log-in into an unlimited password oracle while Redis is
 * down. So the plugin runs with `skipOnError: false`, and the error it passes on is a 503 with a clear message.
 */
export function breakerRateLimitStore(redis: Redis, nameSpace: string, guard: RedisCallGuard) {
  const wrap = (inner: LibraryRedisStore): LibraryRedisStore => {
    const call =
      (method: 'incr' | 'read') => (key: string, cb: CounterCallback, timeWindow: number, max: number) => {
        guard
          .run(
            () =>
              new Promise<Counter>((resolve, reject) =>
                inner[method](key, (err, result) => (err ? reject(err) : resolve(result!)), timeWindow, max),
              ),
          )
          .then(
            (result) => cb(null, result),
            (err: unknown) =>
              cb(Object.assign(new HttpError(503, RATE_LIMIT_UNAVAILABLE), { cause: err }), undefined),
          );
      };
    return {
      incr: call('incr'),
      read: call('read'),
      child: (routeOptions) => wrap(inner.child(routeOptions)),
    };
  };
  return class BreakerRedisRateLimitStore {
    private readonly store: LibraryRedisStore;

    constructor(options: { continueExceeding?: boolean; exponentialBackoff?: boolean }) {
      this.store = wrap(
        new LibraryRedisStoreClass(
          options.continueExceeding ?? false,
          options.exponentialBackoff ?? false,
          redis,
          nameSpace,
        ),
      );
    }

    incr(key: string, cb: CounterCallback, timeWindow: number, max: number) {
      this.store.incr(key, cb, timeWindow, max);
    }

    read(key: string, cb: CounterCallback, timeWindow: number, max: number) {
      this.store.read(key, cb, timeWindow, max);
    }

    child(routeOptions: unknown) {
      return this.store.child(routeOptions);
    }
  };
}
