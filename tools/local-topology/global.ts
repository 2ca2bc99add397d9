/**
 * The local topology of stage global: three regions on one machine (`npm run local -- --stage global`).
 *
 * - Home region (first): stage 1m's local topology as it is (tools/local-topology/services.ts: 2 private
 *   PostgreSQL shards as the primaries, migrations, products, users, orders and the gateway) with
 *   `REGION_ROLE=home`, on a private Redis of its own (cache, sessions, queues: the Global Datastore primary).
 * - Every other region: a streaming standby of each home shard (pg_basebackup, global-postgres.ts: the Aurora
 *   secondary cluster), a read-only Redis replica of the home Redis for sessions (`redis-server --replicaof`: the
 *   Global Datastore secondary) and a regional cache Redis, and the same services and gateway with
 *   `REGION_ROLE=secondary`, every database URL (writer = reader) on the region's standbys.
 * - The geo router (geo-router.ts) in front: CloudFront's `/api/*` function and Route 53's geolocation records,
 *   health checks and failover pairs.
 *
 * Every region shares the session secret and the Redis key prefix (the sessions replicate under their keys).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { startGeoRouter, type GeoRouter } from './geo-router';
import { startStandby, type Standby } from './global-postgres';
import { startRedisServer, type RedisServer } from './global-redis';
import { startLocalTopology, type LocalTopology, type ProcessName } from './services';

/** The regions of the local topology by default (home first), as the CDK context's `regions` example. */
export const DEFAULT_REGIONS: readonly string[] = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];

/** Options of {@link startGlobalTopology}. */
export interface GlobalTopologyOptions {
  /** Region codes, home first (at least 2). @default DEFAULT_REGIONS */
  readonly regions?: readonly string[];
  /** Seed the demo catalog in the home region (the CLI does; tests create their own). @default false */
  readonly seedDemoData?: boolean;
  /** More environment for every app process of every region (e.g. ADMIN_EMAILS). */
  readonly env?: Readonly<Record<string, string>>;
  /** More environment for every gateway. */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
  /** Where process output goes: every line with its region and process name. @default - kept in memory only */
  readonly onOutput?: (region: string, name: ProcessName, line: string) => void;
  /** The router's port. @default - a free port */
  readonly routerPort?: number;
  /** The router's health-check interval, ms. @default 1000 */
  readonly healthCheckIntervalMs?: number;
  /** The router's failure threshold (checks in a row). @default 2 */
  readonly failureThreshold?: number;
  /** One inter-region round trip the router adds to a request served outside its viewer's region, ms. @default 0 */
  readonly interRegionLatencyMs?: number;
}

/** One region of the running topology. */
export interface GlobalRegion {
  readonly name: string;
  readonly role: 'home' | 'secondary';
  /** Its app processes and gateway. */
  readonly topology: LocalTopology;
  /** Its gateway (the region's own front door, `api-<region>` in AWS). */
  readonly url: string;
  /** The database environment its processes use (the primaries at home, the standbys elsewhere). */
  readonly databaseEnv: Readonly<Record<string, string>>;
  /** Its cache Redis, and the Redis its sessions are read from. */
  readonly redis: { readonly cacheUrl: string; readonly sessionUrl: string };
  /** Waits until the region's databases have replayed everything written so far (no-op at home). */
  waitForReplication(timeoutMs?: number): Promise<void>;
  /** Pauses (true) or resumes (false) WAL replay on every database of a secondary region: a region that lags. */
  pauseReplication(paused: boolean): Promise<void>;
}

/** A running three-region topology. */
export interface GlobalTopology {
  /** The geo router's URL: what a browser opens. */
  readonly url: string;
  readonly router: GeoRouter;
  readonly home: string;
  /** The regions, home first. */
  readonly regions: readonly GlobalRegion[];
  region(name: string): GlobalRegion;
  /**
   * The home region's app environment (primaries, home Redis, key prefix, session secret): for an in-process app
   * on the same data (tests' admin grant and database checks).
   */
  readonly env: Readonly<Record<string, string>>;
  /** Kills (SIGKILL) every app process and the gateway of a region, as a regional outage; resolves once gone. */
  killRegion(name: string): Promise<void>;
  /** Stops everything and removes the data. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the topology; on any failure it stops what it started and rethrows. */
export async function startGlobalTopology(options: GlobalTopologyOptions = {}): Promise<GlobalTopology> {
  const regionNames = options.regions ?? DEFAULT_REGIONS;
  if (regionNames.length < 2 || new Set(regionNames).size !== regionNames.length)
    throw new Error(
      `regions must be at least 2 distinct region codes, home first (got ${regionNames.join(', ')})`,
    );
  const [home, ...secondaries] = regionNames;
  // Every server and process started here registers its own exit clean-up: about 30 listeners for 3 regions.
  process.setMaxListeners(Math.max(process.getMaxListeners(), 64));
  const redisServers: RedisServer[] = [];
  const standbys: Standby[] = [];
  const topologies: LocalTopology[] = [];
  let router: GeoRouter | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await router?.close();
    // The secondaries first (they read from the home region's servers), then the home region, then the data.
    await Promise.allSettled(topologies.slice(1).map((t) => t.stop()));
    await topologies[0]?.stop();
    await Promise.allSettled(standbys.map((s) => s.stop()));
    await Promise.allSettled(redisServers.map((r) => r.stop()));
  };
  const shared = {
    SESSION_SECRET: randomBytes(32).toString('hex'),
    REDIS_KEY_PREFIX: `local-global-${randomBytes(4).toString('hex')}:`,
    HOME_REGION: home,
  };
  const output = (region: string) =>
    options.onOutput ? (name: ProcessName, line: string) => options.onOutput!(region, name, line) : undefined;

