/**
 * `npm run global` against aws-sdk-client-mock fakes of RDS and ElastiCache (recorded-shapes.ts): the exact
 * requests sent and their order, the waits, the refusals, and the report after a stop part way.
 */
import {
  DescribeGlobalReplicationGroupsCommand,
  FailoverGlobalReplicationGroupCommand,
} from '@aws-sdk/client-elasticache';
import {
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  SwitchoverGlobalClusterCommand,
} from '@aws-sdk/client-rds';
import { stage1m } from '../../stages/1m';
import { globalExitCodes, parseGlobalArgs } from './args';
import { globalClusterNames, isPrefixGlobalCluster } from './identifiers';
import {
  clusterArn,
  DATASTORE_ID,
  FakeGlobalClusters,
  FakeGlobalDatastore,
  memberClusterId,
  REGIONS,
  serviceError,
  STAGE_GLOBAL,
} from './recorded-shapes';
import { runGlobal, type GlobalIo } from './run';

const [HOME, SECOND, THIRD] = REGIONS;
const CLUSTERS = ['shop-shard0-global', 'shop-s1-global', 'shop-s2-global'];
const target = (shardId: string, region: string = SECOND) =>
  clusterArn(region, memberClusterId(shardId, region));

interface Run {
  code: number;
  out: string;
  err: string;
  /** Regions clients were asked for. */
  clientRegions: string[];
  /** Milliseconds the fake clock advanced. */
  elapsedMs: number;
}

/** Runs the command against the fakes with a fake clock (each sleep advances it). */
async function run(
  argv: string[],
  fakes: { rds?: FakeGlobalClusters; cache?: FakeGlobalDatastore } = {},
  stageConfig: GlobalIo['stageConfig'] = (id) =>
    id === 'global' ? STAGE_GLOBAL : id === '1m' ? stage1m : undefined,
): Promise<Run> {
  let out = '';
  let err = '';
  let clock = 1_000_000;
  const clientRegions: string[] = [];
  const code = await runGlobal(argv, {
    rds: (region) => {
      clientRegions.push(region);
      if (!fakes.rds) throw new Error('no RDS client expected');
      return fakes.rds.client;
    },
    elastiCache: (region) => {
      clientRegions.push(region);
      if (!fakes.cache) throw new Error('no ElastiCache client expected');
      return fakes.cache.client;
    },
    stageConfig,
    stageIds: ['1k', '10k', '100k', '1m', 'global'],
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    stdout: { write: (chunk: string) => (out += chunk) },
    stderr: { write: (chunk: string) => (err += chunk) },
  });
  return { code, out, err, clientRegions, elapsedMs: clock - 1_000_000 };
}

/** Every request to both fakes in the order sent: `Api id` (the id of the resource it names, if any). */
function timeline(rds: FakeGlobalClusters, cache: FakeGlobalDatastore): string[] {
  const calls = [
    // sinon numbers every call of every stub in one sequence (callId), so two mocks' calls can be merged in order
    ...rds.mock.send
      .getCalls()
      .map((call) => ({ id: (call as unknown as { callId: number }).callId, command: call.args[0] })),
    ...cache.mock.send
      .getCalls()
      .map((call) => ({ id: (call as unknown as { callId: number }).callId, command: call.args[0] })),
  ].sort((a, b) => a.id - b.id);
  return calls.map(({ command }) => {
    const input = command.input as Record<string, unknown>;
    const name = input.GlobalClusterIdentifier ?? input.GlobalReplicationGroupId;
    return `${command.constructor.name.replace(/Command$/, '')}${name !== undefined ? ` ${String(name)}` : ''}`;
  });
}

function fakes() {
  return { rds: new FakeGlobalClusters(), cache: new FakeGlobalDatastore() };
}

