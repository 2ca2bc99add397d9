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
 *
 * {@link GlobalTopology.failOverTo} moves the writers to another region once the home region is down: the Aurora
 * global failover and the Global Datastore promotion (`npm run global -- failover`), then the deploy with
 * `-c writerRegion` (the services' roles, the edge's and Route 53's write routing).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { startGeoRouter, type GeoRouter } from './geo-router';
import { startStandby, type Standby } from './global-postgres';
import { startRedisServer, type RedisServer } from './global-redis';
import { startLocalTopology, type LocalTopology, type ProcessName } from './services';

/**
 * A region's part: `home` has the writers (the first region until {@link GlobalTopology.failOverTo} moves them),
 * `secondary` reads its replicas, `failed` is a former home region after a failover (its processes and data
 * servers stopped; the local topology does not bring it back).
 */
export type GlobalRegionRole = 'home' | 'secondary' | 'failed';

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
  /**
   * More `postgresql.conf` settings for the home region's servers (the standbys copy them), e.g.
   * THROWAWAY_POSTGRES_SETTINGS (services.ts). @default - PostgreSQL's defaults (durable commits)
   */
  readonly postgresSettings?: Readonly<Record<string, string>>;
  /** One inter-region round trip the router adds to a request served outside its viewer's region, ms. @default 0 */
  readonly interRegionLatencyMs?: number;
}

/** One region of the running topology. */
export interface GlobalRegion {
  readonly name: string;
  /** Its part now (it changes with {@link GlobalTopology.failOverTo}). */
  readonly role: GlobalRegionRole;
  /** Its app processes and gateway. */
  readonly topology: LocalTopology;
  /** Its gateway (the region's own front door, `api-<region>` in AWS). */
  readonly url: string;
  /**
   * The database environment its processes use: the first region's primaries; elsewhere the region's standbys,
   * which stay at these URLs when a failover promotes them.
   */
  readonly databaseEnv: Readonly<Record<string, string>>;
  /** Its cache Redis, and the Redis its sessions are read from (and written to, at home). */
  readonly redis: { readonly cacheUrl: string; readonly sessionUrl: string };
  /** Waits until the region's databases have replayed everything written so far (no-op unless secondary). */
  waitForReplication(timeoutMs?: number): Promise<void>;
  /** Pauses (true) or resumes (false) WAL replay on every database of a secondary region: a region that lags. */
  pauseReplication(paused: boolean): Promise<void>;
}

/** A running three-region topology. */
export interface GlobalTopology {
  /** The geo router's URL: what a browser opens. */
  readonly url: string;
  readonly router: GeoRouter;
  /** The home region: the one with the writers (the first region until {@link failOverTo}). */
  readonly home: string;
  /** The regions in the deployment's order (the first is the home region until {@link failOverTo}). */
  readonly regions: readonly GlobalRegion[];
  region(name: string): GlobalRegion;
  /**
   * The home region's app environment (its writers, its Redis, key prefix, session secret): for an in-process app
   * on the same data (tests' admin grant and database checks). It follows {@link failOverTo}.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Kills (SIGKILL) every app process and the gateway of a region, as a regional outage; resolves once gone. */
  killRegion(name: string): Promise<void>;
  /**
   * Moves the writers to `region` after the home region went down ({@link killRegion}), as in AWS the failover
   * (`npm run global -- failover --to <region>`: Aurora's global failover, the Global Datastore's promotion) and
   * then the deploy with `-c writerRegion=<region>` do:
   *
   * 1. the home region's data servers are stopped (its Redis once every session replica has what it had; its
   *    PostgreSQL servers fast, which streams their last WAL to the standbys): the old writers are gone for good;
   * 2. every standby replays what it received; `region`'s must have all the others have (else it throws);
   * 3. `region`'s standbys are promoted (`pg_promote`) and take writes; every other region's standbys stream from
   *    them (`primary_conninfo`, reload; they follow the new timeline) and have caught up;
   * 4. `region`'s session replica takes writes (`REPLICAOF NO ONE`) and the other regions' replicate it;
   * 5. `region`'s processes are redeployed with `REGION_ROLE=home` and `HOME_REGION=<region>` (same URLs: the
   *    promoted servers), the router sends writes, pinned reads and the `*` default there, and every other region's
   *    processes are redeployed with the new `HOME_REGION`.
   *
   * The former home region is `failed` from then on. Only the failover is emulated: a home region whose processes
   * still run is refused (a planned switchover would keep it as a secondary, which a PostgreSQL primary cannot
   * become without a new clone).
   */
  failOverTo(region: string): Promise<void>;
  /** Stops everything and removes the data. Idempotent. */
  stop(): Promise<void>;
}

