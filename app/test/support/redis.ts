import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';

/** Redis the tests use. Override with TEST_REDIS_URL. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of one test file's own, and a way to delete every key under it. */
export interface TestRedisPrefix {
  prefix: string;
  /** Keys currently under the prefix (for assertions). */
  keys(): Promise<string[]>;
  /** Deletes every key under the prefix and closes the helper's connection. */
  cleanup(): Promise<void>;
}

/** Reserves a random key prefix (`test:<hex>:`) on the test Redis. */
export function createTestRedisPrefix(): TestRedisPrefix {
  const prefix = `test:${randomBytes(6).toString('hex')}:`;
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const keys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  return {
    prefix,
    keys,
    cleanup: async () => {
      const found = await keys();
      if (found.length > 0) await client.del(...found);
      client.disconnect();
    },
  };
}
