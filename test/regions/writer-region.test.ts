/**
 * Stage global's writer region (`-c writerRegion=`): after a switchover or failover, the services, the CloudFront
 * function and the Route 53 default follow the writers, while every network, data and shard stack stays exactly as
 * the default synth builds it (their shape is keyed on the first region), and the upgrade gate calls the change safe.
 */
import { Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { createBlueprintApp } from '../../lib/blueprint';
import { CONTEXT_KEYS, StageConfigError } from '../../lib/config';
import { failoverPairHostname } from '../../lib/stacks/routing-stack';
import { cachePrimaryHostOf, clusterWriterHostOf, writerRoleOf } from '../../lib/writer-region';
import { stageContext, stageGlobal } from '../../stages';
import { templatesFromAssembly, type StackTemplate } from '../../tools/upgrade/assembly';
import { diffAssemblies, type UpgradeReport } from '../../tools/upgrade/diff';
import { writerRegionStacks } from '../../tools/global/run';
import { renderTextSummary } from '../../tools/upgrade/report';
import { synthStage, type ValidationReport } from '../support/synth';

// Two synths of three regions each, on a shared machine.
jest.setTimeout(600_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed template JSON, read field by field
type Parsed = any;

const WRITER = 'eu-west-1';
const REGIONS = stageContext('global').regions!.split(',');

// GIVEN: stage global as deployed, and the same with the writers moved to eu-west-1
const before = synthStage('global');
// (cdk-nag runs in the synth. Not the Control Tower rules: they check resource properties, and the move changes
// only the tasks' environment and records' targets; test/nag/control-tower.test.ts runs them on every stage.)
const after = synthStage('global', { context: { [CONTEXT_KEYS.writerRegion]: WRITER } });
const beforeStacks = templatesFromAssembly(before.assembly);
const afterStacks = templatesFromAssembly(after.assembly);

/** The stack deployed as `<prefix>-<name>` in `region`. */
function stackIn(stacks: readonly StackTemplate[], region: string, name: string): Parsed {
  const stack = stacks.find((s) => s.key.split('/')[1] === region && s.stackName === `shop-${name}`);
  if (stack === undefined) throw new Error(`no stack shop-${name} in ${region}`);
  return stack.template;
}

/** The app container's environment of every task definition of a template, by logical id. */
function appEnvironments(template: Parsed): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(template.Resources as Record<string, Parsed>)
      .filter(([, resource]) => resource.Type === 'AWS::ECS::TaskDefinition')
      .flatMap(([id, resource]) =>
        (resource.Properties.ContainerDefinitions as Parsed[])
          .filter((container) => container.Name === 'App')
          .map((container) => [
            id,
            Object.fromEntries(
              ((container.Environment ?? []) as Parsed[]).map((entry) => [entry.Name, entry.Value]),
            ),
          ]),
      ),
  );
}

/** The services' task definitions (the app containers, not the one-off tasks'). */
function serviceEnvironments(template: Parsed): Record<string, unknown>[] {
  const all = appEnvironments(template);
  return Object.entries(all)
    .filter(([id]) => !/Migration|ShardManager/.test(id))
    .map(([, env]) => env);
}

function nagFindings(report: ValidationReport): string[] {
  return report.pluginReports
    .filter((plugin) => plugin.pluginName === 'AwsSolutions')
    .flatMap((plugin) => plugin.violations ?? [])
    .map((violation) => violation.ruleName);
}

