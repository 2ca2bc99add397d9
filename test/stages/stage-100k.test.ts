/**
 * Stage 100k: shard s1 beside shard 0, logical replication on every shard, the SQS invalidation queue, and
 * what the app tasks receive and may do (SHARD_ENDPOINTS, the queue, the shard secrets).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../../app/src/config';
import { INVALIDATION_QUEUE_DEFAULTS, StageConfigError, type StageConfig } from '../../lib/config';
import { createBlueprintApp } from '../../lib/blueprint';
import { InvalidationQueue } from '../../lib/constructs';
import { stage100k, stage10k } from '../../stages';
import { onlyResource, resourcesOf, synthStage, appTaskDefinition } from '../support/synth';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(240_000);

type Json = Record<string, unknown>;
type Resource = { Type: string; Properties?: Record<string, unknown>; [key: string]: unknown };

const loose = (config: unknown) => config as StageConfig;

/** The problem keys a config fails synth with (fails the test when it builds). */
function problemKeys(config: StageConfig): string[] {
  try {
    createBlueprintApp({ config, nag: false });
  } catch (error) {
    if (error instanceof StageConfigError) {
      for (const problem of error.problems) expect(error.message).toContain(`${problem.key}: received`);
      return error.problems.map((problem) => problem.key).sort();
    }
    throw error;
  }
  throw new Error('expected the config to fail synth');
}

/** The app container's environment as a record (values are strings or intrinsics). */
function environmentOf(service: Json): Record<string, unknown> {
  const definition = appTaskDefinition(service);
  const [container] = definition.Properties.ContainerDefinitions as {
    Environment: { Name: string; Value: unknown }[];
  }[];
  return Object.fromEntries(container!.Environment.map((entry) => [entry.Name, entry.Value]));
}

/** `{"Fn::GetStackOutput": {StackName, OutputName}}` as `stack:output`, other values as JSON. */
const read = (value: unknown): string => {
  const output = (value as { 'Fn::GetStackOutput'?: { StackName: string; OutputName: string } })[
    'Fn::GetStackOutput'
  ];
  return output ? `${output.StackName}:${output.OutputName}` : JSON.stringify(value);
};

/** Renders an `Fn::Join` of literals and stack-output reads, the reads as `${stack:output}`. */
function renderJoin(value: unknown): string {
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`not an Fn::Join: ${JSON.stringify(value)}`);
  return join[1].map((part) => (typeof part === 'string' ? part : `\${${read(part)}}`)).join(join[0]);
}

/** The task role's policy statements. */
function taskRoleStatements(
  service: Json,
): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const policies = Object.entries(resourcesOf(service, 'AWS::IAM::Policy')).filter(([id]) =>
    id.startsWith('ShopTaskDefinitionTaskRole'),
  );
  expect(policies).toHaveLength(1);
  const document = (policies[0]![1] as Resource).Properties!.PolicyDocument as { Statement: never[] };
  return document.Statement;
}
const actions = (statement: { Action: string | string[] }) =>
  (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).slice().sort();
const resources = (statement: { Resource: unknown }) =>
  (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).map(read).sort();

