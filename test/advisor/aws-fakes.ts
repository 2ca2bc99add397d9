/**
 * Test doubles for the advisor's two AWS APIs, driven through aws-sdk-client-mock:
 *
 * - CloudFormation answers as it would for a deployed stage: the stage's synthesised templates (so discovery
 *   is tested against what lib/ builds today), physical ids shaped like the real ones, paginated like the
 *   real API (DescribeStacks and ListStackResources return NextToken).
 * - CloudWatch replays a metric fixture (test/advisor/fixtures/*.json) for whatever queries it is sent, and
 *   pages by data points like GetMetricData does (with a smaller page, so paging happens in tests).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeStacksCommand,
  GetTemplateCommand,
  ListStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import {
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  type GetMetricDataCommandOutput,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type { mockClient } from 'aws-sdk-client-mock';
import type { AssemblyTemplates } from '../../tools/upgrade/assembly';

/** A mock made by aws-sdk-client-mock's `mockClient`. */
type Mock = ReturnType<typeof mockClient>;

/** Account id in the fake ARNs. */
export const ACCOUNT = '123456789012';

/** A stack as the fake CloudFormation holds it. */
export interface FakeStack {
  readonly stackName: string;
  readonly templateBody: string;
  readonly resources: { LogicalResourceId: string; PhysicalResourceId: string; ResourceType: string }[];
}

/**
 * A synthesised stage as CloudFormation describes it once deployed: fixed names as the templates give them,
 * generated names in CloudFormation's `<stack>-<logicalId>-<suffix>` style, ARNs where the API returns ARNs.
 */
export function deployedStacks(templates: AssemblyTemplates, region: string): FakeStack[] {
  return templates.stacks.map((stack) => {
    const resources = Object.entries(stack.template.Resources ?? {});
    const name = (logicalId: string) =>
      `${stack.stackName}-${logicalId.replace(/[0-9A-F]{8}$/, '')}-1QX7Z0K3VJ2AB`;
    const physical = new Map<string, string>();
    for (const [logicalId, resource] of resources) {
      const properties = (resource.Properties ?? {}) as Record<string, unknown>;
      const fixed = properties.DBClusterIdentifier ?? properties.ReplicationGroupId ?? properties.DBProxyName;
      physical.set(
        logicalId,
        resource.Type !== 'AWS::RDS::DBInstance' && typeof fixed === 'string'
          ? fixed
          : name(logicalId).toLowerCase(),
      );
    }
    for (const [logicalId, resource] of resources) {
      if (resource.Type === 'AWS::ECS::Cluster') physical.set(logicalId, name(logicalId));
      if (resource.Type === 'AWS::ECS::Service') {
        const properties = resource.Properties as { Cluster?: { Ref?: string } };
        const cluster = physical.get(properties.Cluster?.Ref ?? '') ?? 'cluster';
        physical.set(logicalId, `arn:aws:ecs:${region}:${ACCOUNT}:service/${cluster}/${name(logicalId)}`);
      }
      if (resource.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer') {
        physical.set(
          logicalId,
          `arn:aws:elasticloadbalancing:${region}:${ACCOUNT}:loadbalancer/app/shop-Shop-LoadB-${logicalId.slice(-8)}/50dc6c495c0c9188`,
        );
      }
    }
    return {
      stackName: stack.stackName,
      templateBody: JSON.stringify(stack.template),
      resources: resources.map(([logicalId, resource]) => ({
        LogicalResourceId: logicalId,
        PhysicalResourceId: physical.get(logicalId) as string,
        ResourceType: resource.Type,
      })),
    };
  });
}

/**
 * Makes the mock answer like CloudFormation holding `stacks` (plus `others`, stacks of other deployments
 * that discovery must skip). DescribeStacks pages after two stacks; ListStackResources after 25 resources.
 */
export function fakeCloudFormation(
  mock: Mock,
  stacks: readonly FakeStack[],
  others: readonly string[] = [],
): void {
  const summaries = [
    ...others.map((StackName) => ({ StackName, StackStatus: 'CREATE_COMPLETE' })),
    ...stacks.map((stack) => ({ StackName: stack.stackName, StackStatus: 'UPDATE_COMPLETE' })),
  ];
  mock.on(DescribeStacksCommand as never).callsFake((input: { NextToken?: string }) => {
    const from = Number(input.NextToken ?? 0);
    const page = summaries.slice(from, from + 2);
    return {
      Stacks: page.map((s) => ({ ...s, CreationTime: new Date('2026-10-01T00:00:00Z') })),
      ...(from + 2 < summaries.length ? { NextToken: String(from + 2) } : {}),
    };
  });
  const byName = (name: string) => {
    const stack = stacks.find((candidate) => candidate.stackName === name);
    if (stack === undefined)
      throw Object.assign(new Error(`Stack with id ${name} does not exist`), { name: 'ValidationError' });
    return stack;
  };
  mock.on(GetTemplateCommand as never).callsFake((input: { StackName: string }) => ({
    TemplateBody: byName(input.StackName).templateBody,
    StagesAvailable: ['Original', 'Processed'],
  }));
  mock
    .on(ListStackResourcesCommand as never)
    .callsFake((input: { StackName: string; NextToken?: string }) => {
      const resources = byName(input.StackName).resources;
      const from = Number(input.NextToken ?? 0);
      return {
        StackResourceSummaries: resources.slice(from, from + 25).map((resource) => ({
          ...resource,
          ResourceStatus: 'CREATE_COMPLETE',
          LastUpdatedTimestamp: new Date('2026-10-01T00:00:00Z'),
        })),
        ...(from + 25 < resources.length ? { NextToken: String(from + 25) } : {}),
      };
    });
}