describe('writerRegion: the data side does not move', () => {
  test('every network, data and shard stack of every region is the default synth, but for the order of its outputs', () => {
    // WHEN
    const stateful = (stacks: readonly StackTemplate[]) =>
      stacks.filter((stack) => /^shop-(network|data|shard-.+)$/.test(stack.stackName));
    const afterByKey = new Map(stateful(afterStacks.stacks).map((stack) => [stack.key, stack]));
    // CDK creates the output a consumer stack reads when it first meets the reference, so the order of a producer's
    // outputs follows the order in which its consumers read them (CloudFormation gives the order no meaning).
    const withoutOutputs = (template: Parsed) => JSON.stringify({ ...template, Outputs: undefined }, null, 1);
    const outputs = (template: Parsed) =>
      JSON.stringify(
        Object.entries((template.Outputs ?? {}) as Record<string, unknown>).sort(([a], [b]) =>
          a < b ? -1 : 1,
        ),
        null,
        1,
      );

    // THEN
    const compared = stateful(beforeStacks.stacks);
    // network + data in 3 regions, and each further shard in 3 regions
    expect(compared.length).toBe(3 * (2 + Object.keys(stageGlobal.shards).length));
    expect([...afterByKey.keys()].sort()).toEqual(compared.map((stack) => stack.key).sort());
    const reordered: string[] = [];
    for (const stack of compared) {
      const moved = afterByKey.get(stack.key)!.template;
      expect(`${stack.key}\n${withoutOutputs(moved)}`).toBe(
        `${stack.key}\n${withoutOutputs(stack.template)}`,
      );
      expect(`${stack.key}\n${outputs(moved)}`).toBe(`${stack.key}\n${outputs(stack.template)}`);
      if (JSON.stringify(moved) !== JSON.stringify(stack.template)) reordered.push(stack.key);
    }
    // Only the first region's data stack, whose queue and bus outputs its services stop reading, is reordered.
    expect(reordered).toEqual([`123456789012/${REGIONS[0]}/shop-data`]);
  });

  test('the upgrade gate reports the move safe: nothing replaced or removed that holds data, every output read kept', () => {
    // WHEN
    const report: UpgradeReport = diffAssemblies(beforeStacks, afterStacks);

    // THEN
    if (!report.safe) throw new Error(renderTextSummary(report, 'writerRegion=eu-west-1'));
    expect(report.dataLoss).toEqual([]);
    expect(report.brokenOutputs).toEqual([]);
    expect(report.outputReadsChecked).toBeGreaterThan(0);
    // The move changes something, and only service, edge and routing stacks.
    expect(report.changes.length).toBeGreaterThan(0);
    expect(
      [...new Set(report.changes.map((change) => change.stackName))].filter(
        (name) => !/^shop-(service|edge|routing)$/.test(name),
      ),
    ).toEqual([]);
  });

  test('the stacks that change are exactly those `npm run global` tells the operator to deploy', () => {
    // WHEN
    const beforeByKey = new Map(beforeStacks.stacks.map((stack) => [stack.key, stack.template]));
    const changed = afterStacks.stacks
      .filter((stack) => JSON.stringify(stack.template) !== JSON.stringify(beforeByKey.get(stack.key)))
      // the first data stack's outputs are only reordered (above): `--exclusively` leaves it out
      .filter((stack) => stack.stackName !== 'shop-data')
      .map((stack) => stack.artifactId);

    // THEN the CDK CLI selects stacks by these paths
    expect(changed.sort()).toEqual(
      writerRegionStacks(REGIONS)
        .map((stack) => stack.path)
        .sort(),
    );
  });

  test('cdk-nag stays clean', () => {
    expect(nagFindings(after.report)).toEqual([]);
    // The pack walking the construct tree directly (the report lists a plugin only when it found something).
    const nag = new AwsSolutionsChecks().validateScope(after.app);
    expect(nag.violations.map((violation) => violation.ruleName)).toEqual([]);
    expect(nag.success).toBe(true);
    expect(after.report.pluginReports.filter((plugin) => plugin.conclusion === 'failure')).toEqual([]);
  });
});