describe('switchover', () => {
  it('switches every global cluster to the target member, one at a time, then the datastore, and reports done', async () => {
    // GIVEN writers in us-east-1
    const world = fakes();

    // WHEN
    const result = await run(['switchover', '--to', SECOND], world);

    // THEN the exact requests, in order: each cluster waited for before the next, the datastore last
    expect(result.code).toBe(globalExitCodes.done);
    expect(world.rds.inputs(SwitchoverGlobalClusterCommand)).toEqual([
      { GlobalClusterIdentifier: 'shop-shard0-global', TargetDbClusterIdentifier: target('0') },
      { GlobalClusterIdentifier: 'shop-s1-global', TargetDbClusterIdentifier: target('s1') },
      { GlobalClusterIdentifier: 'shop-s2-global', TargetDbClusterIdentifier: target('s2') },
    ]);
    expect(world.rds.inputs(FailoverGlobalClusterCommand)).toEqual([]);
    expect(
      world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand).map((c) => c.args[0].input),
    ).toEqual([
      {
        GlobalReplicationGroupId: DATASTORE_ID,
        PrimaryRegion: SECOND,
        PrimaryReplicationGroupId: 'shop-sessions',
      },
    ]);
    const describesOf = (id: string) => [1, 2, 3].map(() => `DescribeGlobalClusters ${id}`);
    expect(timeline(world.rds, world.cache)).toEqual([
      'DescribeGlobalClusters',
      'DescribeGlobalClusters',
      'DescribeGlobalReplicationGroups',
      'SwitchoverGlobalCluster shop-shard0-global',
      ...describesOf('shop-shard0-global'),
      'SwitchoverGlobalCluster shop-s1-global',
      ...describesOf('shop-s1-global'),
      'SwitchoverGlobalCluster shop-s2-global',
      ...describesOf('shop-s2-global'),
      `FailoverGlobalReplicationGroup ${DATASTORE_ID}`,
      ...[1, 2, 3].map(() => `DescribeGlobalReplicationGroups ${DATASTORE_ID}`),
    ]);
    // every call goes to the target region (the old writer region may be down)
    expect(new Set(result.clientRegions)).toEqual(new Set([SECOND]));
    // and AWS now reports the new writers
    for (const id of CLUSTERS) expect(world.rds.clusters.get(id)?.writerRegion).toBe(SECOND);
    expect(world.cache.primaryRegion).toBe(SECOND);
    expect(result.out).toMatch(/Done:\n {2}shop-shard0-global +moved to eu-west-1 in 30 s/);
    expect(result.out).toMatch(new RegExp(`${DATASTORE_ID} +moved to eu-west-1 in 30 s`));
    expect(result.out).toContain('10 s x 3 checks = 30 s');
    expect(result.out).toContain(
      "Until that is eu-west-1,\n  writes fail (us-east-1's clusters are now read-only secondaries).",
    );
    // the exact deploy that makes the writes follow: every service stack, the edge, the routing, nothing else
    // (the first region is the one whose cache group <prefix>-redis is a member of the datastore; the others sorted)
    expect(result.out).toContain(
      "npm run cdk -- deploy --exclusively 'ShopService' 'ApSoutheast2/ShopService' 'EuWest1/ShopService' " +
        "'ShopEdge' 'ShopRouting' -c stage=global -c writerRegion=eu-west-1\n",
    );
    expect(result.out).toContain('"writerRegion": "eu-west-1" in cdk.json\'s "context"');
    expect(result.out).not.toContain('cannot deploy while its CloudFormation is down');
    expect(result.out).toContain(
      'Fail back once us-east-1 is healthy: npm run global -- switchover --to us-east-1; it prints the deploy',
    );
    expect(result.err).toBe('');
  });

  it('waits until the new writer appears, printing each change of state', async () => {
    // GIVEN shard 0's switchover takes 6 describes
    const world = fakes();
    world.rds.behaviour.set('shop-shard0-global', { describes: 6 });

    // WHEN
    const result = await run(['switchover', '--to', THIRD, '--poll-seconds', '10'], world);

    // THEN it polled every 10 s until the ap-southeast-2 member was the writer and the cluster available
    expect(result.code).toBe(globalExitCodes.done);
    expect(result.out).toContain('shop-shard0-global: SwitchoverGlobalCluster to ' + target('0', THIRD));
    expect(result.out).toContain(
      '[   0 s] shop-shard0-global: switching-over (switching-over), writer us-east-1',
    );
    expect(result.out).toContain('[  60 s] shop-shard0-global: available, writer ap-southeast-2: done');
    // the unchanged state is printed once, not at every poll
    expect(result.out.match(/shop-shard0-global: switching-over/g)).toHaveLength(1);
    expect(world.rds.clusters.get('shop-shard0-global')?.writerRegion).toBe(THIRD);
  });

  it('times out with a clear error naming the cluster, and touches nothing after it', async () => {
    // GIVEN shard s1's switchover never finishes
    const world = fakes();
    world.rds.behaviour.set('shop-s1-global', { hang: true });

    // WHEN
    const result = await run(['switchover', '--to', SECOND, '--timeout-minutes', '2'], world);

    // THEN it gave up after about 2 minutes, and says what moved and what did not
    expect(result.code).toBe(globalExitCodes.partial);
    expect(result.elapsedMs).toBeLessThanOrEqual(2 * 60_000 + 30_000);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(2 * 60_000 - 15_000);
    expect(result.err).toContain(
      'Stopped part way: 1 of 3 global clusters write in eu-west-1; the Global Datastore was not touched.',
    );
    expect(result.err).toMatch(/shop-shard0-global +moved to eu-west-1/);
    expect(result.err).toMatch(
      /shop-s1-global +TIMED OUT, state unknown \(last seen: switching-over \(switching-over\), writer us-east-1\)/,
    );
    expect(result.err).toMatch(/shop-s2-global +not started; writer still in us-east-1/);
    expect(result.err).toMatch(new RegExp(`${DATASTORE_ID} +not started; primary still in us-east-1`));
    expect(result.err).toContain('aws rds describe-global-clusters --region eu-west-1');
    expect(world.rds.inputs(SwitchoverGlobalClusterCommand).map((i) => i.GlobalClusterIdentifier)).toEqual([
      'shop-shard0-global',
      'shop-s1-global',
    ]);
    expect(world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand)).toHaveLength(0);
  });

  it('stops at a rejected switchover and says which clusters are switched and which are not', async () => {
    // GIVEN AWS rejects shard s1's switchover
    const world = fakes();
    world.rds.behaviour.set('shop-s1-global', {
      reject: serviceError(
        'InvalidGlobalClusterStateFault',
        'Global cluster shop-s1-global is not in a valid state.',
      ),
    });

    // WHEN
    const result = await run(['switchover', '--to', SECOND], world);

    // THEN
    expect(result.code).toBe(globalExitCodes.partial);
    expect(result.err).toMatch(/shop-shard0-global +moved to eu-west-1 in \d+ s/);
    expect(result.err).toMatch(
      /shop-s1-global +FAILED: InvalidGlobalClusterStateFault: Global cluster shop-s1-global is not in a valid state\.; writer still in us-east-1/,
    );
    expect(result.err).toMatch(/shop-s2-global +not started; writer still in us-east-1/);
    expect(result.err).toContain('The writers are split across regions');
    expect(result.err).toContain('To undo instead: npm run global -- switchover --to us-east-1');
    expect(world.rds.inputs(SwitchoverGlobalClusterCommand)).toHaveLength(2);
    expect(world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand)).toHaveLength(0);
    expect(world.rds.clusters.get('shop-shard0-global')?.writerRegion).toBe(SECOND);
    expect(world.rds.clusters.get('shop-s2-global')?.writerRegion).toBe(HOME);
  });

  it('reports a datastore failure after the databases moved, naming where sessions are written', async () => {
    const world = fakes();
    world.cache.behaviour = {
      reject: serviceError(
        'InvalidGlobalReplicationGroupStateFault',
        'The Global datastore is not available.',
      ),
    };

    const result = await run(['switchover', '--to', SECOND], world);

    expect(result.code).toBe(globalExitCodes.partial);
    expect(result.err).toContain('Stopped part way: 3 of 3 global clusters write in eu-west-1.');
    expect(result.err).toMatch(
      new RegExp(
        `${DATASTORE_ID} +FAILED: InvalidGlobalReplicationGroupStateFault: The Global datastore is not available\\.; primary still in us-east-1`,
      ),
    );
    expect(result.err).toContain('sessions written now go to its primary in us-east-1');
  });

  it('resumes: a cluster already in the target region is skipped, one moving there is waited for, not re-requested', async () => {
    // GIVEN a previous run moved shard 0 and timed out while s1 was switching over
    const world = fakes();
    const shard0 = world.rds.clusters.get('shop-shard0-global');
    if (shard0) shard0.writerRegion = SECOND;
    await world.rds.client.send(
      new SwitchoverGlobalClusterCommand({
        GlobalClusterIdentifier: 'shop-s1-global',
        TargetDbClusterIdentifier: target('s1'),
      }),
    );
    world.rds.mock.resetHistory();

    // WHEN
    const result = await run(['switchover', '--to', SECOND], world);

    // THEN only s2 is requested
    expect(result.code).toBe(globalExitCodes.done);
    expect(world.rds.inputs(SwitchoverGlobalClusterCommand).map((i) => i.GlobalClusterIdentifier)).toEqual([
      'shop-s2-global',
    ]);
    expect(result.out).toContain('(already in eu-west-1: shop-shard0-global)');
    expect(result.out).toContain(
      'shop-s1-global: a move to ' + target('s1') + ' is already under way; waiting for it',
    );
    expect(result.out).toMatch(/shop-shard0-global +already in eu-west-1/);
    expect(result.out).toMatch(/shop-s1-global +moved to eu-west-1/);
  });

  it('does nothing when every cluster and the datastore already write in the target region', async () => {
    const world = fakes();
    for (const state of world.rds.clusters.values()) state.writerRegion = SECOND;
    world.cache.primaryRegion = SECOND;

    const result = await run(['switchover', '--to', SECOND], world);

    expect(result.code).toBe(globalExitCodes.done);
    expect(result.out).toContain('Nothing to do');
    expect(world.rds.inputs(SwitchoverGlobalClusterCommand)).toHaveLength(0);
    expect(world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand)).toHaveLength(0);
    // a rerun still says how the writes follow
    expect(result.out).toContain("'ShopRouting' -c stage=global -c writerRegion=eu-west-1\n");
  });

  it('fails back home, and prints the deploy that resets writerRegion', async () => {
    // GIVEN the writers were moved to eu-west-1
    const world = fakes();
    for (const state of world.rds.clusters.values()) state.writerRegion = SECOND;
    world.cache.primaryRegion = SECOND;

    // WHEN
    const result = await run(['switchover', '--to', HOME], world);

    // THEN
    expect(result.code).toBe(globalExitCodes.done);
    for (const id of CLUSTERS) expect(world.rds.clusters.get(id)?.writerRegion).toBe(HOME);
    expect(result.out).toContain('reset writerRegion (remove "writerRegion" from cdk.json\'s "context"');
    expect(result.out).toContain(
      "npm run cdk -- deploy --exclusively 'ShopService' 'ApSoutheast2/ShopService' 'EuWest1/ShopService' " +
        "'ShopEdge' 'ShopRouting' -c stage=global -c writerRegion=us-east-1\n",
    );
    expect(result.out).not.toContain('Fail back once');
  });
});

