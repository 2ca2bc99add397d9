import Redis from 'ioredis';
import type { Delivery, MessageQueue, MessageQueueOptions } from '../../src/queue/message-queue';
import { MemoryMessageQueue } from '../../src/queue/memory-queue';
import { QueueConsumer, type ConsumeResult } from '../../src/queue/queue-consumer';
import { RedisStreamQueue } from '../../src/queue/redis-stream-queue';
import { createTestRedisPrefix, TEST_REDIS_URL } from '../support/redis';
import { until } from '../support/wait';

/** The queue as two instances of the app see it: two handles on one queue (one per consumer). */
interface OpenedQueue {
  a: MessageQueue;
  b: MessageQueue;
  deadLetters(): Promise<Delivery[]>;
}

interface Adapter {
  open(options: MessageQueueOptions): OpenedQueue;
  closeAll(): Promise<void>;
}

const redisPrefix = createTestRedisPrefix();
let queueNo = 0;

const adapters: [string, Adapter][] = [
  [
    'memory',
    (() => {
      const opened: MemoryMessageQueue[] = [];
      return {
        open: (options) => {
          const queue = new MemoryMessageQueue(options);
          opened.push(queue);
          return { a: queue, b: queue, deadLetters: () => queue.deadLetters() };
        },
        closeAll: async () => {
          for (const q of opened.splice(0)) await q.close();
        },
      };
    })(),
  ],
  [
    'redis streams',
    (() => {
      const clients: Redis[] = [];
      const queues: RedisStreamQueue[] = [];
      return {
        open: (options) => {
          const name = `contract${++queueNo}`;
          const [c1, c2] = [new Redis(TEST_REDIS_URL), new Redis(TEST_REDIS_URL)];
          clients.push(c1, c2);
          const a = new RedisStreamQueue(c1, { ...options, prefix: redisPrefix.prefix, name });
          const b = new RedisStreamQueue(c2, { ...options, prefix: redisPrefix.prefix, name });
          queues.push(a, b);
          return { a, b, deadLetters: () => a.deadLetters() };
        },
        closeAll: async () => {
          for (const q of queues.splice(0)) await q.close();
          for (const c of clients.splice(0)) c.disconnect();
        },
      };
    })(),
  ],
];

afterAll(() => redisPrefix.cleanup());

