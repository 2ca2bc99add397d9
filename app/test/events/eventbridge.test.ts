import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { v7 as uuidv7 } from 'uuid';
import { runMigrations } from '../../src/db/migrations';
import { PgDatabase } from '../../src/db/pg-database';
import { newDomainEvent, type DomainEvent } from '../../src/events/domain-event';
import { recordDomainEvent } from '../../src/events/event-outbox';
import { DomainEventPipeline } from '../../src/events/event-pipeline';
import { DomainEventRelay } from '../../src/events/event-relay';
import { typesPublishedBy } from '../../src/events/event-routes';
import { EventBridgeEventBus, PUT_EVENTS_MAX_BYTES } from '../../src/events/eventbridge-event-bus';
import { EventBridgeInvalidationQueue } from '../../src/events/eventbridge-invalidation-queue';
import { InvalidEventError, parseInvalidationEvent } from '../../src/invalidation/invalidation-event';
import { PartialPublishError } from '../../src/outbox/outbox-table-relay';
import { SqsMessageQueue } from '../../src/queue/sqs-queue';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { until } from '../support/wait';
import {
  eventBridgeSqsBody,
  putEventsAccepted,
  putEventsPartial,
  receivedMessages,
} from './fixtures/aws-shapes';

const BUS = 'shop-prod-events';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/shop-prod-users-events';
const eventBridge = mockClient(EventBridgeClient);
const sqs = mockClient(SQSClient);
const busOf = () =>
  new EventBridgeEventBus(new EventBridgeClient({ region: 'eu-west-1' }), {
    busName: BUS,
    queueUrl: QUEUE_URL,
    sqsClient: new SQSClient({ region: 'eu-west-1' }),
    maxReceives: 5,
  });
const placed = () =>
  newDomainEvent('OrderPlaced', {
    orderId: uuidv7(),
    userId: uuidv7(),
    totalCents: 300,
    items: [{ productId: uuidv7(), quantity: 1, unitPriceCents: 300 }],
  });

let database: TestDatabase;
let db: PgDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  db = new PgDatabase({ writer: { connectionString: database.url } });
  await runMigrations(db);
});

afterAll(async () => {
  await db?.close();
  await database?.drop();
});

beforeEach(() => {
  eventBridge.reset();
  sqs.reset();
});

describe('EventBridgeEventBus.publish', () => {
  test('PutEvents in calls of at most 10 entries: Source shop.<service>, DetailType = type, Detail = envelope', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input) => putEventsAccepted(input.Entries.length));
    const events = Array.from({ length: 23 }, placed);
    const result = await busOf().publish(events);
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
    expect(calls[0].args[0].input.Entries?.[0]).toEqual({
      EventBusName: BUS,
      Source: 'shop.orders',
      DetailType: 'OrderPlaced',
      Detail: JSON.stringify(events[0]),
    });
    expect(result).toEqual({ accepted: events.map((e) => e.id), failed: [] });
  });

  test('a partial failure (FailedEntryCount) accepts only the entries with an EventId', async () => {
    eventBridge.on(PutEventsCommand).resolves(putEventsPartial([1, 3], 4));
    const events = Array.from({ length: 4 }, placed);
    const result = await busOf().publish(events);
    expect(result.accepted).toEqual([events[0].id, events[2].id]);
    expect(result.failed).toEqual([
      { eventId: events[1].id, ok: false, code: 'InternalFailure', message: 'Internal service error.' },
      { eventId: events[3].id, ok: false, code: 'InternalFailure', message: 'Internal service error.' },
    ]);
  });

  test('a call that throws fails its entries only; an entry over 256 KB is failed as permanent, never sent', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    eventBridge
      .on(PutEventsCommand)
      .rejectsOnce(throttled)
      .callsFake((input) => putEventsAccepted(input.Entries.length));
    const events = Array.from({ length: 12 }, placed);
    const huge = newDomainEvent('ProductChanged', {
      productId: uuidv7(),
      change: 'updated',
      sku: 'BIG',
      name: 'x'.repeat(PUT_EVENTS_MAX_BYTES),
      priceCents: 1,
      stock: 1,
    });
    const result = await busOf().publish([...events, huge]);
    expect(result.accepted).toEqual(events.slice(10).map((e) => e.id));
    expect(result.failed.map((f) => [f.code, f.permanent ?? false])).toEqual([
      ...Array.from({ length: 10 }, () => ['ThrottlingException', false]),
      ['EntryTooLarge', true],
    ]);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(2);
  });
});