/** A metric fixture: hourly values from `start`, by `namespace|metric|stat|qualifier`. */
export interface MetricFixture {
  readonly region: string;
  readonly start: string;
  readonly periodSeconds: number;
  readonly series: Readonly<Record<string, readonly number[]>>;
}

/** Loads test/advisor/fixtures/<name>.json. */
export function loadFixture(name: string): MetricFixture {
  return JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as MetricFixture;
}

/** The fixture key of a query: the Aurora `Role`, or the ElastiCache node number, qualifies the metric. */
export function fixtureKey(
  query: NonNullable<GetMetricDataCommandInput['MetricDataQueries']>[number],
): string {
  const stat = query.MetricStat;
  const dimensions = stat?.Metric?.Dimensions ?? [];
  const role = dimensions.find((d) => d.Name === 'Role')?.Value;
  const node = dimensions.find((d) => d.Name === 'CacheClusterId')?.Value?.match(/-0*(\d+)$/)?.[1];
  return `${stat?.Metric?.Namespace}|${stat?.Metric?.MetricName}|${stat?.Stat}|${role ?? node ?? ''}`;
}

/** Data points per page of the fake (CloudWatch's own page is 100,800; smaller here so tests page). */
export const FAKE_PAGE_POINTS = 2000;

/**
 * Makes the mock answer GetMetricData from a fixture: the fixture's windows inside [StartTime, EndTime),
 * in the order asked (ScanBy), paged by data points with a NextToken that carries the position. A query
 * the fixture has no series for gets an empty, complete result, as CloudWatch returns for a metric without
 * data.
 */
export function fakeCloudWatch(
  mock: Mock,
  fixture: MetricFixture,
): { NextToken?: string; queries: number }[] {
  const received: { NextToken?: string; queries: number }[] = [];
  const start = Date.parse(fixture.start);
  mock
    .on(GetMetricDataCommand as never)
    .callsFake((input: GetMetricDataCommandInput): GetMetricDataCommandOutput => {
      // The SDK's paginator reuses one input object, so record what each call carried when it was made.
      received.push({
        ...(input.NextToken !== undefined ? { NextToken: input.NextToken } : {}),
        queries: input.MetricDataQueries?.length ?? 0,
      });
      const from = (input.StartTime as Date).getTime();
      const to = (input.EndTime as Date).getTime();
      const all = (input.MetricDataQueries ?? []).map((query) => {
        const values = fixture.series[fixtureKey(query)] ?? [];
        const points = values
          .map((value, i) => ({ time: start + i * fixture.periodSeconds * 1000, value }))
          .filter((point) => point.time >= from && point.time < to);
        if (input.ScanBy !== 'TimestampAscending') points.reverse();
        return { query, points };
      });
      const [q0, p0] = (input.NextToken ?? '0:0').split(':').map(Number) as [number, number];
      let budget = FAKE_PAGE_POINTS;
      const results: MetricDataResult[] = [];
      let next: string | undefined;
      for (let q = q0; q < all.length; q++) {
        const { query, points } = all[q]!;
        const first = q === q0 ? p0 : 0;
        const taken = points.slice(first, first + budget);
        budget -= taken.length;
        const more = first + taken.length < points.length;
        results.push({
          Id: query.Id,
          Label: query.Label,
          Timestamps: taken.map((point) => new Date(point.time)),
          Values: taken.map((point) => point.value),
          StatusCode: more ? 'PartialData' : 'Complete',
        });
        if (more || (budget === 0 && q + 1 < all.length)) {
          next = more ? `${q}:${first + taken.length}` : `${q + 1}:0`;
          break;
        }
      }
      return {
        MetricDataResults: results,
        Messages: [],
        ...(next !== undefined ? { NextToken: next } : {}),
        $metadata: {},
      };
    });
  return received;
}

/** The region a mocked client was built for is irrelevant to the mock; this hands out the one client. */
export function clientFor<T>(client: T): (region: string) => T {
  return () => client;
}

/** Collects what a command writes. */
export function output() {
  const chunks = { stdout: '', stderr: '' };
  return {
    chunks,
    stdout: { write: (chunk: string) => (chunks.stdout += chunk) },
    stderr: { write: (chunk: string) => (chunks.stderr += chunk) },
  };
}
