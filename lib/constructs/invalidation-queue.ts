import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INVALIDATION_QUEUE_DEFAULTS } from '../config/defaults';
import type { InvalidationQueueConfig } from '../config/stage-config';
import { invalidationQueueConfigProblems, StageConfigError } from '../config/validate-stage-config';
import type { QueueEndpoint } from './data-endpoints';
import { denyGrantsExceptForAwsServices } from './key-policies';
import type { StageMonitoring } from './stage-monitoring';

/** Properties of {@link InvalidationQueue}. */
export interface InvalidationQueueProps {
  /** The stage's `invalidationQueue` section. */
  readonly config: InvalidationQueueConfig;
  /** Alias of the queue's key, e.g. `alias/shop-invalidation-queue` (unique per account and region). */
  readonly keyAlias: string;
}

/**
 * The queue of cache-invalidation events (stage 100k on): an SQS standard queue and its dead-letter queue,
 * both encrypted with a customer-managed key of their own and refusing requests without TLS. The outbox
 * relay sends one event per outbox batch; the consumer receives, applies, and deletes it; a message received
 * `maxReceiveCount` times without being deleted moves to the dead-letter queue.
 *
 * Why a customer-managed key, never `alias/aws/sqs`: EventBridge (stage 1m's domain events) cannot use the
 * AWS-managed key, and its deliveries to such a queue are dropped without an error; the AWS-managed key's
 * policy cannot be changed to allow it. Should EventBridge ever deliver here, give `events.amazonaws.com`
 * `kms:GenerateDataKey` and `kms:Decrypt` on {@link InvalidationQueue.key} (CDK does not).
 *
 * Both queues are retained with the stack (they hold events), and the gate treats queues as data-bearing.
 */
export class InvalidationQueue extends Construct {
  /** Key encrypting both queues. */
  public readonly key: kms.Key;
  /** The queue the relay sends to and the consumer receives from. */
  public readonly queue: sqs.Queue;
  /** Where SQS moves messages received `maxReceiveCount` times. */
  public readonly deadLetterQueue: sqs.Queue;
  /** Receives before a message is dead-lettered. */
  public readonly maxReceiveCount: number;
  private readonly config: InvalidationQueueConfig;

  constructor(scope: Construct, id: string, props: InvalidationQueueProps) {
    super(scope, id);
    const problems = invalidationQueueConfigProblems(props.config, 'config.');
    if (problems.length > 0) throw new StageConfigError(problems);
    this.config = props.config;
    this.maxReceiveCount = props.config.maxReceiveCount ?? INVALIDATION_QUEUE_DEFAULTS.maxReceiveCount;

    this.key = new kms.Key(this, 'Key', {
      alias: props.keyAlias,
      description: 'Encrypts the cache-invalidation queue and its dead-letter queue',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    denyGrantsExceptForAwsServices(this.key);
    const encryption = {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...encryption,
      retentionPeriod: INVALIDATION_QUEUE_DEFAULTS.deadLetterRetentionPeriod,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'cdk-validator-cfnguard::sqs_dlq_check',
      reason:
        'This is the dead-letter queue: a message lands here after maxReceiveCount failed receives and waits for ' +
        'an operator (an alarm fires on any); a dead-letter queue of the dead-letter queue would only hide it.',
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...encryption,
      retentionPeriod: props.config.retentionPeriod ?? INVALIDATION_QUEUE_DEFAULTS.retentionPeriod,
      visibilityTimeout: INVALIDATION_QUEUE_DEFAULTS.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
  }

  /** How services reach the queue. */
  public get endpoint(): QueueEndpoint {
    return {
      queueUrl: this.queue.queueUrl,
      queueArn: this.queue.queueArn,
      keyArn: this.key.keyArn,
      maxReceiveCount: this.maxReceiveCount,
    };
  }

  /**
   * Adds the queue's alarms and dashboard rows (cdk-monitoring-constructs' SQS monitor) to the region's
   * monitoring: any message in the dead-letter queue (`<prefix>-InvalidationQueue-DLQ-Queue-Message-Count-Max-Critical`:
   * an event that some entries were not invalidated by until their TTL), and the oldest message older than
   * `oldestMessageAgeAlarm` (`<prefix>-InvalidationQueue-Queue-Message-Age-Max-Critical`: the consumers are
   * behind the cache TTL).
   */
  public addMonitoring(monitoring: StageMonitoring): void {
    const maxAge = this.config.oldestMessageAgeAlarm ?? INVALIDATION_QUEUE_DEFAULTS.oldestMessageAgeAlarm;
    monitoring.facade.monitorSqsQueueWithDlq({
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      alarmFriendlyName: 'InvalidationQueue',
      humanReadableName: 'Cache-invalidation queue',
      addQueueMaxMessageAgeAlarm: { Critical: { maxAgeInSeconds: maxAge.toSeconds() } },
      addDeadLetterQueueMaxSizeAlarm: { Critical: { maxMessageCount: 0 } },
    });
  }
}

/**
 * Lets a service's tasks run both ends of the invalidation pipeline, which run in every app task: the outbox
 * relay may `sqs:SendMessage` (SendMessageBatch) and the consumer `sqs:ReceiveMessage`, `sqs:DeleteMessage`
 * (DeleteMessageBatch) and `sqs:ChangeMessageVisibility` (lease renewal), on this queue only; with the queue's
 * key, `kms:GenerateDataKey` (sending) and `kms:Decrypt` (both), only when SQS asks on the task's behalf.
 * Nothing on the dead-letter queue: SQS moves messages there itself.
 *
 * @returns the app's environment for the queue (`INVALIDATION_QUEUE`, `INVALIDATION_QUEUE_URL`,
 *   `INVALIDATION_MAX_RECEIVES`)
 */
export function grantInvalidationQueue(
  role: iam.IGrantable,
  endpoint: QueueEndpoint,
  scope: Construct,
  options: {
    /**
     * Whether the tasks send to the queue themselves (the outbox relay of stage 100k). A service on the
     * domain-event bus (stage 1m) publishes invalidations as events, which a rule routes here: it only consumes.
     *
     * @default true
     */
    readonly send?: boolean;
  } = {},
): Record<string, string> {
  const send = options.send ?? true;
  if (send) {
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['sqs:SendMessage'],
      resourceArns: [endpoint.queueArn],
    });
  }
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
    resourceArns: [endpoint.queueArn],
  });
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: send ? ['kms:GenerateDataKey', 'kms:Decrypt'] : ['kms:Decrypt'],
    resourceArns: [endpoint.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `sqs.${Stack.of(scope).region}.amazonaws.com` } },
  });
  return {
    INVALIDATION_QUEUE: 'sqs',
    INVALIDATION_QUEUE_URL: endpoint.queueUrl,
    INVALIDATION_MAX_RECEIVES: String(endpoint.maxReceiveCount),
  };
}
