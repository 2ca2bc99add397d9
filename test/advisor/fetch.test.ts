/**
 * GetMetricData request shapes and pagination against recorded responses (aws-sdk-client-mock): as few
 * calls as the limits allow (500 queries, 100,800 data points), one request set per region, NextToken
 * followed, a series split over pages merged, CloudWatch's messages and statuses kept.
 */
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandOutput,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { buildRequests, fetchMetrics, queriesPerCall, type MetricWindow } from '../../tools/advisor/fetch';
import { metricKey, type MetricRef } from '../../tools/advisor/queries';

const cwMock = mockClient(CloudWatchClient);
beforeEach(() => cwMock.reset());

const start = new Date('2026-11-16T00:00:00.000Z');
const fourteenDays: MetricWindow = { start, end: new Date('2026-11-30T00:00:00.000Z'), periodSeconds: 3600 };
const cpu = (cluster: string, region = 'eu-west-1'): MetricRef => ({
  region,
  namespace: 'AWS/RDS',
  metricName: 'CPUUtilization',
  dimensions: { DBClusterIdentifier: cluster, Role: 'WRITER' },
  stat: 'p95',
});

describe('batching', () => {
  test.each([
    // windows per query → queries per call
    [fourteenDays, 300], // 336 hourly windows: 100,800 / 336
    [{ start, end: new Date('2026-11-17T00:00:00.000Z'), periodSeconds: 300 }, 350], // 288 five-minute windows
    [{ start, end: new Date('2026-11-18T00:00:00.000Z'), periodSeconds: 3600 }, 500], // 48 windows: the 500 cap
  ])('%j → %i queries per call', (window, expected) => {
    expect(queriesPerCall(window)).toBe(expected);
  });

  test('700 metrics over 14 days take 3 calls in one region; duplicates are asked once; regions are separate', () => {
    const refs = [
      ...Array.from({ length: 700 }, (_, i) => cpu(`shop-${i}`)),
      cpu('shop-0'),
      cpu('shop-db', 'us-east-1'),
    ];

    const requests = buildRequests(refs, fourteenDays);

    expect(requests.map((r) => [r.region, r.input.MetricDataQueries?.length])).toEqual([
      ['eu-west-1', 300],
      ['eu-west-1', 300],
      ['eu-west-1', 100],
      ['us-east-1', 1],
    ]);
    const ids = requests.flatMap((r) => r.input.MetricDataQueries?.map((q) => q.Id) ?? []);
    expect(ids.every((id) => /^[a-z][a-zA-Z0-9_]*$/.test(id ?? ''))).toBe(true);
    expect(requests[0]?.input).toMatchObject({ StartTime: start, ScanBy: 'TimestampAscending' });
    expect(requests[0]?.input.MetricDataQueries?.[0]).toEqual({
      Id: 'm0',
      Label: 'eu-west-1|AWS/RDS|CPUUtilization|DBClusterIdentifier=shop-0,Role=WRITER|p95',
      ReturnData: true,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/RDS',
          MetricName: 'CPUUtilization',
          Dimensions: [
            { Name: 'DBClusterIdentifier', Value: 'shop-0' },
            { Name: 'Role', Value: 'WRITER' },
          ],
        },
        Period: 3600,
        Stat: 'p95',
      },
    });
  });
});

describe('fetchMetrics', () => {
  // Two pages as GetMetricData returns them: m0's series is split across the pages (PartialData, then the
  // rest), m1 has no data points (a metric that was never published), and the first page carries a message.
  const page1: Partial<GetMetricDataCommandOutput> = {
    MetricDataResults: [
      {
        Id: 'm0',
        Label: 'eu-west-1|AWS/RDS|CPUUtilization|DBClusterIdentifier=shop-db,Role=WRITER|p95',
        Timestamps: [new Date('2026-11-16T00:00:00Z'), new Date('2026-11-16T01:00:00Z')],
        Values: [41.2, 44.9],
        StatusCode: 'PartialData',
      },
    ],
    Messages: [{ Code: 'MaxQueryTimeRangeExceed', Value: 'Only part of the time range was returned' }],
    NextToken: 'eyJwYWdlIjoyfQ==',
  };
  const page2: Partial<GetMetricDataCommandOutput> = {
    MetricDataResults: [
      {
        Id: 'm0',
        Label: 'eu-west-1|AWS/RDS|CPUUtilization|DBClusterIdentifier=shop-db,Role=WRITER|p95',
        Timestamps: [new Date('2026-11-16T02:00:00Z')],
        Values: [52.3],
        StatusCode: 'Complete',
      },
      {
        Id: 'm1',
        Label: 'eu-west-1|AWS/RDS|DBLoad|DBClusterIdentifier=shop-db,Role=WRITER|p95',
        Timestamps: [],
        Values: [],
        StatusCode: 'Complete',
      },
    ],
    Messages: [],
  };

  test('follows NextToken with the same queries and merges a series split over pages', async () => {
    const tokens: (string | undefined)[] = [];
    cwMock.on(GetMetricDataCommand).callsFake((input: { NextToken?: string }) => {
      tokens.push(input.NextToken);
      return input.NextToken === undefined ? page1 : page2;
    });
    const load: MetricRef = { ...cpu('shop-db'), metricName: 'DBLoad' };

    const result = await fetchMetrics(
      buildRequests([cpu('shop-db'), load], fourteenDays),
      () => new CloudWatchClient({}),
    );

    expect(tokens).toEqual([undefined, 'eyJwYWdlIjoyfQ==']);
    expect(cwMock.commandCalls(GetMetricDataCommand)).toHaveLength(2);
    expect(result.calls).toBe(2);
    expect(result.series.get(metricKey(cpu('shop-db')))).toEqual({
      timestamps: [
        Date.parse('2026-11-16T00:00:00Z'),
        Date.parse('2026-11-16T01:00:00Z'),
        Date.parse('2026-11-16T02:00:00Z'),
      ],
      values: [41.2, 44.9, 52.3],
    });
    expect(result.series.has(metricKey(load))).toBe(false);
    expect(result.messages).toEqual([
      'eu-west-1: MaxQueryTimeRangeExceed: Only part of the time range was returned',
    ]);
  });

  test('a query CloudWatch refuses is reported with its status', async () => {
    cwMock.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'm0', Timestamps: [], Values: [], StatusCode: 'Forbidden' }],
    });
    const result = await fetchMetrics(
      buildRequests([cpu('shop-db')], fourteenDays),
      () => new CloudWatchClient({}),
    );
    expect(result.messages).toEqual([
      'eu-west-1|AWS/RDS|CPUUtilization|DBClusterIdentifier=shop-db,Role=WRITER|p95: Forbidden',
    ]);
    expect(result.series.size).toBe(0);
  });
});