describe('stage 100k', () => {
  // GIVEN / WHEN
  const stage = synthStage('100k');
  const shardJson = JSON.parse(readFileSync(join(stage.outdir, 'ShopShardS1.template.json'), 'utf8')) as Json;
  const shard = Template.fromJSON(shardJson);
  const { data: dataJson, service: serviceJson } = stage.json;

  test('is 10k plus its delta: shard 0 keeps its writer and readers, s1 is shaped like it', () => {
    expect(stage100k.database.writer).toBe(stage10k.database.writer);
    expect(stage100k.database.readers).toBe(stage10k.database.readers);
    expect(stage100k.network).toBe(stage10k.network);
    expect(Object.keys(stage100k.shards)).toEqual(['s1']);
    const { proxy, ...s1 } = stage100k.shards.s1;
    expect(s1).toEqual(stage100k.database);
    expect(proxy).toEqual(stage100k.proxy);
  });

  test('shard s1 has a writer, 3 readers, RDS Proxy with a read-only endpoint, its secret and key, as shard 0', () => {
    const classes = (template: Json) =>
      Object.values(resourcesOf(template, 'AWS::RDS::DBInstance'))
        .map((instance) => instance.Properties?.DBInstanceClass)
        .sort();
    expect(classes(shardJson)).toEqual(classes(dataJson));
    expect(classes(shardJson)).toHaveLength(4);
    shard.hasResourceProperties('AWS::RDS::DBCluster', {
      DBClusterIdentifier: 'shop-db-s1',
      StorageEncrypted: true,
      DeletionProtection: true,
      PerformanceInsightsEnabled: true,
    });
    shard.resourceCountIs('AWS::RDS::DBProxy', 1);
    shard.hasResourceProperties('AWS::RDS::DBProxyEndpoint', {
      DBProxyEndpointName: 'shop-db-s1-read-only',
      TargetRole: 'READ_ONLY',
    });
    // The master (owner) secret and the app's DML-only secret, each rotated (the app's with multi-user rotation).
    shard.resourceCountIs('AWS::SecretsManager::Secret', 2);
    shard.resourceCountIs('AWS::SecretsManager::RotationSchedule', 2);
    expect(stage.assembly.getStackArtifact('ShopShardS1').terminationProtection).toBe(true);
  });

  test.each([
    ['0 (the 10k cluster, in shop-data)', 'data'],
    ['s1', 'shard'],
  ])('shard %s turns on logical replication in its own cluster parameter group', (_name, which) => {
    const template = which === 'data' ? dataJson : shardJson;
    const group = onlyResource(template, 'AWS::RDS::DBClusterParameterGroup');
    expect(group.Properties).toEqual({
      // Unchanged since stage 1k: a new description would replace the group.
      Description: 'Shop cluster parameters: TLS required for every connection',
      Family: 'aurora-postgresql16',
      Parameters: {
        'rds.force_ssl': '1',
        log_min_duration_statement: '1000',
        random_page_cost: '1.1',
        'rds.logical_replication': '1',
        max_replication_slots: '20',
        max_wal_senders: '20',
        max_logical_replication_workers: '6',
      },
    });
    // The cluster keeps using that group (the same one it has had since stage 1k, for shard 0).
    expect(onlyResource(template, 'AWS::RDS::DBCluster').Properties.DBClusterParameterGroupName).toEqual({
      Ref: group.logicalId,
    });
  });

  test('each shard writer has slot-lag and transaction-log alarms named with its shard id', () => {
    const alarms = Object.values(resourcesOf(serviceJson, 'AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties!,
    );
    for (const [id, stackName, cluster] of [
      ['0', 'shop-data', 'PublishOutputRefDatabaseCluster5B53A1787AAF4B6A'],
      ['S1', 'shop-shard-s1', 'PublishOutputRefShardDatabaseCluster7A0CFF71C343C96D'],
    ] as const) {
      for (const [metric, threshold, missing] of [
        ['OldestReplicationSlotLag', 1024 ** 3, 'notBreaching'],
        ['TransactionLogsDiskUsage', 10 * 1024 ** 3, 'missing'],
      ] as const) {
        const name = `shop-Shard${id}AuroraReplication-${metric === 'OldestReplicationSlotLag' ? 'ReplicationSlotLag' : metric}-Critical`;
        const alarm = alarms.find((candidate) => candidate.AlarmName === name);
        expect(alarm).toMatchObject({
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: threshold,
          TreatMissingData: missing,
          AlarmActions: [expect.anything()],
        });
        const [query] = alarm!.Metrics as {
          MetricStat: { Metric: { MetricName: string; Dimensions: unknown[] } };
        }[];
        expect(query!.MetricStat.Metric.MetricName).toBe(metric);
        // The writer, whichever instance it is after a failover.
        expect(query!.MetricStat.Metric.Dimensions.map((d) => JSON.stringify(d))).toEqual([
          JSON.stringify({
            Name: 'DBClusterIdentifier',
            Value: {
              'Fn::GetStackOutput': { StackName: stackName, Region: 'us-east-1', OutputName: cluster },
            },
          }),
          JSON.stringify({ Name: 'Role', Value: 'WRITER' }),
        ]);
      }
    }
    // Shard s1's own alarms and dashboard rows (those every shard has) are there too.
    expect(alarms.map((alarm) => alarm.AlarmName)).toEqual(
      expect.arrayContaining([
        'shop-ShardS1Writer-Cpu-Critical',
        'shop-ShardS1Proxy-ClientConnections-Critical',
      ]),
    );
    const dashboard = JSON.stringify(onlyResource(serviceJson, 'AWS::CloudWatch::Dashboard').Properties);
    expect(dashboard).toContain('Aurora shard s1: logical replication (writer)');
    expect(dashboard).toContain('Aurora shard 0: logical replication (writer)');
  });

  test('the invalidation queue and its dead-letter queue: customer-managed key, TLS only, retained, redrive', () => {
    const queues = resourcesOf(dataJson, 'AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(2);
    const keys = Object.entries(resourcesOf(dataJson, 'AWS::KMS::Key')).filter(([id]) =>
      id.startsWith('InvalidationQueue'),
    );
    expect(keys).toHaveLength(1);
    const key: Resource & { logicalId: string } = { logicalId: keys[0]![0], ...keys[0]![1] };
    expect(key.Properties).toMatchObject({ EnableKeyRotation: true });
    expect(key.DeletionPolicy).toBe('Retain');
    stage.templates.data.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/shop-invalidation-queue',
      TargetKeyId: { 'Fn::GetAtt': [key.logicalId, 'Arn'] },
    });
    for (const queue of Object.values(queues)) {
      // Never the AWS-managed alias/aws/sqs: EventBridge deliveries to it are dropped silently.
      expect(queue.Properties?.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key.logicalId, 'Arn'] });
      expect(queue.Properties?.SqsManagedSseEnabled).toBeUndefined();
      expect(queue.DeletionPolicy).toBe('Retain');
      expect(queue.UpdateReplacePolicy).toBe('Retain');
    }
    expect(JSON.stringify(dataJson)).not.toContain('alias/aws/sqs');
    const main = Object.entries(queues).find(([, queue]) => queue.Properties?.RedrivePolicy !== undefined)!;
    const dead = Object.entries(queues).find(([, queue]) => queue.Properties?.RedrivePolicy === undefined)!;
    expect(main[1].Properties).toMatchObject({
      MessageRetentionPeriod: 86400,
      VisibilityTimeout: 30,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dead[0], 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(dead[1].Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600 });
    // enforceSSL: each queue denies every request without TLS.
    for (const [id] of [main, dead]) {
      stage.templates.data.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ],
        },
      });
    }
  });

  test("maxReceiveCount is the app's own INVALIDATION_MAX_RECEIVES default, and the tasks are told it", () => {
    const appDefault = loadConfig({}).invalidation.maxReceives;
    expect(INVALIDATION_QUEUE_DEFAULTS.maxReceiveCount).toBe(appDefault);
    const environment = environmentOf(serviceJson);
    expect(environment.INVALIDATION_MAX_RECEIVES).toBe(String(appDefault));
  });

  test('alarms on dead-lettered events and on the age of the oldest message', () => {
    const alarms = Object.values(resourcesOf(serviceJson, 'AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties!,
    );
    const metricOf = (alarm: Record<string, unknown>) =>
      (
        alarm.Metrics as {
          MetricStat: { Metric: { MetricName: string; Dimensions: { Value: unknown }[] } };
        }[]
      )[0]!.MetricStat.Metric;
    const dlq = alarms.find(
      (alarm) => alarm.AlarmName === 'shop-InvalidationQueue-DLQ-Queue-Message-Count-Max-Critical',
    )!;
    expect(dlq).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0 });
    expect(metricOf(dlq).MetricName).toBe('ApproximateNumberOfMessagesVisible');
    expect(read(metricOf(dlq).Dimensions[0]!.Value)).toMatch(
      /^shop-data:.*InvalidationQueueDeadLetterQueue.*QueueName/,
    );
    const age = alarms.find(
      (alarm) => alarm.AlarmName === 'shop-InvalidationQueue-Queue-Message-Age-Max-Critical',
    )!;
    expect(age).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 60 });
    expect(metricOf(age).MetricName).toBe('ApproximateAgeOfOldestMessage');
    expect(read(metricOf(age).Dimensions[0]!.Value)).toMatch(
      /^shop-data:.*InvalidationQueue[0-9A-F]+QueueName/,
    );
  });

  test('the app gets SHARD_ENDPOINTS for s1 (shard 0 stays DB_HOST) and the SQS queue', () => {
    const environment = environmentOf(serviceJson);
    expect(read(environment.DB_HOST)).toMatch(/^shop-data:PublishOutputFnGetAttProxy/);
    expect(environment.INVALIDATION_QUEUE).toBe('sqs');
    expect(read(environment.INVALIDATION_QUEUE_URL)).toMatch(/^shop-data:PublishOutputRefInvalidationQueue/);
    const rendered = renderJoin(environment.SHARD_ENDPOINTS);
    const placeholders = [...rendered.matchAll(/\$\{([^}]+)\}/g)].map((match) => match[1]);
    const entries = JSON.parse(rendered.replace(/\$\{([^}]+)\}/g, '$1')) as Record<string, unknown>[];
    expect(entries).toEqual([
      {
        id: 's1',
        writerHost: expect.stringMatching(/^shop-shard-s1:PublishOutputFnGetAttShardProxy.*Endpoint/),
        readerHost: expect.stringMatching(/^shop-shard-s1:PublishOutputFnGetAttShardProxyReadOnlyEndpoint/),
        port: 5432,
        secretArn: expect.stringMatching(/^shop-shard-s1:PublishOutputRefShardAppSecretAttachment/),
      },
    ]);
    expect(placeholders).toHaveLength(3);
  });

  test('the task role reads exactly the shard secrets the app is given, and uses the queue as relay and consumer', () => {
    const statements = taskRoleStatements(serviceJson);
    const environment = environmentOf(serviceJson);
    const entries = JSON.parse(renderJoin(environment.SHARD_ENDPOINTS).replace(/\$\{([^}]+)\}/g, '$1')) as {
      secretArn: string;
    }[];

    const secrets = statements.filter((s) => actions(s).includes('secretsmanager:GetSecretValue'));
    expect(secrets).toHaveLength(1);
    expect(resources(secrets[0]!)).toEqual(
      [read(environment.DB_SECRET_ARN), ...entries.map((e) => e.secretArn)].sort(),
    );

    // Exactly send (relay) and receive, delete and change visibility (consumer), on the queue only.
    const sqsStatements = statements.filter((s) => actions(s).some((action) => action.startsWith('sqs:')));
    expect(sqsStatements).toHaveLength(1);
    expect(actions(sqsStatements[0]!)).toEqual([
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:ReceiveMessage',
      'sqs:SendMessage',
    ]);
    expect(resources(sqsStatements[0]!)).toEqual([
      expect.stringMatching(/^shop-data:PublishOutputFnGetAttInvalidationQueue[0-9A-F]+Arn/),
    ]);
    // The queue's key, only through SQS.
    const queueKey = statements.find((s) =>
      JSON.stringify(s.Condition ?? {}).includes('sqs.us-east-1.amazonaws.com'),
    )!;
    expect(actions(queueKey)).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(resources(queueKey)).toEqual([
      expect.stringMatching(/^shop-data:PublishOutputFnGetAttInvalidationQueueKey/),
    ]);
    // Nothing on the dead-letter queue: SQS moves messages there itself.
    expect(JSON.stringify(statements)).not.toContain('DeadLetterQueue');
  });
});

