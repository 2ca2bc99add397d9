/**
 * Stage global's sessions and services across regions: the home cache group becomes the primary of an ElastiCache
 * Global Datastore without being replaced, each secondary region gets a read-only member of it and a regional cache,
 * the shared secrets are replicated with keys in the replicas' regions, and a secondary region's tasks read replicas
 * only, with no write path (no migration, no shard manager, no queues, no bus, no publish permissions).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { blueprintStacks, createBlueprintApp } from '../../lib/blueprint';
import {
  GLOBAL_DATASTORE_ID_PREFIXES,
  globalDatastoreId,
  globalSessionsConfigProblems,
  globalSessionsRegionProblems,
  isGlobalDatastoreNodeType,
  StageConfigError,
  validateStageConfig,
  type StageConfig,
} from '../../lib/config';
import { stage1m, stageGlobal } from '../../stages';

// Synthesis of three regions is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(600_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed template JSON, read field by field
type Parsed = any;

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'] as const;
const GLOBAL_CONTEXT = {
  regions: REGIONS.join(','),
  domainName: 'shop.example.com',
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  hostedZoneName: 'example.com',
  frontDoor: 'gateway',
};

/** The registered stage global. */
const globalConfig: StageConfig = stageGlobal;

function buildApp(config: StageConfig, context: Record<string, unknown> = GLOBAL_CONTEXT) {
  return createBlueprintApp({
    config,
    outdir: mkdtempSync(join(tmpdir(), 'global-sessions-')),
    context: { [DISABLE_ASSET_STAGING_CONTEXT]: true, ...context },
  });
}

