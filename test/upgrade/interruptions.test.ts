/**
 * The "interruptions" section of an upgrade page, on hand-written templates: each interruption is found
 * from the diff (and only then), and the rough duration follows the longest chain of dependent changes.
 */
import type { AssemblyTemplates, CfnTemplate } from '../../tools/upgrade/assembly';
import { diffAssemblies } from '../../tools/upgrade/diff';
import { estimateDuration, interruptionsOf } from '../../tools/upgrade/interruptions';
import { renderMarkdownSummary, renderTextSummary } from '../../tools/upgrade/report';

function app(resources: CfnTemplate['Resources']): AssemblyTemplates {
  return {
    stacks: [
      {
        key: '123456789012/us-east-1/Main',
        stackName: 'Main',
        artifactId: 'Main',
        template: { Resources: resources },
      },
    ],
  };
}
const path = (p: string) => ({ Metadata: { 'aws:cdk:path': `Main/${p}` } });
const instance = (role: 'Writer' | 'Reader1', instanceClass: string) => ({
  Type: 'AWS::RDS::DBInstance',
  Properties: {
    DBClusterIdentifier: { Ref: 'Cluster' },
    DBInstanceClass: instanceClass,
    PromotionTier: role === 'Writer' ? 0 : 2,
  },
  ...path(`Database/${role}/Resource`),
});
const cluster = (parameters: Record<string, string>) => ({
  Parameters: {
    Type: 'AWS::RDS::DBClusterParameterGroup',
    Properties: { Family: 'aurora-postgresql16', Description: 'p', Parameters: parameters },
    ...path('Database/Parameters/Resource'),
  },
  Cluster: {
    Type: 'AWS::RDS::DBCluster',
    Properties: { Engine: 'aurora-postgresql', DBClusterParameterGroupName: { Ref: 'Parameters' } },
    ...path('Database/Resource'),
  },
});
const taskDefinition = (sessionStore: string) => ({
  Type: 'AWS::ECS::TaskDefinition',
  Properties: {
    Family: 'shop',
    ContainerDefinitions: [{ Name: 'app', Environment: [{ Name: 'SESSION_STORE', Value: sessionStore }] }],
  },
  ...path('Service/TaskDefinition/Resource'),
});

const kinds = (before: AssemblyTemplates, after: AssemblyTemplates) =>
  interruptionsOf(diffAssemblies(before, after)).map((interruption) => [
    interruption.kind,
    interruption.resources,
  ]);

test('a writer class change is a failover; a reader class change restarts the reader', () => {
  const before = app({
    ...cluster({}),
    Writer: instance('Writer', 'db.r7g.large'),
    Reader: instance('Reader1', 'db.r7g.large'),
  });
  const after = app({
    ...cluster({}),
    Writer: instance('Writer', 'db.r7g.xlarge'),
    Reader: instance('Reader1', 'db.r7g.xlarge'),
  });

  expect(kinds(before, after)).toEqual([
    ['failover', ['Main/Database/Writer/Resource (db.r7g.large → db.r7g.xlarge)']],
    ['instance-restart', ['Main/Database/Reader1/Resource (db.r7g.large → db.r7g.xlarge)']],
  ]);
  const page = renderMarkdownSummary(diffAssemblies(before, after), 'a', 'b');
  expect(page).toContain('## Interruptions');
  expect(page).toContain('- **Writer instance class changes: a failover.**');
});

