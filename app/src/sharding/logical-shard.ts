import { createHash } from 'node:crypto';

/**
 * The number of logical shards N. Fixed for the life of a deployment: the control schema records it and the
 * app refuses to start when it differs (see {@link assertShardMapUsable}). 256 is many times the number of
 * physical shards ever planned for stage 100k (2, growing one at a time), splits evenly over 2, 4, 8, 16 ...
 * hosts and within 1% of even over 3, 5, 6 or 7, and keeps a migration's per-schema work (N schemas on every
 * physical shard) small; the README argues the choice against Notion's 480.
 */
export const LOGICAL_SHARDS = 256;

/** A logical shard's schema name is `ls_` and three digits (N is at most 1000). */
const SCHEMA = /^ls_\d{3}$/;

/**
 * The logical shard of a user: the first 4 bytes of the MD5 digest of the id's canonical text (lower-case,
 * hyphenated, as PostgreSQL prints a uuid), read as an unsigned big-endian integer, modulo `n`. MD5 is used
 * as a well-specified, portable mixing function, not for security: PostgreSQL has `md5()` built in (also
 * PGlite), so the SQL twin `control.logical_shard(uuid, integer)` (migration control/001) computes exactly
 * the same value; a test checks both agree on 100,000 ids.
 */
export function logicalShard(userId: string, n: number = LOGICAL_SHARDS): number {
  return createHash('md5').update(userId.toLowerCase()).digest().readUInt32BE(0) % n;
}

/** The schema that holds a logical shard's users, orders and order lines: `ls_000` ... `ls_255`. */
export function shardSchema(logical: number): string {
  if (!Number.isInteger(logical) || logical < 0 || logical > 999)
    throw new Error(`logical shard ${logical} is not an integer between 0 and 999`);
  return `ls_${String(logical).padStart(3, '0')}`;
}

/**
 * `schema` when it is a safe identifier to splice into SQL (`public`, or a logical shard schema), else throws:
 * every schema-qualified statement goes through this, so no other text ever reaches a query's identifier.
 */
export function safeSchema(schema: string): string {
  if (schema !== 'public' && !SCHEMA.test(schema)) throw new Error(`"${schema}" is not a shard schema`);
  return schema;
}
