/**
 * `npm run local -- --stage 1m`: starts stage 1m's local topology (2 private PostgreSQL shards, the system Redis
 * under a key prefix of its own, migrations, the products, users and orders services and the API gateway), seeds
 * the demo catalog, prints the URL, and removes everything on Ctrl-C (SIGINT), SIGTERM or exit.
 * `--stage 100k` runs the monolith on the same layout instead; `--products-replicas 2` runs two products processes
 * (as AWS runs at least 2 tasks) behind the gateway's round-robin. `--stage global` runs three regions on one machine
 * behind the geo router (tools/local-topology/global.ts), and reads commands on stdin for a regional drill:
 * `kill <region>` (its processes crash), `failover <region>` (the writers move there once the home region is
 * down: GlobalTopology.failOverTo) and `regions` (each region's part).
 */
import { createInterface } from 'node:readline';
import { startGlobalTopology, type GlobalTopology } from './global';
import { VIEWER_COUNTRY_HEADER } from './geo-router';
import {
  startLocalTopology,
  THROWAWAY_POSTGRES_SETTINGS,
  type LocalStage,
  type LocalTopology,
} from './services';

const USAGE =
  'usage: npm run local -- --stage 1m|100k|global [--port <gateway or router port>] [--products-replicas <1-8>] [--verbose]';

function parseArgs(argv: string[]): {
  stage: LocalStage | 'global';
  port?: number;
  productsReplicas: number;
  verbose: boolean;
} {
  let stage: LocalStage | 'global' = '1m';
  let port: number | undefined;
  let productsReplicas = 1;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--stage') {
      const value = argv[++i];
      if (value !== '1m' && value !== '100k' && value !== 'global')
        throw new Error(`--stage must be 1m, 100k or global (got "${value}")\n${USAGE}`);
      stage = value;
    } else if (arg === '--port') {
      port = Number(argv[++i]);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new Error(`--port must be a port number\n${USAGE}`);
    } else if (arg === '--products-replicas') {
      productsReplicas = Number(argv[++i]);
      if (!Number.isInteger(productsReplicas) || productsReplicas < 1 || productsReplicas > 8)
        throw new Error(`--products-replicas must be an integer from 1 to 8\n${USAGE}`);
    } else if (arg === '--verbose') verbose = true;
    else throw new Error(`unknown argument "${arg}"\n${USAGE}`);
  }
  if (stage === 'global' && productsReplicas !== 1)
    throw new Error(`--products-replicas applies to stages 1m and 100k only\n${USAGE}`);
  return { stage, port, productsReplicas, verbose };
}

/** Prints each region's part, gateway, servers and processes. */
function printRegions(topology: GlobalTopology): void {
  for (const region of topology.regions) {
    process.stdout.write(`\n${region.name} (${region.role}): gateway ${region.url}\n`);
    process.stdout.write(
      `  databases ${region.databaseEnv.DATABASE_URL} + ${region.databaseEnv.SHARD_ENDPOINTS}\n`,
    );
    process.stdout.write(`  redis cache ${region.redis.cacheUrl}, sessions ${region.redis.sessionUrl}\n`);
    for (const p of region.topology.processes.values())
      process.stdout.write(`  ${p.name.padEnd(10)} ${p.url}${p.pid === undefined ? '  (down)' : ''}\n`);
  }
}

const DRILL_HELP =
  'commands (type one and Enter): kill <region> | failover <region> | regions | help\n' +
  "  kill <region>      every process of the region crashes (SIGKILL); the router's health checks notice\n" +
  '  failover <region>  after the home region was killed: its data servers stop, <region> is promoted and\n' +
  '                     becomes the home region (as npm run global -- failover and -c writerRegion in AWS)\n';

/**
 * The regional drill on stdin (one command a line, one at a time): an unknown command or a refused one prints
 * why and the topology keeps running.
 */