test('a Redis node type change is online scaling; a global cluster made from the running cluster restarts nothing', () => {
  // GIVEN stage 1m's cache and cluster, then stage global's: a bigger node type and a global cluster of the cluster
  const redis = (nodeType: string) => ({
    Type: 'AWS::ElastiCache::ReplicationGroup',
    Properties: { CacheNodeType: nodeType, NumCacheClusters: 2, Engine: 'redis' },
    ...path('Cache/Resource'),
  });
  const before = app({
    ...cluster({}),
    Writer: instance('Writer', 'db.r7g.large'),
    Cache: redis('cache.t4g.small'),
  });
  const after = app({
    ...cluster({}),
    Writer: instance('Writer', 'db.r7g.large'),
    Cache: redis('cache.r7g.large'),
    Global: {
      Type: 'AWS::RDS::GlobalCluster',
      Properties: {
        GlobalClusterIdentifier: 'shop-shard0-global',
        SourceDBClusterIdentifier: { Ref: 'Cluster' },
      },
      ...path('Database/GlobalDatabase/Resource'),
    },
  });

  // WHEN
  const report = diffAssemblies(before, after);

  // THEN: both in place, both named; the cluster itself is not touched
  expect(report.safe).toBe(true);
  expect(report.changes.map((change) => [change.logicalId, change.kind]).sort()).toEqual([
    ['Cache', 'updated'],
    ['Global', 'added'],
  ]);
  expect(kinds(before, after)).toEqual([
    ['cache-resize', ['Main/Cache/Resource (cache.t4g.small → cache.r7g.large)']],
    ['global-database', ['Main/Database/GlobalDatabase/Resource']],
  ]);
  // Neither appears when nothing of the kind changes.
  expect(kinds(after, after)).toEqual([]);
  const page = renderMarkdownSummary(report, 'a', 'b');
  expect(page).toContain('- **Redis node type changes: online scaling, a brief write pause at the end.**');
  expect(page).toContain('- **Aurora Global Database: the running clusters become primaries, in place.**');
});

test('a new engine (minor) version is an in-place upgrade that restarts the writer, and says so', () => {
  // GIVEN the same cluster on two minor versions
  const onVersion = (version: string) => {
    const resources = cluster({});
    return app({
      ...resources,
      Cluster: {
        ...resources.Cluster,
        Properties: { ...resources.Cluster.Properties, EngineVersion: version },
      },
      Writer: instance('Writer', 'db.t4g.medium'),
    });
  };

  // WHEN
  const report = diffAssemblies(onVersion('16.8'), onVersion('16.13'));

  // THEN: updated, not replaced; the interruption names the writer restart
  expect(report.changes.map((change) => [change.logicalId, change.kind])).toEqual([['Cluster', 'updated']]);
  expect(report.safe).toBe(true);
  expect(kinds(onVersion('16.8'), onVersion('16.13'))).toEqual([
    ['engine-upgrade', ['Main/Database/Resource (16.8 → 16.13)']],
  ]);
  const page = renderMarkdownSummary(report, 'a', 'b');
  expect(page).toContain('- **Aurora engine version changes: the writer and every reader restart.**');
});

test('a changed static parameter needs a reboot; a dynamic one is listed to check', () => {
  const before = app(cluster({ log_min_duration_statement: '1000' }));
  const after = app(
    cluster({ log_min_duration_statement: '500', shared_preload_libraries: 'pg_stat_statements' }),
  );

  expect(kinds(before, after)).toEqual([
    [
      'reboot-pending',
      [
        'Main/Database/Parameters/Resource: log_min_duration_statement (check), shared_preload_libraries (static: reboot)',
      ],
    ],
  ]);
});

test('turning on logical replication says the writer must be rebooted before the shard manager can move data', () => {
  const before = app(cluster({ 'rds.force_ssl': '1' }));
  const after = app(
    cluster({
      'rds.force_ssl': '1',
      'rds.logical_replication': '1',
      max_replication_slots: '20',
      max_wal_senders: '20',
      max_logical_replication_workers: '6',
    }),
  );

  const report = diffAssemblies(before, after);
  const [interruption] = interruptionsOf(report);

  expect(interruption?.kind).toBe('reboot-pending');
  expect(interruption?.resources).toEqual([
    'Main/Database/Parameters/Resource: max_logical_replication_workers (static: reboot), ' +
      'max_replication_slots (static: reboot), max_wal_senders (static: reboot), rds.logical_replication (static: reboot)',
  ]);
  expect(interruption?.detail).toContain(
    'Logical replication (`rds.logical_replication`) needs the writer rebooted',
  );
  // The same parameter group without logical replication does not say so.
  const other = interruptionsOf(
    diffAssemblies(before, app(cluster({ 'rds.force_ssl': '1', max_wal_senders: '30' }))),
  );
  expect(other[0]?.detail).not.toContain('rds.logical_replication');
});

