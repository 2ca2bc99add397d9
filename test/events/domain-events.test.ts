/**
 * DomainEvents (stage 1m): the bus and its archive, one rule per consumer of EVENT_ROUTES to its encrypted
 * queue with a dead-letter queue, cache invalidations to the invalidation queue, EventBridge's key access, and
 * the alarms.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import {
  CACHE_INVALIDATION_EVENT_TYPE,
  DEFAULT_MONITORING_CONFIG,
  EVENT_ROUTES,
  EVENTS_DEFAULTS,
  StageConfigError,
  type EventsConfig,
} from '../../lib/config';
import { DomainEvents, InvalidationQueue, StageMonitoring } from '../../lib/constructs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed template JSON, read field by field
type Parsed = any;
type Resource = { Type: string; Properties: Record<string, Parsed>; DependsOn?: unknown };

/** A stack with the invalidation queue and the events, as the data stack builds them. */
function build(config: EventsConfig = {}, serviceIds = ['users', 'orders', 'products']) {
  const stack = new Stack(new App(), 'Data', { env: { account: '111111111111', region: 'eu-west-1' } });
  const invalidation = new InvalidationQueue(stack, 'InvalidationQueue', {
    config: {},
    keyAlias: 'alias/shop-invalidation-queue',
  });
  const events = new DomainEvents(stack, 'Events', {
    config,
    prefix: 'shop',
    serviceIds,
    invalidationQueue: { queue: invalidation.queue, key: invalidation.key },
  });
  return { stack, events, invalidation };
}

const resources = (template: Template, type: string) =>
  Object.entries(template.findResources(type)) as [string, Resource][];

