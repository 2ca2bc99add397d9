/**
 * `npm run bench:1m`: what stage 1m's split costs per request, on the local topology of stage 1m
 * (tools/local-topology/services.ts: 2 private PostgreSQL shards, Redis, the products, users and orders services
 * and the local gateway, each a real process) plus a monolith (SERVICE=all) on the same databases and Redis.
 *
 * Open loop (bench/open-loop.ts: fixed arrival rate, latency from the scheduled send time), phases one after
 * another at the same rate, alternating their order per round so a drift of the (shared) machine does not favour
 * one side:
 * - (a) GET /api/products/:id through the gateway vs directly at the products service: the gateway's added hop.
 * - (b) POST /api/orders through the gateway (orders service -> products' internal reservation over HTTP ->
 *   shard write), directly at the orders service (no gateway), and at the monolith (the same cross-database
 *   placement in process), same customers, same products.
 * - (c) the event end-to-end delay of the orders placed through the gateway (warm-up included): for each, from its
 *   OrderPlaced outbox row's creation (public.event_outbox.created_at, clock_timestamp() at the insert) to the
 *   users consumer's dedupe record (ls_NNN.processed_events.processed_at), both on the user's shard, computed by
 *   that Postgres server (bench/event-delay.ts). Those orders come from customers of their own, so their events
 *   are told apart; every one must be in the outbox, applied once and counted once. The isolated figure of
 *   `npm run bench:events` (bench/results/events.json) is kept next to it.
 *
 * Per phase: latency percentiles, throughput, and CPU time per request of every process (from /proc), so a cost
 * can be read next to its throughput. `uptime`'s load averages at the start and the end say how busy the machine
 * was. Writes bench/results/services/services.json and services.md.
 *
 * Options: --rate (reads per second, default 100), --order-rate (orders per second, default 20), --seconds (per
 * phase, default 15), --rounds (default 2). Needs the test Postgres binaries and Redis (REDIS_URL or
 * redis://127.0.0.1:6379), as `npm run local` does.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { summariseEventDelay, waitForEventsApplied, type EventDelaySummary } from './event-delay';
import { startLocalTopology, type LocalTopology } from '../tools/local-topology/services';
import { runOpenLoop, type LoadResult } from './open-loop';
import { processCpuSeconds, type ManagedProcess } from './processes';
import type { PlannedRequest } from './workload';
import { median, positiveArg, round2 } from './script-args';
import { databaseUrlsOf, shopRequestPlans, signUpCustomers, stockDemoCatalog } from './shop-traffic';
import { startMonolithProcess } from './topology';

const repoRoot = path.resolve(__dirname, '..');
const resultsDir = path.join(__dirname, 'results/services');

/** `uptime`'s line and the load averages (1, 5, 15 min). */
function machineLoad(): { uptime: string; loadAverage: number[] } {
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    // not every system has it; the load averages say the same
  }
  return { uptime, loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100) };
}

/** One measured phase. */
interface Phase {
  readonly name: string;
  /** What the requests go through. */
  readonly path: string;
  readonly round: number;
  readonly load: Pick<
    LoadResult,
    | 'offeredRate'
    | 'requests'
    | 'requestsPerSecond'
    | 'latencyMs'
    | 'dispatchLagMs'
    | 'errors'
    | 'statusCodes'
  >;
  /** CPU time per answered request of each process, ms. */
  readonly cpuMsPerRequest: Record<string, number>;
  /** Sum over the processes above, ms. */
  readonly cpuMsPerRequestTotal: number;
  readonly sampleFailures: string[];
}

