import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type ReceiveMessageCommandInput,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { catalogCache } from '../../src/context';
import { metricValue, signUpAdmin, testConfig } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import { until } from '../support/wait';

// buildApp as stage 100k's task definition configures it (INVALIDATION_QUEUE=sqs with the queue's URL and
// the redrive policy's maxReceiveCount), on a real Postgres database and Redis prefix. SQS itself is the one
// part not run for real: no SQS-compatible server can run here, so aws-sdk-client-mock answers the app's own
// SQSClient with a small in-memory queue that keeps the API's request and response shapes (batch send,
// long-poll receive with ApproximateReceiveCount and a visibility timeout, batch delete and visibility change).

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/shop-data-InvalidationQueue-AbC123';
/** A minute, so that an entry that goes away within the test's bound was evicted by an event. */
const FIRST_LEVEL_TTL_MS = 60_000;
const BOUND_MS = 5_000;

interface StoredMessage {
  id: string;
  body: string;
  receipt?: string;
  receiveCount: number;
  visibleAt: number;
}

/** The queue the mocked SQS API serves: what was sent and not yet deleted. */
class InMemoryQueue {
  messages: StoredMessage[] = [];
  deleted: string[] = [];
  private next = 0;

  add(body: string): StoredMessage {
    this.next += 1;
    const message = {
      id: `00000000-0000-4000-8000-${String(this.next).padStart(12, '0')}`,
      body,
      receiveCount: 0,
      visibleAt: 0,
    };
    this.messages.push(message);
    return message;
  }

  /** Long poll: up to WaitTimeSeconds for a visible message, then the visible ones, leased. */
  async receive(input: ReceiveMessageCommandInput) {
    const deadline = Date.now() + Math.min((input.WaitTimeSeconds ?? 0) * 1000, 1_000);
    const visible = () => this.messages.filter((m) => m.visibleAt <= Date.now());
    while (visible().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return {
      Messages: visible()
        .slice(0, input.MaxNumberOfMessages ?? 1)
        .map((m) => {
          m.receiveCount += 1;
          m.receipt = `AQEB${m.id}-${m.receiveCount}==`;
          m.visibleAt = Date.now() + (input.VisibilityTimeout ?? 30) * 1000;
          return {
            MessageId: m.id,
            ReceiptHandle: m.receipt,
            MD5OfBody: 'fafb00f5732ab283681e124bf8747ed1',
            Body: m.body,
            Attributes: { ApproximateReceiveCount: String(m.receiveCount) },
          };
        }),
    };
  }

  delete(receipt: string): boolean {
    const index = this.messages.findIndex((m) => m.receipt === receipt);
    if (index < 0) return false;
    this.deleted.push(this.messages[index]!.body);
    this.messages.splice(index, 1);
    return true;
  }
}

const sqs = mockClient(SQSClient);
const queue = new InMemoryQueue();
let database: TestDatabase;
let redis: TestRedisPrefix;
let app: FastifyInstance;
let admin: string;
const adminEmail = 'admin-sqs@example.test';

beforeAll(async () => {
  sqs
    .on(SendMessageBatchCommand)
    .callsFake(async (input: { QueueUrl: string; Entries: { Id: string; MessageBody: string }[] }) => {
      expect(input.QueueUrl).toBe(QUEUE_URL);
      return {
        Successful: input.Entries.map((entry) => ({
          Id: entry.Id,
          MessageId: queue.add(entry.MessageBody).id,
          MD5OfMessageBody: 'fafb00f5732ab283681e124bf8747ed1',
        })),
        Failed: [],
      };
    });
  sqs.on(ReceiveMessageCommand).callsFake((input: ReceiveMessageCommandInput) => queue.receive(input));
  sqs
    .on(DeleteMessageBatchCommand)
    .callsFake(async (input: { Entries: { Id: string; ReceiptHandle: string }[] }) => {
      const ok = input.Entries.filter((entry) => queue.delete(entry.ReceiptHandle));
      const failed = input.Entries.filter((entry) => !ok.includes(entry));
      return {
        Successful: ok.map((entry) => ({ Id: entry.Id })),
        Failed: failed.map((entry) => ({ Id: entry.Id, Code: 'ReceiptHandleIsInvalid', SenderFault: true })),
      };
    });
  sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });

  database = await createTestDatabase();
  redis = createTestRedisPrefix();
  app = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      ADMIN_EMAILS: adminEmail,
      INVALIDATION_QUEUE: 'sqs',
      INVALIDATION_QUEUE_URL: QUEUE_URL,
      INVALIDATION_MAX_RECEIVES: '5',
      FIRST_LEVEL_CACHE_TTL_MS: String(FIRST_LEVEL_TTL_MS),
      SESSION_SECRET: 'sqs-app-test-secret-of-at-least-32-characters',
    }),
    logger: false,
  });
  admin = (await signUpAdmin(app, adminEmail)).cookie;
});

