import { randomUUID } from 'node:crypto';
import {
  QUEUE_DEFAULTS,
  type DeadLetterObserver,
  type Delivery,
  type MessageQueue,
  type MessageQueueOptions,
} from './message-queue';

interface StoredMessage {
  id: string;
  body: string;
  receiveCount: number;
  /** Epoch ms before which the message is leased to a consumer. */
  invisibleUntil: number;
  /** Changes on each receive, so a stale receipt cannot acknowledge a redelivered message. */
  receipt: string;
}

/**
 * The embedded queue: messages live in this process's memory, with the same leases, redelivery and
 * dead-lettering as the real adapters. It suits one instance (the embedded default) and tests. It holds
 * nothing across a restart: a message the relay has marked sent and the process dies before applying is
 * gone. That is harmless only where the cache dies with the process too (the embedded topology's
 * in-process cache); with a shared cache (Redis) use a durable adapter.
 */
export class MemoryMessageQueue implements MessageQueue {
  readonly kind = 'memory' as const;
  readonly leaseMs: number;
  readonly maxReceives: number;
  private readonly messages = new Map<string, StoredMessage>();
  private readonly dead: Delivery[] = [];
  private readonly onDeadLetter?: DeadLetterObserver;
  private waiters = new Set<() => void>();
  private closed = false;

  constructor(options: MessageQueueOptions = {}) {
    this.leaseMs = options.leaseMs ?? QUEUE_DEFAULTS.leaseMs;
    this.maxReceives = options.maxReceives ?? QUEUE_DEFAULTS.maxReceives;
    this.onDeadLetter = options.onDeadLetter;
  }

  async send(bodies: readonly string[]): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    for (const body of bodies) {
      const id = randomUUID();
      this.messages.set(id, { id, body, receiveCount: 0, invisibleUntil: 0, receipt: '' });
    }
    this.wake();
  }

  async receive(max: number, waitMs: number): Promise<Delivery[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const taken = this.take(max);
      if (taken.length > 0 || this.closed) return taken;
      const now = Date.now();
      if (now >= deadline) return [];
      // Sleep until a send, the next lease expiry or the deadline, whichever comes first.
      let nextExpiry = deadline;
      for (const m of this.messages.values())
        if (m.invisibleUntil > now) nextExpiry = Math.min(nextExpiry, m.invisibleUntil);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, nextExpiry - now));
        this.waiters.add(done);
      });
    }
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    for (const delivery of deliveries) {
      const stored = this.messages.get(delivery.id);
      if (stored && stored.receipt === delivery.receipt) this.messages.delete(delivery.id);
    }
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    const until = Date.now() + this.leaseMs;
    for (const delivery of deliveries) {
      const stored = this.messages.get(delivery.id);
      if (stored && stored.receipt === delivery.receipt) stored.invisibleUntil = until;
    }
  }

  /** Messages moved to the dead-letter store, oldest first. */
  async deadLetters(): Promise<Delivery[]> {
    return [...this.dead];
  }

  /** Messages not yet acknowledged (leased or waiting). */
  get depth(): number {
    return this.messages.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
  }

  private take(max: number): Delivery[] {
    const now = Date.now();
    const taken: Delivery[] = [];
    for (const stored of this.messages.values()) {
      if (taken.length >= max) break;
      if (stored.invisibleUntil > now) continue;
      stored.receiveCount += 1;
      if (stored.receiveCount > this.maxReceives) {
        // Like an SQS redrive policy: the receive that would exceed the limit moves it instead.
        this.messages.delete(stored.id);
        const dead = { id: stored.id, body: stored.body, receiveCount: stored.receiveCount - 1, receipt: '' };
        this.dead.push(dead);
        this.onDeadLetter?.(dead);
        continue;
      }
      stored.invisibleUntil = now + this.leaseMs;
      stored.receipt = randomUUID();
      taken.push({
        id: stored.id,
        body: stored.body,
        receiveCount: stored.receiveCount,
        receipt: stored.receipt,
      });
    }
    return taken;
  }

  private wake() {
    for (const waiter of [...this.waiters]) waiter();
  }
}