function readDrillCommands(topology: GlobalTopology): void {
  let queue = Promise.resolve();
  const run = async (line: string) => {
    const [command, region, ...rest] = line.trim().split(/\s+/);
    if (!command) return;
    if (command === 'help' || rest.length > 0) process.stdout.write(DRILL_HELP);
    else if (command === 'regions') printRegions(topology);
    else if (command === 'kill' && region) {
      await topology.killRegion(region);
      process.stdout.write(`${region}: every process killed\n`);
    } else if (command === 'failover' && region) {
      process.stdout.write(`failing over to ${region}...\n`);
      await topology.failOverTo(region);
      process.stdout.write(
        `${region} is the home region now (writes, pinned reads and the default go there)\n`,
      );
      printRegions(topology);
    } else process.stdout.write(DRILL_HELP);
  };
  // terminal: false leaves the terminal cooked, so Ctrl-C still stops everything.
  createInterface({ input: process.stdin, terminal: false }).on('line', (line) => {
    queue = queue.then(() =>
      run(line).catch((err: unknown) => {
        process.stdout.write(`${(err as Error).message}\n`);
      }),
    );
  });
}

/** `--stage global`: the three regions and the router; prints each region's processes and how to pick a region. */
async function startGlobal(
  args: ReturnType<typeof parseArgs>,
  started: { topology?: { stop(): Promise<void> } },
  isStopping: () => boolean,
): Promise<void> {
  const topology: GlobalTopology = await startGlobalTopology({
    seedDemoData: true,
    // (its data is removed on exit: no fsync, a faster start)
    postgresSettings: THROWAWAY_POSTGRES_SETTINGS,
    routerPort: args.port,
    env: { LOG_LEVEL: args.verbose ? 'info' : 'warn' },
    onOutput: (region, name, line) => process.stdout.write(`[${region} ${name}] ${line}\n`),
  });
  started.topology = topology;
  if (isStopping()) {
    await topology.stop();
    return;
  }
  printRegions(topology);
  process.stdout.write(
    `\nshop: ${topology.url}  (the geo router; Ctrl-C stops everything and removes its data)\n` +
      `pick a region with the header CloudFront sets, e.g.\n` +
      `  curl -si -H '${VIEWER_COUNTRY_HEADER}: FR' ${topology.url}/api/products | grep -i x-served-region\n\n` +
      DRILL_HELP,
  );
  readDrillCommands(topology);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  // Set once started; a signal during the start-up leaves the clean-up to the exit handlers of the processes
  // and servers started so far (they kill their children and stop their Postgres servers on exit).
  const started: { topology?: Pick<LocalTopology, 'stop'> } = {};
  let stopping = false;
  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping the local topology...\n');
    void (started.topology?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  process.stdout.write(
    `starting the local topology of stage ${args.stage} (Postgres shards, migrations, services)...\n`,
  );
  if (args.stage === 'global') return startGlobal(args, started, () => stopping);
  const topology = await startLocalTopology({
    stage: args.stage,
    seedDemoData: true,
    // (its data is removed on exit: no fsync, a faster start)
    postgresSettings: THROWAWAY_POSTGRES_SETTINGS,
    gatewayPort: args.port,
    productsReplicas: args.productsReplicas,
    env: { LOG_LEVEL: args.verbose ? 'info' : 'warn' },
    onOutput: (name, line) => process.stdout.write(`[${name}] ${line}\n`),
  });
  started.topology = topology;
  if (stopping) {
    await topology.stop();
    return;
  }
  for (const p of topology.processes.values())
    process.stdout.write(
      `  ${p.name.padEnd(10)} ${p.url}${p.metricsUrl ? `  (metrics ${p.metricsUrl}/metrics)` : ''}` +
        `${p.internalUrl ? `  (internal API ${p.internalUrl})` : ''}\n`,
    );
  process.stdout.write(`\nshop: ${topology.url}  (Ctrl-C stops everything and removes its data)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`local topology failed: ${(err as Error).message}\n`);
  process.exit(1);
});