describe('failover', () => {
  it('refuses without --allow-data-loss, naming the flag and the RPO, before creating any client', async () => {
    const result = await run(['failover', '--to', SECOND]);

    expect(result.code).toBe(globalExitCodes.usage);
    expect(result.err).toContain('failover needs --allow-data-loss');
    expect(result.err).toContain('RPO = the replication lag at the moment of the outage');
    expect(result.err).toContain('AuroraGlobalDBRPOLag');
    expect(result.err).toContain('run switchover instead (RPO 0)');
    expect(result.clientRegions).toEqual([]);
  });

  it('fails every cluster over with AllowDataLoss at once, waits for all, then fails the datastore over', async () => {
    // GIVEN
    const world = fakes();
    world.rds.behaviour.set('shop-s2-global', { describes: 4 });

    // WHEN
    const result = await run(['failover', '--to', THIRD, '--allow-data-loss'], world);

    // THEN every request went out before the first wait
    expect(result.code).toBe(globalExitCodes.done);
    expect(world.rds.inputs(FailoverGlobalClusterCommand)).toEqual([
      {
        GlobalClusterIdentifier: 'shop-shard0-global',
        TargetDbClusterIdentifier: target('0', THIRD),
        AllowDataLoss: true,
      },
      {
        GlobalClusterIdentifier: 'shop-s1-global',
        TargetDbClusterIdentifier: target('s1', THIRD),
        AllowDataLoss: true,
      },
      {
        GlobalClusterIdentifier: 'shop-s2-global',
        TargetDbClusterIdentifier: target('s2', THIRD),
        AllowDataLoss: true,
      },
    ]);
    expect(world.rds.inputs(SwitchoverGlobalClusterCommand)).toEqual([]);
    const calls = timeline(world.rds, world.cache);
    expect(calls.slice(3, 6)).toEqual(CLUSTERS.map((id) => `FailoverGlobalCluster ${id}`));
    expect(calls.indexOf(`FailoverGlobalReplicationGroup ${DATASTORE_ID}`)).toBeGreaterThan(
      calls.lastIndexOf('DescribeGlobalClusters shop-s2-global'),
    );
    expect(
      world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand).map((c) => c.args[0].input),
    ).toEqual([
      {
        GlobalReplicationGroupId: DATASTORE_ID,
        PrimaryRegion: THIRD,
        PrimaryReplicationGroupId: 'shop-sessions',
      },
    ]);
    expect(result.out).toContain('Failover (data loss allowed) to ap-southeast-2');
    for (const id of CLUSTERS) expect(world.rds.clusters.get(id)?.writerRegion).toBe(THIRD);
    // the stacks the down region holds (its services, the routing, the edge in us-east-1) are deployed apart
    expect(result.out).toContain(
      "npm run cdk -- deploy --exclusively 'ApSoutheast2/ShopService' 'EuWest1/ShopService' -c stage=global " +
        '-c writerRegion=ap-southeast-2\n',
    );
    expect(result.out).toContain(
      "Once it answers, before failing back: npm run cdk -- deploy --exclusively 'ShopService' 'ShopEdge' " +
        "'ShopRouting' -c stage=global -c writerRegion=ap-southeast-2",
    );
    // the waits ran side by side: s2's describes interleave with the others', not after them
    expect(calls.indexOf('DescribeGlobalClusters shop-s2-global')).toBeLessThan(
      calls.lastIndexOf('DescribeGlobalClusters shop-shard0-global'),
    );
    expect(calls.filter((call) => call === 'DescribeGlobalClusters shop-s2-global')).toHaveLength(5);
  });

  it('does not refuse a cluster or datastore that is not "available": with the writer region down, AWS decides', async () => {
    // GIVEN the outage shows in the status of a cluster and of the datastore
    const world = fakes();
    const s1 = world.rds.clusters.get('shop-s1-global');
    if (s1) s1.status = 'modifying';
    world.cache.status = 'primary-only';

    // WHEN
    const result = await run(['failover', '--to', SECOND, '--allow-data-loss'], world);

    // THEN every failover was requested (a switchover refuses the same state, see "refusals" below)
    expect(world.rds.inputs(FailoverGlobalClusterCommand)).toHaveLength(3);
    expect(world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand)).toHaveLength(1);
    expect(result.code).toBe(globalExitCodes.done);
  });

  it('reports each cluster when one failover is rejected, and leaves the datastore alone', async () => {
    const world = fakes();
    world.rds.behaviour.set('shop-shard0-global', {
      reject: serviceError('InvalidDBClusterStateFault', 'DB cluster shop-db-eu-west-1 is not available.'),
    });

    const result = await run(['failover', '--to', SECOND, '--allow-data-loss'], world);

    expect(result.code).toBe(globalExitCodes.partial);
    expect(result.err).toMatch(
      /shop-shard0-global +FAILED: InvalidDBClusterStateFault: .*; writer still in us-east-1/,
    );
    expect(result.err).toMatch(/shop-s1-global +moved to eu-west-1/);
    expect(result.err).toMatch(/shop-s2-global +moved to eu-west-1/);
    expect(result.err).not.toContain('To undo instead');
    expect(world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand)).toHaveLength(0);
  });
});

