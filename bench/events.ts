/**
 * `npm run bench:events`: event end-to-end delay, from the outbox insert to the consumer's effect committed,
 * through the real parts: orders placed on Postgres (the order statement writes OrderPlaced into event_outbox),
 * the outbox relay (FOR UPDATE SKIP LOCKED, woken by the write as the app's afterWrite does, 500 ms poll as the
 * safety net), the Redis Streams bus (the users consumer's stream), and the users consumer (dedupe record + order
 * count in one transaction). Producer side and consumer side are separate pipelines with their own connections,
 * in this one process.
 *
 * Orders arrive open loop: at a fixed rate (`--rate` per second, default 100) for `--seconds` (default 20), each
 * started at its scheduled time whether or not the earlier ones finished. The delay of an event is the consumer's
 * clock when its effect committed minus the event's `occurredAt` (Postgres' clock_timestamp() at the insert; one
 * machine, one clock). Checks that every order was applied exactly once.
 *
 * Writes bench/results/events.json. Environment: TEST_PG_URL, TEST_REDIS_URL (the test servers).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { runMigrations } from '../app/src/db/migrations';
import { PgDatabase } from '../app/src/db/pg-database';
import { seedCatalog } from '../app/src/db/seed';
import { orderCountEffect } from '../app/src/events/consumers/order-count';
import { DomainEventPipeline } from '../app/src/events/event-pipeline';
import { RedisEventBus } from '../app/src/events/redis-event-bus';
import { ReadRouter } from '../app/src/read-routing';
import { OrderRepository } from '../app/src/repositories/order-repository';
import { UserDataRouter } from '../app/src/sharding/user-data-router';
import { positiveArg, percentile, round2 } from './script-args';

const PG_ADMIN = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function main() {
  const rate = positiveArg('rate', 100);
  const seconds = positiveArg('seconds', 20);
  const userCount = 100;
  const name = `bench_events_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  const prefix = `bench:events:${randomBytes(4).toString('hex')}:`;
  const db = new PgDatabase({
    writer: { connectionString: url.toString() },
    applicationName: 'bench-events',
    poolMax: 20,
  });
  const redisProducer = new Redis(REDIS_URL);
  const redisConsumer = new Redis(REDIS_URL);
  const pipelines: DomainEventPipeline[] = [];
  try {
    await runMigrations(db);
    const { ids: products } = await seedCatalog(db.writer, 50);
    const users = Array.from({ length: userCount }, () => uuidv7());
    await db.query(
      `INSERT INTO users (id, email, name, password_hash) SELECT id, id || '@bench.test', 'Bench', 'x' FROM unnest($1::uuid[]) AS id`,
      [users],
    );
    const router = UserDataRouter.unsharded({ id: '0', db, reads: new ReadRouter(db, 0, '0') });

    // Producer side: the relay of the database's event outbox, publishing to the Redis Streams bus.
    const producer = new DomainEventPipeline({
      sources: [{ source: 'main', db }],
      bus: new RedisEventBus(redisProducer, { prefix }),
      consumers: {},
    });
    // Consumer side: the users consumer on its stream.
    const delays: number[] = [];
    let duplicates = 0;
    const consumer = new DomainEventPipeline({
      sources: [],
      bus: new RedisEventBus(redisConsumer, { prefix }),
      consumers: { users: { OrderPlaced: orderCountEffect(router) } },
      consumer: { waitMs: 1_000 },
      onHandled: (event, outcome) => {
        if (outcome === 'duplicate') duplicates += 1;
        else delays.push(Date.now() - Date.parse(event.occurredAt));
      },
    });
    pipelines.push(producer, consumer);
    producer.start();
    consumer.start();

    const orders = new OrderRepository();
    const total = Math.round(rate * seconds);
    const started = Date.now();
    let failedWrites = 0;
    const writes: Promise<void>[] = [];
    console.log(`placing ${total} orders at ${rate}/s (open loop) ...`);
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      writes.push(
        orders
          .place(db.writer, {
            id: uuidv7(),
            userId: users[i % userCount],
            lines: [{ productId: products[i % products.length], quantity: 1, field: 'items/0' }],
          })
          .then(() => producer.wake())
          .catch(() => {
            failedWrites += 1;
          }),
      );
    }
    await Promise.all(writes);
    const placed = total - failedWrites;
    const deadline = Date.now() + 60_000;
    while (delays.length < placed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const { rows } = await db.query<{ n: string }>('SELECT sum(order_count) AS n FROM users');
    const counted = Number(rows[0].n);

    const sorted = [...delays].sort((a, b) => a - b);
    const result = {
      benchmark: 'events',
      description:
        'OrderPlaced end-to-end delay: outbox insert (occurredAt) to the users consumer effect committed; ' +
        'relay + Redis Streams + consumer, open-loop arrivals',
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
      arrivalRatePerSecond: rate,
      durationSeconds: seconds,
      ordersPlaced: placed,
      failedWrites,
      eventsApplied: delays.length,
      duplicatesDropped: duplicates,
      orderCountTotal: counted,
      exactlyOnce: counted === placed && delays.length === placed,
      delayMs: {
        p50: round2(percentile(sorted, 50)),
        p90: round2(percentile(sorted, 90)),
        p99: round2(percentile(sorted, 99)),
        max: round2(sorted[sorted.length - 1]),
        mean: round2(sorted.reduce((a, b) => a + b, 0) / sorted.length),
      },
      setup: {
        relayPollMs: 500,
        relayWake: 'in-process after each committed order (as afterWrite does)',
        bus: 'redis (one stream per consumer, consumer group)',
        consumerBatch: 10,
        postgres: 'the machine server (TEST_PG_URL)',
        users: userCount,
      },
    };
    console.log(JSON.stringify(result, null, 2));
    await mkdir(path.join(__dirname, 'results'), { recursive: true });
    await writeFile(path.join(__dirname, 'results/events.json'), `${JSON.stringify(result, null, 2)}\n`);
    if (!result.exactlyOnce) process.exitCode = 1;
  } finally {
    await Promise.allSettled(pipelines.map((p) => p.stop()));
    await db.close();
    const keys = await redisProducer.keys(`${prefix}*`);
    if (keys.length > 0) await redisProducer.del(...keys);
    redisProducer.disconnect();
    redisConsumer.disconnect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