test('sessions moving from memory to Redis sign everyone out once', () => {
  const report = diffAssemblies(
    app({ Task: taskDefinition('memory') }),
    app({ Task: taskDefinition('redis') }),
  );

  expect(
    interruptionsOf(report).map((interruption) => [
      interruption.kind,
      interruption.title,
      interruption.resources,
    ]),
  ).toEqual([
    [
      'sign-out',
      'Sessions move to another store: everyone is signed out once',
      ['Main/Service/TaskDefinition/Resource (memory → redis)'],
    ],
    // Task definitions are immutable: the new revision rolls the service that runs it.
    [
      'rolling-deployment',
      'Rolling deployment of the service (no downtime expected)',
      ['Main/Service/TaskDefinition/Resource (new revision)'],
    ],
  ]);
  expect(renderTextSummary(report, 'a -> b')).toContain(
    '  ! Sessions move to another store: everyone is signed out once: Main/Service/TaskDefinition/Resource (memory → redis)',
  );
  // The new revision costs the service's deployment (6 min), not the seconds a task definition takes.
  expect(estimateDuration(report).minutes).toBe(6);
});

test("the tasks' cache moving to another Redis group is a cold cache once; the same group is not", () => {
  const task = (environment: { Name: string; Value: unknown }[]) => ({
    Task: {
      Type: 'AWS::ECS::TaskDefinition',
      Properties: { Family: 'shop', ContainerDefinitions: [{ Name: 'app', Environment: environment }] },
      ...path('Service/TaskDefinition/Resource'),
    },
  });
  const cacheHost = (group: string) => ({ 'Fn::ImportValue': `data:${group}PrimaryEndPointAddress` });
  const before = app(task([{ Name: 'REDIS_HOST', Value: cacheHost('Cache') }]));
  // Stage global's home region: the cache moves, sessions stay on the group the cache used to share.
  const moved = app(
    task([
      { Name: 'REDIS_HOST', Value: cacheHost('RegionalCache') },
      { Name: 'SESSION_REDIS_HOST', Value: cacheHost('Cache') },
    ]),
  );
  expect(kinds(before, moved)).toEqual([
    ['cold-cache', ['Main/Service/TaskDefinition/Resource']],
    ['rolling-deployment', ['Main/Service/TaskDefinition/Resource (new revision)']],
  ]);
  // Another change to the task (a new variable) with the cache where it was: no cold cache.
  const same = app(
    task([
      { Name: 'REDIS_HOST', Value: cacheHost('Cache') },
      { Name: 'LOG_LEVEL', Value: 'debug' },
    ]),
  );
  expect(kinds(before, same).map(([kind]) => kind)).toEqual(['rolling-deployment']);
});

test('new NAT gateway addresses are called out for allow-lists', () => {
  const eip = { Type: 'AWS::EC2::EIP', Properties: { Domain: 'vpc' }, ...path('Vpc/PublicSubnet2/EIP') };
  expect(kinds(app({}), app({ Eip: eip }))).toEqual([
    ['nat-addresses', ['Main/Vpc/PublicSubnet2/EIP (new)']],
  ]);
});

test('an upgrade that changes nothing users feel says so', () => {
  const topic = (name: string) => ({ Topic: { Type: 'AWS::SNS::Topic', Properties: { DisplayName: name } } });
  const report = diffAssemblies(app(topic('a')), app(topic('b')));
  expect(interruptionsOf(report)).toEqual([]);
  expect(renderMarkdownSummary(report, 'a', 'b')).toContain('_Nothing users would notice._');
});

test('the duration is the longest chain of dependent changes per stack', () => {
  // A new reader (12 min) waits for nothing changed; a proxy target group (5) waits for the new reader;
  // a new Redis group (15) runs beside them.
  const base = { ...cluster({}), Writer: instance('Writer', 'db.r7g.large') };
  const after = app({
    ...base,
    Reader: instance('Reader1', 'db.r7g.large'),
    Targets: {
      Type: 'AWS::RDS::DBProxyTargetGroup',
      Properties: { DBClusterIdentifiers: [{ Ref: 'Cluster' }], TargetGroupName: 'default' },
      DependsOn: ['Reader'],
      ...path('Proxy/Targets'),
    },
    Cache: {
      Type: 'AWS::ElastiCache::ReplicationGroup',
      Properties: { ReplicationGroupDescription: 'c' },
      ...path('Cache'),
    },
  });

  const estimate = estimateDuration(diffAssemblies(app(base), after));

  expect(estimate).toEqual({
    stacks: [
      { stackName: 'Main', minutes: 17, chain: ['Main/Database/Reader1/Resource', 'Main/Proxy/Targets'] },
    ],
    minutes: 17,
  });
});