describe('writerRegion: the services follow the writers', () => {
  test('the writer region tells its tasks REGION_ROLE=home and writes to its promoted cluster and sessions member', () => {
    // WHEN
    const environments = serviceEnvironments(stackIn(afterStacks.stacks, WRITER, 'service'));

    // THEN
    expect(environments.length).toBeGreaterThan(1);
    for (const env of environments) {
      expect(env).toMatchObject({ REGION_ROLE: 'home', HOME_REGION: WRITER });
      // The cluster (writer) endpoint, derived from the published reader endpoint: `.cluster-ro-` -> `.cluster-`.
      expect(env.DB_HOST).toEqual({
        'Fn::Join': ['.cluster-', { 'Fn::Split': ['.cluster-ro-', expect.anything()] }],
      });
      expect(env.DB_READER_HOST).not.toEqual(env.DB_HOST);
      // Sessions are written to the region's member of the Global Datastore, now its primary.
      expect(env.SESSION_REDIS_HOST).toEqual({
        'Fn::Join': ['master.', { 'Fn::Split': ['replica.', expect.anything()] }],
      });
    }
    // The relays publish to the region's own queue and bus, idle until now.
    const service = stackIn(afterStacks.stacks, WRITER, 'service');
    const regionalOutput = (value: unknown) => {
      const output = (value as Parsed)?.['Fn::GetStackOutput'];
      return output === undefined ? undefined : { Region: output.Region, StackName: output.StackName };
    };
    const relaying = environments.filter((env) => env.INVALIDATION_QUEUE === 'sqs');
    expect(relaying.length).toBeGreaterThan(0);
    for (const env of relaying) {
      expect(regionalOutput(env.INVALIDATION_QUEUE_URL)).toEqual({ Region: WRITER, StackName: 'shop-data' });
    }
    const publishing = environments.filter((env) => env.EVENT_BUS_NAME !== undefined);
    expect(publishing.length).toBeGreaterThan(1);
    for (const env of publishing) {
      expect(regionalOutput(env.EVENT_BUS_NAME)).toEqual({ Region: WRITER, StackName: 'shop-data' });
    }
    const actionsOf = (template: Parsed) =>
      [
        ...new Set(
          Object.values(template.Resources as Record<string, Parsed>)
            .filter((resource) => resource.Type === 'AWS::IAM::Policy')
            .flatMap((resource) => resource.Properties.PolicyDocument.Statement as Parsed[])
            .flatMap((statement) => [statement.Action].flat() as string[]),
        ),
      ].sort();
    // The same permissions as the first region's services had as the writer (publish, receive, delete), but for
    // running the migration task, which stays with the first region's data stacks (README, runbook).
    const migrationRun = ['ecs:DescribeTasks', 'ecs:RunTask', 'iam:PassRole'];
    expect(actionsOf(service)).toEqual(
      actionsOf(stackIn(beforeStacks.stacks, REGIONS[0]!, 'service')).filter(
        (action) => !migrationRun.includes(action),
      ),
    );
    expect(actionsOf(service)).toEqual(expect.arrayContaining(['events:PutEvents', 'sqs:ReceiveMessage']));
    // Before the move the same region read only.
    for (const env of serviceEnvironments(stackIn(beforeStacks.stacks, WRITER, 'service'))) {
      expect(env).toMatchObject({ REGION_ROLE: 'secondary', HOME_REGION: REGIONS[0] });
      expect(env.DB_HOST).toEqual(env.DB_READER_HOST);
    }
  });

  test('the first region reads only, sessions from the datastore member, the cache in its own group, without the queue and the bus its app would refuse', () => {
    // WHEN
    const environments = serviceEnvironments(stackIn(afterStacks.stacks, REGIONS[0]!, 'service'));

    // THEN
    expect(environments.length).toBeGreaterThan(1);
    for (const env of environments) {
      expect(env).toMatchObject({ REGION_ROLE: 'secondary', HOME_REGION: WRITER });
      expect(env.DB_HOST).toEqual(env.DB_READER_HOST);
      // Sessions from the datastore's former primary, now a read-only member; the cache in the region's own group,
      // which stays writable for the region's follower.
      expect(JSON.stringify(env.SESSION_REDIS_HOST)).toMatch(
        /PublishOutputFnGetAttCache[0-9A-F]{8}PrimaryEndPoint/,
      );
      expect(JSON.stringify(env.REDIS_HOST)).toMatch(
        /PublishOutputFnGetAttRegionalCache[0-9A-F]{8}PrimaryEndPoint/,
      );
      for (const name of [
        'INVALIDATION_QUEUE',
        'INVALIDATION_QUEUE_URL',
        'EVENT_BUS',
        'EVENT_BUS_NAME',
        'EVENT_QUEUE_URL',
      ])
        expect(env[name]).toBeUndefined();
    }
    // Before the move it was home, with the bus.
    const home = serviceEnvironments(stackIn(beforeStacks.stacks, REGIONS[0]!, 'service'));
    expect(home.every((env) => env.REGION_ROLE === 'home')).toBe(true);
    expect(home.some((env) => env.EVENT_BUS_NAME !== undefined)).toBe(true);
  });

  test('every other region names the writer region as HOME_REGION', () => {
    for (const env of serviceEnvironments(stackIn(afterStacks.stacks, REGIONS[2]!, 'service'))) {
      expect(env).toMatchObject({ REGION_ROLE: 'secondary', HOME_REGION: WRITER });
    }
  });
});

