/**
 * `npm run shards -- <command>`: the shard manager.
 *
 * ```
 * status                                    physical shards, logical shards per shard, moves in flight, slot lag
 * move <ls>[,<ls>…] --to <shardId> [--dry-run]
 * rebalance [--dry-run] [--batch 2] [--pause-ms 10000]
 * verify <ls>                               compare a logical shard on its move's source and target
 * abort <ls>                                roll a move in flight back to its source
 * ```
 * Options of move and rebalance: --rollback-window-ms (60000), --fence-timeout-ms (5000),
 * --catch-up-timeout-ms (30000), --sync-timeout-ms (900000), --lock-timeout-ms (60000), --map-refresh-ms (the
 * app's SHARD_MAP_REFRESH_MS when set, else 1000: the fence waits that plus 250 ms before the REVOKE). Connections:
 * see endpoints.ts.
 * Exit codes: 0 done, 1 a move was rolled back or verify found differences, 2 usage or configuration error,
 * 3 any other failure.
 */
import { Client } from 'pg';
import { PgShardControl } from './control';
import { shardEndpointsFromEnv, type ShardEndpoint } from './endpoints';
import { MoveAbortedError, replicationName, ShardMover, type ShardMoverOptions } from './move';
import { describePlan, planRebalance } from './rebalance';
import { describeVerify } from './verify';

/** A usage error (exit code 2). */
class UsageError extends Error {}

const USAGE = `usage: npm run shards -- status
       npm run shards -- move <ls>[,<ls>…] --to <shardId> [--dry-run]
       npm run shards -- rebalance [--dry-run] [--batch <n>] [--pause-ms <ms>]
       npm run shards -- verify <ls>
       npm run shards -- abort <ls>`;

const NUMERIC_OPTIONS = [
  'rollback-window-ms',
  'fence-timeout-ms',
  'catch-up-timeout-ms',
  'sync-timeout-ms',
  'lock-timeout-ms',
  'map-refresh-ms',
  'batch',
  'pause-ms',
] as const;

interface Args {
  command: string;
  positional: string[];
  to?: string;
  dryRun: boolean;
  numbers: Partial<Record<(typeof NUMERIC_OPTIONS)[number], number>>;
}

function parseArgs(argv: string[]): Args {
  const [command, ...rest] = argv;
  if (!command) throw new UsageError(USAGE);
  const args: Args = { command, positional: [], dryRun: false, numbers: {} };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--dry-run') args.dryRun = true;
    else if (arg === '--to') args.to = rest[++i];
    else if (arg.startsWith('--') && (NUMERIC_OPTIONS as readonly string[]).includes(arg.slice(2))) {
      const value = Number(rest[++i]);
      if (!Number.isFinite(value) || value < 0)
        throw new UsageError(`${arg} needs a non-negative number, got "${rest[i] ?? ''}"`);
      args.numbers[arg.slice(2) as (typeof NUMERIC_OPTIONS)[number]] = value;
    } else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}\n${USAGE}`);
    else args.positional.push(arg);
  }
  return args;
}

function logicalShards(text: string | undefined): number[] {
  if (!text) throw new UsageError(`give the logical shard(s), e.g. 17 or 17,18\n${USAGE}`);
  return text.split(',').map((part) => {
    const n = Number(part);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`"${part}" is not a logical shard number`);
    return n;
  });
}

async function connect(shard: ShardEndpoint): Promise<Client> {
  const client = new Client({
    connectionString: shard.url,
    application_name: 'shard-manager',
    connectionTimeoutMillis: 10_000,
  });
  await client.connect();
  return client;
}

/**
 * The app instances' map refresh interval from the app's own variable, SHARD_MAP_REFRESH_MS (unset: the mover's
 * default, the app's default). Same bounds as the app's configuration.
 */
function mapRefreshFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.SHARD_MAP_REFRESH_MS;
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 100 || value > 60_000)
    throw new UsageError(
      `SHARD_MAP_REFRESH_MS must be the app instances' value, an integer from 100 to 60000 (ms), got "${text}"; ` +
        'or pass --map-refresh-ms',
    );
  return value;
}

