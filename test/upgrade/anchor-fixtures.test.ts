/**
 * What takes data down with it: each fixture is an upgrade that replaces no data-bearing resource, and
 * that `npm run diff` must still refuse, with the exact lines a user sees (`npm run diff -- <a> <b> --summary`).
 *
 * - a CIDR change and an AZ-count change of the real `10k` stage: the network stack is replaced under the
 *   data, while `shop-data` and `shop-service` look unchanged (their reads are stack outputs);
 * - a consumer that stops reading an output the deployed consumer still reads (fixture app);
 * - a replaced fixed-name RDS Proxy (fixture app).
 */
import type { AssemblyTemplates } from '../../tools/upgrade/assembly';
import { exitCodes } from '../../tools/upgrade/args';
import { runDiff } from '../../tools/upgrade/run';
import { synthStage } from '../../tools/upgrade/stage-synth';
import { synthTemplates } from '../../tools/upgrade/synth';
import { stageById } from '../../stages';
import { buildFixtureApp, type FixtureOptions } from './fixtures/fixture-app';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

const stage10k = stageById('10k');
const fixture = (options: FixtureOptions) => () =>
  synthTemplates((outdir) => buildFixtureApp(outdir, options));
const variants: Record<string, () => AssemblyTemplates> = {
  '10k': () => synthStage('10k'),
  '10k-other-cidr': () =>
    synthStage('10k', { ...stage10k, network: { ...stage10k.network, cidr: '10.1.0.0/16' } }),
  '10k-two-azs': () =>
    synthStage('10k', { ...stage10k, network: { ...stage10k.network, maxAzs: 2, natGateways: 2 } }),
  'reads-cluster': fixture({ proxyName: 'fixture-proxy', serviceReads: 'cluster' }),
  'reads-proxy': fixture({ proxyName: 'fixture-proxy', serviceReads: 'proxy' }),
  'reads-proxy-keeps-cluster': fixture({
    proxyName: 'fixture-proxy',
    serviceReads: 'proxy',
    keepClusterEndpoint: true,
  }),
  'renamed-proxy': fixture({ proxyName: 'fixture-proxy-v2', serviceReads: 'proxy' }),
};
const cache = new Map<string, AssemblyTemplates>();
const synth = (id: string) => {
  if (!cache.has(id)) cache.set(id, (variants[id] as () => AssemblyTemplates)());
  return cache.get(id) as AssemblyTemplates;
};

/** Runs the diff command on two variants; returns the exit code and the summary's lines. */
function diff(from: string, to: string) {
  let stdout = '';
  const code = runDiff([from, to, '--summary'], {
    stageIds: Object.keys(variants),
    synth,
    stdout: { write: (chunk: string) => ((stdout += chunk), true) } as NodeJS.WritableStream,
    stderr: { write: () => true } as unknown as NodeJS.WritableStream,
  });
  const lines = stdout.split('\n');
  return { code, lines, failures: lines.filter((line) => line.startsWith('  ✗ ')), verdict: lines.at(-2) };
}

const subnetReason =
  'data anchor: the database and cache (isolated), tasks and NAT gateways have network interfaces in ' +
  'subnets: a subnet in use cannot be deleted';
const rollbackReason = (consumer: string) =>
  `the upgrade removes this output: if the ${consumer} update fails, its rollback reads an output that no ` +
  'longer exists and the stack is left in UPDATE_ROLLBACK_FAILED';

test('a CIDR change replaces the VPC and every subnet under the data: UNSAFE, exit 1', () => {
  const result = diff('10k', '10k-other-cidr');

  expect(result.code).toBe(exitCodes.unsafe);
  expect(result.lines).toEqual(
    expect.arrayContaining([
      '  shop-data     unchanged  0      0        0             0            0',
      '  shop-service  unchanged  0      0        0             0            0',
    ]),
  );
  expect(result.failures).toEqual(
    expect.arrayContaining([
      '  ✗ will replace: AWS::EC2::VPC ShopNetwork/Vpc/Resource would be replaced because CidrBlock changed; ' +
        'data anchor: the network the data lives in: a new VPC means new subnets, and the database and cache ' +
        'cannot follow them',
      `  ✗ will replace: AWS::EC2::Subnet ShopNetwork/Vpc/IsolatedSubnet1/Subnet would be replaced because CidrBlock changed; ${subnetReason}`,
      '  ✗ output behind a replaced resource: shop-network:PublishOutputRefVpcIsolatedSubnet1SubnetE48C57370776373F ' +
        '(${VpcIsolatedSubnet1SubnetE48C5737}) is read by deployed stack shop-data (CacheSubnets75A36213, ' +
        'DatabaseClusterSubnets5540150D, Proxy21C3295B and 1 more); shop-network/VpcIsolatedSubnet1SubnetE48C5737 ' +
        'behind it would be replaced: shop-data keeps the old value until its own resources are updated',
      '  ✗ output behind a replaced resource: shop-network:PublishOutputFnGetAttAppSecurityGroupC396D536GroupIdF2103C12 ' +
        '(${AppSecurityGroupC396D536.GroupId}) is read by deployed stack shop-service ' +
        // The migration task runs in the app's group too.
        '(AppSecurityGroupfromShopServiceShopLoadBalancerSecurityGroup70361E5A30001378EAE9, MigrationRun95D15400, ' +
        'ShopLoadBalancerSecurityGrouptoShopServiceAppSecurityGroup75030C253000A2565A1F and 1 more); ' +
        'shop-network/AppSecurityGroupC396D536 behind it would be replaced: shop-service keeps the old value ' +
        'until its own resources are updated',
    ]),
  );
  // The VPC and its 9 subnets; 16 outputs of them read by the data and service stacks.
  expect(result.failures).toHaveLength(26);
  expect(result.verdict).toBe(
    'UNSAFE: 10 data anchor(s) would be replaced or removed; 16 output(s) read by a deployed stack would break.',
  );
});

