import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import Redis from 'ioredis';
import { RedisCacheStore } from '../../src/cache/redis-cache-store';
import { PgDatabase } from '../../src/db/pg-database';
import { runMigrations } from '../../src/db/migrations';
import { RedisEvictionBroadcast } from '../../src/invalidation/eviction-broadcast';
import { InvalidationPipeline } from '../../src/invalidation/invalidation-pipeline';
import { listenForOutbox } from '../../src/invalidation/outbox-listener';
import { TieredCache } from '../../src/invalidation/tiered-cache';
import { AppMetrics } from '../../src/metrics';
import { RedisStreamQueue } from '../../src/queue/redis-stream-queue';
import { createRedisClient } from '../../src/redis';
import { CatalogRepository, type Product } from '../../src/repositories/catalog-repository';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL } from '../support/redis';
import { until } from '../support/wait';

const repoRoot = path.resolve(__dirname, '../../..');
// Node itself with tsx's loader, not the tsx CLI: the CLI runs a child and would hide the SIGKILL.
const worker = ['--import', 'tsx', path.join(__dirname, 'fixtures/crash-worker.ts')];

const catalog = new CatalogRepository();
const redisPrefix = createTestRedisPrefix();
let database: TestDatabase;
let db: PgDatabase;
let queueNo = 0;

/** One app instance's invalidation parts, on the shared Postgres and the given Redis. */
interface Instance {
  pipeline: InvalidationPipeline;
  cache: TieredCache;
  metrics: AppMetrics;
  queue: RedisStreamQueue;
  /** Reads a product through both cache levels, counting database loads. */
  read(id: string): Promise<Product | null>;
  loads: number;
  close(): Promise<void>;
}

async function openInstance(options: {
  queueName: string;
  redisUrl?: string;
  leaseMs?: number;
  maxReceives?: number;
  firstLevelTtlMs?: number;
  pollMs?: number;
  listen?: boolean;
}): Promise<Instance> {
  const url = new URL(options.redisUrl ?? TEST_REDIS_URL);
  // The app's fail-fast client: with Redis down, commands fail at once instead of queueing.
  const redis = createRedisClient({
    host: url.hostname,
    port: Number(url.port),
    tls: false,
    keyPrefix: redisPrefix.prefix,
  });
  redis.on('error', () => {});
  await redis.connect();
  const metrics = new AppMetrics();
  const store = new RedisCacheStore(redis, redisPrefix.prefix);
  const queue = new RedisStreamQueue(redis, {
    prefix: redisPrefix.prefix,
    name: options.queueName,
    leaseMs: options.leaseMs ?? 1_000,
    maxReceives: options.maxReceives ?? 5,
  });
  const pipeline = new InvalidationPipeline({
    sources: [
      {
        source: 'main',
        db,
        relay: {
          pollMs: options.pollMs ?? 100,
          wake: options.listen ? listenForOutbox({ connectionString: database.url }) : undefined,
        },
      },
    ],
    queue,
    store,
    broadcast: new RedisEvictionBroadcast(redis, redisPrefix.prefix),
    firstLevel: { ttlMs: options.firstLevelTtlMs ?? 60_000 },
    consumer: { waitMs: 100, backoffMs: 20 },
    metrics,
  });
  const cache = new TieredCache(store, { ttlSeconds: 300, metrics }, pipeline.firstLevel);
  const instance: Instance = {
    pipeline,
    cache,
    metrics,
    queue,
    loads: 0,
    read: (id) =>
      cache.getOrLoad(`product:${id}`, [`product:${id}`], () => {
        instance.loads += 1;
        return catalog.get(db, id);
      }),
    close: async () => {
      await pipeline.stop();
      redis.disconnect();
    },
  };
  return instance;
}

