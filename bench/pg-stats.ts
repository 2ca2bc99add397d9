/**
 * Database load as the database sees it: `pg_stat_statements` on each Postgres server the benchmark starts
 * (loaded through `shared_preload_libraries`, reset before and read after each measured window).
 *
 * Every statement the app sends is one round trip (node-postgres sends Parse/Bind/Execute/Sync and waits for
 * ReadyForQuery), and `pg_stat_statements.track_utility` (on by default) also counts BEGIN/COMMIT, so the
 * calls are the round trips. The statements are classified by what they do (read, write, transaction
 * control, read-your-writes bookkeeping) and attributed to the route whose SQL they are, so the report can say
 * how many reads still reach the primary and how often a cached route reached the database at all.
 */
import { Client } from 'pg';

/** One normalised statement of `pg_stat_statements`. */
export interface StatementStat {
  readonly query: string;
  readonly calls: number;
  /** Total execution time, ms. */
  readonly totalExecMs: number;
  readonly rows: number;
  /** Shared buffer pages touched (hit + read): the statement's work, independent of CPU and lock waits. */
  readonly blocks?: number;
}

/** What a statement does. */
export type StatementKind = 'read' | 'write' | 'transaction' | 'replication-position' | 'other';

/** The workload route a statement belongs to (by its SQL), or `other`. */
export type StatementRoute =
  'productPage' | 'catalogPage' | 'myOrders' | 'placeOrder' | 'updateProduct' | 'other';

/** Settings that turn `pg_stat_statements` on in a server the benchmark starts. */
export const PG_STAT_STATEMENTS_SETTINGS: Readonly<Record<string, string>> = {
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'top',
  'pg_stat_statements.track_utility': 'on',
  'pg_stat_statements.max': '5000',
};

const normalise = (query: string) => query.replace(/\s+/g, ' ').trim();

/** Classifies a statement by what it does. */
export function classifyStatement(query: string): StatementKind {
  const q = normalise(query).toUpperCase();
  if (/^(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|END|SAVEPOINT|RELEASE)\b/.test(q)) return 'transaction';
  if (/PG_CURRENT_WAL_LSN|PG_LAST_WAL_REPLAY_LSN|PG_IS_IN_RECOVERY/.test(q)) return 'replication-position';
  if (/^(INSERT|UPDATE|DELETE|MERGE)\b/.test(q)) return 'write';
  if (/^WITH\b/.test(q) && /\b(INSERT\s+INTO|UPDATE\s+\w+\s+(AS\s+\w+\s+)?SET|DELETE\s+FROM)\b/.test(q))
    return 'write';
  if (/^(SELECT|WITH|TABLE|VALUES)\b/.test(q))
    return /\bFOR\s+(UPDATE|NO KEY UPDATE|SHARE)\b/.test(q) ? 'write' : 'read';
  return 'other';
}

/** Attributes a statement to the workload route whose SQL it is (the app's repositories), or `other`. */
export function statementRoute(query: string): StatementRoute {
  const q = normalise(query).toLowerCase();
  if (/^update products set .*price_cents/.test(q) && !/from unnest/.test(q)) return 'updateProduct';
  if (/insert into orders|insert into order_items|for update|update products set stock/.test(q))
    return 'placeOrder';
  if (/^select .* from products where id = \$1$/.test(q)) return 'productPage';
  if (/^select .* from products( where id > \$\d+)? order by id limit \$1$/.test(q)) return 'catalogPage';
  if (/^select .* from (orders|order_items) where/.test(q)) return 'myOrders';
  return 'other';
}

/** Sums of a set of statements. */
export interface StatementTotals {
  readonly calls: number;
  readonly execMs: number;
  /** Shared buffer pages touched (hit + read). */
  readonly blocks: number;
}

/** What one server did during a window, by kind and by route. */
export interface ServerStatements {
  readonly total: StatementTotals;
  readonly byKind: Readonly<Record<StatementKind, StatementTotals>>;
  /** Reads only, by route (e.g. product-page reads that were cache misses). */
  readonly readsByRoute: Readonly<Record<StatementRoute, StatementTotals>>;
  /** Every statement, by route. */
  readonly byRoute: Readonly<Record<StatementRoute, StatementTotals>>;
  /** The statements with the most execution time (query text shortened), for the JSON report. */
  readonly top: readonly {
    readonly query: string;
    readonly calls: number;
    readonly execMs: number;
    readonly kind: StatementKind;
  }[];
}

type MutableTotals = { calls: number; execMs: number; blocks: number };
const zero = (): MutableTotals => ({ calls: 0, execMs: 0, blocks: 0 });
const KINDS: readonly StatementKind[] = ['read', 'write', 'transaction', 'replication-position', 'other'];
const ROUTES: readonly StatementRoute[] = [
  'productPage',
  'catalogPage',
  'myOrders',
  'placeOrder',
  'updateProduct',
  'other',
];

/** Sums statements by kind and route. */
export function summariseStatements(stats: readonly StatementStat[]): ServerStatements {
  const total = zero();
  const byKind = Object.fromEntries(KINDS.map((k) => [k, zero()])) as Record<StatementKind, MutableTotals>;
  const byRoute = Object.fromEntries(ROUTES.map((r) => [r, zero()])) as Record<StatementRoute, MutableTotals>;
  const readsByRoute = Object.fromEntries(ROUTES.map((r) => [r, zero()])) as Record<
    StatementRoute,
    MutableTotals
  >;
  for (const s of stats) {
    const kind = classifyStatement(s.query);
    const route = statementRoute(s.query);
    for (const sum of [
      total,
      byKind[kind],
      byRoute[route],
      ...(kind === 'read' ? [readsByRoute[route]] : []),
    ]) {
      sum.calls += s.calls;
      sum.execMs += s.totalExecMs;
      sum.blocks += s.blocks ?? 0;
    }
  }
  const top = [...stats]
    .sort((a, b) => b.totalExecMs - a.totalExecMs)
    .slice(0, 12)
    .map((s) => ({
      query: normalise(s.query).slice(0, 160),
      calls: s.calls,
      execMs: Math.round(s.totalExecMs * 100) / 100,
      kind: classifyStatement(s.query),
    }));
  return { total, byKind, byRoute, readsByRoute, top };
}

/** Creates the extension (on a primary; a streaming replica gets it through replication). */
export async function createStatementsExtension(serverUrl: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } finally {
    await client.end();
  }
}

/** Forgets everything counted so far on a server (works on a hot standby too: it is shared memory only). */
export async function resetStatements(serverUrl: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_stat_statements_reset()');
  } finally {
    await client.end();
  }
}

/** The statements run in `database` since the last reset (the benchmark's own queries run elsewhere). */
export async function readStatements(serverUrl: string, database: string): Promise<StatementStat[]> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{
      query: string;
      calls: string;
      total_exec_time: number;
      rows: string;
      blocks: string;
    }>(
      `SELECT s.query, s.calls, s.total_exec_time, s.rows, s.shared_blks_hit + s.shared_blks_read AS blocks
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
       WHERE d.datname = $1`,
      [database],
    );
    return rows.map((r) => ({
      query: r.query,
      calls: Number(r.calls),
      totalExecMs: Number(r.total_exec_time),
      rows: Number(r.rows),
      blocks: Number(r.blocks),
    }));
  } finally {
    await client.end();
  }
}