async function main() {
  const readRate = positiveArg('rate', 100);
  const orderRate = positiveArg('order-rate', 20);
  const seconds = positiveArg('seconds', 15);
  const rounds = positiveArg('rounds', 3);
  const loadAtStart = machineLoad();
  const startedAt = new Date().toISOString();
  console.log(`load at start: ${loadAtStart.uptime}`);

  const sessionSecret = randomBytes(32).toString('hex');
  let topology: LocalTopology | undefined;
  let monolith: ManagedProcess | undefined;
  try {
    topology = await startLocalTopology({
      stage: '1m',
      seedDemoData: true,
      env: {
        SESSION_SECRET: sessionSecret,
        LOG_LEVEL: 'warn',
        // Many sign-ups from one address; limits are not what is measured
        RATE_LIMIT_AUTH_MAX: '1000000',
      },
      gatewayEnv: {
        LOG_LEVEL: 'warn',
        GATEWAY_RATE_LIMIT_MAX: '100000000',
        GATEWAY_AUTH_RATE_LIMIT_MAX: '1000000',
      },
    });
    const url = (name: 'gateway' | 'products' | 'orders' | 'users') => topology!.processes.get(name)!.url;

    // The monolith on the same databases, Redis prefix and session secret: the same customer cookie works there.
    monolith = await startMonolithProcess(repoRoot, {
      name: 'monolith',
      env: { ...topology.env, SESSION_SECRET: sessionSecret },
      logLevel: 'warn',
      readyTimeoutMs: 90_000,
    });

    const productIds = await stockDemoCatalog(topology.env.DATABASE_URL);

    // Customers, signed up through the gateway (users service): 20 for the orders at orders and the monolith, 10
    // for the orders through the gateway only, so that their events are the gateway's (part (c)).
    const signedUp = await signUpCustomers(url('gateway'), 30);
    const customers = signedUp.slice(0, 20).map((c) => c.cookie);
    const gatewayCustomers = signedUp.slice(20).map((c) => c.cookie);
    const gatewayUserIds = signedUp.slice(20).map((c) => c.userId);

    const pids = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const [name, p] of topology!.processes) if (p.pid !== undefined) out[name] = p.pid;
      out.monolith = monolith!.pid;
      return out;
    };
    const { productRead, placeOrderAs } = shopRequestPlans(productIds);

    const phases: Phase[] = [];
    let gatewayOrdersPlaced = 0;
    const measure = async (
      name: string,
      via: string,
      target: string,
      rate: number,
      duration: number,
      plan: () => PlannedRequest,
      roundNo: number,
    ) => {
      const ids = pids();
      const before = Object.fromEntries(
        Object.entries(ids).map(([n, pid]) => [n, processCpuSeconds(pid) ?? 0]),
      );
      const result = await runOpenLoop({
        url: target,
        ratePerSecond: rate,
        durationSeconds: duration,
        plan,
        connections: 64,
      });
      if (name === 'order via gateway') gatewayOrdersPlaced += result.statusCodes['201'] ?? 0;
      const cpuMsPerRequest: Record<string, number> = {};
      let total = 0;
      for (const [n, pid] of Object.entries(ids)) {
        const used = ((processCpuSeconds(pid) ?? 0) - before[n]) * 1000;
        cpuMsPerRequest[n] = round2(used / Math.max(1, result.requests));
        total += used;
      }
      if (roundNo === 0) return; // warm-up
      const phase: Phase = {
        name,
        path: via,
        round: roundNo,
        load: {
          offeredRate: result.offeredRate,
          requests: result.requests,
          requestsPerSecond: round2(result.requestsPerSecond),
          latencyMs: result.latencyMs,
          dispatchLagMs: result.dispatchLagMs,
          errors: result.errors,
          statusCodes: result.statusCodes,
        },
        cpuMsPerRequest,
        cpuMsPerRequestTotal: round2(total / Math.max(1, result.requests)),
        sampleFailures: result.sampleFailures,
      };
      phases.push(phase);
      console.log(
        `round ${roundNo} ${name.padEnd(16)} p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ` +
          `${round2(result.requestsPerSecond)}/s, errors ${JSON.stringify(result.errors)}, cpu ${phase.cpuMsPerRequestTotal} ms/req`,
      );
    };

    const reads = [
      ['read via gateway', 'client -> gateway -> products', url('gateway')],
      ['read direct', 'client -> products', url('products')],
    ] as const;
    const orders = [
      [
        'order via gateway',
        'client -> gateway -> orders -> products (HTTP, internal port) -> shards',
        url('gateway'),
        placeOrderAs(gatewayCustomers),
      ],
      [
        'order at orders',
        'client -> orders -> products (HTTP, internal port) -> shards',
        url('orders'),
        placeOrderAs(customers),
      ],
      [
        'order monolith',
        'client -> monolith (reservation in process) -> shards',
        monolith.url,
        placeOrderAs(customers),
      ],
    ] as const;
    // Warm-up: JIT, connection pools, the catalog cache
    for (const [name, via, target] of reads) await measure(name, via, target, readRate, 5, productRead, 0);
    for (const [name, via, target, plan] of orders) await measure(name, via, target, orderRate, 3, plan, 0);
    for (let r = 1; r <= rounds; r++) {
      const order = <T>(list: readonly T[]) => (r % 2 === 1 ? list : [...list].reverse());
      for (const [name, via, target] of order(reads))
        await measure(name, via, target, readRate, seconds, productRead, r);
      for (const [name, via, target, plan] of order(orders))
        await measure(name, via, target, orderRate, seconds, plan, r);
    }

    // (c) The gateway orders' events: wait until the users consumer has applied all of them (or a minute), then
    // read both timestamps on each shard.
    const eventDelay: EventDelaySummary = summariseEventDelay(
      await waitForEventsApplied(databaseUrlsOf(topology.env), gatewayUserIds, gatewayOrdersPlaced),
      gatewayOrdersPlaced,
    );
    console.log(`event delay (gateway orders): ${JSON.stringify(eventDelay)}`);

    const loadAtEnd = machineLoad();
    console.log(`load at end: ${loadAtEnd.uptime}`);
    // The median of the rounds: one round hit by the (shared) machine's noise does not move it.
    const medianOf = (name: string, pick: (p: Phase) => number) =>
      round2(median(phases.filter((p) => p.name === name).map(pick)));
    const summaryOf = (name: string) => ({
      p50Ms: medianOf(name, (p) => p.load.latencyMs.p50),
      p99Ms: medianOf(name, (p) => p.load.latencyMs.p99),
      requestsPerSecond: medianOf(name, (p) => p.load.requestsPerSecond),
      cpuMsPerRequest: medianOf(name, (p) => p.cpuMsPerRequestTotal),
      non2xx: phases.filter((p) => p.name === name).reduce((a, p) => a + p.load.errors.non2xx, 0),
    });
    const summary = {
      readViaGateway: summaryOf('read via gateway'),
      readDirect: summaryOf('read direct'),
      orderViaGateway: summaryOf('order via gateway'),
      orderAtOrders: summaryOf('order at orders'),
      orderMonolith: summaryOf('order monolith'),
    };
    const added = {
      gatewayReadP50Ms: round2(summary.readViaGateway.p50Ms - summary.readDirect.p50Ms),
      gatewayReadP99Ms: round2(summary.readViaGateway.p99Ms - summary.readDirect.p99Ms),
      gatewayReadCpuMsPerRequest: round2(
        summary.readViaGateway.cpuMsPerRequest - summary.readDirect.cpuMsPerRequest,
      ),
      gatewayOrderP50Ms: round2(summary.orderViaGateway.p50Ms - summary.orderAtOrders.p50Ms),
      splitOrderP50Ms: round2(summary.orderAtOrders.p50Ms - summary.orderMonolith.p50Ms),
      splitOrderP99Ms: round2(summary.orderAtOrders.p99Ms - summary.orderMonolith.p99Ms),
      splitOrderCpuMsPerRequest: round2(
        summary.orderAtOrders.cpuMsPerRequest - summary.orderMonolith.cpuMsPerRequest,
      ),
    };
    let events: unknown;
    try {
      events = JSON.parse(await readFile(path.join(__dirname, 'results/events.json'), 'utf8'));
    } catch {
      events = undefined;
    }
    const ev = events as
      { date: string; arrivalRatePerSecond: number; delayMs: Record<string, number> } | undefined;
    const result = {
      benchmark: 'services-1m',
      description:
        "stage 1m's local topology: the gateway's added latency on product reads, an order's end-to-end latency across the split vs the monolith in process, CPU per request per process; open-loop arrivals",
      date: startedAt,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
      load: { atStart: loadAtStart, atEnd: loadAtEnd },
      settings: {
        readRatePerSecond: readRate,
        orderRatePerSecond: orderRate,
        secondsPerPhase: seconds,
        rounds,
      },
      summary,
      added,
      eventDelay: {
        measured:
          "orders placed through the gateway in this run (warm-up included): OrderPlaced outbox created_at (public.event_outbox) -> users consumer dedupe record processed_at (ls_NNN.processed_events), both on the user's shard, subtracted by that Postgres server",
        ...eventDelay,
      },
      events: ev
        ? {
            source:
              'bench/results/events.json (npm run bench:events): the isolated measurement, not re-measured here',
            date: ev.date,
            arrivalRatePerSecond: ev.arrivalRatePerSecond,
            delayMs: ev.delayMs,
          }
        : { source: 'bench/results/events.json missing: run npm run bench:events' },
      phases,
    };
    await mkdir(resultsDir, { recursive: true });
    await writeFile(path.join(resultsDir, 'services.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(path.join(resultsDir, 'services.md'), renderMarkdown(result));
    console.log(`wrote ${path.relative(repoRoot, resultsDir)}/services.{json,md}`);
  } finally {
    await monolith?.stop();
    await topology?.stop();
  }
}