describe('--dry-run', () => {
  it('prints the switchover calls with their parameters and sends nothing', async () => {
    const result = await run(['switchover', '--to', SECOND, '--dry-run', '--regions', REGIONS.join(',')]);

    expect(result.code).toBe(globalExitCodes.done);
    expect(result.clientRegions).toEqual([]);
    expect(result.out).toContain('No AWS call is made.');
    expect(result.out).toContain(
      '1. rds:SwitchoverGlobalCluster {"GlobalClusterIdentifier":"shop-shard0-global","TargetDbClusterIdentifier":"<ARN of shop-shard0-global\'s member cluster in eu-west-1>"}',
    );
    expect(result.out).toContain(
      '3. rds:SwitchoverGlobalCluster {"GlobalClusterIdentifier":"shop-s2-global"',
    );
    expect(result.out).toContain(
      '4. elasticache:FailoverGlobalReplicationGroup {"GlobalReplicationGroupId":"<the Global Datastore with member shop-redis>","PrimaryRegion":"eu-west-1"',
    );
    expect(result.out).toContain('one global cluster at a time');
  });

  it('prints FailoverGlobalCluster with AllowDataLoss for failover, and the --datastore given', async () => {
    const result = await run([
      'failover',
      '--to',
      THIRD,
      '--allow-data-loss',
      '--dry-run',
      '--regions',
      REGIONS.join(','),
      '--datastore',
      DATASTORE_ID,
      '--prefix',
      'acme',
    ]);

    expect(result.code).toBe(globalExitCodes.done);
    expect(result.clientRegions).toEqual([]);
    expect(result.out).toContain(
      '1. rds:FailoverGlobalCluster {"GlobalClusterIdentifier":"acme-shard0-global","TargetDbClusterIdentifier":"<ARN of acme-shard0-global\'s member cluster in ap-southeast-2>","AllowDataLoss":true}',
    );
    expect(result.out).toContain(
      `{"GlobalReplicationGroupId":"${DATASTORE_ID}","PrimaryRegion":"ap-southeast-2"`,
    );
    expect(result.out).toContain('every global cluster at once');
    // the follow-up deploy carries the prefix given
    expect(result.out).toContain(
      "npm run cdk -- deploy --exclusively 'EuWest1/ShopService' 'ApSoutheast2/ShopService' -c stage=global " +
        '-c prefix=acme -c writerRegion=ap-southeast-2\n',
    );
  });
});

