import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENTS_DEFAULTS } from '../config/defaults';
import { CACHE_INVALIDATION_EVENT_TYPE, EVENT_ROUTES, EVENT_SOURCE_PREFIX } from '../config/event-routes';
import { pascalCase } from '../config/naming';
import type { EventsConfig } from '../config/stage-config';
import { eventsConfigProblems, StageConfigError } from '../config/validate-stage-config';
import type { EventsEndpoint, QueueEndpoint } from './data-endpoints';
import { denyGrantsExceptForAwsServices } from './key-policies';
import type { StageMonitoring } from './stage-monitoring';

/** Properties of {@link DomainEvents}. */
export interface DomainEventsProps {
  /** The stage's `events` section. */
  readonly config: EventsConfig;
  /** Prefix of physical names: bus `<prefix>-events`, queues `<prefix>-<consumer>-events`, key alias. */
  readonly prefix: string;
  /**
   * Service ids of the stage: a consumer of `EVENT_ROUTES` must be one of them (validation).
   */
  readonly serviceIds: readonly string[];
  /**
   * The cache-invalidation queue (stage 100k) and its key: `CacheTagsInvalidated` events are routed to it.
   * Must be in the same stack (its queue policy and key policy get EventBridge's statements).
   */
  readonly invalidationQueue: { readonly queue: sqs.Queue; readonly key: kms.Key };
}

/** One consumer's queues and rule. */
export interface EventConsumer {
  /** The consuming service's id. */
  readonly serviceId: string;
  /** Event types its rule routes (`EVENT_ROUTES`). */
  readonly eventTypes: readonly string[];
  /** The queue its tasks receive from. */
  readonly queue: sqs.Queue;
  /** Where SQS moves a message received `maxReceiveCount` times. */
  readonly deadLetterQueue: sqs.Queue;
  /** The rule routing its event types to `queue`. */
  readonly rule: events.Rule;
}

/**
 * Domain events (stage 1m): an EventBridge bus `<prefix>-events` with an archive `<prefix>-events-archive`
 * (replay: `aws events start-replay`), one rule per consumer of the routing table `EVENT_ROUTES`
 * (lib/config/event-routes.ts, mirrored by the app's app/src/events/event-routes.ts) to its SQS queue
 * `<prefix>-<consumer>-events` with a dead-letter queue `<prefix>-<consumer>-events-dlq` (processing failures,
 * after `maxReceiveCount` receives), a rule routing `CacheTagsInvalidated` to the stage 100k invalidation queue,
 * and a delivery dead-letter queue for events EventBridge could not deliver after its retries.
 *
 * Every queue is encrypted with a customer-managed key of its own, never `alias/aws/sqs`: EventBridge cannot
 * use the AWS-managed key and drops deliveries to such a queue without an error (aws/aws-cdk#30549). The key
 * policy lets EventBridge of this account use the key; CDK grants it only for a rule's target queue, not for a
 * dead-letter queue's key (aws/aws-cdk#33169), so the statement is written here for both keys.
 *
 * Queues are retained with the stack (they hold events) and the upgrade gate treats them as data-bearing.
 */