describe('DomainEvents', () => {
  // GIVEN
  const { stack, events, invalidation } = build();
  const monitoring = new StageMonitoring(stack, 'Monitoring', {
    config: DEFAULT_MONITORING_CONFIG,
    dashboardName: 'shop',
  });
  events.addMonitoring(monitoring);
  // WHEN
  const template = Template.fromStack(stack);
  const queueIdByName = (name: string) =>
    resources(template, 'AWS::SQS::Queue').find(([, queue]) => queue.Properties.QueueName === name)?.[0];

  test('a bus <prefix>-events with an archive <prefix>-events-archive of every shop event', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'shop-events' });
    template.hasResourceProperties('AWS::Events::Archive', {
      ArchiveName: 'shop-events-archive',
      RetentionDays: 30,
      EventPattern: { source: [{ prefix: 'shop.' }] },
    });
  });

  test.each(Object.entries(EVENT_ROUTES))(
    'consumer %s: a rule for %j to its queue, which dead-letters after maxReceiveCount receives',
    (consumer, eventTypes) => {
      const queueId = queueIdByName(`shop-${consumer}-events`);
      const dlqId = queueIdByName(`shop-${consumer}-events-dlq`);
      expect(queueId).toBeDefined();
      expect(dlqId).toBeDefined();
      template.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: `shop-${consumer}-events`,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
          maxReceiveCount: EVENTS_DEFAULTS.maxReceiveCount,
        },
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: { source: [{ prefix: 'shop.' }], 'detail-type': [...eventTypes] },
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [queueId, 'Arn'] },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueIdByName('shop-events-delivery-dlq'), 'Arn'] } },
            RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          }),
        ],
      });
    },
  );

  test('routes CacheTagsInvalidated to the stage 100k invalidation queue', () => {
    const queueId = stack.getLogicalId(invalidation.queue.node.defaultChild as never);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: [{ prefix: 'shop.' }], 'detail-type': [CACHE_INVALIDATION_EVENT_TYPE] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } })],
    });
  });

  test('one rule per consumer plus the invalidation rule, nothing else', () => {
    template.resourceCountIs('AWS::Events::Rule', Object.keys(EVENT_ROUTES).length + 1);
  });

  test('every queue is encrypted with a customer-managed key (never alias/aws/sqs), requires TLS and is retained', () => {
    const queues = resources(template, 'AWS::SQS::Queue');
    expect(queues.length).toBe(2 * Object.keys(EVENT_ROUTES).length + 1 + 2);
    for (const [, queue] of queues) {
      expect(queue.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
      expect(JSON.stringify(queue.Properties)).not.toContain('alias/aws/sqs');
      expect((queue as unknown as { DeletionPolicy: string }).DeletionPolicy).toBe('Retain');
    }
    const policies = resources(template, 'AWS::SQS::QueuePolicy').map(([, policy]) => JSON.stringify(policy));
    for (const [queueId] of queues) {
      expect(
        policies.some((policy) => policy.includes(queueId) && policy.includes('aws:SecureTransport')),
      ).toBe(true);
    }
  });

  test('EventBridge of this account may use both keys (the queues and the dead-letter queues: CDK grants neither DLQ)', () => {
    const keys = resources(template, 'AWS::KMS::Key').filter(([id]) => !id.startsWith('Monitoring'));
    expect(keys).toHaveLength(2);
    for (const [, key] of keys) {
      expect(key.Properties.KeyPolicy.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Sid: 'EventBridgeDeliveriesOfThisAccount',
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
            Condition: { StringEquals: { 'aws:SourceAccount': '111111111111' } },
          }),
        ]),
      );
    }
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/shop-events' });
  });

  test('each target queue refuses EventBridge deliveries of any rule but its own (aws:SourceArn)', () => {
    const ruleIdByName = (name: string) =>
      resources(template, 'AWS::Events::Rule').find(([, rule]) => rule.Properties.Name === name)![0];
    const invalidationQueueId = stack.getLogicalId(invalidation.queue.node.defaultChild as never);
    const cases = [
      ...Object.keys(EVENT_ROUTES).map((consumer) => [
        queueIdByName(`shop-${consumer}-events`)!,
        ruleIdByName(`shop-${consumer}-events`),
      ]),
      [invalidationQueueId, ruleIdByName('shop-cache-invalidation-events')],
    ];
    for (const [queueId, ruleId] of cases) {
      const policy = resources(template, 'AWS::SQS::QueuePolicy').find(
        ([, p]) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: queueId }]),
      )![1];
      const denies = (policy.Properties.PolicyDocument.Statement as Record<string, Parsed>[]).filter(
        (statement) =>
          statement.Effect === 'Deny' && JSON.stringify(statement.Principal).includes('events.amazonaws.com'),
      );
      expect(denies).toEqual([
        expect.objectContaining({
          Action: 'sqs:SendMessage',
          Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
          Condition: { ArnNotEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
        }),
      ]);
    }
  });

  test('the delivery dead-letter queue accepts messages from the rules only', () => {
    const dlqId = queueIdByName('shop-events-delivery-dlq')!;
    const policy = resources(template, 'AWS::SQS::QueuePolicy').find(([, p]) =>
      JSON.stringify(p.Properties.Queues).includes(dlqId),
    )![1];
    const sends = (policy.Properties.PolicyDocument.Statement as Record<string, Parsed>[]).filter(
      (statement) => statement.Action === 'sqs:SendMessage' && statement.Effect === 'Allow',
    );
    expect(sends).toHaveLength(Object.keys(EVENT_ROUTES).length + 1);
    for (const statement of sends) {
      expect(statement.Principal).toEqual({ Service: 'events.amazonaws.com' });
      expect(statement.Condition.ArnEquals['aws:SourceArn']).toBeDefined();
    }
  });

  test('alarms: FailedInvocations of every rule, any message in a DLQ, the oldest message too old', () => {
    const alarms = resources(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties);
    const failed = alarms.filter((alarm) => JSON.stringify(alarm).includes('FailedInvocations'));
    expect(failed).toHaveLength(Object.keys(EVENT_ROUTES).length + 1);
    for (const alarm of failed) {
      expect(alarm.Threshold).toBe(0);
      expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
    }
    for (const consumer of Object.keys(EVENT_ROUTES)) {
      const name = `${consumer.charAt(0).toUpperCase()}${consumer.slice(1)}EventQueue`;
      const mine = alarms.filter((alarm) => String(alarm.AlarmName).includes(name));
      const watches = (metricName: string, threshold: number) =>
        mine.some(
          (alarm) =>
            JSON.stringify(alarm.Metrics).includes(`"${metricName}"`) && alarm.Threshold === threshold,
        );
      // The oldest message older than 5 minutes (default), and any message in the consumer's DLQ.
      expect(watches('ApproximateAgeOfOldestMessage', 300)).toBe(true);
      expect(watches('ApproximateNumberOfMessagesVisible', 0)).toBe(true);
    }
    expect(
      alarms.some((alarm) => String(alarm.AlarmName).includes('EventDeliveryDLQ') && alarm.Threshold === 0),
    ).toBe(true);
  });

  test("FailedInvocations alarms watch each rule's plain name (a rule's Ref on a custom bus is `bus|rule`)", () => {
    const rules = resources(template, 'AWS::Events::Rule').map(([, rule]) => rule.Properties.Name);
    expect(rules.sort()).toEqual(
      [
        'shop-cache-invalidation-events',
        ...Object.keys(EVENT_ROUTES).map((consumer) => `shop-${consumer}-events`),
      ].sort(),
    );
    const dimensions = resources(template, 'AWS::CloudWatch::Alarm')
      .flatMap(([, alarm]) => (alarm.Properties.Metrics ?? []) as Parsed[])
      .map((query) => query.MetricStat?.Metric)
      .filter((metric) => metric?.MetricName === 'FailedInvocations')
      .map((metric) =>
        Object.fromEntries(
          (metric.Dimensions as { Name: string; Value: unknown }[]).map((d) => [d.Name, d.Value]),
        ),
      );
    expect(dimensions).toHaveLength(rules.length);
    // A plain string (no Ref, no Fn::GetAtt), and the name of one of the rules.
    expect(dimensions.map((d) => d.RuleName).sort()).toEqual(rules.sort());
    for (const d of dimensions) expect(d.EventBusName).toEqual({ Ref: expect.stringMatching(/^EventsBus/) });
  });

  test('the endpoint gives each consumer its queue and the events key', () => {
    expect(Object.keys(events.endpoint.queues).sort()).toEqual(Object.keys(EVENT_ROUTES).sort());
    expect(events.endpoint.queues.users!.maxReceiveCount).toBe(5);
  });
});

describe('DomainEvents settings', () => {
  test('takes archive retention and maxReceiveCount from the config', () => {
    const { stack } = build({ archiveRetention: Duration.days(7), maxReceiveCount: 3 });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 7 });
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'shop-users-events',
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
  });

  test('fails when a consumer of EVENT_ROUTES is not a service of the stage', () => {
    expect(() => build({}, ['users'])).toThrow(StageConfigError);
    expect(() => build({}, ['users'])).toThrow(/services\.products/);
  });

  test('fails when maxReceiveCount is outside the SQS limits', () => {
    expect(() => build({ maxReceiveCount: 0 })).toThrow(/config\.maxReceiveCount: received 0/);
  });

  test('fails when the archive keeps events for less than a day', () => {
    expect(() => build({ archiveRetention: Duration.hours(1) })).toThrow(/config\.archiveRetention/);
  });
});