describe('refusals before any change', () => {
  async function refused(argv: string[], world = fakes()) {
    const result = await run(argv, world);
    expect(result.code).toBe(globalExitCodes.usage);
    expect(world.rds.inputs(SwitchoverGlobalClusterCommand)).toHaveLength(0);
    expect(world.rds.inputs(FailoverGlobalClusterCommand)).toHaveLength(0);
    expect(world.cache.mock.commandCalls(FailoverGlobalReplicationGroupCommand)).toHaveLength(0);
    return result.err;
  }

  it('names a region that is not a region code', async () => {
    expect(await refused(['switchover', '--to', 'europe'])).toContain(
      '--to: "europe" is not a region code (e.g. eu-west-1).',
    );
  });

  it('names a region that is not in the deployment and the regions that are', async () => {
    const err = await refused(['switchover', '--to', 'us-west-2']);
    expect(err).toContain(
      '--to us-west-2 is not a region of the deployment: global cluster shop-shard0-global has members in ap-southeast-2, eu-west-1, us-east-1 only.',
    );
    expect(err).toContain('--to us-west-2 has no member of Global Datastore ldgnf-shop-sessions');
  });

  it('names a --to outside --regions without any AWS call', async () => {
    const result = await run([
      'switchover',
      '--to',
      'us-west-2',
      '--regions',
      REGIONS.join(','),
      '--dry-run',
    ]);
    expect(result.code).toBe(globalExitCodes.usage);
    expect(result.err).toContain(
      '--to: us-west-2 is not one of the deployment regions (us-east-1, eu-west-1, ap-southeast-2).',
    );
    expect(result.clientRegions).toEqual([]);
  });

  it('refuses when --regions does not match the global clusters', async () => {
    const err = await refused(['switchover', '--to', SECOND, '--regions', `${HOME},${SECOND}`]);
    expect(err).toContain(
      '--regions us-east-1,eu-west-1 does not match the global clusters, whose members are in ap-southeast-2, eu-west-1, us-east-1',
    );
  });

  it('refuses when a global cluster of the stage is missing, naming it', async () => {
    const world = fakes();
    world.rds.clusters.delete('shop-s2-global');
    const err = await refused(['switchover', '--to', SECOND], world);
    expect(err).toContain('Global cluster shop-s2-global (shard s2) does not exist.');
  });

  it('refuses when the prefix has a global cluster the stage does not name, and ignores other prefixes', async () => {
    const world = fakes();
    world.rds.others.push(
      { GlobalClusterIdentifier: 'shop-s9-global', Status: 'available', GlobalClusterMembers: [] },
      { GlobalClusterIdentifier: 'shop-eu-shard0-global', Status: 'available', GlobalClusterMembers: [] },
    );
    const err = await refused(['switchover', '--to', SECOND], world);
    expect(err).toContain('Global clusters shop-s9-global have this prefix');
    expect(err).not.toContain('shop-eu-shard0-global');
  });

  it('refuses while another move is under way, and while a cluster is not available', async () => {
    const world = fakes();
    await world.rds.client.send(
      new SwitchoverGlobalClusterCommand({
        GlobalClusterIdentifier: 'shop-s1-global',
        TargetDbClusterIdentifier: target('s1', THIRD),
      }),
    );
    const modifying = world.rds.clusters.get('shop-s2-global');
    if (modifying) modifying.status = 'modifying';
    world.rds.mock.resetHistory();
    const err = await refused(['switchover', '--to', SECOND], world);
    expect(err).toContain(
      `Global cluster shop-s1-global is already switching-over towards ${target('s1', THIRD)}`,
    );
    expect(err).toContain('Global cluster shop-s2-global is "modifying", not "available"');
  });

  it('refuses when no datastore has the home session group, or two do', async () => {
    const none = fakes();
    none.cache.members[HOME] = 'other-redis';
    expect(await refused(['switchover', '--to', SECOND], none)).toContain(
      'No Global Datastore has the replication group shop-redis as a member',
    );
    const two = fakes();
    two.cache.others.push({
      GlobalReplicationGroupId: 'ldgnf-shop-other',
      Members: [{ ReplicationGroupId: 'shop-redis', ReplicationGroupRegion: HOME }],
    });
    expect(await refused(['switchover', '--to', SECOND], two)).toContain(
      'pass the sessions one with --datastore',
    );
  });

  it('uses --datastore when given', async () => {
    const world = fakes();
    world.cache.others.push({
      GlobalReplicationGroupId: 'ldgnf-shop-other',
      Members: [{ ReplicationGroupId: 'shop-redis', ReplicationGroupRegion: HOME }],
    });
    const result = await run(['switchover', '--to', SECOND, '--datastore', DATASTORE_ID], world);
    expect(result.code).toBe(globalExitCodes.done);
    expect(await refused(['switchover', '--to', SECOND, '--datastore', 'nope'])).toContain(
      'Global Datastore nope (--datastore) does not exist.',
    );
  });

  it('refuses a stage without global config, and an unknown stage', async () => {
    expect(await refused(['switchover', '--to', SECOND, '--stage', '1m'])).toContain(
      'stage 1m has no `global` config',
    );
    expect(await refused(['switchover', '--to', SECOND, '--stage', 'huge'])).toContain(
      '"huge" is not a stage. Stages: 1k, 10k, 100k, 1m, global.',
    );
  });

  it('reports AWS errors while reading as exit 3 with the permissions needed', async () => {
    const world = fakes();
    world.rds.mock
      .on(DescribeGlobalClustersCommand)
      .rejects(serviceError('AccessDenied', 'User is not authorized to perform: rds:DescribeGlobalClusters'));
    const result = await run(['switchover', '--to', SECOND], world);
    expect(result.code).toBe(globalExitCodes.failed);
    expect(result.err).toContain('Access denied in eu-west-1');
    expect(result.err).toContain('rds:SwitchoverGlobalCluster');
    const noCredentials = fakes();
    noCredentials.cache.mock.on(DescribeGlobalReplicationGroupsCommand).rejects(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
    );
    const second = await run(['switchover', '--to', SECOND], noCredentials);
    expect(second.code).toBe(globalExitCodes.failed);
    expect(second.err).toContain('No AWS credentials found');
  });
});

