/**
 * `npm run bench:global`: stage global's figures on the local three-region topology (tools/local-topology/global.ts:
 * the home region's primaries, a streaming standby per other region, Redis per region, stage 1m's services and
 * gateway per region, the geo router), in one run:
 *
 * 1. Reads in each region: GET /api/products/:id through the router with the viewer country of each region
 *    (open loop, bench/open-loop.ts), p50/p99 and where they were served.
 * 2. Writes (POST /api/orders) from the home region and from a secondary region, which the router sends home with
 *    one injected inter-region round trip (`--rtt`, default 70 ms): home routing's extra latency.
 * 3. The alternative, Aurora write forwarding, emulated: a secondary region's app (the monolith, SERVICE=all) whose
 *    every database connection to the home primaries goes through a TCP proxy adding the same round trip to each
 *    exchange (tools/local-topology/global-latency-proxy.ts), the same orders sent to it directly; measured at 0
 *    and at `--rtt`. Its extra latency, the round trips on the critical path it implies ((p50 at rtt - p50 at 0) /
 *    rtt) and the round trips the proxy counted per write (the statements, async outbox work included) explain it.
 * 4. Failover: reads from the secondary region at a fixed rate, its processes killed; the time until the router
 *    marked it unhealthy and until the first read served by `failoverRegionOf` (health check 1 s × 2 unless
 *    `--interval-ms` / `--threshold`).
 *
 * Phases 2 and 3 each alternate their two runs over `--rounds` rounds (order swapped every round); the report keeps
 * every round's p50, the median round's figures and the median of the rounds' differences.
 *
 * Writes bench/results/global.json and prints a table. Options: --rate (reads/s per region, default 40),
 * --write-rate (orders/s, default 10), --seconds (per phase, default 10), --rounds (default 3), --rtt (ms, default 70),
 * --interval-ms (default 1000), --threshold (default 2). Needs the Postgres server binaries and redis-server.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { failoverRegionOf } from '../lib/config/global-routing';
import { SERVED_REGION_HEADER, VIEWER_COUNTRY_HEADER } from '../tools/local-topology/geo-router';
import { startGlobalTopology, type GlobalTopology } from '../tools/local-topology/global';
import { startLatencyProxy, type LatencyProxy } from '../tools/local-topology/global-latency-proxy';
import { runOpenLoop, type LoadResult } from './open-loop';
import type { ManagedProcess } from './processes';
import { inRounds, median, medianRound, positiveArg, round2 } from './script-args';
import { databaseUrlsOf, shopRequestPlans, signUpCustomers, stockDemoCatalog } from './shop-traffic';
import { startMonolithProcess } from './topology';
import type { PlannedRequest } from './workload';

const repoRoot = path.resolve(__dirname, '..');
const resultsFile = path.join(__dirname, 'results/global.json');
/** A viewer country in each region of the default topology. */
const COUNTRY_OF: Record<string, string> = { 'us-east-1': 'US', 'eu-west-1': 'FR', 'ap-southeast-2': 'JP' };

/** The part of an open-loop result the report keeps. */
function summary(result: LoadResult) {
  return {
    offeredRate: result.offeredRate,
    requests: result.requests,
    latencyMs: result.latencyMs,
    dispatchLagMs: result.dispatchLagMs,
    errors: result.errors,
    statusCodes: result.statusCodes,
    sampleFailures: result.sampleFailures.slice(0, 3),
  };
}

