/**
 * `npm run advise` end to end over aws-sdk-client-mock: CloudFormation describing the synthesised `10k`
 * (and `1k`) stage as deployed, CloudWatch replaying a metric fixture. A saturated `10k` writer must
 * recommend `100k`; an idle `10k` must recommend nothing. Also: discovery, stage detection, the failure
 * messages (no credentials, no stacks, access denied) and `--dry-run`.
 */
import {
  CloudFormationClient,
  DescribeStacksCommand,
  GetTemplateCommand,
  ListStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_MONITORING_CONFIG } from '../../lib/config';
import { stageById, stageIds } from '../../stages';
import { adviseExitCodes } from '../../tools/advisor/args';
import { belongsToPrefix, discoverStacks } from '../../tools/advisor/discover';
import { deploymentFromStacks, detectStage, type Deployment } from '../../tools/advisor/deployment';
import { runAdvise, type AdviseIo } from '../../tools/advisor/run';
import { synthStageCached } from '../../tools/upgrade/stage-synth';
import {
  clientFor,
  deployedStacks,
  fakeCloudFormation,
  fakeCloudWatch,
  loadFixture,
  output,
} from './aws-fakes';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

const REGION = 'eu-west-1';
/** The fixtures' 14 days end here. */
const NOW = new Date('2026-11-30T00:20:00.000Z');

const cfMock = mockClient(CloudFormationClient);
const cwMock = mockClient(CloudWatchClient);
beforeEach(() => {
  cfMock.reset();
  cwMock.reset();
});

function io(out = output()): AdviseIo & { out: ReturnType<typeof output> } {
  return {
    out,
    cloudFormation: clientFor(new CloudFormationClient({ region: REGION })),
    cloudWatch: clientFor(new CloudWatchClient({ region: REGION })),
    implementedStages: stageIds,
    synth: synthStageCached,
    monitoring: (id) =>
      stageIds.includes(id) ? { ...DEFAULT_MONITORING_CONFIG, ...stageById(id).monitoring } : undefined,
    now: () => NOW,
    env: {},
    stdout: out.stdout,
    stderr: out.stderr,
  };
}

function deploy(stageId: string, others: string[] = ['shop-eu-data', 'billing-data', 'shop-canary-service']) {
  fakeCloudFormation(cfMock, deployedStacks(synthStageCached(stageId), REGION), others);
}