test('an AZ-count change moves the isolated subnets, drops the third AZ and replaces the proxy: UNSAFE, exit 1', () => {
  const result = diff('10k', '10k-two-azs');

  expect(result.code).toBe(exitCodes.unsafe);
  expect(result.failures).toEqual(
    expect.arrayContaining([
      '  ✗ will replace: AWS::RDS::DBProxy ShopData/Default/Proxy/Resource/Resource would be replaced because VpcSubnetIds ' +
        'changed; data anchor: the fixed-name endpoint the app reaches the database through: CloudFormation ' +
        'cannot replace a resource whose name is taken, and consumers keep the old endpoint',
      `  ✗ will replace: AWS::EC2::Subnet ShopNetwork/Vpc/IsolatedSubnet2/Subnet would be replaced because CidrBlock changed; ${subnetReason}`,
      `  ✗ removed: AWS::EC2::Subnet ShopNetwork/Vpc/IsolatedSubnet3/Subnet would be deleted; ${subnetReason}`,
      '  ✗ output removed: shop-network:PublishOutputRefVpcIsolatedSubnet3Subnet6840A2D4173162E1 ' +
        '(${VpcIsolatedSubnet3Subnet6840A2D4}) is read by deployed stack shop-data (CacheSubnets75A36213, ' +
        `DatabaseClusterSubnets5540150D, Proxy21C3295B and 1 more); ${rollbackReason('shop-data')}`,
    ]),
  );
  expect(result.verdict).toBe(
    'UNSAFE: 7 data anchor(s) would be replaced or removed; 9 output(s) read by a deployed stack would break.',
  );
});

test('a consumer that moves to the proxy removes the cluster-endpoint output its deployed template reads', () => {
  const result = diff('reads-cluster', 'reads-proxy');

  expect(result.code).toBe(exitCodes.unsafe);
  expect(result.failures).toEqual([
    '  ✗ output removed: FixtureData:PublishOutputFnGetAttDatabaseB269D8BBEndpointAddress1C2B674E ' +
      '(${DatabaseB269D8BB.Endpoint.Address}) is read by deployed stack FixtureService (DatabaseHost64BC0A8D); ' +
      rollbackReason('FixtureService'),
  ]);
  expect(result.verdict).toBe('UNSAFE: 1 output(s) read by a deployed stack would break.');
});

test('keeping the output published (the blueprint fix) makes the same move safe', () => {
  const result = diff('reads-cluster', 'reads-proxy-keeps-cluster');

  expect(result.code).toBe(exitCodes.safe);
  expect(result.failures).toEqual([]);
  expect(result.lines).toContain(
    'Outputs read across stacks: 1 read by deployed stacks, 0 removed, repointed or behind a replaced resource',
  );
});

test('a replaced fixed-name proxy is an anchor lost, and its endpoint output goes stale', () => {
  const result = diff('reads-proxy', 'renamed-proxy');

  expect(result.code).toBe(exitCodes.unsafe);
  expect(result.failures).toEqual([
    '  ✗ will replace: AWS::RDS::DBProxy FixtureData/Proxy/Resource would be replaced because DBProxyName ' +
      'changed; data anchor: the fixed-name endpoint the app reaches the database through: CloudFormation cannot ' +
      'replace a resource whose name is taken, and consumers keep the old endpoint',
    '  ✗ output behind a replaced resource: FixtureData:PublishOutputFnGetAttProxyCB0DFB71Endpoint4BAD4A28 ' +
      '(${ProxyCB0DFB71.Endpoint}) is read by deployed stack FixtureService (DatabaseHost64BC0A8D); ' +
      'FixtureData/ProxyCB0DFB71 behind it would be replaced: FixtureService keeps the old value until its own ' +
      'resources are updated',
  ]);
  expect(result.verdict).toBe(
    'UNSAFE: 1 data anchor(s) would be replaced or removed; 1 output(s) read by a deployed stack would break.',
  );
});