async function queueCount(metrics: AppMetrics, result: string): Promise<number> {
  const { values } = await metrics.queueMessages.get();
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

const newProduct = (sku: string) =>
  catalog.create(db, { sku, name: `Product ${sku}`, priceCents: 1000, stock: 5 });

/** A price change made the outbox way: the change and its event in one transaction. */
const setPrice = (instance: Instance, id: string, priceCents: number) =>
  instance.pipeline.outbox('main').transaction(
    db,
    (tx) => catalog.update(tx, id, { priceCents }),
    () => [`product:${id}`, 'catalog'],
  );

const opened: Instance[] = [];
const open = async (options: Parameters<typeof openInstance>[0]) => {
  const instance = await openInstance(options);
  opened.push(instance);
  return instance;
};

beforeAll(async () => {
  database = await createTestDatabase();
  db = new PgDatabase({ writer: { connectionString: database.url } });
  await runMigrations(db);
});

afterEach(async () => {
  for (const instance of opened.splice(0)) await instance.close();
  await db.query('DELETE FROM invalidation_outbox');
});

afterAll(async () => {
  await db.close();
  await database.drop();
  await redisPrefix.cleanup();
});

const unsent = async () =>
  Number(
    (await db.query<{ n: string }>('SELECT count(*) AS n FROM invalidation_outbox WHERE sent_at IS NULL'))
      .rows[0].n,
  );

describe('transactional outbox', () => {
  test('the event is written in the change transaction: a rollback leaves neither, a commit both', async () => {
    const instance = await open({ queueName: `q${++queueNo}` });
    const product = await newProduct('OUTBOX-1');
    const outbox = instance.pipeline.outbox('main');
    await expect(
      outbox.transaction(
        db,
        async (tx) => {
          await catalog.update(tx, product.id, { priceCents: 1 });
          throw new Error('payment declined');
        },
        () => [`product:${product.id}`],
      ),
    ).rejects.toThrow('payment declined');
    expect(await unsent()).toBe(0);
    expect((await catalog.get(db, product.id))?.priceCents).toBe(1000);

    await setPrice(instance, product.id, 2);
    const { rows } = await db.query<{ tags: string[] }>('SELECT tags FROM invalidation_outbox');
    expect(rows).toEqual([{ tags: [`product:${product.id}`, 'catalog'] }]);
  });

  test('NOTIFY at commit wakes the relay long before its poll interval', async () => {
    // GIVEN a relay that polls only once a minute but listens for NOTIFY
    const instance = await open({ queueName: `q${++queueNo}`, pollMs: 60_000, listen: true });
    await instance.pipeline.start();
    const product = await newProduct('NOTIFY-1');
    // The listener connects in the background; wait for the relay's first (empty) round to be over.
    await until(async () => (await unsent()) === 0, 'an idle relay');
    // WHEN a write commits
    const committedAt = Date.now();
    await setPrice(instance, product.id, 1234);
    // THEN the row is published well within the poll interval (the wait fails after 15 s)
    await until(async () => (await unsent()) === 0, 'the relay to publish the row');
    expect(Date.now() - committedAt).toBeLessThan(15_000);
    expect((await instance.metrics.outboxPublished.get()).values[0].value).toBe(1);
  });
});

describe('two instances, one write', () => {
  test('after a write on A, neither A nor B serves the old value from its first-level cache', async () => {
    const queueName = `q${++queueNo}`;
    const a = await open({ queueName });
    const b = await open({ queueName });
    await Promise.all([a.pipeline.start(), b.pipeline.start()]);
    const product = await newProduct('TWO-1');
    // Both instances hold the product in their first-level cache (a 60 s TTL: only the broadcast can evict).
    for (const instance of [a, b]) expect((await instance.read(product.id))?.priceCents).toBe(1000);
    for (const instance of [a, b]) expect((await instance.read(product.id))?.priceCents).toBe(1000);
    expect([a.loads, b.loads]).toEqual([1, 0]); // B's miss was served by Redis, filled by A

    await setPrice(a, product.id, 1999);
    await until(
      async () =>
        (await a.read(product.id))?.priceCents === 1999 && (await b.read(product.id))?.priceCents === 1999,
      'both instances to serve the new price',
    );
    // Once the new value is seen it stays: no instance goes back to the old one.
    for (const instance of [a, b]) expect((await instance.read(product.id))?.priceCents).toBe(1999);
  });
});

describe('the stale-fill race', () => {
  test('a read that loaded the old row before a write cannot leave it served after the event is applied', async () => {
    const queueName = `q${++queueNo}`;
    const a = await open({ queueName });
    await a.pipeline.start();
    const product = await newProduct('RACE-1');
    // GIVEN a cache miss whose loader read the row before the write and returns only after it
    let release!: () => void;
    let loaded!: () => void;
    const oldRowRead = new Promise<void>((resolve) => (loaded = resolve));
    const slowRead = a.cache.getOrLoad(`product:${product.id}`, [`product:${product.id}`], async () => {
      const row = await catalog.get(db, product.id);
      loaded();
      await new Promise<void>((resolve) => (release = resolve));
      return row;
    });
    await oldRowRead;
    // WHEN the write commits and its event is applied, and only then the slow loader finishes
    await setPrice(a, product.id, 7000);
    await until(async () => (await queueCount(a.metrics, 'processed')) >= 1, 'the event to be applied');
    release();
    expect((await slowRead)?.priceCents).toBe(1000); // its caller started before the write
    // THEN what it stored in Redis carries the old tag version: another instance misses and loads the new row
    const b = await open({ queueName: `q${++queueNo}` });
    expect((await b.read(product.id))?.priceCents).toBe(7000);
    expect(b.loads).toBe(1);
    // and A's first-level cache serves the new row too (at once, or as soon as the broadcast arrives)
    await until(async () => (await a.read(product.id))?.priceCents === 7000, 'A to serve the new price');
  });
});

describe('failures with real servers', () => {
  test('relay killed after publishing and before marking: the batch is published again, and the duplicate is harmless', async () => {
    const queueName = `q${++queueNo}`;
    const product = await newProduct('RELAY-1');
    const reader = await open({ queueName });
    expect((await reader.read(product.id))?.priceCents).toBe(1000);
    await setPrice(reader, product.id, 3000); // recorded; no relay runs yet

    // WHEN a relay process publishes the batch and dies by SIGKILL before marking it sent
    const crashed = spawnSync(process.execPath, [...worker, 'relay'], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: redisPrefix.prefix,
        QUEUE_NAME: queueName,
        LEASE_MS: '1000',
      },
    });
    expect({ signal: crashed.signal, stdout: crashed.stdout.trim(), stderr: crashed.stderr }).toEqual({
      signal: 'SIGKILL',
      stdout: 'published',
      stderr: '',
    });
    // THEN the message is in the queue and the row is still unsent (its lock died with the connection)
    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(await redis.xlen(reader.queue.streamKey)).toBe(1);
    } finally {
      redis.disconnect();
    }
    expect(await unsent()).toBe(1);

    // WHEN the relay and consumer run again
    await reader.pipeline.start();
    await until(async () => (await unsent()) === 0, 'the row to be published again and marked');
    // THEN both copies are applied, and the reader ends with the new value
    await until(
      async () => (await queueCount(reader.metrics, 'processed')) === 2,
      'both copies to be applied',
    );
    expect((await reader.read(product.id))?.priceCents).toBe(3000);
    expect(await queueCount(reader.metrics, 'failed')).toBe(0);
  });

  test('consumer killed in the middle of a message: it is redelivered to another consumer and applied', async () => {
    const queueName = `q${++queueNo}`;
    const product = await newProduct('CONSUMER-1');
    // GIVEN a reader holding the old value and the event published by a relay that has no consumer yet
    const reader = await open({ queueName, leaseMs: 500 });
    expect((await reader.read(product.id))?.priceCents).toBe(1000);
    await setPrice(reader, product.id, 4000);
    await reader.pipeline.relays.get('main')!.publishBatch();

    // WHEN a consumer process takes the message and dies by SIGKILL while handling it
    const child: ChildProcess = spawn(process.execPath, [...worker, 'consumer'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: redisPrefix.prefix,
        QUEUE_NAME: queueName,
        LEASE_MS: '500',
      },
    });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    const exit = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    expect(exit).toBe('SIGKILL');
    expect(output).toMatch(/^received \d+-\d+/);
    expect((await reader.read(product.id))?.priceCents).toBe(1000); // not applied: still the old value

    // THEN this instance's consumer gets it after the lease, as a second delivery, and applies it
    await reader.pipeline.start();
    await until(async () => (await reader.read(product.id))?.priceCents === 4000, 'the redelivered event');
    expect(await queueCount(reader.metrics, 'processed')).toBe(1);
  });

  test('a poison message is dead-lettered after N attempts, counted, and does not hold up the others', async () => {
    const queueName = `q${++queueNo}`;
    const product = await newProduct('POISON-1');
    const reader = await open({ queueName, leaseMs: 200, maxReceives: 3 });
    await reader.read(product.id);
    await reader.queue.send(['{"v":1,"tags":"not an array"}']);
    await reader.pipeline.start();
    await setPrice(reader, product.id, 5000);
    // The good event is applied while the poison is still being retried.
    await until(async () => (await reader.read(product.id))?.priceCents === 5000, 'the good event');
    await until(
      async () => (await reader.queue.deadLetters()).length === 1,
      'the poison message in the dead-letter stream',
    );
    expect((await reader.queue.deadLetters())[0]).toMatchObject({
      body: '{"v":1,"tags":"not an array"}',
      receiveCount: 3,
    });
    expect(await queueCount(reader.metrics, 'dead_lettered')).toBe(1);
    expect(await queueCount(reader.metrics, 'failed')).toBe(2);
    const exposition = await reader.metrics.registry.metrics();
    expect(exposition).toContain('queue_messages_total{result="dead_lettered"} 1');
  });

  test('Redis down: writes still commit, the outbox accumulates, and it drains when Redis returns', async () => {
    const redisServer = await startRedis();
    try {
      const product = await newProduct('REDIS-DOWN-1');
      const instance = await open({
        queueName: `q${++queueNo}`,
        redisUrl: redisServer.url,
        firstLevelTtlMs: 60_000,
      });
      await instance.pipeline.start();
      expect((await instance.read(product.id))?.priceCents).toBe(1000);

      // WHEN Redis dies and ten writes happen
      await redisServer.stop();
      for (let i = 1; i <= 10; i++) await setPrice(instance, product.id, 6000 + i);
      // THEN every write committed and its event waits in the outbox (the relay cannot publish)
      expect((await catalog.get(db, product.id))?.priceCents).toBe(6010);
      expect(await unsent()).toBe(10);

      // WHEN Redis comes back (empty: no persistence)
      await redisServer.start();
      // THEN the outbox drains and the instance serves the last price
      await until(async () => (await unsent()) === 0, 'the outbox to drain', 30_000);
      await until(
        async () => (await instance.read(product.id))?.priceCents === 6010,
        'the new price',
        30_000,
      );
      expect((await instance.metrics.outboxPublished.get()).values[0].value).toBe(10);
    } finally {
      await redisServer.stop();
    }
  });
});

/** A Redis server of this test's own on a free port, which the test can stop and start again. */
async function startRedis() {
  const port = await new Promise<number>((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => resolve(free));
    });
  });
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    await until(
      async () =>
        probe.connect().then(
          () => true,
          () => false,
        ),
      `redis-server on port ${port}`,
    );
    probe.disconnect();
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    stop: async () => {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      await new Promise((resolve) => {
        running.on('exit', resolve);
        running.kill('SIGKILL');
      });
    },
  };
}