describe.each(adapters)('queue contract (%s adapter)', (_name, adapter) => {
  const consumers: QueueConsumer[] = [];
  const consume = (
    queue: MessageQueue,
    handler: (body: string, delivery: Delivery) => Promise<void>,
    observe?: (result: ConsumeResult) => void,
  ) => {
    const consumer = new QueueConsumer(queue, handler, { waitMs: 100, backoffMs: 10, observe });
    consumers.push(consumer);
    consumer.start();
    return consumer;
  };

  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop();
    await adapter.closeAll();
  });

  test('at-least-once: every message sent is handled, by one of two consumers, and none is lost', async () => {
    // GIVEN two consumers on one queue
    const { a, b } = adapter.open({ leaseMs: 2_000 });
    const seen: string[] = [];
    const handler = async (body: string) => {
      seen.push(body);
    };
    consume(a, handler);
    consume(b, handler);
    // WHEN 60 messages are sent in batches
    const sent = Array.from({ length: 60 }, (_, i) => `m${i}`);
    for (let i = 0; i < sent.length; i += 15) await a.send(sent.slice(i, i + 15));
    // THEN each one is handled; compared as sets: no order is promised
    await until(() => new Set(seen).size === sent.length, 'all 60 messages handled');
    expect(new Set(seen)).toEqual(new Set(sent));
    // and, acknowledged, none comes back after the lease
    expect(await a.receive(10, 50)).toEqual([]);
  });

  test('a consumer that dies mid-message: the message is redelivered to another after the lease', async () => {
    // GIVEN consumer A holding a message it never finishes
    const { a, b } = adapter.open({ leaseMs: 300 });
    let started!: Delivery;
    const dying = consume(a, (_body, delivery) => {
      started = delivery;
      return new Promise(() => {}); // hangs, then the consumer dies
    });
    await a.send(['order-42']);
    await until(() => started !== undefined, 'consumer A to start on the message');
    await dying.abandon();
    // WHEN consumer B polls
    const handled: Delivery[] = [];
    consume(b, async (_body, delivery) => {
      handled.push(delivery);
    });
    // THEN B gets the same message, marked as its second delivery
    await until(() => handled.length === 1, 'the message to be redelivered');
    expect(handled[0]).toMatchObject({ id: started.id, body: 'order-42', receiveCount: 2 });
    expect(started.receiveCount).toBe(1);
  });

  test('a renewed lease keeps a slow message from being redelivered to another consumer', async () => {
    // GIVEN consumer A on a message for three times its lease
    const { a, b } = adapter.open({ leaseMs: 300 });
    const deliveries: Delivery[] = [];
    let finish!: () => void;
    consume(a, (_body, delivery) => {
      deliveries.push(delivery);
      return new Promise<void>((resolve) => (finish = resolve));
    });
    await a.send(['slow']);
    await until(() => finish !== undefined, 'the slow handler to start');
    // WHEN another consumer polls meanwhile
    const stolen: Delivery[] = [];
    const heldUntil = Date.now() + 900;
    while (Date.now() < heldUntil) stolen.push(...(await b.receive(1, 50)));
    finish();
    // THEN it never gets the message (A's heartbeat renewed the lease), and after A's ack nobody does
    expect(stolen).toEqual([]);
    const after: Delivery[] = [];
    const pollUntil = Date.now() + 700;
    while (Date.now() < pollUntil) after.push(...(await b.receive(1, 50)));
    expect(after).toEqual([]);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0].receiveCount).toBe(1);
  });

  test('a poison message goes to the dead-letter store after N receives and does not block the others', async () => {
    // GIVEN a queue dead-lettering after 3 receives and a handler that always fails on one message
    const { a, deadLetters } = adapter.open({ leaseMs: 200, maxReceives: 3 });
    const results: ConsumeResult[] = [];
    const attempts: number[] = [];
    const handled: string[] = [];
    consume(
      a,
      async (body, delivery) => {
        if (body === 'poison') {
          attempts.push(delivery.receiveCount);
          throw new Error('cannot parse');
        }
        handled.push(body);
      },
      (result) => results.push(result),
    );
    // WHEN it is sent among good messages, and more good ones follow while it is retried
    await a.send(['good-1', 'poison', 'good-2']);
    await until(() => attempts.length === 1, 'the first failed attempt');
    await a.send(['good-3']);
    // THEN the good ones are handled meanwhile (before the poison's retries are over)
    await until(() => handled.length === 3, 'the good messages');
    expect(attempts.length).toBeLessThan(3);
    // and the poison ends in the dead-letter store after exactly 3 attempts, counted once
    await until(async () => (await deadLetters()).length === 1, 'the poison message to be dead-lettered');
    expect((await deadLetters())[0]).toMatchObject({ body: 'poison', receiveCount: 3 });
    expect(attempts).toEqual([1, 2, 3]);
    expect(results.filter((r) => r === 'dead_lettered')).toHaveLength(1);
    expect(results.filter((r) => r === 'failed')).toHaveLength(2);
    expect(new Set(handled)).toEqual(new Set(['good-1', 'good-2', 'good-3']));
  });

  test('a failed message comes back after newer ones: consumers must not assume order', async () => {
    const { a } = adapter.open({ leaseMs: 200 });
    const order: string[] = [];
    let failedOnce = false;
    consume(a, async (body) => {
      if (body === 'first' && !failedOnce) {
        failedOnce = true;
        throw new Error('transient');
      }
      order.push(body);
    });
    await a.send(['first']);
    await until(() => failedOnce, 'the first attempt to fail');
    await a.send(['second']);
    await until(() => order.length === 2, 'both messages');
    expect(order).toEqual(['second', 'first']);
  });
});
