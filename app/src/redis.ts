import Redis, { type RedisOptions } from 'ioredis';
import type { RedisConfig } from './config';

/**
 * Opens an ioredis client tuned to fail fast: no offline queue and a short command timeout, so that when
 * Redis is unreachable a cache lookup errors within milliseconds and the request is served from the
 * database instead of hanging. The client keeps reconnecting in the background.
 */
export function createRedisClient(config: RedisConfig, overrides: RedisOptions = {}): Redis {
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    ...(config.password ? { password: config.password } : {}),
    ...(config.tls ? { tls: {} } : {}),
    ...overrides,
  };
  return config.url
    ? new Redis(config.url, options)
    : new Redis({ host: config.host, port: config.port, ...options });
}

/** Connects a lazily created client; resolves false (instead of throwing) when Redis is unreachable. */
export async function connectRedis(client: Redis): Promise<boolean> {
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  }
}
