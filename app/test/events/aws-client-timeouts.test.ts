import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v7 as uuidv7 } from 'uuid';
import { AWS_CLIENT_DEFAULTS, eventBridgeClient, sqsClient, SQS_LONG_POLL_MS } from '../../src/aws-clients';
import { runMigrations } from '../../src/db/migrations';
import { PgDatabase } from '../../src/db/pg-database';
import { newDomainEvent } from '../../src/events/domain-event';
import { recordDomainEvent } from '../../src/events/event-outbox';
import { DomainEventRelay } from '../../src/events/event-relay';
import { EventBridgeEventBus } from '../../src/events/eventbridge-event-bus';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

// A hung EventBridge endpoint (a local HTTP server that reads requests and never answers) must not hold the
// relay's FOR UPDATE batch forever: the AWS clients the app makes (src/aws-clients.ts) time a call out, the rows
// stay unsent, and the next batch publishes them once the endpoint answers. Real Postgres for the outbox.
let database: TestDatabase;
let db: PgDatabase;
let server: Server;
let endpoint: string;
let mode: 'hang' | 'answer' = 'hang';
const hung: ServerResponse[] = [];
let requests = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  db = new PgDatabase({ writer: { connectionString: database.url } });
  await runMigrations(db);
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests += 1;
      if (mode === 'hang') {
        hung.push(res);
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries: unknown[] };
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({ FailedEntryCount: 0, Entries: body.Entries.map((_, i) => ({ EventId: `e-${i}` })) }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of hung) res.destroy();
  server.closeAllConnections();
  server.close();
  await db.close();
  await database.drop();
});

const testClientOptions = {
  endpoint: '',
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
  connectionTimeoutMs: 200,
  requestTimeoutMs: 300,
  maxAttempts: 2,
};

test('the app clients carry bounded timeouts and attempts (SQS allows for the 20 s long poll)', async () => {
  const eb = eventBridgeClient();
  const sqs = sqsClient();
  try {
    expect(await eb.config.maxAttempts()).toBe(AWS_CLIENT_DEFAULTS.maxAttempts);
    const handlerConfig = (client: typeof eb | typeof sqs) =>
      (
        client.config.requestHandler as unknown as {
          configProvider: Promise<{
            connectionTimeout?: number;
            requestTimeout?: number;
            throwOnRequestTimeout?: boolean;
          }>;
        }
      ).configProvider;
    expect(await handlerConfig(eb)).toMatchObject({
      connectionTimeout: AWS_CLIENT_DEFAULTS.connectionTimeoutMs,
      requestTimeout: AWS_CLIENT_DEFAULTS.requestTimeoutMs,
      throwOnRequestTimeout: true,
    });
    expect(await handlerConfig(sqs)).toMatchObject({
      requestTimeout: AWS_CLIENT_DEFAULTS.requestTimeoutMs + SQS_LONG_POLL_MS,
    });
  } finally {
    eb.destroy();
    sqs.destroy();
  }
});

test('a hung PutEvents ends within the bound, leaves the rows unsent and unlocked, and they go once it answers', async () => {
  const client = eventBridgeClient({ ...testClientOptions, endpoint });
  const relay = new DomainEventRelay(db, new EventBridgeEventBus(client, { busName: 'shop-events' }), {
    source: 'main',
  });
  const event = newDomainEvent('OrderPlaced', {
    orderId: uuidv7(),
    userId: uuidv7(),
    totalCents: 500,
    items: [{ productId: uuidv7(), quantity: 1, unitPriceCents: 500 }],
  });
  await recordDomainEvent(db.writer, event);
  try {
    mode = 'hang';
    const started = Date.now();
    await expect(relay.publishBatch()).rejects.toThrow(/not accepted/);
    // 2 attempts x 300 ms without an answer, plus the SDK's backoff: far below the test's own timeout.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(requests).toBe(2);
    const { rows } = await db.query<{ sent: boolean; locked: boolean }>(
      `SELECT sent_at IS NOT NULL AS sent,
              NOT EXISTS (SELECT 1 FROM event_outbox o WHERE o.event_id = $1 FOR UPDATE SKIP LOCKED) AS locked
         FROM event_outbox WHERE event_id = $1`,
      [event.id],
    );
    expect(rows).toEqual([{ sent: false, locked: false }]);

    mode = 'answer';
    expect(await relay.publishBatch()).toBe(1);
    const { rows: after } = await db.query<{ sent: boolean }>(
      'SELECT sent_at IS NOT NULL AS sent FROM event_outbox WHERE event_id = $1',
      [event.id],
    );
    expect(after).toEqual([{ sent: true }]);
  } finally {
    client.destroy();
  }
}, 15_000);
