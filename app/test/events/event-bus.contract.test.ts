import Redis from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { DOMAIN_EVENT_TYPES, newDomainEvent, type DomainEvent } from '../../src/events/domain-event';
import type { EventBus } from '../../src/events/event-bus';
import { decodeEventMessage } from '../../src/events/event-consumer';
import {
  consumersOf,
  EVENT_CONSUMERS,
  EVENT_ROUTES,
  type EventConsumer,
} from '../../src/events/event-routes';
import { MemoryEventBus } from '../../src/events/memory-event-bus';
import { RedisEventBus } from '../../src/events/redis-event-bus';
import type { Delivery, MessageQueue } from '../../src/queue/message-queue';
import { createTestRedisPrefix, TEST_REDIS_URL } from '../support/redis';

// The event-bus port's contract, run against the in-process adapter and Redis Streams (the EventBridge adapter's
// calls are tested against recorded shapes in eventbridge.test.ts: its routing is the infrastructure's rules).
const redisPrefix = createTestRedisPrefix();
const clients: Redis[] = [];
let busNo = 0;

const adapters: [string, () => EventBus][] = [
  ['memory', () => new MemoryEventBus({ leaseMs: 200 })],
  [
    'redis streams',
    () => {
      const client = new Redis(TEST_REDIS_URL);
      clients.push(client);
      return new RedisEventBus(client, { prefix: `${redisPrefix.prefix}bus${++busNo}:`, leaseMs: 200 });
    },
  ],
];

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redisPrefix.cleanup();
});

function sample(type: DomainEvent['type']): DomainEvent {
  const ids = { orderId: uuidv7(), userId: uuidv7(), productId: uuidv7() };
  switch (type) {
    case 'OrderPlaced':
      return newDomainEvent(type, {
        orderId: ids.orderId,
        userId: ids.userId,
        totalCents: 100,
        items: [{ productId: ids.productId, quantity: 1, unitPriceCents: 100 }],
      });
    case 'OrderCancelled':
      return newDomainEvent(type, {
        orderId: ids.orderId,
        userId: ids.userId,
        items: [{ productId: ids.productId, quantity: 1 }],
      });
    case 'ProductChanged':
      return newDomainEvent(type, {
        productId: ids.productId,
        change: 'created',
        sku: 'S',
        name: 'N',
        priceCents: 1,
        stock: 1,
      });
    case 'UserRegistered':
      return newDomainEvent(type, { userId: ids.userId });
  }
}

/** Everything in a queue now, acknowledged (receives until an empty answer). */
async function drain(queue: MessageQueue): Promise<Delivery[]> {
  const all: Delivery[] = [];
  for (;;) {
    const batch = await queue.receive(10, 50);
    if (batch.length === 0) return all;
    await queue.ack(batch);
    all.push(...batch);
  }
}

describe.each(adapters)('event bus: %s', (_name, open) => {
  let bus: EventBus;
  let queues: Map<EventConsumer, MessageQueue>;

  beforeEach(() => {
    bus = open();
    queues = new Map(
      bus.consumerQueues(EVENT_CONSUMERS).map(({ queue, consumers }) => [consumers[0], queue] as const),
    );
  });

  afterEach(async () => {
    for (const q of queues.values()) await q.close();
    await bus.close();
  });

  test('each consumer has its own queue', () => {
    expect([...queues.keys()]).toEqual([...EVENT_CONSUMERS]);
    expect(new Set(queues.values()).size).toBe(EVENT_CONSUMERS.length);
  });

  test('routes every type to exactly the consumers of the routing table, body = the envelope', async () => {
    const events = DOMAIN_EVENT_TYPES.map(sample);
    const result = await bus.publish(events);
    expect(result).toEqual({ accepted: events.map((e) => e.id), failed: [] });
    for (const consumer of EVENT_CONSUMERS) {
      const got = (await drain(queues.get(consumer)!)).map((d) => decodeEventMessage(d.body));
      expect(got).toEqual(events.filter((e) => consumersOf(e.type).includes(consumer)));
      expect(got.map((e) => e.type)).toEqual([...EVENT_ROUTES[consumer]]);
    }
  });

  test('a consumer that is not reading lets its queue fill; the other consumer is not held up', async () => {
    const placed = Array.from({ length: 25 }, () => sample('OrderPlaced'));
    const cancelled = Array.from({ length: 3 }, () => sample('OrderCancelled'));
    await bus.publish([...placed, ...cancelled]);
    expect((await drain(queues.get('products')!)).map((d) => decodeEventMessage(d.body).id)).toEqual(
      cancelled.map((e) => e.id),
    );
    // users comes back later: all 25, in order, none lost.
    expect((await drain(queues.get('users')!)).map((d) => decodeEventMessage(d.body).id)).toEqual(
      placed.map((e) => e.id),
    );
  });

  test('an event not acknowledged is delivered again after its lease (at least once)', async () => {
    const event = sample('OrderPlaced');
    await bus.publish([event]);
    const users = queues.get('users')!;
    const [first] = await users.receive(1, 100);
    expect(first.receiveCount).toBe(1);
    let again: Delivery[] = [];
    const deadline = Date.now() + 5_000;
    while (again.length === 0 && Date.now() < deadline) again = await users.receive(1, 100);
    expect(again.map((d) => [decodeEventMessage(d.body).id, d.receiveCount])).toEqual([[event.id, 2]]);
    await users.ack(again);
  });
});