describe('writerRegion: the load balancers and the session cookie', () => {
  /** The scheme of the platform's load balancer (`ShopLoadBalancer...`, not the gateway's) of a service stack. */
  const platformScheme = (template: Parsed): unknown =>
    Object.entries(template.Resources as Record<string, Parsed>).find(
      ([id, resource]) =>
        resource.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer' &&
        /^ShopLoadBalancer[0-9A-F]{8}$/.test(id),
    )?.[1].Properties.Scheme;

  test("every region keeps its load balancer's scheme: the first internet-facing, the others internal", () => {
    for (const stacks of [beforeStacks.stacks, afterStacks.stacks]) {
      expect(REGIONS.map((region) => platformScheme(stackIn(stacks, region, 'service')))).toEqual([
        'internet-facing',
        'internal',
        'internal',
      ]);
    }
  });

  test('only tasks that set the session cookie behind a plain-HTTP listener are told SESSION_COOKIE_SECURE=false', () => {
    const cookie = (stacks: readonly StackTemplate[], region: string) =>
      serviceEnvironments(stackIn(stacks, region, 'service')).map((env) => env.SESSION_COOKIE_SECURE);
    // As deployed: the first region behind HTTPS, the others reading sessions only.
    for (const region of REGIONS)
      expect(cookie(beforeStacks.stacks, region).every((v) => v === undefined)).toBe(true);
    // Moved: the writer region's tasks log viewers in behind its gateway's internal listener, plain HTTP inside the
    // VPC (no certificate there), whose X-Forwarded-Proto the app's session plugin reads: a Secure cookie would never
    // be set. The regions that read only keep it Secure.
    expect(cookie(afterStacks.stacks, WRITER).every((v) => v === 'false')).toBe(true);
    for (const region of REGIONS.filter((code) => code !== WRITER))
      expect(cookie(afterStacks.stacks, region).every((v) => v === undefined)).toBe(true);
  });
});

