import { randomUUID } from 'node:crypto';
import { createTestDatabase, withClient, type TestDatabase } from '../app/test/support/postgres';
import { percentile, readEventRecords, summariseEventDelay, waitForEventsApplied } from './event-delay';

// One database stands for one shard server: the columns bench/event-delay.ts reads, as migrations 006 and
// shard/002 create them (public.event_outbox; ls_NNN.processed_events, users, orders).
const SCHEMA = `
CREATE TABLE event_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL UNIQUE, type text NOT NULL,
  envelope jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE SCHEMA ls_000; CREATE SCHEMA ls_001;
CREATE TABLE ls_000.users (id uuid PRIMARY KEY, order_count integer NOT NULL DEFAULT 0);
CREATE TABLE ls_001.users (id uuid PRIMARY KEY, order_count integer NOT NULL DEFAULT 0);
CREATE TABLE ls_000.orders (id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE ls_001.orders (id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE ls_000.processed_events (consumer text NOT NULL, event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id));
CREATE TABLE ls_001.processed_events (consumer text NOT NULL, event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id));`;

describe('event delay of bench:1m', () => {
  let db: TestDatabase;
  const alice = randomUUID(); // ls_000, measured
  const bob = randomUUID(); // ls_001, measured
  const carol = randomUUID(); // ls_000, not measured
  const events = { a1: randomUUID(), b1: randomUUID(), b2: randomUUID(), c1: randomUUID() };
  const T0 = '2026-12-01T00:00:00Z';

  const sql = (text: string, values: unknown[] = []) =>
    withClient(db.url, (client) => client.query(text, values));
  /** An order, its OrderPlaced outbox row at T0, and (when `afterMs` is given) the consumer's effect. */
  const place = async (schema: string, userId: string, eventId: string, afterMs?: number) => {
    await sql(`INSERT INTO ${schema}.orders VALUES ($1, $2)`, [randomUUID(), userId]);
    await sql(
      `INSERT INTO event_outbox (event_id, type, envelope, created_at) VALUES ($1, 'OrderPlaced', $2, $3)`,
      [eventId, { id: eventId, type: 'OrderPlaced', data: { userId } }, T0],
    );
    if (afterMs !== undefined) await apply(schema, userId, eventId, afterMs);
  };
  const apply = async (schema: string, userId: string, eventId: string, afterMs: number) => {
    await sql(
      `INSERT INTO ${schema}.processed_events VALUES ('users', $1, $2::timestamptz + make_interval(secs => $3::float8 / 1000))`,
      [eventId, T0, afterMs],
    );
    await sql(`UPDATE ${schema}.users SET order_count = order_count + 1 WHERE id = $1`, [userId]);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await sql(SCHEMA);
    await sql('INSERT INTO ls_000.users (id) VALUES ($1), ($2)', [alice, carol]);
    await sql('INSERT INTO ls_001.users (id) VALUES ($1)', [bob]);
    await place('ls_000', alice, events.a1, 40);
    await place('ls_001', bob, events.b1, 10);
    await place('ls_001', bob, events.b2); // not applied yet
    await place('ls_000', carol, events.c1, 5000); // not one of the measured users
    // Another consumer's record of a measured event is not the users consumer's.
    await sql(`INSERT INTO ls_001.processed_events VALUES ('products', $1, now())`, [events.b2]);
  });
  afterAll(() => db.drop());

  it('finds the measured users’ events, their delay computed by the server, and what is not applied', async () => {
    const snapshot = await readEventRecords([db.url], [alice, bob]);
    const byId = new Map(snapshot.events.map((e) => [e.eventId, e]));
    expect(byId.size).toBe(3);
    expect(byId.get(events.a1)).toMatchObject({ userId: alice, applied: 1, delayMs: 40 });
    expect(byId.get(events.b1)).toMatchObject({ userId: bob, applied: 1, delayMs: 10 });
    expect(byId.get(events.b2)).toMatchObject({ applied: 0, delayMs: null });
    expect(snapshot.orders).toBe(3);
    expect(snapshot.orderCountTotal).toBe(2);

    const summary = summariseEventDelay(snapshot, 3);
    expect(summary).toMatchObject({
      appliedOnce: 2,
      notApplied: 1,
      appliedMoreThanOnce: 0,
      exactlyOnce: false,
    });
    expect(summary.delayMs).toMatchObject({ p50: 10, max: 40 });
  });

  it('says exactly once only when every placed order is applied and counted once', async () => {
    await apply('ls_001', bob, events.b2, 20);
    const snapshot = await waitForEventsApplied([db.url], [alice, bob], 3, 5_000);
    expect(summariseEventDelay(snapshot, 3)).toMatchObject({
      ordersInDatabase: 3,
      eventsInOutbox: 3,
      appliedOnce: 3,
      orderCountTotal: 3,
      exactlyOnce: true,
      delayMs: { p50: 20, p99: 40, max: 40 },
    });
    // A client that saw one order more than the databases hold: not exactly once.
    expect(summariseEventDelay(snapshot, 4).exactlyOnce).toBe(false);
    // A second dedupe record of the same event (in another schema): applied twice.
    await apply('ls_000', alice, events.b1, 30);
    const twice = summariseEventDelay(await readEventRecords([db.url], [alice, bob]), 3);
    expect(twice).toMatchObject({ appliedMoreThanOnce: 1, exactlyOnce: false });
  });

  it('takes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});
