import type { SqlExecutor } from './database';

/**
 * How far a reader connection's server has replayed the writer's WAL.
 *
 * - `primary`: the server is not in recovery (the reader endpoint points at the writer): it has every write.
 * - `replaying`: a streaming replica that reports its last replayed position.
 * - `unknown`: a server in recovery that reports no replay position. Aurora PostgreSQL readers share the
 *   writer's storage instead of replaying streamed WAL, and `pg_last_wal_replay_lsn()` may be NULL or not
 *   comparable with the writer's position there; nothing can be proven caught up, so only the bounded
 *   read-your-writes window applies.
 */
export type ReplayPosition =
  | { readonly state: 'primary' }
  | { readonly state: 'replaying'; readonly lsn: string }
  | { readonly state: 'unknown' };

/** A WAL position ("16/B374D848") as a number that compares correctly. */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!match) throw new Error(`not a WAL position: "${lsn}"`);
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

/** The statement that reads a server's {@link ReplayPosition} (one round trip, no parameters). */
export const REPLAY_POSITION_SQL =
  'SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS lsn';

/** Reads the replay position of the server behind `conn` (run it on the connection the read will use). */
export async function readReplayPosition(conn: SqlExecutor): Promise<ReplayPosition> {
  const { rows } = await conn.query<{ in_recovery: boolean | null; lsn: string | null }>(REPLAY_POSITION_SQL);
  return replayPositionOf(rows[0]);
}

/** Classifies one row of {@link REPLAY_POSITION_SQL}. */
export function replayPositionOf(
  row: { in_recovery: boolean | null; lsn: string | null } | undefined,
): ReplayPosition {
  // Only a server that says it is not in recovery is the primary; anything unclear is not caught up.
  if (row?.in_recovery === false) return { state: 'primary' };
  if (
    row?.in_recovery === true &&
    typeof row.lsn === 'string' &&
    /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(row.lsn)
  ) {
    return { state: 'replaying', lsn: row.lsn };
  }
  return { state: 'unknown' };
}

/** True when a server at `position` has every write up to the writer position `lsn`. */
export function hasReplayed(position: ReplayPosition, lsn: string): boolean {
  switch (position.state) {
    case 'primary':
      return true;
    case 'replaying':
      return parseLsn(position.lsn) >= parseLsn(lsn);
    case 'unknown':
      return false;
  }
}