afterAll(async () => {
  await app?.close();
  await redis?.cleanup();
  await database?.drop();
  sqs.restore();
});

async function readPrice(id: string): Promise<number> {
  const response = await app.inject({ method: 'GET', url: `/api/products/${id}` });
  expect(response.statusCode).toBe(200);
  return response.json().priceCents;
}

test('with INVALIDATION_QUEUE=sqs a write publishes its event with SendMessageBatch; the consumer applies and deletes it', async () => {
  expect(app.shop.config.invalidation).toMatchObject({
    queue: 'sqs',
    sqsQueueUrl: QUEUE_URL,
    maxReceives: 5,
  });
  const processed = await metricValue(app, 'queue_messages_total{result="processed"}');

  const response = await app.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin },
    payload: { sku: 'SQS-1', name: 'Queued', description: 'sqs', priceCents: 1000, stock: 5 },
  });
  expect(response.statusCode).toBe(201);
  const id = response.json().id as string;

  // The relay sent the outbox row's tags to the queue's URL, batched (one event per relay batch).
  await until(
    () =>
      sqs
        .commandCalls(SendMessageBatchCommand)
        .some((call) =>
          (call.args[0].input.Entries ?? []).some((entry) =>
            (JSON.parse(entry.MessageBody ?? '{}').tags as string[]).includes(catalogCache.productTag(id)),
          ),
        ),
    'the product event to be sent with SendMessageBatch',
    BOUND_MS,
  );
  const [event] = sqs
    .commandCalls(SendMessageBatchCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => JSON.parse(entry.MessageBody ?? '{}'))
    .filter((body) => body.tags.includes(catalogCache.productTag(id)));
  expect(event).toMatchObject({ v: 1, source: 'main', tags: expect.arrayContaining(['catalog']) });

  // Received by the consumer (long poll, receive count, lease), applied, and deleted by its receipt handle.
  await until(
    () => queue.deleted.some((body) => body.includes(catalogCache.productTag(id))),
    'the event to be deleted after it was applied',
    BOUND_MS,
  );
  const receive = sqs.commandCalls(ReceiveMessageCommand)[0]!.args[0].input;
  expect(receive).toMatchObject({
    QueueUrl: QUEUE_URL,
    MaxNumberOfMessages: 10,
    WaitTimeSeconds: 1,
    VisibilityTimeout: 30,
    MessageSystemAttributeNames: ['ApproximateReceiveCount'],
  });
  expect(await metricValue(app, 'queue_messages_total{result="processed"}')).toBeGreaterThan(processed);
});

test('a received event invalidates both cache levels (the page is reloaded) and is deleted; nothing is left in flight', async () => {
  const response = await app.inject({
    method: 'POST',
    url: '/api/products',
    headers: { cookie: admin },
    payload: { sku: 'SQS-2', name: 'Cached', description: 'sqs', priceCents: 1000, stock: 5 },
  });
  const id = response.json().id as string;
  // Every outbox row of the creation published (a loaded machine's relay may publish them over several polls) and
  // consumed: no late event of the creation can evict the page warmed below.
  await until(
    async () =>
      queue.messages.length === 0 &&
      Number(
        (
          await app.shop.db.writer.query<{ n: string }>(
            'SELECT count(*) AS n FROM invalidation_outbox WHERE sent_at IS NULL',
          )
        ).rows[0]?.n,
      ) === 0,
    'the creation events to be published and consumed',
    BOUND_MS,
  );
  // Warm both levels, then change the row behind the app's back: no outbox row, no event, so the cached
  // page stays until an event arrives (the first-level TTL is a minute).
  await until(
    async () => {
      const hits = await metricValue(app, 'first_level_cache_requests_total{result="hit"}');
      await readPrice(id);
      return (await metricValue(app, 'first_level_cache_requests_total{result="hit"}')) === hits + 1;
    },
    'the product page to be kept in the first-level cache',
    BOUND_MS,
  );
  await app.shop.db.writer.query('UPDATE products SET price_cents = 2500 WHERE id = $1', [id]);
  expect(await readPrice(id)).toBe(1000);

  // An event from another instance's relay arrives through the queue.
  const body = JSON.stringify({
    v: 1,
    source: 'main',
    eventIds: ['from-another-task'],
    tags: [catalogCache.productTag(id)],
    oldestAt: Date.now(),
  });
  const message = queue.add(body);

  await until(
    async () => (await readPrice(id)) === 2500,
    'the page to be reloaded after the event',
    BOUND_MS,
  );
  await until(() => queue.deleted.includes(body), 'the event to be deleted', BOUND_MS);
  expect(message.receiveCount).toBe(1);
  const deletes = sqs
    .commandCalls(DeleteMessageBatchCommand)
    .flatMap((call) => call.args[0].input.Entries ?? []);
  expect(deletes.map((entry) => entry.ReceiptHandle)).toContain(message.receipt);
  expect(queue.messages).toEqual([]);
});