describe('relay over EventBridge (real Postgres outbox, mocked PutEvents)', () => {
  async function write(n: number): Promise<DomainEvent[]> {
    const events = Array.from({ length: n }, placed);
    await db.transaction(async (tx) => {
      for (const event of events) await recordDomainEvent(tx, event);
    });
    return events;
  }
  const sentIds = async (ids: string[]) => {
    const { rows } = await db.query<{ event_id: string }>(
      'SELECT event_id::text FROM event_outbox WHERE sent_at IS NOT NULL AND event_id = ANY($1::uuid[]) ORDER BY id',
      [ids],
    );
    return rows.map((r) => r.event_id);
  };

  test('only accepted entries are marked sent; the failed ones stay unsent and alone are sent again', async () => {
    await db.query('UPDATE event_outbox SET sent_at = now() WHERE sent_at IS NULL');
    const events = await write(4);
    const ids = events.map((e) => e.id);
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce(putEventsPartial([1, 2], 4))
      .callsFake((input) => putEventsAccepted(input.Entries.length));
    const relay = new DomainEventRelay(db, busOf(), { source: 'main' });
    await expect(relay.publishBatch()).rejects.toThrow(PartialPublishError);
    expect(await sentIds(ids)).toEqual([ids[0], ids[3]]);
    expect(await relay.pending()).toBe(2);

    expect(await relay.publishBatch()).toBe(2);
    const second = eventBridge.commandCalls(PutEventsCommand)[1].args[0].input.Entries ?? [];
    expect(second.map((e) => JSON.parse(e.Detail!).id)).toEqual([ids[1], ids[2]]);
    expect(await sentIds(ids)).toEqual(ids);
  });

  test("a service's relay publishes only its own types (its PutEvents permission names its Source)", async () => {
    await db.query('UPDATE event_outbox SET sent_at = now() WHERE sent_at IS NULL');
    const [order] = await write(1);
    const registered = newDomainEvent('UserRegistered', { userId: uuidv7() });
    await db.transaction((tx) => recordDomainEvent(tx, registered));
    eventBridge.on(PutEventsCommand).callsFake((input) => putEventsAccepted(input.Entries.length));
    expect(typesPublishedBy('users')).toEqual(['UserRegistered']);
    expect(typesPublishedBy('orders')).toEqual(['OrderPlaced', 'OrderCancelled']);
    const users = new DomainEventRelay(db, busOf(), { source: 'main', types: typesPublishedBy('users') });
    expect(await users.pending()).toBe(1);
    expect(await users.publishBatch()).toBe(1);
    const entries = eventBridge.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    expect(entries.map((e) => [e.Source, e.DetailType])).toEqual([['shop.users', 'UserRegistered']]);
    expect(await sentIds([order.id, registered.id])).toEqual([registered.id]);
    const orders = new DomainEventRelay(db, busOf(), { source: 'main', types: typesPublishedBy('orders') });
    expect(await orders.publishBatch()).toBe(1);
    expect(await sentIds([order.id, registered.id])).toEqual([order.id, registered.id]);
  });

  test('PutEvents throwing marks nothing sent', async () => {
    await db.query('UPDATE event_outbox SET sent_at = now() WHERE sent_at IS NULL');
    const events = await write(3);
    eventBridge
      .on(PutEventsCommand)
      .rejects(Object.assign(new Error('down'), { name: 'ServiceUnavailable' }));
    const relay = new DomainEventRelay(db, busOf(), { source: 'main' });
    await expect(relay.publishBatch()).rejects.toThrow(PartialPublishError);
    expect(await sentIds(events.map((e) => e.id))).toEqual([]);
    expect(await relay.pending()).toBe(3);
  });
});