/** A PostgreSQL LSN (`16/B374D848`) as a number, for comparing. */
function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/** Starts the topology; on any failure it stops what it started and rethrows. */
export async function startGlobalTopology(options: GlobalTopologyOptions = {}): Promise<GlobalTopology> {
  const regionNames = options.regions ?? DEFAULT_REGIONS;
  if (regionNames.length < 2 || new Set(regionNames).size !== regionNames.length)
    throw new Error(
      `regions must be at least 2 distinct region codes, home first (got ${regionNames.join(', ')})`,
    );
  const [first, ...secondaries] = regionNames;
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
  };
  // The region with the writers, and the former ones (failOverTo).
  let home = first;
  const failed = new Set<string>();
  const roleOf = (name: string): GlobalRegionRole =>
    failed.has(name) ? 'failed' : name === home ? 'home' : 'secondary';
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
      env: { ...options.env, ...shared, REGION_ROLE: 'home', HOME_REGION: first, REDIS_URL: homeRedis.url },
      gatewayEnv: options.gatewayEnv,
      onOutput: output(first),
      postgresSettings: options.postgresSettings,
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
          HOME_REGION: first,
          REDIS_URL: regionalRedis[i].cache.url,
          SESSION_REDIS_URL: regionalRedis[i].session.url,
        },
        gatewayEnv: options.gatewayEnv,
        onOutput: output(region),
      });
      topologies.push(topology);
      secondaryTopologies.push(topology);
    }

    // What each region runs on: the first region's primaries live in its topology; elsewhere the standbys.
    const data = new Map<
      string,
      {
        /** Shard 0's server, then each shard's, in SHARD_ENDPOINTS order (none: the first region's primaries). */
        standbys?: Standby[];
        sessions: RedisServer;
        stopDatabases(): Promise<void>;
      }
    >([
      [first, { sessions: homeRedis, stopDatabases: () => homeTopology.stopDatabases() }],
      ...secondaries.map((name, i) => {
        const { shard0, shards } = regionStandbys[i];
        const servers = [shard0, ...shards.map((s) => s.standby)];
        return [
          name,
          {
            standbys: servers,
            sessions: regionalRedis[i].session,
            stopDatabases: async () => {
              await Promise.all(servers.map((s) => s.stop()));
            },
          },
        ] as const;
      }),
    ]);
    const dataOf = (name: string) => data.get(name)!;
    const regionOf = (
      name: string,
      topology: LocalTopology,
      databaseEnv: Readonly<Record<string, string>>,
      redis: GlobalRegion['redis'],
    ): GlobalRegion => ({
      name,
      get role() {
        return roleOf(name);
      },
      topology,
      url: topology.url,
      databaseEnv,
      redis,
      waitForReplication: async (timeoutMs) => {
        if (roleOf(name) !== 'secondary') return;
        await Promise.all(dataOf(name).standbys!.map((s) => s.waitForCatchUp(timeoutMs)));
      },
      pauseReplication: async (paused) => {
        if (roleOf(name) !== 'secondary')
          throw new Error(
            `${name} is the ${roleOf(name)} region: only a secondary region's databases replay`,
          );
        await Promise.all(dataOf(name).standbys!.map((s) => (paused ? s.pauseReplay() : s.resumeReplay())));
      },
    });
    const regions: GlobalRegion[] = [
      regionOf(
        first,
        homeTopology,
        { DATABASE_URL: primaries.shard0, SHARD_ENDPOINTS: homeTopology.env.SHARD_ENDPOINTS },
        { cacheUrl: homeRedis.url, sessionUrl: homeRedis.url },
      ),
      ...secondaries.map((name, i) =>
        regionOf(name, secondaryTopologies[i], databaseEnvOf(i), {
          cacheUrl: regionalRedis[i].cache.url,
          sessionUrl: regionalRedis[i].session.url,
        }),
      ),
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
    const geoRouter = router;
    const failOverTo = async (to: string) => {
      region(to);
      const from = home;
      if (roleOf(to) !== 'secondary')
        throw new Error(`${to} is the ${roleOf(to)} region: fail over to a secondary region`);
      const running = [...region(from).topology.processes.values()].filter((p) => p.pid !== undefined);
      if (running.length > 0)
        throw new Error(
          `the home region ${from} still runs ${running.map((p) => p.name).join(', ')}: only a failover is ` +
            `emulated, once the home region's processes are down (killRegion); a planned switchover is not`,
        );
      const survivors = regionNames.filter((name) => roleOf(name) === 'secondary');
      const others = survivors.filter((name) => name !== to);

      // 1. The old writers go for good: sessions once every replica has them (the datastore's lag, zero here),
      // then the databases (a fast shutdown streams the last WAL to every connected standby).
      await Promise.all(survivors.map((name) => dataOf(name).sessions.waitForCatchUp()));
      await dataOf(from).sessions.stop();
      await dataOf(from).stopDatabases();
      // 2. What each standby got is all there is: the promoted one must have all the others have, or they could
      // not follow its new timeline (that would need pg_rewind or a new clone, which this does not do).
      const target = dataOf(to).standbys!;
      for (let k = 0; k < target.length; k++) {
        const ends = await Promise.all(
          survivors.map((name) => dataOf(name).standbys![k].waitForEndOfStream()),
        );
        const mine = lsnValue(ends[survivors.indexOf(to)]);
        const ahead = survivors.filter((_, j) => lsnValue(ends[j]) > mine);
        if (ahead.length > 0)
          throw new Error(
            `${ahead.join(', ')} replayed more of database ${k} than ${to} (${survivors
              .map((name, j) => `${name} ${ends[j]}`)
              .join(', ')}): it cannot follow ${to} once promoted`,
          );
      }
      // 3. Aurora's global failover: the target's standbys become the primaries; the others stream from them.
      await Promise.all(target.map((s) => s.promote()));
      for (const name of others)
        await Promise.all(dataOf(name).standbys!.map((s, k) => s.follow(target[k].url)));
      // 4. The Global Datastore's promotion.
      await dataOf(to).sessions.replicate(undefined);
      await Promise.all(others.map((name) => dataOf(name).sessions.replicate(dataOf(to).sessions)));

      // 5. The deploy with -c writerRegion: the writer region's services first, then the edge, then the others.
      home = to;
      failed.add(from);
      await region(to).topology.redeploy({ REGION_ROLE: 'home', HOME_REGION: to });
      geoRouter.setWriterRegion(to);
      for (const name of others) await region(name).topology.redeploy({ HOME_REGION: to });
    };
    return {
      url: router.url,
      router,
      get home() {
        return home;
      },
      regions,
      region,
      get env() {
        const writer = region(home);
        return {
          ...writer.databaseEnv,
          REDIS_URL: writer.redis.cacheUrl,
          ...(writer.redis.sessionUrl !== writer.redis.cacheUrl
            ? { SESSION_REDIS_URL: writer.redis.sessionUrl }
            : {}),
          ...shared,
          REGION_ROLE: 'home',
          HOME_REGION: home,
        };
      },
      killRegion: async (name) => {
        const { topology } = region(name);
        await Promise.all([...topology.processes.keys()].map((p) => topology.kill(p)));
      },
      failOverTo,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
