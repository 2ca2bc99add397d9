import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { QueueConsumer, type ConsumeResult } from '../../src/queue/queue-consumer';
import { SqsBatchError, SqsMessageQueue } from '../../src/queue/sqs-queue';
import { until } from '../support/wait';

// Response shapes as SQS returns them (JSON protocol, 2024+ SDKs), trimmed to the fields the adapter reads
// plus the ones that are always there. Receipt handles are opaque strings.
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/shop-invalidation';
const received = (n: number, receiveCount = 1) => ({
  Messages: Array.from({ length: n }, (_, i) => ({
    MessageId: `5fea7756-0ea4-451a-a703-a558b933e27${i}`,
    ReceiptHandle: `AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a${i}==`,
    MD5OfBody: 'fafb00f5732ab283681e124bf8747ed1',
    Body: JSON.stringify({ eventId: `e${i}`, tags: [`product:${i}`] }),
    Attributes: { ApproximateReceiveCount: String(receiveCount) },
  })),
});

const sqs = mockClient(SQSClient);
const queueOf = () =>
  new SqsMessageQueue(new SQSClient({ region: 'eu-west-1' }), {
    queueUrl: QUEUE_URL,
    leaseMs: 30_000,
    maxReceives: 5,
  });

beforeEach(() => sqs.reset());

describe('SqsMessageQueue', () => {
  test('send: batches of at most 10 entries with ids unique within each batch', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    await queueOf().send(Array.from({ length: 23 }, (_, i) => `body-${i}`));
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
    expect(calls[2].args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      Entries: [
        { Id: '0', MessageBody: 'body-20' },
        { Id: '1', MessageBody: 'body-21' },
        { Id: '2', MessageBody: 'body-22' },
      ],
    });
  });

  test('send: entries that failed on the server side are retried once, alone', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: '0', MessageId: 'a', MD5OfMessageBody: 'x' }],
        Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false, Message: 'try again' }],
      })
      .resolvesOnce({ Successful: [{ Id: '1', MessageId: 'b', MD5OfMessageBody: 'y' }], Failed: [] });
    await queueOf().send(['one', 'two']);
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1].args[0].input.Entries).toEqual([{ Id: '1', MessageBody: 'two' }]);
  });

  test('send: a sender fault is not retried and rejects naming the entry and code', async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '0', Code: 'InvalidParameterValue', SenderFault: true, Message: 'too long' }],
    });
    await expect(queueOf().send(['x'])).rejects.toThrow(
      'SendMessageBatch: 1 entry failed (0: InvalidParameterValue)',
    );
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  test('receive: long poll of at most 10 with the receive count, visibility timeout in seconds', async () => {
    sqs.on(ReceiveMessageCommand).resolves(received(2, 3));
    const deliveries = await queueOf().receive(25, 1_500);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0].args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 2,
      VisibilityTimeout: 30,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    });
    expect(deliveries).toEqual([
      {
        id: '5fea7756-0ea4-451a-a703-a558b933e270',
        body: '{"eventId":"e0","tags":["product:0"]}',
        receiveCount: 3,
        receipt: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a0==',
      },
      expect.objectContaining({ receiveCount: 3, receipt: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a1==' }),
    ]);
  });

  test('receive: an empty long poll (no Messages key) is an empty batch', async () => {
    sqs.on(ReceiveMessageCommand).resolves({});
    expect(await queueOf().receive(10, 20_000)).toEqual([]);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0].args[0].input.WaitTimeSeconds).toBe(20);
  });

  test('ack: one DeleteMessageBatch per 10 receipts; a partial failure rejects with the message ids', async () => {
    sqs.on(ReceiveMessageCommand).resolves(received(3));
    sqs.on(DeleteMessageBatchCommand).resolves({
      Successful: [{ Id: '0' }, { Id: '2' }],
      Failed: [{ Id: '1', Code: 'ReceiptHandleIsInvalid', SenderFault: true, Message: 'expired' }],
    });
    const queue = queueOf();
    const deliveries = await queue.receive(10, 0);
    const error = await queue.ack(deliveries).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(SqsBatchError);
    expect((error as SqsBatchError).failed).toEqual([
      expect.objectContaining({ Id: '5fea7756-0ea4-451a-a703-a558b933e271', Code: 'ReceiptHandleIsInvalid' }),
    ]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0].args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      Entries: deliveries.map((d, i) => ({ Id: String(i), ReceiptHandle: d.receipt })),
    });
  });

  test('extendLease: ChangeMessageVisibilityBatch resets each receipt to the full lease', async () => {
    sqs.on(ReceiveMessageCommand).resolves(received(2));
    sqs
      .on(ChangeMessageVisibilityBatchCommand)
      .resolves({ Successful: [{ Id: '0' }, { Id: '1' }], Failed: [] });
    const queue = queueOf();
    await queue.extendLease(await queue.receive(10, 0));
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)[0].args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      Entries: [
        { Id: '0', ReceiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a0==', VisibilityTimeout: 30 },
        { Id: '1', ReceiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a1==', VisibilityTimeout: 30 },
      ],
    });
  });

  test('with the consumer: partial batch failure deletes only the handled messages; the last attempt counts as dead-lettered', async () => {
    // GIVEN a batch of 3 where message 1 fails, received for the 5th time (= maxReceiveCount)
    sqs.on(ReceiveMessageCommand).resolvesOnce(received(3, 5)).resolves({});
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: '0' }, { Id: '1' }], Failed: [] });
    const results: ConsumeResult[] = [];
    const consumer = new QueueConsumer(
      queueOf(),
      async (body) => {
        if (body.includes('"e1"')) throw new Error('bad event');
      },
      { waitMs: 0, observe: (r) => results.push(r) },
    );
    // WHEN it is consumed
    consumer.start();
    await until(() => sqs.commandCalls(DeleteMessageBatchCommand).length === 1, 'the batch delete');
    await consumer.stop();
    // THEN only messages 0 and 2 are deleted; message 1 is left for SQS's redrive policy
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0].args[0].input.Entries).toEqual([
      { Id: '0', ReceiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a0==' },
      { Id: '1', ReceiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a2==' },
    ]);
    expect(results.sort()).toEqual(['dead_lettered', 'processed', 'processed']);
  });
});
