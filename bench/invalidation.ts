/**
 * `npx tsx bench/invalidation.ts`: measures event-based invalidation with real Postgres and Redis.
 *
 * - Invalidation delay: two app instances (this process = A, a child process = B), each with a relay, a
 *   consumer on the Redis Streams queue and a first-level cache subscribed to the Redis broadcast. A makes
 *   `--writes` price changes (default 1000) open-loop at `--rate` per second (default 50), each on its own
 *   product, each the outbox way; the delay of a write is from its COMMIT returning on A to B's first-level
 *   cache receiving the eviction of the product's tag (by then its tag version in Redis was bumped too, so no
 *   instance can serve the old value). Reports p50/p99/max.
 * - Outbox cost per write: the same single-row UPDATE alone (autocommit) and as BEGIN; UPDATE; INSERT outbox;
 *   COMMIT, alternated, `--cost-writes` each (default 500): extra statements and added latency p50/mean.
 *
 * Writes bench/results/invalidation.json. Environment: TEST_PG_URL, TEST_REDIS_URL (the test servers).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { Client } from 'pg';
import { RedisCacheStore } from '../app/src/cache/redis-cache-store';
import { runMigrations } from '../app/src/db/migrations';
import { PgDatabase } from '../app/src/db/pg-database';
import { RedisEvictionBroadcast } from '../app/src/invalidation/eviction-broadcast';
import { InvalidationPipeline } from '../app/src/invalidation/invalidation-pipeline';
import { listenForOutbox } from '../app/src/invalidation/outbox-listener';
import { RedisStreamQueue } from '../app/src/queue/redis-stream-queue';
import { CatalogRepository } from '../app/src/repositories/catalog-repository';
import { positiveArg, percentile, round2 } from './script-args';

const PG_ADMIN = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const now = () => performance.timeOrigin + performance.now();

/** Instance parts shared by A and B. */
async function openInstance(databaseUrl: string, prefix: string) {
  const db = new PgDatabase({
    writer: { connectionString: databaseUrl },
    applicationName: 'bench-invalidation',
  });
  const redis = new Redis(REDIS_URL);
  const queue = new RedisStreamQueue(redis, { prefix, name: 'invalidation', leaseMs: 5_000 });
  const broadcast = new RedisEvictionBroadcast(redis, prefix);
  const pipeline = new InvalidationPipeline({
    sources: [
      {
        source: 'main',
        db,
        relay: { pollMs: 500, wake: listenForOutbox({ connectionString: databaseUrl }) },
      },
    ],
    queue,
    store: new RedisCacheStore(redis, prefix),
    broadcast,
    consumer: { waitMs: 1_000 },
  });
  return { db, redis, pipeline, broadcast };
}

/** Instance B (the child): reports every eviction it receives, with its time. */
async function runInstanceB(databaseUrl: string, prefix: string) {
  const b = await openInstance(databaseUrl, prefix);
  await b.broadcast.subscribe({
    evictTags: (tags) => {
      const at = now();
      for (const tag of tags) if (tag.startsWith('product:')) process.stdout.write(`evicted ${tag} ${at}\n`);
    },
    clear: () => {},
  });
  await b.pipeline.start();
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    void b.pipeline.stop().then(async () => {
      await b.db.close();
      b.redis.disconnect();
      process.exit(0);
    });
  });
}