  try {
    const homeRedis = await startRedisServer();
    redisServers.push(homeRedis);
    const regionalRedis = await Promise.all(
      secondaries.map(async () => {
        const [session, cache] = await Promise.all([
          startRedisServer({ replicaOf: homeRedis }),
          startRedisServer(),
        ]);
        redisServers.push(session, cache);
        return { session, cache };
      }),
    );

    const homeTopology = await startLocalTopology({
      stage: '1m',
      seedDemoData: options.seedDemoData,
      redisUrl: homeRedis.url,
      env: { ...options.env, ...shared, REGION_ROLE: 'home', REDIS_URL: homeRedis.url },
      gatewayEnv: options.gatewayEnv,
      onOutput: output(home),
    });
    topologies.push(homeTopology);
    const primaries = {
      shard0: homeTopology.env.DATABASE_URL,
      shards: JSON.parse(homeTopology.env.SHARD_ENDPOINTS) as { id: string; url: string }[],
    };

    // One standby per home shard per region (the Aurora secondary clusters), cloned one after another: the fast
    // checkpoint of one clone may recycle WAL another clone still streams. The primaries also keep 256 MB of WAL for
    // a standby that falls behind (each standby has its own replication slot as well).
    for (const url of [primaries.shard0, ...primaries.shards.map((s) => s.url)]) {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        await client.query("ALTER SYSTEM SET wal_keep_size = '256MB'");
        await client.query('SELECT pg_reload_conf()');
      } finally {
        await client.end();
      }
    }
    const regionStandbys: { shard0: Standby; shards: { id: string; standby: Standby }[] }[] = [];
    for (let i = 0; i < secondaries.length; i++) {
      const clones: Standby[] = [];
      for (const url of [primaries.shard0, ...primaries.shards.map((s) => s.url)]) {
        const standby = await startStandby(url);
        standbys.push(standby);
        clones.push(standby);
      }
      const [shard0, ...shards] = clones;
      regionStandbys.push({
        shard0,
        shards: shards.map((standby, j) => ({ id: primaries.shards[j].id, standby })),
      });
    }
    const databaseEnvOf = (i: number) => {
      const { shard0, shards } = regionStandbys[i];
      return {
        // No writer in a secondary region: writer = reader = the region's replica (the contract's DB_HOST).
        DATABASE_URL: shard0.url,
        DATABASE_READER_URL: shard0.url,
        SHARD_ENDPOINTS: JSON.stringify(
          shards.map((s) => ({ id: s.id, url: s.standby.url, readerUrl: s.standby.url })),
        ),
      };
    };
    // One region after another: a dozen processes starting at once on a small machine time out their readiness.
    const secondaryTopologies: LocalTopology[] = [];
    for (const [i, region] of secondaries.entries()) {
      const topology = await startLocalTopology({
        stage: '1m',
        redisUrl: regionalRedis[i].cache.url,
        databaseEnv: databaseEnvOf(i),
        env: {
          ...options.env,
          ...shared,
          REGION_ROLE: 'secondary',
          REDIS_URL: regionalRedis[i].cache.url,
          SESSION_REDIS_URL: regionalRedis[i].session.url,
        },
        gatewayEnv: options.gatewayEnv,
        onOutput: output(region),
      });
      topologies.push(topology);
      secondaryTopologies.push(topology);
    }

    const regions: GlobalRegion[] = [
      {
        name: home,
        role: 'home',
        topology: homeTopology,
        url: homeTopology.url,
        databaseEnv: { DATABASE_URL: primaries.shard0, SHARD_ENDPOINTS: homeTopology.env.SHARD_ENDPOINTS },
        redis: { cacheUrl: homeRedis.url, sessionUrl: homeRedis.url },
        waitForReplication: async () => {},
        pauseReplication: async () => {
          throw new Error(`${home} is the home region: its databases are the primaries, they do not replay`);
        },
      },
      ...secondaries.map((name, i): GlobalRegion => ({
        name,
        role: 'secondary',
        topology: secondaryTopologies[i],
        url: secondaryTopologies[i].url,
        databaseEnv: databaseEnvOf(i),
        redis: { cacheUrl: regionalRedis[i].cache.url, sessionUrl: regionalRedis[i].session.url },
        waitForReplication: async (timeoutMs) => {
          const { shard0, shards } = regionStandbys[i];
          await Promise.all(
            [shard0, ...shards.map((s) => s.standby)].map((s) => s.waitForCatchUp(timeoutMs)),
          );
        },
        pauseReplication: async (paused) => {
          const { shard0, shards } = regionStandbys[i];
          await Promise.all(
            [shard0, ...shards.map((s) => s.standby)].map((s) =>
              paused ? s.pauseReplay() : s.resumeReplay(),
            ),
          );
        },
      })),
    ];
    router = await startGeoRouter({
      regions: regions.map((r) => ({ name: r.name, url: r.url })),
      healthCheckIntervalMs: options.healthCheckIntervalMs,
      failureThreshold: options.failureThreshold,
      interRegionLatencyMs: options.interRegionLatencyMs,
      port: options.routerPort,
    });
    const byName = new Map(regions.map((r) => [r.name, r]));
    const region = (name: string) => {
      const found = byName.get(name);
      if (!found) throw new Error(`no region "${name}" in the topology (${regionNames.join(', ')})`);
      return found;
    };
    return {
      url: router.url,
      router,
      home,
      regions,
      region,
      env: {
        ...homeTopology.env,
        ...shared,
        REGION_ROLE: 'home',
        REDIS_URL: homeRedis.url,
      },
      killRegion: async (name) => {
        const { topology } = region(name);
        await Promise.all([...topology.processes.keys()].map((p) => topology.kill(p)));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