describe('consuming the EventBridge path: the SQS queue, body = EventBridge event', () => {
  test('the consumer unwraps `detail`, applies the effect and deletes the message', async () => {
    const event = placed();
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce(receivedMessages([eventBridgeSqsBody('OrderPlaced', 'shop.orders', event)]))
      .resolves({ Messages: [] });
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: '0' }], Failed: [] });
    const applied: DomainEvent[] = [];
    const pipeline = new DomainEventPipeline({
      sources: [],
      bus: busOf(),
      consumers: { users: { OrderPlaced: async (e) => (applied.push(e), true) } },
      consumer: { waitMs: 0 },
    });
    pipeline.start();
    try {
      await until(() => sqs.commandCalls(DeleteMessageBatchCommand).length > 0, 'the delete');
    } finally {
      await pipeline.stop();
    }
    expect(applied).toEqual([event]);
    const receive = sqs.commandCalls(ReceiveMessageCommand)[0].args[0].input;
    expect(receive).toMatchObject({
      QueueUrl: QUEUE_URL,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    });
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0].args[0].input.Entries).toEqual([
      { Id: '0', ReceiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a0==' },
    ]);
  });

  test('a wrapped event whose detail-type disagrees with its envelope is not applied (left for the DLQ)', async () => {
    const event = placed();
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce(receivedMessages([eventBridgeSqsBody('OrderCancelled', 'shop.orders', event)], 5))
      .resolves({ Messages: [] });
    const applied: DomainEvent[] = [];
    const pipeline = new DomainEventPipeline({
      sources: [],
      bus: busOf(),
      consumers: { users: { OrderPlaced: async (e) => (applied.push(e), true) } },
      consumer: { waitMs: 0 },
    });
    pipeline.start();
    await until(() => sqs.commandCalls(ReceiveMessageCommand).length >= 2, 'a second receive');
    await pipeline.stop();
    expect(applied).toEqual([]);
    // Not deleted: SQS's redrive policy moves it to the DLQ after maxReceiveCount receives.
    const deletes = sqs.commandCalls(DeleteMessageBatchCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    expect(deletes).toEqual([]);
  });
});

describe('cache invalidation over EventBridge (CacheTagsInvalidated)', () => {
  const invalidation = { v: 1, source: 'main', eventIds: ['e1'], tags: ['catalog'], oldestAt: 1 };

  test('send is a PutEvents to the bus; failed entries are retried once, then it rejects', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce(putEventsPartial([0], 2))
      .resolvesOnce(putEventsPartial([0], 1));
    const queue = new EventBridgeInvalidationQueue(
      new SqsMessageQueue(new SQSClient({}), { queueUrl: QUEUE_URL }),
      new EventBridgeClient({ region: 'eu-west-1' }),
      { busName: BUS, source: 'shop.products' },
    );
    await expect(queue.send(['a', 'b'])).rejects.toThrow(/1 invalidation entries failed \(InternalFailure\)/);
    const calls = eventBridge.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries);
    expect(calls[0]).toEqual([
      { EventBusName: BUS, Source: 'shop.products', DetailType: 'CacheTagsInvalidated', Detail: 'a' },
      { EventBusName: BUS, Source: 'shop.products', DetailType: 'CacheTagsInvalidated', Detail: 'b' },
    ]);
    expect(calls[1]).toEqual([calls[0]![0]]);
  });

  test('the invalidation consumer accepts the raw message (100k) and the EventBridge-wrapped one (1m)', () => {
    expect(parseInvalidationEvent(JSON.stringify(invalidation))).toEqual(invalidation);
    expect(
      parseInvalidationEvent(eventBridgeSqsBody('CacheTagsInvalidated', 'shop.products', invalidation)),
    ).toEqual(invalidation);
    expect(() =>
      parseInvalidationEvent(eventBridgeSqsBody('OrderPlaced', 'shop.orders', invalidation)),
    ).toThrow(InvalidEventError);
  });
});