async function main() {
  if (process.argv[2] === '--instance-b') return runInstanceB(process.argv[3], process.argv[4]);
  const writes = positiveArg('writes', 1000);
  const rate = positiveArg('rate', 50);
  const costWrites = positiveArg('cost-writes', 500);

  const name = `bench_inv_${randomBytes(4).toString('hex')}`;
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  const admin = new Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const catalog = new CatalogRepository();
  let child: ReturnType<typeof spawn> | undefined;
  let a: Awaited<ReturnType<typeof openInstance>> | undefined;
  try {
    const setup = new PgDatabase({ writer: { connectionString: databaseUrl } });
    await runMigrations(setup);
    const ids: string[] = [];
    for (let i = 0; i < writes; i++) {
      ids.push((await catalog.create(setup, { sku: `B-${i}`, name: `P${i}`, priceCents: 100, stock: 1 })).id);
    }
    await setup.close();

    // Instance B in its own process.
    child = spawn(process.execPath, ['--import', 'tsx', __filename, '--instance-b', databaseUrl, prefix], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const evictedAt = new Map<string, number>();
    let ready!: () => void;
    const readyPromise = new Promise<void>((resolve) => (ready = resolve));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') return ready();
      const [, tag, at] = line.split(' ');
      if (!evictedAt.has(tag)) evictedAt.set(tag, Number(at));
    });
    await readyPromise;

    a = await openInstance(databaseUrl, prefix);
    await a.pipeline.start();
    const outbox = a.pipeline.outbox('main');

    // Open loop: write i starts at i / rate seconds, whether or not earlier ones are done.
    const committedAt = new Map<string, number>();
    const start = now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < writes; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const id = ids[i];
      const db = a.db;
      inflight.push(
        outbox
          .transaction(
            db,
            (tx) => catalog.update(tx, id, { priceCents: 200 }),
            () => [`product:${id}`, 'catalog'],
          )
          .then(() => void committedAt.set(`product:${id}`, now())),
      );
    }
    await Promise.all(inflight);
    const deadline = now() + 30_000;
    while (evictedAt.size < writes && now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const delays = [...committedAt]
      .map(([tag, t]) => (evictedAt.get(tag) ?? Infinity) - t)
      .sort((x, y) => x - y);
    const missing = delays.filter((d) => !Number.isFinite(d)).length;

    // Outbox cost: alternate plain and outbox writes on the same rows.
    const plain: number[] = [];
    const withOutbox: number[] = [];
    for (let i = 0; i < costWrites; i++) {
      const id = ids[i % ids.length];
      let t = now();
      await catalog.update(a.db.writer, id, { priceCents: 300 + i });
      plain.push(now() - t);
      t = now();
      await outbox.transaction(
        a.db,
        (tx) => catalog.update(tx, id, { priceCents: 300 + i }),
        () => [`product:${id}`],
      );
      withOutbox.push(now() - t);
    }
    plain.sort((x, y) => x - y);
    withOutbox.sort((x, y) => x - y);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

    const result = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, loadAverage1m: os.loadavg()[0] },
      invalidationDelay: {
        what: 'COMMIT returned on instance A -> eviction received by instance B (another process)',
        writes,
        ratePerSecond: rate,
        missing,
        p50Ms: round2(percentile(delays, 50)),
        p99Ms: round2(percentile(delays, 99)),
        maxMs: round2(delays[delays.length - 1]),
        targetP99Ms: 100,
      },
      outboxCostPerWrite: {
        what: 'single-row UPDATE autocommit vs BEGIN; UPDATE; INSERT INTO invalidation_outbox; COMMIT',
        writes: costWrites,
        extraStatements: 3,
        extraStatementsInsideAnExistingTransaction: 1,
        plainP50Ms: round2(percentile(plain, 50)),
        outboxP50Ms: round2(percentile(withOutbox, 50)),
        addedP50Ms: round2(percentile(withOutbox, 50) - percentile(plain, 50)),
        addedMeanMs: round2(mean(withOutbox) - mean(plain)),
      },
    };
    await mkdir(path.join(__dirname, 'results'), { recursive: true });
    await writeFile(
      path.join(__dirname, 'results/invalidation.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    console.log(JSON.stringify(result, null, 2));
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (a) {
      await a.pipeline.stop();
      await a.db.close();
      const keys = await a.redis.keys(`${prefix}*`);
      if (keys.length > 0) await a.redis.del(...keys);
      a.redis.disconnect();
    }
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