type Result = {
  date: string;
  machine: { cpus: number; cpuModel?: string; node: string };
  load: {
    atStart: { uptime: string; loadAverage: number[] };
    atEnd: { uptime: string; loadAverage: number[] };
  };
  settings: {
    readRatePerSecond: number;
    orderRatePerSecond: number;
    secondsPerPhase: number;
    rounds: number;
  };
  summary: Record<
    string,
    { p50Ms: number; p99Ms: number; requestsPerSecond: number; cpuMsPerRequest: number; non2xx: number }
  >;
  added: Record<string, number>;
  eventDelay: EventDelaySummary & { measured: string };
  events: { source: string; date?: string; arrivalRatePerSecond?: number; delayMs?: Record<string, number> };
  phases: Phase[];
};

/** The event delay of this run, one line. */
function eventDelayLine(e: EventDelaySummary): string {
  if (!e.delayMs) return 'Event end-to-end delay of the gateway orders: none applied.';
  return `Event end-to-end delay of the ${e.ordersPlaced} orders placed through the gateway (OrderPlaced outbox row created → users consumer's dedupe record, same Postgres server's clock): p50 ${e.delayMs.p50} ms, p90 ${e.delayMs.p90} ms, p99 ${e.delayMs.p99} ms, max ${e.delayMs.max} ms, over ${e.appliedOnce + e.appliedMoreThanOnce} events.`;
}