describe('a deployed 10k stage', () => {
  test('a saturated writer recommends 100k, with the evidence', async () => {
    // GIVEN the 10k stage whose writer runs hot every afternoon
    deploy('10k');
    fakeCloudWatch(cwMock, loadFixture('saturated-10k'));
    const run = io();

    // WHEN
    const code = await runAdvise(['--region', REGION], run);

    // THEN
    const text = run.out.chunks.stdout;
    expect(run.out.chunks.stderr).toBe('');
    expect(code).toBe(adviseExitCodes.action);
    expect(text).toContain('stage 10k (detected)');
    expect(text).toMatch(
      /^ {2}MOVE 100k +writer\.cpu +[▁▂▃▄▅▆▇█]+ +[█░]+ +\d+ % +p95 95\.9 %, threshold > 80\.0 %$/m,
    );
    expect(text).toMatch(/^ {2}MOVE 100k +writer\.dbload /m);
    expect(text).toContain(
      '→ readers already carry the reads; shard the writes by user_id (this cluster stays as shard 0)',
    );
    expect(text).toMatch(
      /AWS\/RDS CPUUtilization p95, Role=WRITER: p95 95\.9 %, threshold > 80\.0 %, past it in 29 % of windows \(96\/336\)/,
    );
    // Tasks, readers and cache have headroom.
    for (const id of [
      'readers.lag',
      'readers.cpu',
      'ecs.cpu',
      'ecs.memory',
      'cache.cpu',
      'cache.memory',
      'cache.evictions',
      'cache.hit-rate',
      'writer.connections',
    ]) {
      expect({ id, line: new RegExp(`^ {2}fine +${id.replace('.', '\\.')} `, 'm').test(text) }).toEqual({
        id,
        line: true,
      });
    }
    expect(text).toContain(
      'Recommendation: move to stage 100k (writer.cpu, writer.dbload). See what the upgrade changes with `npm run diff -- 10k 100k`.',
    );
  });

  test('a stage given with --stage is assumed, and the report says what the deployment looks like', async () => {
    deploy('10k');
    fakeCloudWatch(cwMock, loadFixture('saturated-10k'));
    const run = io();

    const code = await runAdvise(['--region', REGION, '--stage', '1k'], run);

    expect(code).toBe(adviseExitCodes.action);
    expect(run.out.chunks.stdout).toContain('stage 1k (given; the deployment looks like 10k)');
    expect(run.out.chunks.stdout).toMatch(/^ {2}MOVE 10k +writer\.cpu /m);
  });

  test('an idle stage recommends nothing and exits 0', async () => {
    deploy('10k');
    fakeCloudWatch(cwMock, loadFixture('idle-10k'));
    const run = io();

    const code = await runAdvise(['--region', REGION, '--format', 'json'], run);

    const report = JSON.parse(run.out.chunks.stdout) as {
      stage: string;
      recommendation: { kind: string };
      signals: { id: string; verdict: { kind: string } }[];
    };
    expect(code).toBe(adviseExitCodes.fine);
    expect(report.stage).toBe('10k');
    expect(report.recommendation).toEqual({ kind: 'fine', because: [] });
    expect(
      report.signals.filter((s) => s.verdict.kind !== 'fine').map((s) => `${s.id}: ${s.verdict.kind}`),
    ).toEqual([]);
  });

  test('the queries name what discovery found, in one paged call per 300 queries', async () => {
    deploy('10k');
    const received = fakeCloudWatch(cwMock, loadFixture('saturated-10k'));

    const run = io();
    await runAdvise(['--region', REGION, '--format', 'markdown'], run);

    expect(run.out.chunks.stdout).toContain(
      '**Recommendation: move to stage 100k (writer.cpu, writer.dbload).',
    );
    expect(run.out.chunks.stdout).toMatch(
      /^- \*\*MOVE 100k\*\* `writer\.cpu` on eu-west-1 shop-db \(shard 0\)/m,
    );
    expect(run.out.chunks.stdout).toMatch(/^\| fine \| `readers\.lag` \| .* \| 0 % \(0\/336\) \|/m);

    const calls = cwMock
      .commandCalls(GetMetricDataCommand)
      .map((call) => call.args[0].input as GetMetricDataCommandInput);
    // 27 queries × 336 windows = 9,072 points: one request (up to 300 queries fit), paged by the fake at 2,000.
    expect(calls.length).toBe(5);
    expect(received).toEqual([
      { queries: 27 },
      { NextToken: '5:320', queries: 27 },
      { NextToken: '11:304', queries: 27 },
      { NextToken: '17:288', queries: 27 },
      { NextToken: '23:272', queries: 27 },
    ]);
    expect(new Set(calls.map((call) => JSON.stringify(call.MetricDataQueries))).size).toBe(1);
    const first = calls[0] as GetMetricDataCommandInput;
    expect(first).toMatchObject({
      StartTime: new Date('2026-11-16T00:00:00.000Z'),
      EndTime: new Date('2026-11-30T00:00:00.000Z'),
      ScanBy: 'TimestampAscending',
    });
    const dimensions = new Set(
      (first.MetricDataQueries ?? []).flatMap((q) =>
        (q.MetricStat?.Metric?.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`),
      ),
    );
    const physical = (type: string) =>
      deployedStacks(synthStageCached('10k'), REGION)
        .flatMap((stack) => stack.resources)
        .find((resource) => resource.ResourceType === type)?.PhysicalResourceId ?? '';
    const [, clusterName, serviceName] = physical('AWS::ECS::Service').split('/');
    expect([...dimensions].sort()).toEqual(
      [
        'DBClusterIdentifier=shop-db',
        'Role=WRITER',
        'Role=READER',
        'CacheClusterId=shop-redis-001',
        'CacheClusterId=shop-redis-002',
        `ClusterName=${clusterName}`,
        `ServiceName=${serviceName}`,
        `LoadBalancer=${physical('AWS::ElasticLoadBalancingV2::LoadBalancer').split(':loadbalancer/')[1]}`,
      ].sort(),
    );
    expect(first.MetricDataQueries?.every((q) => /^[a-z][a-zA-Z0-9_]*$/.test(q.Id ?? ''))).toBe(true);
  });
});

describe('discovery', () => {
  test('reads the stacks of the prefix through paginated DescribeStacks and ListStackResources', async () => {
    deploy('10k');
    const client = new CloudFormationClient({ region: REGION });

    const stacks = await discoverStacks(client, REGION, 'shop');
    const deployment = deploymentFromStacks('shop', stacks);

    expect(stacks.map((stack) => stack.stackName)).toEqual(['shop-data', 'shop-network', 'shop-service']);
    expect(cfMock.commandCalls(DescribeStacksCommand).length).toBe(3);
    expect(cfMock.commandCalls(GetTemplateCommand).map((call) => call.args[0].input.StackName)).toEqual([
      'shop-data',
      'shop-network',
      'shop-service',
    ]);
    expect(cfMock.commandCalls(ListStackResourcesCommand).length).toBeGreaterThan(3);
    expect(deployment.clusters).toEqual([
      {
        region: REGION,
        stackName: 'shop-data',
        shard: '0',
        identifier: 'shop-db',
        writerClass: 'db.t4g.medium',
        readerClasses: ['db.t4g.medium', 'db.t4g.medium', 'db.t4g.medium'],
      },
    ]);
    expect(deployment.caches).toEqual([
      {
        region: REGION,
        replicationGroupId: 'shop-redis',
        nodeType: 'cache.t4g.small',
        nodeIds: ['shop-redis-001', 'shop-redis-002'],
      },
    ]);
    expect(deployment.proxies).toHaveLength(1);
    expect(deployment.services).toEqual([
      expect.objectContaining({
        region: REGION,
        minTasks: 3,
        maxTasks: 12,
        serviceName: expect.stringMatching(/^shop-service-ShopService/),
      }),
    ]);
    expect(deployment.loadBalancers).toHaveLength(1);
    expect(detectStage(deployment)).toBe('10k');
  });

  test('a 1k deployment is detected as 1k, and its single task is its maximum', async () => {
    deploy('1k');
    const deployment = deploymentFromStacks(
      'shop',
      await discoverStacks(new CloudFormationClient({ region: REGION }), REGION, 'shop'),
    );
    expect(detectStage(deployment)).toBe('1k');
    expect(deployment.services[0]).toMatchObject({ minTasks: 1, maxTasks: 1 });
    expect(deployment.proxies).toEqual([]);
  });

  test('a deployed 100k is detected as 100k: both shards, each writer read by its cluster and role', async () => {
    deploy('100k');
    const deployment = deploymentFromStacks(
      'shop',
      await discoverStacks(new CloudFormationClient({ region: REGION }), REGION, 'shop'),
    );
    expect(detectStage(deployment)).toBe('100k');
    expect(deployment.clusters.map((cluster) => [cluster.stackName, cluster.identifier])).toEqual([
      ['shop-data', 'shop-db'],
      ['shop-shard-s1', 'shop-db-s1'],
    ]);

    const planned = io();
    expect(
      await runAdvise(['--region', REGION, '--stage', '100k', '--dry-run', '--format', 'json'], planned),
    ).toBe(adviseExitCodes.fine);
    const labels = (
      JSON.parse(planned.out.chunks.stdout) as {
        getMetricData: { input: GetMetricDataCommandInput }[];
      }
    ).getMetricData.flatMap((call) => call.input.MetricDataQueries?.map((q) => q.Label) ?? []);
    for (const cluster of ['shop-db', 'shop-db-s1']) {
      expect(labels).toContain(
        `eu-west-1|AWS/RDS|CPUUtilization|DBClusterIdentifier=${cluster},Role=WRITER|p95`,
      );
    }
  });

  test('a deployed 1m is detected as 1m: the API gateway and every service, each with its own scaling', async () => {
    deploy('1m');
    const deployment = deploymentFromStacks(
      'shop',
      await discoverStacks(new CloudFormationClient({ region: REGION }), REGION, 'shop'),
    );
    expect(detectStage(deployment)).toBe('1m');
    expect(deployment.apiGateways).toBe(1);
    // The monolith (kept until the cut-over) and the three services.
    expect(deployment.services).toHaveLength(4);
    expect(deployment.services.filter((service) => service.maxTasks === 20)).toHaveLength(3);
    expect(deployment.loadBalancers).toHaveLength(2);

    const planned = io();
    expect(
      await runAdvise(['--region', REGION, '--stage', '1m', '--dry-run', '--format', 'json'], planned),
    ).toBe(adviseExitCodes.fine);
  });

  test.each([
    ['shop-data', 'shop', true],
    ['shop-shard-1', 'shop', true],
    ['shop-eu-data', 'shop', false],
    ['shop-eu-data', 'shop-eu', true],
    ['shopping-data', 'shop', false],
    ['billing-data', 'shop', false],
  ])('stack %s belongs to prefix %s: %s', (stack, prefix, expected) => {
    expect(belongsToPrefix(stack, prefix)).toBe(expected);
  });

  const base: Deployment = {
    prefix: 'shop',
    regions: ['eu-west-1'],
    stackNames: [],
    clusters: [
      {
        region: 'eu-west-1',
        stackName: 'shop-data',
        shard: '0',
        identifier: 'shop-db',
        writerClass: 'db.r7g.large',
        readerClasses: [],
      },
    ],
    proxies: [],
    caches: [],
    services: [{ region: 'eu-west-1', clusterName: 'c', serviceName: 's', minTasks: 3, maxTasks: 12 }],
    loadBalancers: [],
    apiGateways: 0,
  };
  const shard1 = {
    ...base.clusters[0]!,
    stackName: 'shop-shard-1',
    shard: 'shard-1',
    identifier: 'shop-shard-1-db',
  };
  test.each([
    ['one writer', '1k', base],
    ['a proxy', '10k', { ...base, proxies: [{ region: 'eu-west-1', name: 'p' }] }],
    ['two clusters (shards)', '100k', { ...base, clusters: [...base.clusters, shard1] }],
    [
      'several services',
      '1m',
      { ...base, clusters: [...base.clusters, shard1], services: [...base.services, ...base.services] },
    ],
    ['an API gateway', '1m', { ...base, apiGateways: 1 }],
    ['several regions', 'global', { ...base, regions: ['eu-west-1', 'us-east-1'] }],
    [
      'a global database',
      'global',
      { ...base, clusters: [{ ...base.clusters[0]!, globalClusterIdentifier: 'shop-global' }] },
    ],
  ] as const)('a deployment with %s is stage %s', (_name, stage, deployment) => {
    expect(detectStage(deployment as Deployment)).toBe(stage);
  });
});

describe('failures name what was looked for', () => {
  test('no stacks of the prefix: exit 3 naming the stacks, prefix and region', async () => {
    fakeCloudFormation(cfMock, [], ['billing-data']);
    const run = io();
    const code = await runAdvise(['--region', REGION, '--prefix', 'shop'], run);
    expect(code).toBe(adviseExitCodes.failed);
    expect(run.out.chunks.stderr).toContain(
      'Error: no stacks of prefix "shop" in eu-west-1: looked for shop-network, shop-data, shop-service and other shop-<part> stacks',
    );
    expect(cwMock.commandCalls(GetMetricDataCommand)).toHaveLength(0);
  });

  test('no credentials: exit 3 naming the SDK chain and --dry-run', async () => {
    cfMock.on(DescribeStacksCommand).rejects(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
    );
    const run = io();
    expect(await runAdvise(['--region', REGION], run)).toBe(adviseExitCodes.failed);
    expect(run.out.chunks.stderr).toMatch(
      /^Error: No AWS credentials found\. The advisor uses the standard SDK chain/,
    );
    expect(run.out.chunks.stderr).toContain('--dry-run --stage <id>');
  });

  test('access denied on GetMetricData: exit 3 naming the permissions', async () => {
    deploy('10k');
    cwMock.on(GetMetricDataCommand).rejects(
      Object.assign(
        new Error('User: arn:aws:iam::1:user/x is not authorized to perform: cloudwatch:GetMetricData'),
        {
          name: 'AccessDenied',
        },
      ),
    );
    const run = io();
    expect(await runAdvise(['--region', REGION], run)).toBe(adviseExitCodes.failed);
    expect(run.out.chunks.stderr).toContain('Access denied in eu-west-1');
    expect(run.out.chunks.stderr).toContain('cloudwatch:GetMetricData');
  });

  test.each([
    [['--region', 'eu-west-1', '--days', '0'], /--days: received 0, expected a whole number from 1 to 455\./],
    [['--region', 'europe'], /--region: "europe" is not a region name/],
    [[], /--region is required \(or set AWS_REGION\)/],
    [
      ['--region', 'eu-west-1', '--stage', '50k'],
      /--stage: "50k" is not a stage\. Stages: 1k, 10k, 100k, 1m, global\./,
    ],
    [
      ['--region', 'eu-west-1', '--format', 'html', '--teams', 'many'],
      /--format: received "html".*\n--teams: received "many"/s,
    ],
    [['--region', 'eu-west-1', '--dry-run'], /--dry-run needs --stage/],
    [['--region', 'eu-west-1', '--days', '90', '--window-minutes', '5'], /1-hour points only; use 60/],
  ])('usage error %j exits 2', async (argv, message) => {
    const run = io();
    expect(await runAdvise(argv, run)).toBe(adviseExitCodes.usage);
    expect(run.out.chunks.stderr).toMatch(message);
    expect(run.out.chunks.stderr).toContain('Usage: npm run advise');
    expect(cfMock.calls()).toHaveLength(0);
  });
});

test('--dry-run prints the requests for a synthesised stage without any AWS call', async () => {
  const run = io();
  const code = await runAdvise(
    ['--region', REGION, '--stage', '10k', '--dry-run', '--prefix', 'acme', '--format', 'json'],
    run,
  );
  expect(code).toBe(adviseExitCodes.fine);
  expect(cfMock.calls()).toHaveLength(0);
  expect(cwMock.calls()).toHaveLength(0);
  const printed = JSON.parse(run.out.chunks.stdout) as {
    discovery: { stacks: string[] }[];
    getMetricData: { region: string; input: GetMetricDataCommandInput }[];
  };
  expect(printed.discovery[0]?.stacks).toEqual([
    'eu-west-1/acme-data',
    'eu-west-1/acme-network',
    'eu-west-1/acme-service',
  ]);
  expect(printed.getMetricData).toHaveLength(1);
  const labels = printed.getMetricData[0]?.input.MetricDataQueries?.map((q) => q.Label) ?? [];
  expect(labels).toContain('eu-west-1|AWS/RDS|CPUUtilization|DBClusterIdentifier=acme-db,Role=WRITER|p95');
  expect(labels).toContain('eu-west-1|AWS/ElastiCache|Evictions|CacheClusterId=acme-redis-002|Sum');
  expect(labels.filter((label) => label?.includes('AWS/ECS|CPUUtilization'))).toHaveLength(1);

  // Stage global is implemented (its example context supplies the regions): a dry run, still no AWS call.
  const global = io();
  expect(await runAdvise(['--region', REGION, '--stage', 'global', '--dry-run'], global)).toBe(
    adviseExitCodes.fine,
  );
  expect(global.out.chunks.stderr).not.toContain('not implemented');
  expect(cfMock.calls()).toHaveLength(0);
  expect(cwMock.calls()).toHaveLength(0);
});
