/**
 * Reading the series with CloudWatch `GetMetricData`: as few calls as possible (up to 500 queries each,
 * and no more than 100,800 data points per call, so a call's results fit without paging where they can),
 * following `NextToken` when CloudWatch pages anyway.
 */
import {
  paginateGetMetricData,
  type CloudWatchClient,
  type GetMetricDataCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { metricKey, toQuery, type MetricRef } from './queries';
import type { Series } from './rules';

/** `GetMetricData` limit: queries per call. */
export const MAX_QUERIES_PER_CALL = 500;
/** `GetMetricData` limit: data points returned per call (beyond it CloudWatch pages with NextToken). */
export const MAX_DATAPOINTS_PER_CALL = 100_800;

/** The look-back: `[start, end)` cut into windows of `periodSeconds`. */
export interface MetricWindow {
  readonly start: Date;
  readonly end: Date;
  readonly periodSeconds: number;
}

/** One call as it will be sent (the first page; later pages add `NextToken`). */
export interface MetricRequest {
  readonly region: string;
  readonly input: GetMetricDataCommandInput;
}

/** Queries per call: 500, fewer when the windows would exceed the data-point limit. */
export function queriesPerCall(window: MetricWindow): number {
  const windows = Math.ceil((window.end.getTime() - window.start.getTime()) / (window.periodSeconds * 1000));
  return Math.max(
    1,
    Math.min(MAX_QUERIES_PER_CALL, Math.floor(MAX_DATAPOINTS_PER_CALL / Math.max(windows, 1))),
  );
}

/** The calls that read `refs`: grouped by region (CloudWatch is regional), batched, ids `m0`, `m1`, ... */
export function buildRequests(refs: readonly MetricRef[], window: MetricWindow): MetricRequest[] {
  const unique = [...new Map(refs.map((ref) => [metricKey(ref), ref])).values()];
  const byRegion = new Map<string, MetricRef[]>();
  for (const ref of unique) byRegion.set(ref.region, [...(byRegion.get(ref.region) ?? []), ref]);
  const size = queriesPerCall(window);
  const requests: MetricRequest[] = [];
  for (const [region, regionRefs] of byRegion) {
    for (let i = 0; i < regionRefs.length; i += size) {
      requests.push({
        region,
        input: {
          StartTime: window.start,
          EndTime: window.end,
          ScanBy: 'TimestampAscending',
          MetricDataQueries: regionRefs
            .slice(i, i + size)
            .map((ref, j) => toQuery(`m${i + j}`, ref, window.periodSeconds)),
        },
      });
    }
  }
  return requests;
}

/** What the calls returned. */
export interface FetchResult {
  /** Series by metric key (ascending time). */
  readonly series: Map<string, Series>;
  /** `GetMetricData` calls made, pages included. */
  readonly calls: number;
  /** CloudWatch's messages and non-complete statuses, to show in the report. */
  readonly messages: readonly string[];
}

/** Sends the requests, following pages, and collects the series by metric key. */
export async function fetchMetrics(
  requests: readonly MetricRequest[],
  clientFor: (region: string) => CloudWatchClient,
): Promise<FetchResult> {
  const points = new Map<string, Map<number, number>>();
  const messages: string[] = [];
  let calls = 0;
  for (const request of requests) {
    const keyById = new Map(
      (request.input.MetricDataQueries ?? []).map((query) => [query.Id, query.Label ?? '']),
    );
    // A copy: the paginator writes NextToken into the input it is given.
    for await (const page of paginateGetMetricData(
      { client: clientFor(request.region) },
      { ...request.input },
    )) {
      calls += 1;
      for (const message of page.Messages ?? [])
        messages.push(`${request.region}: ${message.Code}: ${message.Value}`);
      for (const result of page.MetricDataResults ?? []) {
        const key = keyById.get(result.Id);
        if (key === undefined) continue;
        if (
          result.StatusCode !== undefined &&
          result.StatusCode !== 'Complete' &&
          result.StatusCode !== 'PartialData'
        ) {
          messages.push(`${key}: ${result.StatusCode}`);
        }
        const byTime = points.get(key) ?? new Map<number, number>();
        (result.Timestamps ?? []).forEach((time, i) => {
          const value = result.Values?.[i];
          if (value !== undefined) byTime.set(new Date(time).getTime(), value);
        });
        points.set(key, byTime);
      }
    }
  }
  const series = new Map<string, Series>();
  for (const [key, byTime] of points) {
    if (byTime.size === 0) continue;
    const timestamps = [...byTime.keys()].sort((a, b) => a - b);
    series.set(key, { timestamps, values: timestamps.map((time) => byTime.get(time) as number) });
  }
  return { series, calls, messages };
}