describe('parseGlobalArgs', () => {
  it('lists every problem at once', () => {
    expect(() =>
      parseGlobalArgs([
        'switchover',
        '--allow-data-loss',
        '--poll-seconds',
        '0',
        '--bogus',
        'x',
        '--dry-run',
      ]),
    ).toThrow(
      new RegExp(
        [
          'Unknown option --bogus\\.',
          '--to is required',
          '--poll-seconds: received "0", expected a number above 0\\.',
          '--allow-data-loss is for failover only',
          '--dry-run needs --regions',
        ].join('[\\s\\S]*'),
      ),
    );
  });

  it('names an unknown command and returns help for --help or no argument', () => {
    expect(() => parseGlobalArgs(['promote', '--to', SECOND])).toThrow(
      'Unknown command "promote": expected switchover or failover.',
    );
    expect(parseGlobalArgs([])).toBe('help');
    expect(parseGlobalArgs(['failover', '--help'])).toBe('help');
  });

  it('reads the defaults and the options', () => {
    expect(parseGlobalArgs(['failover', '--to=eu-west-1', '--allow-data-loss'])).toEqual({
      command: 'failover',
      to: 'eu-west-1',
      prefix: 'shop',
      stage: 'global',
      allowDataLoss: true,
      dryRun: false,
      timeoutMinutes: 30,
      pollSeconds: 15,
    });
  });
});

describe('identifiers', () => {
  it('names the global clusters from the stage shards, shard 0 first', () => {
    expect(globalClusterNames('acme', { shards: { s1: stage1m.shards.s1, s2: stage1m.shards.s1 } })).toEqual([
      { shardId: '0', identifier: 'acme-shard0-global' },
      { shardId: 's1', identifier: 'acme-s1-global' },
      { shardId: 's2', identifier: 'acme-s2-global' },
    ]);
  });

  it('tells this prefix from a longer one', () => {
    expect(isPrefixGlobalCluster('shop', 'shop-s1-global')).toBe(true);
    expect(isPrefixGlobalCluster('shop', 'shop-shard0-global')).toBe(true);
    expect(isPrefixGlobalCluster('shop', 'shop-eu-s1-global')).toBe(false);
    expect(isPrefixGlobalCluster('shop', 'shopx-s1-global')).toBe(false);
  });
});