/** A difference with its sign: `+1.2`, `-3.4`. */
const signed = (n: number) => (n >= 0 ? `+${n}` : `${n}`);

function renderMarkdown(r: Result): string {
  const s = r.summary;
  const a = Object.fromEntries(Object.entries(r.added).map(([k, v]) => [k, signed(v)]));
  const row = (label: string, key: string) =>
    `| ${label} | ${s[key].p50Ms} | ${s[key].p99Ms} | ${s[key].requestsPerSecond} | ${s[key].cpuMsPerRequest} | ${s[key].non2xx} |`;
  const lines = [
    `# Stage 1m services benchmark (\`npm run bench:1m\`)`,
    '',
    `${r.date}, ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}. Open loop: reads at ${r.settings.readRatePerSecond}/s, orders at ${r.settings.orderRatePerSecond}/s, ${r.settings.secondsPerPhase} s per phase, ${r.settings.rounds} rounds (order alternated), medians of the rounds.`,
    `Machine load (1/5/15 min) at start ${r.load.atStart.loadAverage.join(' / ')}, at end ${r.load.atEnd.loadAverage.join(' / ')}: a shared machine, so compare rows of this run, not with other runs.`,
    '',
    '| phase | p50 ms | p99 ms | answered/s | CPU ms/request (all processes) | non-2xx |',
    '| --- | --- | --- | --- | --- | --- |',
    row('GET /api/products/:id via gateway', 'readViaGateway'),
    row('GET /api/products/:id at products', 'readDirect'),
    row('POST /api/orders via gateway (orders → products HTTP)', 'orderViaGateway'),
    row('POST /api/orders at orders (no gateway)', 'orderAtOrders'),
    row('POST /api/orders at the monolith (in process)', 'orderMonolith'),
    '',
    `Gateway hop on a product read: ${a.gatewayReadP50Ms} ms p50, ${a.gatewayReadP99Ms} ms p99, ${a.gatewayReadCpuMsPerRequest} ms CPU per request.`,
    `Gateway hop on an order: ${a.gatewayOrderP50Ms} ms p50. The split itself (orders → products over HTTP vs in process): ${a.splitOrderP50Ms} ms p50, ${a.splitOrderP99Ms} ms p99, ${a.splitOrderCpuMsPerRequest} ms CPU per order.`,
    'CPU is that of the app processes and the gateway (from /proc), not of Postgres or Redis; it includes their background work (relays, consumers: users counts each OrderPlaced).',
    '',
    eventDelayLine(r.eventDelay),
    `Exactly once: ${r.eventDelay.exactlyOnce ? 'yes' : 'NO'} (orders answered 201 ${r.eventDelay.ordersPlaced}, in the shards ${r.eventDelay.ordersInDatabase}, OrderPlaced in the outboxes ${r.eventDelay.eventsInOutbox}, applied once ${r.eventDelay.appliedOnce}, not applied ${r.eventDelay.notApplied}, more than once ${r.eventDelay.appliedMoreThanOnce}, order_count total ${r.eventDelay.orderCountTotal}).`,
    r.events.delayMs
      ? `Isolated measurement (outbox insert → consumer effect committed, one process), from ${r.events.source}, ${r.events.date}, ${r.events.arrivalRatePerSecond}/s: p50 ${r.events.delayMs.p50} ms, p99 ${r.events.delayMs.p99} ms, max ${r.events.delayMs.max} ms.`
      : `Isolated event delay: ${r.events.source}.`,
    '',
    '## Phases',
    '',
    '| round | phase | p50 | p99 | max | answered/s | non-2xx | CPU ms/request by process |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.phases.map(
      (p) =>
        `| ${p.round} | ${p.name} | ${p.load.latencyMs.p50} | ${p.load.latencyMs.p99} | ${p.load.latencyMs.max} | ${p.load.requestsPerSecond} | ${p.load.errors.non2xx} | ${Object.entries(
          p.cpuMsPerRequest,
        )
          .filter(([, v]) => v > 0)
          .map(([n, v]) => `${n} ${v}`)
          .join(', ')} |`,
    ),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

main().catch((err: unknown) => {
  console.error((err as Error).stack ?? String(err));
  process.exit(1);
});