describe('writerRegion: the edge and the routing follow the writers', () => {
  test("the CloudFront function's home origin is the writer region's API hostname", () => {
    const code = (stacks: readonly StackTemplate[]) => {
      const edge = stackIn(stacks, 'us-east-1', 'edge');
      const functions = Object.values(edge.Resources as Record<string, Parsed>).filter(
        (resource) => resource.Type === 'AWS::CloudFront::Function',
      );
      expect(functions).toHaveLength(1);
      return String(functions[0].Properties.FunctionCode);
    };
    expect(code(afterStacks.stacks)).toContain(`"homeOrigin":"api-${WRITER}.shop.example.com"`);
    expect(code(beforeStacks.stacks)).toContain(`"homeOrigin":"api-${REGIONS[0]}.shop.example.com"`);
  });

  test("the Route 53 default record leads to the writer region's failover pair", () => {
    const defaultTarget = (stacks: readonly StackTemplate[]) => {
      const routing = stackIn(stacks, REGIONS[0]!, 'routing');
      const records = Object.values(routing.Resources as Record<string, Parsed>).filter(
        (resource) =>
          resource.Type === 'AWS::Route53::RecordSet' && resource.Properties.GeoLocation?.CountryCode === '*',
      );
      expect(records).toHaveLength(1);
      return records[0].Properties.AliasTarget.DNSName as string;
    };
    expect(defaultTarget(afterStacks.stacks)).toBe(failoverPairHostname(WRITER, 'shop.example.com'));
    expect(defaultTarget(beforeStacks.stacks)).toBe(failoverPairHostname(REGIONS[0]!, 'shop.example.com'));
  });
});

/** Evaluates the `Fn::Join` and `Fn::Split` of a resolved value over literal strings, as CloudFormation would. */
function evaluate(value: Parsed): Parsed {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  if (value['Fn::Split'] !== undefined) {
    const [delimiter, source] = value['Fn::Split'];
    return (evaluate(source) as string).split(delimiter);
  }
  if (value['Fn::Join'] !== undefined) {
    const [delimiter, list] = value['Fn::Join'];
    const items = Array.isArray(list) ? list.map(evaluate) : evaluate(list);
    return (items as string[]).join(delimiter);
  }
  throw new Error(`cannot evaluate ${JSON.stringify(value)}`);
}
const derived = (host: string) => evaluate(new Stack().resolve(host));

describe('writerRegion: the hosts derived from published endpoints', () => {
  test("an Aurora cluster's writer endpoint from its reader endpoint, as Aurora names them", () => {
    expect(derived(clusterWriterHostOf('shop-db.cluster-ro-c1a2b3.eu-west-1.rds.amazonaws.com'))).toBe(
      'shop-db.cluster-c1a2b3.eu-west-1.rds.amazonaws.com',
    );
  });

  test("an ElastiCache group's primary endpoint from its reader endpoint (in-transit encryption on)", () => {
    expect(derived(cachePrimaryHostOf('replica.shop-sessions.ab12cd.euw1.cache.amazonaws.com'))).toBe(
      'master.shop-sessions.ab12cd.euw1.cache.amazonaws.com',
    );
  });
});

describe('writerRegion: the context key', () => {
  test('fails when it names a region the deployment does not have, naming the key, the value, the allowed values and the fix', () => {
    // WHEN
    let error: unknown;
    try {
      createBlueprintApp({
        config: stageGlobal,
        nag: false,
        context: { ...stageContext('global'), [CONTEXT_KEYS.writerRegion]: 'eu-central-1' },
      });
    } catch (caught) {
      error = caught;
    }

    // THEN
    expect(error).toBeInstanceOf(StageConfigError);
    const problems = (error as StageConfigError).problems.filter((p) => p.key === 'context.writerRegion');
    expect(problems).toHaveLength(1);
    expect(problems[0]!.received).toBe('eu-central-1');
    expect(problems[0]!.fix).toContain(REGIONS.join(', '));
    expect(problems[0]!.fix).toContain('-c writerRegion=');
  });

  test('defaults to the first region: every region is a secondary of it but the first', () => {
    expect(REGIONS.map((region) => writerRoleOf({ region, regions: REGIONS }).role)).toEqual([
      'home',
      'secondary',
      'secondary',
    ]);
    expect(writerRoleOf({ region: 'ap-southeast-2', regions: REGIONS, writerRegion: WRITER })).toEqual({
      role: 'secondary',
      homeRegion: WRITER,
      regions: REGIONS,
    });
  });
});
