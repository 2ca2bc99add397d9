/**
 * The one-off tasks of a stage with shards (100k): the migration task migrates every shard with each shard's
 * owner secret, the app service never sees an owner secret, and the shard manager's task definition may read
 * the owner secrets and nothing else.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARD_MANAGER_COMMAND, SHARD_MANAGER_CONTAINER_NAME } from '../../lib/constructs';
import { resourcesOf, synthStage } from '../support/synth';

// Synthesis is CPU-bound and the machine is shared.
jest.setTimeout(240_000);

type Json = Record<string, unknown>;
type Resource = { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** The one resource of a type whose logical id starts with `prefix`. */
function only(template: Json, type: string, prefix: string): [string, Resource] {
  const found = Object.entries(resourcesOf(template, type)).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${found.length}`);
  return found[0]! as [string, Resource];
}
/** Every statement of the policies attached to a role. */
function statementsOf(template: Json, roleId: string): Statement[] {
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((policy) => (policy.Properties?.PolicyDocument as { Statement: Statement[] }).Statement);
}
const roleOf = (taskDefinition: Resource, key: 'TaskRoleArn' | 'ExecutionRoleArn') =>
  (taskDefinition.Properties?.[key] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const containerOf = (taskDefinition: Resource) =>
  (taskDefinition.Properties?.ContainerDefinitions as Record<string, unknown>[])[0]!;
const envOf = (taskDefinition: Resource): Record<string, unknown> =>
  Object.fromEntries(
    (containerOf(taskDefinition).Environment as { Name: string; Value: unknown }[]).map((entry) => [
      entry.Name,
      entry.Value,
    ]),
  );
/** `{"Fn::GetStackOutput": {StackName, OutputName}}` as `stack:output`, other values as JSON. */
const read = (value: unknown): string => {
  const output = (value as { 'Fn::GetStackOutput'?: { StackName: string; OutputName: string } })[
    'Fn::GetStackOutput'
  ];
  return output ? `${output.StackName}:${output.OutputName}` : JSON.stringify(value);
};
/** An `Fn::Join` of literals and stack-output reads, parsed as JSON with each read as its `stack:output`. */
function parseJoin(value: unknown): unknown {
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`not an Fn::Join: ${JSON.stringify(value)}`);
  return JSON.parse(join[1].map((part) => (typeof part === 'string' ? part : read(part))).join(join[0]));
}
const asArray = (value: unknown) => (Array.isArray(value) ? value : [value]);
const secretReads = (statements: Statement[]) =>
  statements
    .filter((statement) => asArray(statement.Action).includes('secretsmanager:GetSecretValue'))
    .flatMap((statement) => asArray(statement.Resource).map(read))
    .sort();
const decrypts = (statements: Statement[]) =>
  statements.filter((statement) =>
    asArray(statement.Action).some((action) => String(action).startsWith('kms:')),
  );

const SHARD0_APP = /^shop-data:PublishOutputRefAppSecretAttachment/;
const SHARD0_OWNER = /^shop-data:PublishOutputRefDatabaseClusterSecretAttachment/;
const S1_APP = /^shop-shard-s1:PublishOutputRefShardAppSecretAttachment/;
const S1_OWNER = /^shop-shard-s1:PublishOutputRefShardDatabaseClusterSecretAttachment/;

describe('stage 100k: the migration task migrates every shard', () => {
  // GIVEN
  const stage = synthStage('100k', { nag: false });
  const service = stage.json.service;
  const [, migration] = only(service, 'AWS::ECS::TaskDefinition', 'MigrationTaskDefinition');
  const [, app] = only(service, 'AWS::ECS::TaskDefinition', 'ShopTaskDefinition');
  const migrationEnv = envOf(migration);
  const appEnv = envOf(app);

  test("its SHARD_ENDPOINTS lists s1 with the app's and the owner's secret; the app's lists no owner secret", () => {
    expect(parseJoin(migrationEnv.SHARD_ENDPOINTS)).toEqual([
      {
        id: 's1',
        writerHost: expect.stringMatching(/^shop-shard-s1:PublishOutputFnGetAttShardProxy.*Endpoint/),
        readerHost: expect.stringMatching(/^shop-shard-s1:PublishOutputFnGetAttShardProxyReadOnlyEndpoint/),
        port: 5432,
        secretArn: expect.stringMatching(S1_APP),
        migrationSecretArn: expect.stringMatching(S1_OWNER),
      },
    ]);
    // The app's variable: the same shard, without the owner's secret.
    const appEntries = parseJoin(appEnv.SHARD_ENDPOINTS) as Record<string, unknown>[];
    const { migrationSecretArn, ...withoutOwner } = (
      parseJoin(migrationEnv.SHARD_ENDPOINTS) as Record<string, unknown>[]
    )[0]!;
    expect(migrationSecretArn).toBeDefined();
    expect(appEntries).toEqual([withoutOwner]);
    expect(JSON.stringify(appEnv)).not.toMatch(/DatabaseClusterSecretAttachment|migrationSecretArn/);
    // Shard 0 stays DB_*.
    expect(read(migrationEnv.DB_MIGRATION_SECRET_ARN)).toMatch(SHARD0_OWNER);
    expect(read(migrationEnv.DB_SECRET_ARN)).toMatch(SHARD0_APP);
  });

  test('its task role reads exactly the secrets of its variables, decrypting through Secrets Manager only', () => {
    const statements = statementsOf(service, roleOf(migration, 'TaskRoleArn'));
    const entries = parseJoin(migrationEnv.SHARD_ENDPOINTS) as {
      secretArn: string;
      migrationSecretArn: string;
    }[];
    expect(secretReads(statements)).toEqual(
      [
        read(migrationEnv.DB_SECRET_ARN),
        read(migrationEnv.DB_MIGRATION_SECRET_ARN),
        ...entries.flatMap((entry) => [entry.secretArn, entry.migrationSecretArn]),
      ].sort(),
    );
    const kms = decrypts(statements);
    expect(kms).toHaveLength(1);
    expect(kms[0]).toMatchObject({
      Action: 'kms:Decrypt',
      Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } },
    });
    // The keys of both shards' secrets: the data key and s1's key.
    expect(asArray(kms[0]!.Resource).map(read).sort()).toEqual([
      expect.stringMatching(/^shop-data:PublishOutputFnGetAttDataKey/),
      expect.stringMatching(/^shop-shard-s1:PublishOutputFnGetAttKey/),
    ]);
    expect(statements).toHaveLength(2);
  });

  test("the app's task role reads no owner secret", () => {
    const statements = statementsOf(service, roleOf(app, 'TaskRoleArn'));
    expect(secretReads(statements)).toEqual([
      expect.stringMatching(SHARD0_APP),
      expect.stringMatching(S1_APP),
    ]);
    expect(JSON.stringify(statements)).not.toContain('DatabaseClusterSecretAttachment');
  });

  test("the run waits for the app group's admission to s1 (a new shard stack is reached only through it)", () => {
    const [, run] = only(service, 'Custom::MigrationTask', 'MigrationRun');
    const [ingressId, ingress] = only(service, 'AWS::EC2::SecurityGroupIngress', 'ShopShardS1Clients');
    expect(read(ingress.Properties?.GroupId)).toMatch(/^shop-shard-s1:.*Proxy/);
    expect(run.DependsOn).toContain(ingressId);
  });
});

describe('stage 100k: the shard manager task definition', () => {
  // GIVEN
  const stage = synthStage('100k', { nag: false });
  const service = stage.json.service;
  const [, manager] = only(service, 'AWS::ECS::TaskDefinition', 'ShardManagerTaskDefinition');
  const [, app] = only(service, 'AWS::ECS::TaskDefinition', 'ShopTaskDefinition');
  const container = containerOf(manager);
  const env = envOf(manager);

  test('runs the app image with `node dist/shards.js status`, non-root, read-only root filesystem, logged', () => {
    expect(container).toMatchObject({
      Name: SHARD_MANAGER_CONTAINER_NAME,
      Command: [...SHARD_MANAGER_COMMAND],
      ReadonlyRootFilesystem: true,
      User: 'node',
      Essential: true,
    });
    expect(SHARD_MANAGER_COMMAND).toEqual(['node', '--enable-source-maps', 'dist/shards.js', 'status']);
    expect(container.Image).toEqual(containerOf(app).Image);
    expect(container.Secrets).toBeUndefined();
    // The shop's log group, its own stream prefix.
    const logOptions = (container.LogConfiguration as { Options: Record<string, unknown> }).Options;
    expect(logOptions['awslogs-stream-prefix']).toBe('shards');
    expect(logOptions['awslogs-group']).toEqual(
      (containerOf(app).LogConfiguration as { Options: Record<string, unknown> }).Options['awslogs-group'],
    );
    expect(manager.Properties).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
    });
  });

  test('is told every shard with its owner secret and cluster writer endpoint, and no app secret', () => {
    expect(env).toMatchObject({
      NODE_ENV: 'production',
      DB_PORT: '5432',
      DB_NAME: 'shop',
      DB_SSL: 'verify-full',
    });
    expect(read(env.DB_HOST)).toEqual(read(envOf(app).DB_HOST));
    expect(read(env.DB_MIGRATION_SECRET_ARN)).toMatch(SHARD0_OWNER);
    expect(parseJoin(env.SHARD_ENDPOINTS)).toEqual([
      {
        id: 's1',
        writerHost: expect.stringMatching(/^shop-shard-s1:PublishOutputFnGetAttShardProxy.*Endpoint/),
        port: 5432,
        database: 'shop',
        migrationSecretArn: expect.stringMatching(S1_OWNER),
      },
    ]);
    expect(parseJoin(env.SHARD_REPLICATION_HOSTS)).toEqual({
      '0': expect.stringMatching(/^shop-data:PublishOutputFnGetAttDatabaseCluster.*EndpointAddress/),
      s1: expect.stringMatching(/^shop-shard-s1:PublishOutputFnGetAttShardDatabaseCluster.*EndpointAddress/),
    });
    expect(Object.keys(env).sort()).toEqual(
      [
        'NODE_ENV',
        'DB_HOST',
        'DB_PORT',
        'DB_NAME',
        'DB_SSL',
        'DB_MIGRATION_SECRET_ARN',
        'SHARD_ENDPOINTS',
        'SHARD_REPLICATION_HOSTS',
      ].sort(),
    );
    expect(JSON.stringify(env)).not.toContain('AppSecretAttachment');
  });

  test('its task role reads the owner secrets and decrypts them through Secrets Manager, nothing else', () => {
    const statements = statementsOf(service, roleOf(manager, 'TaskRoleArn'));
    expect(secretReads(statements)).toEqual([
      expect.stringMatching(SHARD0_OWNER),
      expect.stringMatching(S1_OWNER),
    ]);
    const kms = decrypts(statements);
    expect(kms).toEqual([
      expect.objectContaining({
        Action: 'kms:Decrypt',
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } },
      }),
    ]);
    expect(statements).toHaveLength(2);
    expect(statements.flatMap((statement) => asArray(statement.Action)).sort()).toEqual([
      'kms:Decrypt',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
    // The execution role pulls the image and writes logs; it reads no secret.
    expect(JSON.stringify(statementsOf(service, roleOf(manager, 'ExecutionRoleArn')))).not.toContain(
      'secretsmanager',
    );
  });

  test("its moves' subscriptions can connect: shard s1's cluster and shard 0's admit each other on 5432", () => {
    const shardS1 = JSON.parse(readFileSync(join(stage.outdir, 'ShopShardS1.template.json'), 'utf8')) as Json;
    const rules = Object.values(resourcesOf(shardS1, 'AWS::EC2::SecurityGroupIngress'))
      .filter((rule) => String(rule.Properties?.Description).startsWith('Logical replication'))
      .map((rule) => ({
        to: read(rule.Properties?.GroupId),
        from: read(rule.Properties?.SourceSecurityGroupId),
        port: [rule.Properties?.FromPort, rule.Properties?.ToPort],
      }));
    const shard0Cluster = expect.stringMatching(
      /^shop-data:PublishOutputFnGetAttDatabaseClusterSecurityGroup/,
    );
    const s1Cluster = expect.stringMatching(/ShardDatabaseClusterSecurityGroup[0-9A-F]+.*GroupId/);
    expect(rules).toEqual(
      expect.arrayContaining([
        { to: s1Cluster, from: shard0Cluster, port: [5432, 5432] },
        { to: shard0Cluster, from: s1Cluster, port: [5432, 5432] },
      ]),
    );
    expect(rules).toHaveLength(2);
  });

  test('nothing runs it on a deployment (an operator does, with aws ecs run-task)', () => {
    const [managerId] = only(service, 'AWS::ECS::TaskDefinition', 'ShardManagerTaskDefinition');
    const references = JSON.stringify(
      Object.entries((service.Resources ?? {}) as Record<string, unknown>).filter(([id]) => id !== managerId),
    );
    expect(references).not.toContain(`"Ref":"${managerId}"`);
  });
});

describe.each(['1k', '10k'])('stage %s (no shards beyond shard 0)', (id) => {
  const service = synthStage(id, { nag: false }).json.service;

  test('has no shard manager task, and its migration task has no SHARD_ENDPOINTS', () => {
    expect(
      Object.keys(resourcesOf(service, 'AWS::ECS::TaskDefinition')).filter((logicalId) =>
        logicalId.startsWith('ShardManager'),
      ),
    ).toEqual([]);
    const [, migration] = only(service, 'AWS::ECS::TaskDefinition', 'MigrationTaskDefinition');
    expect(envOf(migration).SHARD_ENDPOINTS).toBeUndefined();
  });
});
