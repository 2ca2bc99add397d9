import { MemoryMessageQueue } from '../../src/queue/memory-queue';
import {
  DependencyUnavailableError,
  QueueConsumer,
  type ConsumeResult,
} from '../../src/queue/queue-consumer';
import { until } from '../support/wait';

describe('QueueConsumer', () => {
  test('an unavailable dependency holds the message and retries it without spending its receives', async () => {
    // GIVEN a queue that dead-letters after 2 receives, and a dependency down for the first 6 attempts
    const queue = new MemoryMessageQueue({ leaseMs: 100, maxReceives: 2 });
    const results: ConsumeResult[] = [];
    const seen: number[] = [];
    let attempts = 0;
    const consumer = new QueueConsumer(
      queue,
      async (_body, delivery) => {
        seen.push(delivery.receiveCount);
        if (++attempts <= 6) throw new DependencyUnavailableError('redis down');
      },
      { waitMs: 20, backoffMs: 20, observe: (r) => results.push(r) },
    );
    consumer.start();
    await queue.send(['event']);
    // WHEN the outage outlasts several leases (6 retries with backoff 20, 40, 80, ... ms)
    await until(() => results.includes('processed'), 'the message to be handled');
    await consumer.stop();
    // THEN it was handled within its first receive (the lease renewed meanwhile), never dead-lettered
    expect(new Set(seen)).toEqual(new Set([1]));
    expect(results).toEqual([...Array(6).fill('retried'), 'processed']);
    expect(await queue.deadLetters()).toEqual([]);
    expect(queue.depth).toBe(0);
  });

  test('stop() lets the batch in hand finish and acknowledges it', async () => {
    const queue = new MemoryMessageQueue({ leaseMs: 5_000 });
    let release!: () => void;
    const consumer = new QueueConsumer(queue, () => new Promise<void>((r) => (release = r)), { waitMs: 20 });
    consumer.start();
    await queue.send(['a']);
    await until(() => release !== undefined, 'the handler to start');
    const stopped = consumer.stop();
    release();
    await stopped;
    expect(queue.depth).toBe(0);
  });
});