/** A hook that, at `step`, says so and never returns (the crash-injection test kills the process there). */
function pauseAt(step: string, when: string, out: (line: string) => void) {
  return async (reached: string): Promise<void> => {
    if (reached !== step) return;
    out(`paused ${when} ${step}`);
    await new Promise(() => setInterval(() => undefined, 60_000));
  };
}

/** Runs the CLI; resolves to the exit code. */
export async function runShardsCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  let args: Args;
  let shards: ShardEndpoint[];
  let mapRefreshMs: number | undefined;
  try {
    args = parseArgs(argv);
    if (!['status', 'move', 'rebalance', 'verify', 'abort'].includes(args.command))
      throw new UsageError(`unknown command "${args.command}"\n${USAGE}`);
    shards = shardEndpointsFromEnv(env);
    mapRefreshMs = args.numbers['map-refresh-ms'] ?? mapRefreshFromEnv(env);
    if (mapRefreshMs !== undefined && !Number.isInteger(mapRefreshMs))
      throw new UsageError(
        `--map-refresh-ms needs a whole number of ms (the app's SHARD_MAP_REFRESH_MS), got ${mapRefreshMs}`,
      );
  } catch (err) {
    out(`Error: ${(err as Error).message}`);
    return 2;
  }
  let controlDb: Client;
  try {
    controlDb = await connect(shards.find((s) => s.id === '0')!);
  } catch (err) {
    out(`Error: cannot reach shard 0 (the control database): ${(err as Error).message}`);
    return 3;
  }
  controlDb.on('error', () => undefined);
  const control = new PgShardControl(controlDb);
  const pauseAfter = env.SHARDS_PAUSE_AFTER_STEP;
  const pauseBefore = env.SHARDS_PAUSE_BEFORE_RECORDING;
  const options: ShardMoverOptions = {
    control,
    shards,
    connect,
    log: (line) => out(line),
    rollbackWindowMs: args.numbers['rollback-window-ms'],
    fenceTimeoutMs: args.numbers['fence-timeout-ms'],
    catchUpTimeoutMs: args.numbers['catch-up-timeout-ms'],
    syncTimeoutMs: args.numbers['sync-timeout-ms'],
    lockTimeoutMs: args.numbers['lock-timeout-ms'],
    mapRefreshMs,
    // Crash-injection tests: stop at a step (after recording it, or with its work done but not recorded) and
    // wait to be killed.
    ...(pauseAfter ? { afterStep: pauseAt(pauseAfter, 'after', out) } : {}),
    ...(pauseBefore ? { beforeRecord: pauseAt(pauseBefore, 'before recording', out) } : {}),
  };
  const mover = new ShardMover(options);
  try {
    switch (args.command) {
      case 'status': {
        await control.ensure();
        const map = await control.map();
        for (const shard of shards) {
          const held = map.filter((e) => e.shardId === shard.id);
          const states = held.filter((e) => e.state !== 'active').map((e) => `${e.logicalShard} ${e.state}`);
          out(
            `shard ${shard.id}: ${held.length} logical shards${states.length ? ` (${states.join(', ')})` : ''}`,
          );
        }
        const unknown = map.filter((e) => !shards.some((s) => s.id === e.shardId));
        if (unknown.length)
          out(`not configured: ${unknown.map((e) => `${e.logicalShard} on "${e.shardId}"`).join(', ')}`);
        out(`map epoch: ${Math.max(0, ...map.map((e) => e.epoch))}`);
        const moves = await mover.moves();
        out(moves.length ? 'moves in flight:' : 'moves in flight: none');
        for (const m of moves)
          out(
            `  ls ${m.logicalShard}: ${m.sourceShard} -> ${m.targetShard}, step ${m.step}, slot lag ` +
              `${m.slotLagBytes ?? '-'} bytes, since ${m.startedAt.toISOString()}${m.error ? `, error: ${m.error}` : ''}`,
          );
        const slots = await mover.slots();
        const ours = (slot: string) =>
          moves.some(
            (m) =>
              slot === replicationName(m.logicalShard) ||
              (m.subscriptionOid !== null && slot.startsWith(`pg_${m.subscriptionOid}_sync_`)),
          );
        for (const s of slots.filter((slot) => !ours(slot.slot)))
          out(
            `  leftover slot ${s.slot} on shard ${s.shardId} (lag ${s.lagBytes ?? '-'} bytes, retains WAL): ` +
              'drop it with SELECT pg_drop_replication_slot(...) after checking nothing uses it',
          );
        return 0;
      }
      case 'move': {
        const list = logicalShards(args.positional[0]);
        if (!args.to) throw new UsageError(`move needs --to <shardId>\n${USAGE}`);
        if (!shards.some((s) => s.id === args.to))
          throw new UsageError(
            `--to ${args.to}: no such shard (configured: ${shards.map((s) => s.id).join(', ')})`,
          );
        if (args.dryRun) {
          const map = await control.map();
          for (const ls of list) {
            const entry = map.find((e) => e.logicalShard === ls);
            out(entry ? `would move ls ${ls}: ${entry.shardId} -> ${args.to}` : `ls ${ls} is not in the map`);
          }
          return 0;
        }
        for (const ls of list) {
          const result = await mover.move(ls, args.to);
          out(
            result.alreadyThere
              ? `ls ${ls} is already on shard ${args.to}`
              : `moved ls ${ls}: ${result.from} -> ${result.to}` +
                  (result.fenceMs === undefined
                    ? ''
                    : ` (writes fenced ${result.fenceMs} ms, ${result.settleMs} ms of it waiting for the instances to see the fence)`),
          );
        }
        return 0;
      }
      case 'rebalance': {
        await control.ensure();
        const inFlight = await control.moves();
        if (inFlight.length > 0 && !args.dryRun)
          throw new UsageError(
            `moves in flight (${inFlight.map((m) => m.logicalShard).join(', ')}): finish or abort them first`,
          );
        const plan = planRebalance({
          map: await control.map(),
          shards: shards.map((s) => s.id),
          batchSize: args.numbers.batch,
        });
        out(describePlan(plan));
        if (args.dryRun) return 0;
        const pauseMs = args.numbers['pause-ms'] ?? 10_000;
        for (const [i, batch] of plan.batches.entries()) {
          for (const move of batch) {
            const result = await mover.move(move.logicalShard, move.to);
            out(`moved ls ${move.logicalShard}: ${result.from} -> ${result.to}`);
          }
          if (i < plan.batches.length - 1) {
            out(`batch ${i + 1}/${plan.batches.length} done; pausing ${pauseMs} ms`);
            await new Promise((resolve) => setTimeout(resolve, pauseMs));
          }
        }
        return 0;
      }
      case 'verify': {
        const [ls] = logicalShards(args.positional[0]);
        const result = await mover.verify(ls);
        for (const t of result.tables)
          out(`${t.table}: source ${t.sourceRows} rows, target ${t.targetRows} rows, ${t.ranges} ranges`);
        out(describeVerify(result));
        return result.ok ? 0 : 1;
      }
      case 'abort': {
        const [ls] = logicalShards(args.positional[0]);
        const { aborted } = await mover.abort(ls);
        out(aborted ? `aborted the move of ls ${ls}` : `ls ${ls} has no move in flight`);
        return 0;
      }
    }
    return 2;
  } catch (err) {
    out(`Error: ${(err as Error).message}`);
    if (err instanceof UsageError) return 2;
    return err instanceof MoveAbortedError ? 1 : 3;
  } finally {
    await mover.close();
    await controlDb.end().catch(() => undefined);
  }
}

if (require.main === module) {
  void runShardsCli(process.argv.slice(2), process.env, (line) => process.stdout.write(`${line}\n`)).then(
    (code) => {
      process.exitCode = code;
    },
  );
}
