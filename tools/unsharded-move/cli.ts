/**
 * `npm run migrate-to-shards -- [run|status|verify|abort]`: the move from the unsharded layout (a running 10k
 * database's public users and orders) into the logical shard schemas on shard 0.
 *
 * ```
 * run [--batch-size 1000] [--fence-timeout-ms 5000] [--map-refresh-ms 1000] [--catch-up-timeout-ms 60000]
 *                                                     copy, fence, verify, flip (resumes a killed run)
 * status                                              the layout and the move's progress
 * verify                                              counts and checksums per logical shard, public vs schemas
 * abort                                               undo a move that has not flipped
 * ```
 * Connection (shard 0, as a login that may SET ROLE shop_owner): SHARDS_ADMIN_URL, else MIGRATION_DATABASE_URL,
 * else DATABASE_URL. --map-refresh-ms defaults to the app's SHARD_MAP_REFRESH_MS when set. Progress is printed as JSON lines. Exit codes: 0 done, 1 verification found differences (the
 * fence is lifted, nothing flipped), 2 usage or configuration error, 3 any other failure.
 */
import { Client } from 'pg';
import { MoveConfigurationError, MoveVerificationError, UnshardedMover } from './move';

const USAGE =
  'usage: npm run migrate-to-shards -- [run] [--batch-size <n>] [--fence-timeout-ms <ms>] [--map-refresh-ms <ms>]\n' +
  '         [--catch-up-timeout-ms <ms>]\n' +
  '       npm run migrate-to-shards -- status|verify|abort';

class UsageError extends Error {}

const OPTIONS = {
  '--batch-size': 'batchSize',
  '--fence-timeout-ms': 'fenceTimeoutMs',
  '--map-refresh-ms': 'mapRefreshMs',
  '--catch-up-timeout-ms': 'catchUpTimeoutMs',
} as const;

/**
 * Parses argv into the command and its numeric options; throws a {@link UsageError} naming what is wrong. The map
 * refresh interval defaults to the app's own variable, SHARD_MAP_REFRESH_MS, when `env` has it.
 */
export function parseArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
): {
  command: 'run' | 'status' | 'verify' | 'abort';
  batchSize?: number;
  fenceTimeoutMs?: number;
  mapRefreshMs?: number;
  catchUpTimeoutMs?: number;
} {
  const args = [...argv];
  const command = args[0] && !args[0].startsWith('--') ? args.shift()! : 'run';
  if (!['run', 'status', 'verify', 'abort'].includes(command))
    throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  const options: Record<string, number> = {};
  if (env.SHARD_MAP_REFRESH_MS) {
    const value = Number(env.SHARD_MAP_REFRESH_MS);
    if (!Number.isInteger(value) || value < 100 || value > 60_000)
      throw new UsageError(
        `SHARD_MAP_REFRESH_MS must be the app instances' value, an integer from 100 to 60000 (ms), got ` +
          `"${env.SHARD_MAP_REFRESH_MS}"; or pass --map-refresh-ms`,
      );
    options.mapRefreshMs = value;
  }
  while (args.length > 0) {
    const arg = args.shift()!;
    const [name, inline] = arg.split('=', 2);
    if (!(name in OPTIONS)) throw new UsageError(`unknown option "${arg}"\n${USAGE}`);
    const raw = inline ?? args.shift();
    const value = Number(raw);
    if (raw === undefined || !Number.isInteger(value) || value < 1)
      throw new UsageError(`${name}: "${raw ?? ''}" is not a positive integer`);
    options[OPTIONS[name as keyof typeof OPTIONS]] = value;
  }
  return { command: command as 'run', ...options };
}

async function main(argv: readonly string[]): Promise<number> {
  const { command, ...options } = parseArgs(argv, process.env);
  // An empty variable counts as unset.
  const url = process.env.SHARDS_ADMIN_URL || process.env.MIGRATION_DATABASE_URL || process.env.DATABASE_URL;
  if (!url)
    throw new UsageError(
      'SHARDS_ADMIN_URL, MIGRATION_DATABASE_URL or DATABASE_URL: none is set; give shard 0 as the migration login ' +
        '(postgres://owner@host:5432/shop)',
    );
  const client = new Client({ connectionString: url, application_name: 'shop-unsharded-move' });
  await client.connect();
  try {
    const print = (event: Record<string, unknown>) =>
      process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...event })}\n`);
    const mover = new UnshardedMover(client, { ...options, onProgress: print });
    if (command === 'status') print(await mover.status());
    else if (command === 'abort') await mover.abort();
    else if (command === 'verify') {
      const differences = await mover.verify();
      print({ step: 'verify', differences });
      return differences.length > 0 ? 1 : 0;
    } else print({ step: 'result', ...(await mover.run()) });
    return 0;
  } finally {
    await client.end().catch(() => {});
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`migrate-to-shards: ${err.message}\n`);
      process.exit(
        err instanceof UsageError || err instanceof MoveConfigurationError
          ? 2
          : err instanceof MoveVerificationError
            ? 1
            : 3,
      );
    },
  );
}
