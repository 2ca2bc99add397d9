import { v7 as uuidv7 } from 'uuid';
import { runMigrations } from '../../src/db/migrations';
import { PgDatabase } from '../../src/db/pg-database';
import { MemoryEventBus } from '../../src/events/memory-event-bus';
import { DomainEventRelay } from '../../src/events/event-relay';
import { migrateShardLayout } from '../../src/sharding/shard-migrations';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

// The event relay's prune on a real Postgres: sent outbox rows in batches until a batch comes back short (bounded
// per tick), and the consumers' dedupe records (processed_events in public and every ls_NNN, stock_releases) by
// age.
let database: TestDatabase;
let db: PgDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  db = new PgDatabase({ writer: { connectionString: database.url } });
  await runMigrations(db);
  await migrateShardLayout(db, { logicalShards: 2, control: false });
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

const count = async (sql: string) =>
  (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`)).rows[0].n;

async function sentEvents(n: number, hoursAgo: number) {
  await db.query(
    `INSERT INTO event_outbox (event_id, type, envelope, sent_at)
     SELECT id, 'OrderPlaced', jsonb_build_object('id', id::text, 'type', 'OrderPlaced'),
            now() - make_interval(hours => $2)
       FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $1)) g`,
    [n, hoursAgo],
  );
}

test('a prune tick deletes old sent rows in batches while batches come back full, bounded per tick', async () => {
  await sentEvents(23, 2);
  await sentEvents(3, 0);
  const relay = new DomainEventRelay(db, new MemoryEventBus({ maxReceives: 5 }), {
    source: 'main',
    pruneBatch: 5,
    pruneMaxBatches: 4,
  });
  // 4 full batches of 5 in the first tick (the bound), the other 3 old rows in the next; recent rows stay.
  expect(await relay.pruneNow()).toBe(20);
  expect(await relay.pruneNow()).toBe(3);
  expect(await count('event_outbox')).toBe(3);
});

test('dedupe records older than keepProcessedMs are pruned in public and every logical shard schema', async () => {
  for (const schema of ['public', 'ls_000', 'ls_001'])
    await db.query(
      `INSERT INTO ${schema}.processed_events (consumer, event_id, processed_at)
       VALUES ('users', gen_random_uuid(), now() - interval '40 days'),
              ('users', gen_random_uuid(), now() - interval '40 days'),
              ('users', gen_random_uuid(), now())`,
    );
  await db.query(
    `INSERT INTO stock_releases (order_id, released_at)
     VALUES ($1, now() - interval '40 days'), ($2, now())`,
    [uuidv7(), uuidv7()],
  );
  const relay = new DomainEventRelay(db, new MemoryEventBus({ maxReceives: 5 }), {
    source: 'main',
    keepProcessedMs: 30 * 24 * 3_600_000,
    pruneProcessedEveryMs: 0,
  });
  expect(await relay.pruneNow()).toBe(3 * 2 + 1);
  for (const schema of ['public', 'ls_000', 'ls_001'])
    expect(await count(`${schema}.processed_events`)).toBe(1);
  expect(await count('stock_releases')).toBe(1);
});

test('by default the dedupe records are pruned hourly, not with every outbox prune', async () => {
  await db.query(
    `INSERT INTO processed_events (consumer, event_id, processed_at)
     VALUES ('users', gen_random_uuid(), now() - interval '40 days')`,
  );
  const relay = new DomainEventRelay(db, new MemoryEventBus({ maxReceives: 5 }), { source: 'main' });
  expect(await relay.pruneNow()).toBe(0);
  expect(await count('processed_events')).toBe(2);
});