async function main() {
  const readRate = positiveArg('rate', 40);
  const writeRate = positiveArg('write-rate', 10);
  const seconds = positiveArg('seconds', 10);
  const rttMs = positiveArg('rtt', 70);
  const rounds = positiveArg('rounds', 3);
  const intervalMs = positiveArg('interval-ms', 1000);
  const threshold = positiveArg('threshold', 2);
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg().map(round2);
  console.log(`load average at start: ${loadAtStart.join(' ')}`);

  let topology: GlobalTopology | undefined;
  let forwarder: ManagedProcess | undefined;
  const proxies: LatencyProxy[] = [];
  try {
    topology = await startGlobalTopology({
      seedDemoData: true,
      healthCheckIntervalMs: intervalMs,
      failureThreshold: threshold,
      env: { LOG_LEVEL: 'error', RATE_LIMIT_AUTH_MAX: '1000000' },
      gatewayEnv: {
        LOG_LEVEL: 'error',
        GATEWAY_RATE_LIMIT_MAX: '100000000',
        GATEWAY_AUTH_RATE_LIMIT_MAX: '1000000',
      },
    });
    const [home, secondary] = topology.regions.map((r) => r.name);
    const router = topology.url;
    const country = (region: string) => COUNTRY_OF[region] ?? 'US';

    const productIds = await stockDemoCatalog(topology.env.DATABASE_URL);
    await Promise.all(topology.regions.map((r) => r.waitForReplication()));

    const customers = await signUpCustomers(router, 20, { [VIEWER_COUNTRY_HEADER]: 'US' });
    const plans = shopRequestPlans(productIds);
    const read = plans.productRead;
    const order = plans.placeOrderAs(customers.map((c) => c.cookie));
    const load = (
      url: string,
      rate: number,
      plan: () => PlannedRequest,
      headers: Record<string, string> = {},
    ) => runOpenLoop({ url, ratePerSecond: rate, durationSeconds: seconds, plan, headers, connections: 64 });
    // Where the router sent a viewer's request (checked once per phase, outside the measurement).
    const servedFor = async (viewerCountry: string, method: 'GET' | 'POST') => {
      const planned = method === 'GET' ? read() : order();
      const response = await fetch(`${router}${planned.path}`, {
        method,
        headers: { ...planned.headers, [VIEWER_COUNTRY_HEADER]: viewerCountry },
        body: planned.body,
      });
      await response.arrayBuffer();
      return response.headers.get(SERVED_REGION_HEADER);
    };

    // 1. Reads in each region (a warm-up round first: caches and connection pools).
    const reads: Record<string, unknown> = {};
    for (const region of topology.regions) {
      const headers = { [VIEWER_COUNTRY_HEADER]: country(region.name) };
      await runOpenLoop({ url: router, ratePerSecond: readRate, durationSeconds: 3, plan: read, headers });
      const result = await load(router, readRate, read, headers);
      reads[region.name] = { servedIn: await servedFor(country(region.name), 'GET'), ...summary(result) };
      console.log(`reads in ${region.name}: p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`);
    }

    // 2. Home routing: orders from the home region, and from the secondary region with one round trip injected.
    topology.router.setInterRegionLatency(rttMs);
    const homeHeaders = { [VIEWER_COUNTRY_HEADER]: country(home) };
    const remoteHeaders = { [VIEWER_COUNTRY_HEADER]: country(secondary) };
    await runOpenLoop({
      url: router,
      ratePerSecond: writeRate,
      durationSeconds: 3,
      plan: order,
      headers: homeHeaders,
    });
    // The two phases alternate over the rounds (and swap order each round), so a change of the shared machine's load
    // between them shows in both; the report keeps each round and the medians.
    const homeRounds: LoadResult[] = [];
    const remoteRounds: LoadResult[] = [];
    await inRounds(rounds, [
      async () => homeRounds.push(await load(router, writeRate, order, homeHeaders)),
      async () => remoteRounds.push(await load(router, writeRate, order, remoteHeaders)),
    ]);
    const writesHome = medianRound(homeRounds);
    const writesRemote = medianRound(remoteRounds);
    const remoteServedIn = await servedFor(country(secondary), 'POST');
    topology.router.setInterRegionLatency(0);
    console.log(
      `orders: from ${home} p50 ${writesHome.latencyMs.p50} ms; from ${secondary} (home routing, rtt ${rttMs} ms) ` +
        `p50 ${writesRemote.latencyMs.p50} ms`,
    );

    // 3. Write forwarding emulated: the monolith in the secondary region, every database connection to the home
    // primaries through a latency proxy. Redis stays local to it (sessions read from the region's replica).
    const homeEnv = topology.env;
    for (const url of databaseUrlsOf(homeEnv)) {
      const parsed = new URL(url);
      proxies.push(await startLatencyProxy({ host: parsed.hostname, port: Number(parsed.port) }, 0));
    }
    const viaProxy = (url: string, i: number) => {
      const parsed = new URL(url);
      parsed.port = String(proxies[i].port);
      return parsed.toString();
    };
    forwarder = await startMonolithProcess(repoRoot, {
      name: 'forwarding-app',
      env: {
        DATABASE_URL: viaProxy(homeEnv.DATABASE_URL, 0),
        SHARD_ENDPOINTS: JSON.stringify(
          (JSON.parse(homeEnv.SHARD_ENDPOINTS) as { id: string; url: string }[]).map((s, i) => ({
            id: s.id,
            url: viaProxy(s.url, i + 1),
          })),
        ),
        REDIS_URL: homeEnv.REDIS_URL,
        REDIS_KEY_PREFIX: homeEnv.REDIS_KEY_PREFIX,
        SESSION_SECRET: homeEnv.SESSION_SECRET,
      },
      logLevel: 'error',
      readyTimeoutMs: 120_000,
    });
    const forwarderUrl = forwarder.url;
    const roundTrips = () => proxies.reduce((sum, p) => sum + p.roundTrips, 0);
    const forwarding = async (rtt: number) => {
      for (const p of proxies) p.setRoundTripMs(rtt);
      const before = roundTrips();
      const result = await load(forwarderUrl, writeRate, order);
      return { result, roundTrips: roundTrips() - before };
    };
    await runOpenLoop({ url: forwarderUrl, ratePerSecond: writeRate, durationSeconds: 3, plan: order });
    const localRounds: { result: LoadResult; roundTrips: number }[] = [];
    const remoteForwardRounds: { result: LoadResult; roundTrips: number }[] = [];
    await inRounds(rounds, [
      async () => localRounds.push(await forwarding(0)),
      async () => remoteForwardRounds.push(await forwarding(rttMs)),
    ]);
    for (const p of proxies) p.setRoundTripMs(0);
    const forwardLocal = { result: medianRound(localRounds.map((r) => r.result)) };
    const forwardRemote = {
      result: medianRound(remoteForwardRounds.map((r) => r.result)),
      roundTripsPerWrite: round2(
        remoteForwardRounds.reduce((sum, r) => sum + r.roundTrips, 0) /
          Math.max(
            1,
            remoteForwardRounds.reduce((sum, r) => sum + r.result.requests, 0),
          ),
      ),
    };
    console.log(
      `orders with write forwarding: p50 ${forwardLocal.result.latencyMs.p50} ms at rtt 0, ` +
        `${forwardRemote.result.latencyMs.p50} ms at rtt ${rttMs} ms`,
    );

    // 4. Failover: reads from the secondary region every 20 ms; its processes killed.
    const regionNames = topology.regions.map((r) => r.name);
    const target = failoverRegionOf(secondary, regionNames);
    const answers: { at: number; status: number; served: string | null }[] = [];
    let running = true;
    const timer = setInterval(() => {
      if (!running) return;
      const product = plans.nextProductId();
      fetch(`${router}/api/products/${product}`, {
        headers: remoteHeaders,
        signal: AbortSignal.timeout(5000),
      }).then(
        async (r) => {
          await r.arrayBuffer();
          answers.push({
            at: performance.now(),
            status: r.status,
            served: r.headers.get(SERVED_REGION_HEADER),
          });
        },
        () => answers.push({ at: performance.now(), status: 0, served: null }),
      );
    }, 20);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const killedAt = performance.now();
    await topology.killRegion(secondary);
    const change = await topology.router.waitForHealth(secondary, false, 60_000);
    const deadline = Date.now() + 30_000;
    while (
      !answers.some((a) => a.at > killedAt && a.status === 200 && a.served === target) &&
      Date.now() < deadline
    )
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 500));
    running = false;
    clearInterval(timer);
    const firstMoved = answers.find((a) => a.at > killedAt && a.status === 200 && a.served === target);
    const failedDuring = answers.filter((a) => a.at > killedAt && a.status !== 200).length;
    const failover = {
      region: secondary,
      movedTo: target,
      healthCheck: { intervalMs, failureThreshold: threshold },
      markedUnhealthyAfterMs: change ? round2(change.at - killedAt) : 0,
      firstReadServedElsewhereAfterMs: firstMoved ? round2(firstMoved.at - killedAt) : null,
      failedReadsMeanwhile: failedDuring,
      readsAfterKill: answers.filter((a) => a.at > killedAt).length,
    };
    console.log(
      `failover of ${secondary}: unhealthy after ${failover.markedUnhealthyAfterMs} ms, first read in ${target} ` +
        `after ${failover.firstReadServedElsewhereAfterMs} ms (${failedDuring} reads failed meanwhile)`,
    );

    // Each round's difference, then their median: the pairs ran back to back under the same load.
    const extra = (a: readonly LoadResult[], b: readonly LoadResult[]) => ({
      p50: round2(median(a.map((r, i) => r.latencyMs.p50 - b[i].latencyMs.p50))),
      p99: round2(median(a.map((r, i) => r.latencyMs.p99 - b[i].latencyMs.p99))),
    });
    const forwardingExtra = extra(
      remoteForwardRounds.map((r) => r.result),
      localRounds.map((r) => r.result),
    );
    const report = {
      startedAt,
      machine: {
        cpus: os.cpus().length,
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: os.loadavg().map(round2),
      },
      options: { readRate, writeRate, seconds, rounds, rttMs, intervalMs, threshold },
      regions: regionNames,
      reads,
      writes: {
        homeRouting: {
          fromHome: summary(writesHome),
          fromSecondary: { region: secondary, servedIn: remoteServedIn, ...summary(writesRemote) },
          extraMs: extra(remoteRounds, homeRounds),
          rounds: homeRounds.map((h, i) => ({
            fromHomeP50: h.latencyMs.p50,
            fromSecondaryP50: remoteRounds[i].latencyMs.p50,
          })),
          interRegionRoundTripsPerWrite: 1,
        },
        writeForwarding: {
          atZeroRtt: summary(forwardLocal.result),
          atRtt: summary(forwardRemote.result),
          extraMs: forwardingExtra,
          criticalPathRoundTripsPerWrite: round2(forwardingExtra.p50 / rttMs),
          proxiedRoundTripsPerWrite: forwardRemote.roundTripsPerWrite,
          rounds: localRounds.map((l, i) => ({
            atZeroRttP50: l.result.latencyMs.p50,
            atRttP50: remoteForwardRounds[i].result.latencyMs.p50,
          })),
        },
      },
      failover,
    };
    await mkdir(path.dirname(resultsFile), { recursive: true });
    await writeFile(resultsFile, `${JSON.stringify(report, null, 2)}\n`);

    console.table({
      ...Object.fromEntries(
        regionNames.map((r) => {
          const f = reads[r] as ReturnType<typeof summary> & { servedIn: string };
          return [
            `reads in ${r}`,
            { p50: f.latencyMs.p50, p99: f.latencyMs.p99, served: f.servedIn, extraP50: '' },
          ];
        }),
      ),
      [`orders from ${home}`]: {
        p50: writesHome.latencyMs.p50,
        p99: writesHome.latencyMs.p99,
        served: home,
        extraP50: '',
      },
      [`orders from ${secondary}, home routing`]: {
        p50: writesRemote.latencyMs.p50,
        p99: writesRemote.latencyMs.p99,
        served: remoteServedIn,
        extraP50: report.writes.homeRouting.extraMs.p50,
      },
      [`orders, write forwarding rtt 0`]: {
        p50: forwardLocal.result.latencyMs.p50,
        p99: forwardLocal.result.latencyMs.p99,
        served: 'forwarding app',
        extraP50: '',
      },
      [`orders, write forwarding rtt ${rttMs}`]: {
        p50: forwardRemote.result.latencyMs.p50,
        p99: forwardRemote.result.latencyMs.p99,
        served: 'forwarding app',
        extraP50: forwardingExtra.p50,
      },
    });
    console.log(
      `write forwarding: ${report.writes.writeForwarding.criticalPathRoundTripsPerWrite} round trips on the critical ` +
        `path per order (${forwardRemote.roundTripsPerWrite} proxied exchanges per order); home routing: 1`,
    );
    console.log(`wrote ${path.relative(repoRoot, resultsFile)}`);
  } finally {
    await forwarder?.stop();
    await Promise.all(proxies.map((p) => p.close()));
    await topology?.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench:global failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