describe('stage 100k config validation', () => {
  test('fails when the invalidation queue has no cache to invalidate', () => {
    const { cache: _cache, ...withoutCache } = stage100k;
    expect(problemKeys(loose(withoutCache))).toEqual(['invalidationQueue']);
  });

  test('fails on a bad maxReceiveCount, retention or alarm age, naming each', () => {
    const config = loose({
      ...stage100k,
      invalidationQueue: {
        maxReceiveCount: 0,
        retentionPeriod: Duration.days(15),
        oldestMessageAgeAlarm: 60,
      },
    });
    expect(problemKeys(config)).toEqual([
      'invalidationQueue.maxReceiveCount',
      'invalidationQueue.oldestMessageAgeAlarm',
      'invalidationQueue.retentionPeriod',
    ]);
  });

  test('fails when the age alarm could never fire: the queue deletes messages before they are that old', () => {
    const config = loose({
      ...stage100k,
      invalidationQueue: { retentionPeriod: Duration.minutes(5), oldestMessageAgeAlarm: Duration.minutes(5) },
    });
    expect(problemKeys(config)).toEqual(['invalidationQueue.oldestMessageAgeAlarm']);
    // The default alarm (60 s) is below the default retention (1 day) and below any retention allowed but 1 minute.
    expect(
      problemKeys(loose({ ...stage100k, invalidationQueue: { retentionPeriod: Duration.minutes(1) } })),
    ).toEqual(['invalidationQueue.oldestMessageAgeAlarm']);
  });

  test('fails on logical replication settings that make no sense, in shard 0 and in a shard', () => {
    const config = loose({
      ...stage100k,
      database: { ...stage100k.database, logicalReplication: { maxReplicationSlots: 30, maxWalSenders: 10 } },
      shards: {
        s1: {
          ...stage100k.shards.s1,
          logicalReplication: { maxLogicalReplicationWorkers: 0, replicationSlotLagAlarmMiB: -1 },
        },
      },
    });
    expect(problemKeys(config)).toEqual([
      'database.logicalReplication.maxWalSenders',
      'shards.s1.logicalReplication.maxLogicalReplicationWorkers',
      'shards.s1.logicalReplication.replicationSlotLagAlarmMiB',
    ]);
  });

  test("fails when a shard's database name differs from shard 0's (the app reaches every shard with DB_NAME)", () => {
    const config = loose({
      ...stage100k,
      shards: { s1: { ...stage100k.shards.s1, databaseName: 'users' } },
    });
    expect(problemKeys(config)).toEqual(['shards.s1.databaseName']);
  });

  test('the InvalidationQueue construct runs the same check on its own props', () => {
    const stack = new Stack(new App(), 'Queue');
    expect(
      () => new InvalidationQueue(stack, 'Queue', { config: { maxReceiveCount: 0 }, keyAlias: 'alias/q' }),
    ).toThrow(/config\.maxReceiveCount: received 0\. Fix: use a whole number from 1 to 1000/);
  });

  test('fails when logicalReplication or invalidationQueue is not an object', () => {
    const config = loose({
      ...stage100k,
      database: { ...stage100k.database, logicalReplication: true },
      invalidationQueue: 'sqs',
    });
    expect(problemKeys(config)).toEqual(['database.logicalReplication', 'invalidationQueue']);
  });
});
