import {
  PutEventsCommand,
  type EventBridgeClient,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SqsMessageQueue } from '../queue/sqs-queue';
import type { DomainEvent } from './domain-event';
import type { ConsumerQueue, EventBus, PublishResult } from './event-bus';
import { EVENT_SOURCES, type EventConsumer } from './event-routes';

/** PutEvents takes at most 10 entries per call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
/** PutEvents' limit on the whole request, in bytes (the entries' sizes as AWS counts them). */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/**
 * An entry's size as EventBridge counts it against the 256 KB limit: 14 bytes for Time when set, plus the UTF-8
 * bytes of Source, DetailType, Detail and each resource.
 */
export function putEventsEntrySize(entry: PutEventsRequestEntry): number {
  const bytes = (s: string | undefined) => (s === undefined ? 0 : Buffer.byteLength(s, 'utf8'));
  return (
    (entry.Time ? 14 : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((n, r) => n + bytes(r), 0)
  );
}

/** One entry's result: the event id EventBridge gave it, or its error. */
export type PutEntryResult =
  { ok: true } | { ok: false; code: string; message?: string; permanent?: boolean };

/**
 * Sends entries with PutEvents in calls of at most 10 entries and 256 KB, and returns one result per entry, in
 * order. EventBridge answers 200 with `FailedEntryCount` and a per-entry `ErrorCode` for partial failures: only
 * an entry with an `EventId` counts as accepted. A call that throws (throttled, network) fails all its entries;
 * an entry over 256 KB on its own is failed as permanent without being sent.
 */
export async function putEntries(
  client: EventBridgeClient,
  entries: readonly PutEventsRequestEntry[],
): Promise<PutEntryResult[]> {
  const results: PutEntryResult[] = new Array(entries.length);
  let chunk: number[] = [];
  let chunkBytes = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    const indexes = chunk;
    chunk = [];
    chunkBytes = 0;
    try {
      const response = await client.send(new PutEventsCommand({ Entries: indexes.map((i) => entries[i]) }));
      const answered = response.Entries ?? [];
      indexes.forEach((entryIndex, i) => {
        const answer = answered[i];
        results[entryIndex] = answer?.EventId
          ? { ok: true }
          : {
              ok: false,
              code: answer?.ErrorCode ?? 'NoResult',
              ...(answer?.ErrorMessage ? { message: answer.ErrorMessage } : {}),
            };
      });
    } catch (err) {
      const e = err as Error;
      for (const entryIndex of indexes) results[entryIndex] = { ok: false, code: e.name, message: e.message };
    }
  };
  for (const [i, entry] of entries.entries()) {
    const size = putEventsEntrySize(entry);
    if (size > PUT_EVENTS_MAX_BYTES) {
      results[i] = {
        ok: false,
        code: 'EntryTooLarge',
        message: `entry is ${size} bytes; PutEvents takes at most ${PUT_EVENTS_MAX_BYTES}`,
        permanent: true,
      };
      continue;
    }
    if (chunk.length >= PUT_EVENTS_MAX_ENTRIES || chunkBytes + size > PUT_EVENTS_MAX_BYTES) await flush();
    chunk.push(i);
    chunkBytes += size;
  }
  await flush();
  return results;
}

/** Options of {@link EventBridgeEventBus}. */
export interface EventBridgeEventBusOptions {
  /** EVENT_BUS_NAME: the bus (`<prefix>-events`). */
  busName: string;
  /** EVENT_QUEUE_URL: the SQS queue this process consumes. @default - it consumes nothing */
  queueUrl?: string;
  /** The SQS client for the queue (closed with the queue). @default - none: required with `queueUrl` */
  sqsClient?: SQSClient;
  /** EVENT_MAX_RECEIVES: the queue's redrive `maxReceiveCount`. @default 5 */
  maxReceives?: number;
}

/**
 * The bus on Amazon EventBridge: each event becomes an entry `{ Source: shop.<producing service>, DetailType:
 * <type>, Detail: <envelope JSON>, EventBusName }`. Rules on the bus (infrastructure) route each type to the
 * consumers' SQS queues, each with its DLQ; a consumer reads its queue through the SQS adapter, and the message
 * body is the EventBridge event, the envelope in its `detail` (see `decodeEventMessage`).
 *
 * Tested against recorded request and response shapes with aws-sdk-client-mock, not against a real bus.
 */
export class EventBridgeEventBus implements EventBus {
  readonly kind = 'eventbridge' as const;
  private queue?: SqsMessageQueue;

  /** @param client the EventBridge client (destroyed by {@link EventBridgeEventBus.close}) */
  constructor(
    private readonly client: EventBridgeClient,
    private readonly options: EventBridgeEventBusOptions,
  ) {}

  async publish(events: readonly DomainEvent[]): Promise<PublishResult> {
    const results = await putEntries(
      this.client,
      events.map((event) => ({
        EventBusName: this.options.busName,
        Source: EVENT_SOURCES[event.type],
        DetailType: event.type,
        Detail: JSON.stringify(event),
      })),
    );
    const accepted: string[] = [];
    const failed: { eventId: string; code: string; message?: string; permanent?: boolean }[] = [];
    results.forEach((result, i) => {
      if (result.ok) accepted.push(events[i].id);
      else failed.push({ eventId: events[i].id, ...result });
    });
    return { accepted, failed };
  }

  consumerQueues(consumers: readonly EventConsumer[]): ConsumerQueue[] {
    const { queueUrl, sqsClient } = this.options;
    if (!queueUrl || consumers.length === 0) return [];
    if (!sqsClient) throw new Error('EventBridgeEventBus: queueUrl needs sqsClient');
    this.queue ??= new SqsMessageQueue(sqsClient, {
      queueUrl,
      ...(this.options.maxReceives !== undefined ? { maxReceives: this.options.maxReceives } : {}),
    });
    return [{ queue: this.queue, consumers }];
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