export class DomainEvents extends Construct {
  /** The bus. */
  public readonly bus: events.EventBus;
  /** The archive of every event on the bus. */
  public readonly archive: events.Archive;
  /** Key encrypting the consumer queues and dead-letter queues. */
  public readonly key: kms.Key;
  /** Each consumer's queues and rule, by service id. */
  public readonly consumers: Readonly<Record<string, EventConsumer>>;
  /** The rule routing cache invalidations to the invalidation queue. */
  public readonly invalidationRule: events.Rule;
  /** Where EventBridge puts events it could not deliver to a queue (after its retries). */
  public readonly deliveryDeadLetterQueue: sqs.Queue;
  /** Receives before a consumer's message is dead-lettered (the app's `EVENT_MAX_RECEIVES`). */
  public readonly maxReceiveCount: number;
  private readonly config: EventsConfig;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: DomainEventsProps) {
    super(scope, id);
    const services = Object.fromEntries(props.serviceIds.map((serviceId) => [serviceId, {}]));
    const problems = eventsConfigProblems(props.config, services, {}, 'config.');
    if (problems.length > 0) throw new StageConfigError(problems);
    this.config = props.config;
    this.prefix = props.prefix;
    this.maxReceiveCount = props.config.maxReceiveCount ?? EVENTS_DEFAULTS.maxReceiveCount;
    const { prefix } = props;

    this.key = new kms.Key(this, 'Key', {
      alias: `alias/${prefix}-events`,
      description: 'Encrypts the domain-event queues and their dead-letter queues',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    denyGrantsExceptForAwsServices(this.key);
    for (const key of [this.key, props.invalidationQueue.key]) allowEventBridgeDeliveries(key);

    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: `${prefix}-events`,
      description: 'Domain events of the shop services (source shop.<service>, detail-type = event type)',
    });
    this.archive = this.bus.archive('Archive', {
      archiveName: `${prefix}-events-archive`,
      description: 'Every domain event, for a replay into the bus',
      eventPattern: { source: events.Match.prefix(EVENT_SOURCE_PREFIX) },
      retention: props.config.archiveRetention ?? EVENTS_DEFAULTS.archiveRetention,
    });

    const encryption = {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    };
    const acknowledgeDeadLetterQueue = (queue: sqs.Queue) =>
      Validations.of(queue).acknowledge({
        id: 'cdk-validator-cfnguard::sqs_dlq_check',
        reason:
          'This is a dead-letter queue: a message lands here after its retries and waits for an operator (an ' +
          'alarm fires on any); a dead-letter queue of the dead-letter queue would only hide it.',
      });
    this.deliveryDeadLetterQueue = new sqs.Queue(this, 'DeliveryDeadLetterQueue', {
      ...encryption,
      queueName: `${prefix}-events-delivery-dlq`,
      retentionPeriod: EVENTS_DEFAULTS.deadLetterRetentionPeriod,
    });
    acknowledgeDeadLetterQueue(this.deliveryDeadLetterQueue);
    Validations.of(this.deliveryDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This is the rules' dead-letter queue for deliveries EventBridge gave up on (a target's DeadLetterConfig, " +
        'which cdk-nag does not see as a redrive); an alarm fires on any message in it.',
    });
    const target = (queue: sqs.IQueue) =>
      new targets.SqsQueue(queue, {
        deadLetterQueue: this.deliveryDeadLetterQueue,
        retryAttempts: EVENTS_DEFAULTS.deliveryRetryAttempts,
        maxEventAge: EVENTS_DEFAULTS.deliveryMaxEventAge,
      });

    const consumers: Record<string, EventConsumer> = {};
    for (const [serviceId, eventTypes] of Object.entries(EVENT_ROUTES)) {
      const scope = new Construct(this, pascalCase(serviceId));
      const deadLetterQueue = new sqs.Queue(scope, 'DeadLetterQueue', {
        ...encryption,
        queueName: `${prefix}-${serviceId}-events-dlq`,
        retentionPeriod: EVENTS_DEFAULTS.deadLetterRetentionPeriod,
      });
      acknowledgeDeadLetterQueue(deadLetterQueue);
      const queue = new sqs.Queue(scope, 'Queue', {
        ...encryption,
        queueName: `${prefix}-${serviceId}-events`,
        retentionPeriod: props.config.retentionPeriod ?? EVENTS_DEFAULTS.retentionPeriod,
        visibilityTimeout: EVENTS_DEFAULTS.visibilityTimeout,
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
      });
      const rule = new events.Rule(scope, 'Rule', {
        eventBus: this.bus,
        ruleName: ruleName(prefix, serviceId),
        description: `${eventTypes.join(', ')} to the ${serviceId} service's queue`,
        eventPattern: { source: events.Match.prefix(EVENT_SOURCE_PREFIX), detailType: [...eventTypes] },
        targets: [target(queue)],
      });
      acceptOnlyFromRule(queue, rule);
      consumers[serviceId] = { serviceId, eventTypes, queue, deadLetterQueue, rule };
    }
    this.consumers = consumers;

    // Cache invalidation rides the bus: the event reaches the stage 100k queue wrapped in EventBridge's envelope,
    // which the app's SQS consumer accepts next to the raw message the monolith sends.
    this.invalidationRule = new events.Rule(this, 'InvalidationRule', {
      eventBus: this.bus,
      ruleName: ruleName(prefix, INVALIDATION_RULE),
      description: `${CACHE_INVALIDATION_EVENT_TYPE} to the cache-invalidation queue`,
      eventPattern: {
        source: events.Match.prefix(EVENT_SOURCE_PREFIX),
        detailType: [CACHE_INVALIDATION_EVENT_TYPE],
      },
      targets: [target(props.invalidationQueue.queue)],
    });
    acceptOnlyFromRule(props.invalidationQueue.queue, this.invalidationRule);
  }

  /** How services reach the bus and their queues. */
  public get endpoint(): EventsEndpoint {
    const queues: Record<string, QueueEndpoint> = {};
    for (const [serviceId, consumer] of Object.entries(this.consumers)) {
      queues[serviceId] = {
        queueUrl: consumer.queue.queueUrl,
        queueArn: consumer.queue.queueArn,
        keyArn: this.key.keyArn,
        maxReceiveCount: this.maxReceiveCount,
      };
    }
    return { busName: this.bus.eventBusName, busArn: this.bus.eventBusArn, queues };
  }

  /**
   * Adds the alarms and dashboard rows of the events to the region's monitoring: EventBridge
   * `FailedInvocations` of every rule (`<prefix>-Events-<Rule>-FailedInvocations-Critical`: an event not
   * delivered), any message in the delivery dead-letter queue, and per consumer any message in its dead-letter
   * queue and its oldest message older than `oldestMessageAgeAlarm`.
   */
  public addMonitoring(monitoring: StageMonitoring): void {
    const maxAge = this.config.oldestMessageAgeAlarm ?? EVENTS_DEFAULTS.oldestMessageAgeAlarm;
    for (const consumer of Object.values(this.consumers)) {
      const name = `${pascalCase(consumer.serviceId)}EventQueue`;
      monitoring.facade.monitorSqsQueueWithDlq({
        queue: consumer.queue,
        deadLetterQueue: consumer.deadLetterQueue,
        alarmFriendlyName: name,
        humanReadableName: `Events to ${consumer.serviceId} (${consumer.eventTypes.join(', ')})`,
        addQueueMaxMessageAgeAlarm: { Critical: { maxAgeInSeconds: maxAge.toSeconds() } },
        addDeadLetterQueueMaxSizeAlarm: { Critical: { maxMessageCount: 0 } },
      });
    }
    monitoring.facade.monitorSqsQueue({
      queue: this.deliveryDeadLetterQueue,
      alarmFriendlyName: 'EventDeliveryDLQ',
      humanReadableName: 'Events EventBridge could not deliver',
      addQueueMaxSizeAlarm: { Critical: { maxMessageCount: 0 } },
    });
    // The metric's RuleName dimension is the rule's plain name. Not `rule.ruleName`: the Ref of a rule on a custom
    // bus is `<bus>|<rule>`, a dimension no metric has, so the alarm would never fire.
    const rules: [string, string][] = [
      ...Object.values(this.consumers).map((consumer): [string, string] => [
        pascalCase(consumer.serviceId),
        ruleName(this.prefix, consumer.serviceId),
      ]),
      ['Invalidation', ruleName(this.prefix, INVALIDATION_RULE)],
    ];
    monitoring.facade.monitorCustom({
      alarmFriendlyName: 'Events',
      humanReadableName: 'Domain events (EventBridge)',
      metricGroups: [
        {
          title: 'Failed invocations per rule',
          important: true,
          metrics: rules.map(([name, physicalRuleName]) => ({
            metric: new cloudwatch.Metric({
              namespace: 'AWS/Events',
              metricName: 'FailedInvocations',
              dimensionsMap: { EventBusName: this.bus.eventBusName, RuleName: physicalRuleName },
              statistic: 'Sum',
              period: Duration.minutes(5),
              label: `${name} failed`,
            }),
            alarmFriendlyName: `Events-${name}`,
            addAlarm: {
              Critical: {
                threshold: 0,
                comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingDataOverride: cloudwatch.TreatMissingData.NOT_BREACHING,
                additionalDescription: `EventBridge failed to deliver an event of rule ${name} (FailedInvocations > 0).`,
              },
            },
          })),
        },
      ],
    });
  }
}