describe('stage global: sessions and services across regions', () => {
  // GIVEN: three regions, built and synthesised once (cdk-nag registered, as `cdk synth` does)
  const app = buildApp(globalConfig);
  const assembly = app.synth();
  const stacks = blueprintStacks(app);
  const template = (stack: Stack): Template => Template.fromJSON(json(stack));
  const json = (stack: Stack): Record<string, Parsed> =>
    JSON.parse(readFileSync(join(assembly.directory, stack.templateFile), 'utf8')) as Record<string, Parsed>;
  const home = stacks.regions['us-east-1']!;
  const eu = stacks.regions['eu-west-1']!;
  const ap = stacks.regions['ap-southeast-2']!;

  // The same stage without `global`, single region: what the home region's templates were.
  const before = buildApp(stage1m as StageConfig, {});
  const beforeAssembly = before.synth();
  const beforeStacks = blueprintStacks(before);
  const beforeJson = (stack: Stack): Record<string, Parsed> =>
    JSON.parse(readFileSync(join(beforeAssembly.directory, stack.templateFile), 'utf8')) as Record<
      string,
      Parsed
    >;

  const resources = (stack: Stack, type: string): [string, Parsed][] =>
    Object.entries(json(stack).Resources as Record<string, Parsed>).filter(([, r]) => r.Type === type);
  const containers = (stack: Stack): Parsed[] =>
    resources(stack, 'AWS::ECS::TaskDefinition').flatMap(([, r]) =>
      (r.Properties.ContainerDefinitions as Parsed[]).filter((c) => c.Name === 'App'),
    );
  const envOf = (container: Parsed): Record<string, Parsed> =>
    Object.fromEntries(
      (container.Environment as { Name: string; Value: Parsed }[]).map((e) => [e.Name, e.Value]),
    );
  const secretsOf = (container: Parsed): Record<string, Parsed> =>
    Object.fromEntries(
      (container.Secrets as { Name: string; ValueFrom: Parsed }[]).map((e) => [e.Name, e.ValueFrom]),
    );
  const actions = (stack: Stack): string[] =>
    resources(stack, 'AWS::IAM::Policy').flatMap(([, r]) =>
      (r.Properties.PolicyDocument.Statement as Parsed[]).flatMap((s) => [s.Action].flat() as string[]),
    );

  describe('home region', () => {
    test('keeps its cache group: same logical id and every property as without global', () => {
      // GIVEN
      const [[beforeId, beforeGroup]] = Object.entries(
        beforeJson(beforeStacks.data).Resources as Record<string, Parsed>,
      ).filter(([, r]) => r.Type === 'AWS::ElastiCache::ReplicationGroup') as [[string, Parsed]];
      // WHEN
      const groups = resources(home.data, 'AWS::ElastiCache::ReplicationGroup');
      // THEN
      expect(groups).toHaveLength(2);
      const [id, group] = groups.find(([groupId]) => groupId === beforeId)!;
      expect(id).toBe(beforeId);
      expect(group.Properties).toEqual({ ...beforeGroup.Properties, CacheNodeType: 'cache.r7g.large' });
      expect(group.Properties.GlobalReplicationGroupId).toBeUndefined();
      expect(group.DeletionPolicy).toBe('Snapshot');
    });

    test('makes that group the primary of the Global Datastore, with a deterministic id', () => {
      // THEN
      const [[groupId]] = resources(home.data, 'AWS::ElastiCache::ReplicationGroup') as [[string, Parsed]];
      template(home.data).hasResourceProperties('AWS::ElastiCache::GlobalReplicationGroup', {
        GlobalReplicationGroupIdSuffix: 'shop-sessions',
        AutomaticFailoverEnabled: true,
        Members: [
          { ReplicationGroupId: { Ref: groupId }, ReplicationGroupRegion: 'us-east-1', Role: 'PRIMARY' },
        ],
      });
      expect(home.data.globalSessions!.globalReplicationGroupId).toBe('ldgnf-shop-sessions');
    });

    test('caches in a group of its own beside the datastore primary, encrypted, with the same AUTH token', () => {
      // GIVEN
      const primary = home.data.cache!;
      const regional = home.data.regionalCache!;
      // THEN
      template(home.data).hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        ReplicationGroupId: 'shop-cache',
        CacheNodeType: 'cache.r7g.large',
        AtRestEncryptionEnabled: true,
        TransitEncryptionEnabled: true,
        GlobalReplicationGroupId: Match.absent(),
        AuthToken: {
          'Fn::Join': [
            '',
            [
              '{{resolve:secretsmanager:',
              { Ref: home.data.getLogicalId(primary.authToken.node.defaultChild as Parsed) },
              ':SecretString:::}}',
            ],
          ],
        },
      });
      // Only the primary joins the datastore: its members replicate sessions, not every region's cache entries.
      template(home.data).hasResourceProperties('AWS::ElastiCache::GlobalReplicationGroup', {
        Members: [
          Match.objectLike({ ReplicationGroupId: { Ref: home.data.getLogicalId(primary.replicationGroup) } }),
        ],
      });
      expect(regional.replicationGroupId).not.toBe(primary.replicationGroupId);
    });

    test('points its tasks at the regional cache, and at the datastore primary for sessions', () => {
      // GIVEN
      const cacheGroup = home.data.getLogicalId(home.data.regionalCache!.replicationGroup);
      const sessionsGroup = home.data.getLogicalId(home.data.cache!.replicationGroup);
      const app = containers(home.service);
      expect(app.length).toBe(4);
      for (const container of app) {
        // WHEN
        const env = envOf(container);
        // THEN
        expect(JSON.stringify(env.REDIS_HOST)).toContain(`${cacheGroup}PrimaryEndPointAddress`);
        expect(JSON.stringify(env.SESSION_REDIS_HOST)).toContain(`${sessionsGroup}PrimaryEndPointAddress`);
      }
      // Both groups admit every service (the first inside the data stack, the others from the service stack).
      for (const group of [home.data.cache!, home.data.regionalCache!]) {
        const groupId = home.data.getLogicalId(group.securityGroup.node.defaultChild as Parsed);
        expect(
          resources(home.service, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) =>
            JSON.stringify(r.Properties.GroupId).includes(groupId),
          ),
        ).toHaveLength(3);
      }
    });

    test('replicates the shared secrets to each secondary region, each with a key of that region', () => {
      // THEN
      const shared = resources(home.data, 'AWS::SecretsManager::Secret').filter(([, r]) =>
        /^shop\/global\//.test(r.Properties.Name ?? ''),
      );
      expect(shared.map(([, r]) => r.Properties.Name).sort()).toEqual([
        'shop/global/RedisAuthToken',
        'shop/global/SessionSecret',
      ]);
      for (const [, secret] of shared) {
        expect(secret.Properties.ReplicaRegions).toEqual(
          ['eu-west-1', 'ap-southeast-2'].map((region) => ({
            Region: region,
            KmsKeyId: `arn:aws:kms:${region}:123456789012:alias/shop-replicated-secrets`,
          })),
        );
        expect(secret.DeletionPolicy).toBe('Retain');
        // The copy starts with the existing secret's value: nobody is signed out by the upgrade.
        expect(JSON.stringify(secret.Properties.SecretString)).toMatch(/\{\{resolve:secretsmanager:/);
      }
    });

    test('keeps the original session secret and its logical id', () => {
      const [[beforeId]] = Object.entries(
        beforeJson(beforeStacks.data).Resources as Record<string, Parsed>,
      ).filter(([id, r]) => r.Type === 'AWS::SecretsManager::Secret' && id.startsWith('SessionSecret')) as [
        [string, Parsed],
      ];
      expect(json(home.data).Resources[beforeId]).toBeDefined();
      expect(json(home.data).Resources[beforeId].Properties.ReplicaRegions).toBeUndefined();
    });

    test('tells every task its role and home, and reads the shared session secret', () => {
      // THEN
      const sharedSession = home.data.globalSecrets!.sessionSecret.node.defaultChild as Parsed;
      for (const container of containers(home.service)) {
        expect(envOf(container)).toMatchObject({ REGION_ROLE: 'home', HOME_REGION: 'us-east-1' });
        expect(JSON.stringify(secretsOf(container).SESSION_SECRET)).toContain(
          home.data.getLogicalId(sharedSession),
        );
      }
      // Writers, relays and consumers stay: the migration runs, the bus and queues are there.
      expect(home.service.migration).toBeDefined();
      expect(actions(home.service)).toEqual(expect.arrayContaining(['events:PutEvents']));
    });
  });

  describe.each([
    ['eu-west-1', () => eu],
    ['ap-southeast-2', () => ap],
  ] as const)('secondary region %s', (region, unit) => {
    test('joins the Global Datastore read-only: encrypted with the region key, the replicated AUTH token', () => {
      // GIVEN
      const { data, network } = unit();
      const t = template(data);
      // THEN
      t.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        ReplicationGroupId: 'shop-sessions',
        GlobalReplicationGroupId: 'ldgnf-shop-sessions',
        NumCacheClusters: 2,
        MultiAZEnabled: true,
        KmsKeyId: { 'Fn::GetAtt': [data.getLogicalId(data.dataKey.node.defaultChild as Parsed), 'Arn'] },
        AuthToken: Match.stringLikeRegexp(
          `^\\{\\{resolve:secretsmanager:arn:aws:secretsmanager:${region}:123456789012:secret:shop/global/RedisAuthToken:SecretString:::\\}\\}$`,
        ),
        // What the datastore decides (AWS rejects them on a secondary).
        CacheNodeType: Match.absent(),
        Engine: Match.absent(),
        EngineVersion: Match.absent(),
        AtRestEncryptionEnabled: Match.absent(),
        TransitEncryptionEnabled: Match.absent(),
      });
      // Replicated data, never replaced or deleted by CloudFormation.
      const [[, member]] = resources(data, 'AWS::ElastiCache::ReplicationGroup').filter(
        ([, r]) => r.Properties.GlobalReplicationGroupId !== undefined,
      ) as [[string, Parsed]];
      expect(member.DeletionPolicy).toBe('Retain');
      expect(member.UpdateReplacePolicy).toBe('Retain');
      // The home region's prefix (us-east-1: ldgnf), not this region's.
      expect(globalDatastoreId('shop', 'us-east-1')).toBe(
        `${GLOBAL_DATASTORE_ID_PREFIXES['us-east-1']}-shop-sessions`,
      );
      expect(GLOBAL_DATASTORE_ID_PREFIXES[region]).not.toBe('ldgnf');
      // The replica key lives in the region's network stack, under the alias the home stack replicates with.
      template(network).hasResourceProperties('AWS::KMS::Alias', {
        AliasName: 'alias/shop-replicated-secrets',
      });
      template(network).hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    });

    test('has a regional cache of its own, encrypted at rest and in transit, with the same AUTH token', () => {
      const { data } = unit();
      template(data).hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        ReplicationGroupId: 'shop-redis',
        CacheNodeType: 'cache.r7g.large',
        AtRestEncryptionEnabled: true,
        TransitEncryptionEnabled: true,
        GlobalReplicationGroupId: Match.absent(),
        AuthToken: Match.stringLikeRegexp('secret:shop/global/RedisAuthToken:SecretString'),
      });
      // No session secret or AUTH token of its own: it shares the home secrets.
      expect(
        resources(data, 'AWS::SecretsManager::Secret').filter(([id]) => /SessionSecret|AuthToken/.test(id)),
      ).toEqual([]);
      expect(resources(data, 'AWS::ElastiCache::GlobalReplicationGroup')).toEqual([]);
    });

    test('holds an idle invalidation queue and bus, their outputs published for the day the writers move here', () => {
      // GIVEN
      const { data } = unit();
      const queue = data.invalidationQueue!;
      const events = data.events!;
      // THEN: the same event side as the home region's, with this region's keys
      expect(resources(data, 'AWS::SQS::Queue').length).toBe(resources(home.data, 'AWS::SQS::Queue').length);
      expect(resources(data, 'AWS::Events::EventBus')).toHaveLength(1);
      expect(resources(data, 'AWS::Events::Rule').length).toBe(
        resources(home.data, 'AWS::Events::Rule').length,
      );
      template(data).hasResourceProperties('AWS::SQS::Queue', {
        KmsMasterKeyId: { 'Fn::GetAtt': [data.getLogicalId(queue.key.node.defaultChild as Parsed), 'Arn'] },
      });
      // Published though no service of the region reads them (tasks get no queue or bus: see below).
      const published = JSON.stringify(json(data).Outputs ?? {});
      for (const value of [queue.endpoint.queueUrl, queue.endpoint.queueArn, events.endpoint.busArn]) {
        expect(published).toContain(JSON.stringify(data.resolve(value)));
      }
    });

    test("is deployed after the home data stack, which is deployed after the region's network", () => {
      const { data, network } = unit();
      expect(data.dependencies).toContain(home.data);
      expect(home.data.dependencies).toContain(network);
    });

    test('gives every task the secondary role, replica hosts, session replica and regional cache', () => {
      // GIVEN
      const { service, data } = unit();
      const sessionsGroup = data.getLogicalId(data.sessionsReplica!.replicationGroup);
      const cacheGroup = data.getLogicalId(data.cache!.replicationGroup);
      const app = containers(service);
      expect(app.length).toBe(4); // shop, users, orders, products
      for (const container of app) {
        const env = envOf(container);
        // THEN
        expect(env).toMatchObject({
          REGION_ROLE: 'secondary',
          HOME_REGION: 'us-east-1',
          SESSION_REDIS_PORT: '6379',
        });
        expect(JSON.stringify(env.SESSION_REDIS_HOST)).toContain(`${sessionsGroup}ReaderEndPointAddress`);
        expect(JSON.stringify(env.REDIS_HOST)).toContain(`${cacheGroup}PrimaryEndPointAddress`);
        // Reader endpoints only: the writer host is the reader host.
        expect(env.DB_HOST).toEqual(env.DB_READER_HOST);
        expect(JSON.stringify(env.DB_HOST)).toMatch(/ReadEndpoint|Reader|ReadOnly/i);
        // No write path.
        for (const name of [
          'EVENT_BUS',
          'EVENT_BUS_NAME',
          'EVENT_QUEUE_URL',
          'INVALIDATION_QUEUE',
          'INVALIDATION_QUEUE_URL',
        ]) {
          expect(env[name]).toBeUndefined();
        }
        // The replicas of the shared secrets, in this region, by their fixed names.
        const secrets = secretsOf(container);
        expect(JSON.stringify(secrets.SESSION_SECRET)).toContain(
          `:secretsmanager:${region}:123456789012:secret:shop/global/SessionSecret`,
        );
        expect(JSON.stringify(secrets.REDIS_AUTH_TOKEN)).toContain(
          `:secretsmanager:${region}:123456789012:secret:shop/global/RedisAuthToken`,
        );
      }
    });

    test('grants no publish or queue permission, and reads only the replicas of the shared secrets', () => {
      const { service } = unit();
      const granted = actions(service);
      for (const action of [
        'sqs:SendMessage',
        'events:PutEvents',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
      ]) {
        expect(granted).not.toContain(action);
      }
      const secretResources = resources(service, 'AWS::IAM::Policy')
        .flatMap(([, r]) => r.Properties.PolicyDocument.Statement as Parsed[])
        .filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'))
        .flatMap((s) => [s.Resource].flat().map((resource) => JSON.stringify(resource)));
      expect(secretResources.some((r) => r.includes(`secret:shop/global/SessionSecret-??????`))).toBe(true);
      // Every secret ARN is in this region (the database secrets' replicas are the home ARNs with the region swapped:
      // the home stack's output is read, the ARN read at run time is this region's).
      expect(secretResources.length).toBeGreaterThan(0);
      for (const resource of secretResources) {
        expect(resource).not.toContain('secretsmanager:us-east-1');
        expect(resource).toMatch(/secretsmanager:(eu-west-1|ap-southeast-2)/);
      }
    });

    test('runs no migration and no shard manager, and admits its tasks to the session replica', () => {
      const { service, data } = unit();
      expect(service.migration).toBeUndefined();
      expect(service.shardManager).toBeUndefined();
      expect(resources(service, 'AWS::CloudFormation::CustomResource')).toEqual([]);
      expect(resources(service, 'Custom::MigrationRun')).toEqual([]);
      // The first service is admitted inside the data stack; the others admit themselves from the service stack.
      const sessionsGroupId = data.getLogicalId(
        data.sessionsReplica!.securityGroup.node.defaultChild as Parsed,
      );
      template(data).hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        GroupId: { 'Fn::GetAtt': [sessionsGroupId, 'GroupId'] },
        FromPort: 6379,
      });
      expect(
        resources(service, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) =>
          JSON.stringify(r.Properties.GroupId).includes(sessionsGroupId),
        ),
      ).toHaveLength(3);
    });
  });

  test('leaves no unacknowledged cdk-nag finding in any region', () => {
    const report = JSON.parse(
      readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'),
    ) as Parsed;
    const findings = (report.pluginReports as Parsed[])
      .filter((plugin) => plugin.pluginName === 'AwsSolutions')
      .flatMap((plugin) => (plugin.violations ?? []) as Parsed[])
      .flatMap((violation) =>
        ((violation.violatingConstructs ?? [{}]) as Parsed[]).map(
          (c) => `${violation.ruleName} at ${c.constructPath}`,
        ),
      );
    expect(findings).toEqual([]);
    expect(new AwsSolutionsChecks().validateScope(app).violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('Global Datastore rules (synth errors)', () => {
  test('large nodes of a current family only', () => {
    expect(isGlobalDatastoreNodeType('cache.r7g.large')).toBe(true);
    expect(isGlobalDatastoreNodeType('cache.m6g.2xlarge')).toBe(true);
    expect(isGlobalDatastoreNodeType('cache.t4g.small')).toBe(false);
    expect(isGlobalDatastoreNodeType('cache.t4g.large')).toBe(false);
    expect(isGlobalDatastoreNodeType('cache.r4.large')).toBe(false);
    expect(isGlobalDatastoreNodeType('cache.m7g.medium')).toBe(false);
  });

  test('fails when the cache node type cannot join a Global Datastore', () => {
    const problems = validateStageConfig({ ...globalConfig, cache: stage1m.cache });
    expect(problems).toContainEqual(
      expect.objectContaining({
        key: 'cache.cacheNodeType',
        received: 'cache.t4g.small',
        fix: expect.stringMatching(/large or bigger/),
      }),
    );
  });

  test('fails when global.sessions.cacheNodeType differs from the primary', () => {
    const problems = globalSessionsConfigProblems({
      ...globalConfig,
      global: { ...globalConfig.global!, sessions: { cacheNodeType: 'cache.r7g.xlarge' } },
    } as unknown as Record<string, unknown>);
    expect(problems).toEqual([
      expect.objectContaining({
        key: 'global.sessions.cacheNodeType',
        received: 'cache.r7g.xlarge',
        fix: expect.stringMatching(/cache\.r7g\.large/),
      }),
    ]);
  });

  test('fails without a cache', () => {
    const { cache: _cache, ...noCache } = globalConfig;
    expect(globalSessionsConfigProblems(noCache as unknown as Record<string, unknown>)).toEqual([
      expect.objectContaining({ key: 'cache' }),
    ]);
  });

  test('fails with more than three regions, or a home region without a known datastore prefix', () => {
    const config = globalConfig as unknown as Record<string, unknown>;
    expect(globalSessionsRegionProblems(config, [...REGIONS, 'eu-central-1'])).toEqual([
      expect.objectContaining({ key: 'context.regions', fix: expect.stringMatching(/at most 3 regions/) }),
    ]);
    expect(globalSessionsRegionProblems(config, ['me-south-1', 'eu-west-1'])).toEqual([
      expect.objectContaining({ key: 'context.regions', received: 'me-south-1' }),
    ]);
    expect(
      globalSessionsRegionProblems(stage1m as unknown as Record<string, unknown>, [
        ...REGIONS,
        'eu-central-1',
      ]),
    ).toEqual([]);
  });

  test('createBlueprintApp refuses four regions, naming the key and the fix', () => {
    expect(() =>
      buildApp(globalConfig, { ...GLOBAL_CONTEXT, regions: [...REGIONS, 'eu-central-1'].join(',') }),
    ).toThrow(StageConfigError);
    expect(() =>
      buildApp(globalConfig, { ...GLOBAL_CONTEXT, regions: [...REGIONS, 'eu-central-1'].join(',') }),
    ).toThrow(/context\.regions: .*at most 3 regions/);
  });
});