/** Middle part of the invalidation rule's name: the hyphen keeps it apart from any service id (`STABLE_ID`). */
const INVALIDATION_RULE = 'cache-invalidation';

/**
 * Physical name of a rule on the bus: `<prefix>-<consumer>-events`, `<prefix>-cache-invalidation-events`. Rule
 * names are unique per bus, and the bus (`<prefix>-events`) is per account and region, so the prefix is enough
 * (no region); at most 16 + 1 + 18 + 7 = 42 characters (prefix and service ids are bounded), below EventBridge's
 * 64.
 */
export function ruleName(prefix: string, consumer: string): string {
  return `${prefix}-${consumer}-events`;
}

/**
 * Lets EventBridge deliver to `queue` for `rule` only: a Deny of `sqs:SendMessage` by `events.amazonaws.com` whose
 * `aws:SourceArn` is not the rule, so no other rule of the account (or of another account) can target the queue.
 *
 * CDK's SqsQueue target cannot do this itself: for a queue with a customer-managed key it leaves out the
 * `aws:SourceArn` condition (the same grant would put the rule's ARN into the key policy, a circular dependency,
 * aws/aws-cdk#11158) and allows EventBridge of the whole account (`aws:SourceAccount`). A Deny beside that Allow
 * needs no change to CDK's statement; the queue policy is a resource of its own, so referencing the rule here
 * makes no cycle.
 */
function acceptOnlyFromRule(queue: sqs.IQueue, rule: events.IRule): void {
  queue.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'EventBridgeDeliveriesOfItsRuleOnly',
      effect: iam.Effect.DENY,
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['sqs:SendMessage'],
      resources: [queue.queueArn],
      conditions: { ArnNotEquals: { 'aws:SourceArn': rule.ruleArn } },
    }),
  );
}

/**
 * Lets EventBridge of this account send to queues encrypted with the key (`kms:GenerateDataKey`, `kms:Decrypt`):
 * a rule's target and, which CDK does not grant, a dead-letter queue encrypted with it.
 */
function allowEventBridgeDeliveries(key: kms.Key): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'EventBridgeDeliveriesOfThisAccount',
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(key).account } },
    }),
  );
}
