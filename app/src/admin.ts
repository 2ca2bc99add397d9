import { RedisCacheStore } from './cache/redis-cache-store';
import { ConfigError, loadConfig, type AppConfig } from './config';
import { createDatabase } from './db/create-database';
import type { SqlExecutor } from './db/database';
import { connectRedis, createRedisClient } from './redis';
import { UserRepository, type Role, type User } from './repositories/user-repository';
import { ROLE_CACHE_MAX_SECONDS, roleCache } from './roles';
import { logicalShard, shardSchema } from './sharding/logical-shard';
import { loadShardMap } from './sharding/shard-map';

/** What {@link changeAdminRole} did, for the command's output. */
export interface AdminRoleChange {
  user: User;
  /** Whether the role cache in Redis was invalidated (else the change applies within the entry's TTL). */
  invalidated: boolean;
  /** Whether the email is in ADMIN_EMAILS (a grant gives admin rights only then). */
  listed: boolean;
}

/** Raised for an unknown email or a bad command line; the message is for the operator. */
export class AdminCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminCommandError';
  }
}

/**
 * Grants or revokes the stored admin role of an existing user, then invalidates that user's cached role in
 * Redis (when configured) so running instances apply it at the user's next request.
 */
export async function changeAdminRole(
  db: SqlExecutor,
  config: Pick<AppConfig, 'redis' | 'adminEmails' | 'cacheStore' | 'sharding'>,
  action: 'grant' | 'revoke',
  email: string,
): Promise<AdminRoleChange> {
  const role = action === 'grant' ? 'admin' : 'customer';
  const user = config.sharding
    ? await setRoleSharded(db, config.sharding, email, role)
    : await new UserRepository().setRole(db, email, role);
  if (!user) throw new AdminCommandError(`no user with email ${email}: they must sign up first`);
  let invalidated = false;
  // Only a Redis cache is shared with the running instances; an in-process one expires the entry by its TTL.
  if (config.redis && config.cacheStore === 'redis') {
    const client = createRedisClient(config.redis);
    client.on('error', () => {});
    try {
      if (await connectRedis(client)) {
        await new RedisCacheStore(client, config.redis.keyPrefix).bumpTags([roleCache.tag(user.id)]);
        invalidated = true;
      }
    } catch {
      // Reported through `invalidated`.
    } finally {
      client.disconnect();
    }
  }
  return { user, invalidated, listed: config.adminEmails.has(user.email) };
}

/**
 * The sharded layout: finds the user in the email directory on shard 0 (`db`), and their logical shard's place
 * in the map, and sets the role there (opening that shard's connection from SHARD_ENDPOINTS for the change).
 */
async function setRoleSharded(
  db: SqlExecutor,
  sharding: NonNullable<AppConfig['sharding']>,
  email: string,
  role: Role,
): Promise<User | null> {
  const map = await loadShardMap(db);
  const users = new UserRepository();
  // Users still in the public tables (before the move from the unsharded layout): as unsharded. The move's
  // fence revokes writes there, so a change racing its cut-over fails instead of being lost.
  if (map.layout === 'unsharded') return users.setRole(db, email, role);
  const { rows } = await db.query<{ user_id: string }>(
    'SELECT user_id FROM control.email_directory WHERE email = $1',
    [email.toLowerCase()],
  );
  if (rows.length === 0) return null;
  const logical = logicalShard(rows[0].user_id, sharding.logicalShards);
  const entry = map.entries.find((e) => e.logicalShard === logical);
  if (!entry) throw new AdminCommandError(`logical shard ${logical} is not in control.shard_map`);
  if (entry.state !== 'active')
    throw new AdminCommandError(
      `the user's logical shard ${logical} is ${entry.state}: retry once it is active`,
    );
  if (entry.shardId === '0') return users.setRole(db, email, role, shardSchema(logical));
  const endpoint = sharding.shards.find((shard) => shard.id === entry.shardId);
  if (!endpoint)
    throw new AdminCommandError(
      `SHARD_ENDPOINTS does not list shard "${entry.shardId}" (logical shard ${logical})`,
    );
  const shard = await createDatabase(endpoint.database, undefined, 'shop-admin');
  try {
    return await users.setRole(shard.writer, email, role, shardSchema(logical));
  } finally {
    await shard.close();
  }
}

const USAGE = 'usage: npm run admin -- grant|revoke <email>';

/**
 * One-off admin bootstrap (`npm run admin -- grant <email>`, or `node dist/admin.js grant <email>` as a one-off
 * ECS task): the only way to make an admin. Prints one JSON line; exits 1 with a message on any problem.
 */
async function main(argv: string[]): Promise<void> {
  const [action, email, ...rest] = argv;
  if ((action !== 'grant' && action !== 'revoke') || !email || rest.length > 0)
    throw new AdminCommandError(USAGE);
  const config = loadConfig(process.env, { requireSessionSecret: false });
  if (config.database.kind === 'pglite' && !config.database.dataDir)
    throw new AdminCommandError(
      'No database configured (DATABASE_URL, DB_HOST or PGLITE_DATA_DIR): nothing to grant a role in.',
    );
  const db = await createDatabase(config.database, undefined, 'shop-admin');
  try {
    const change = await changeAdminRole(db.writer, config, action, email);
    const notes: string[] = [];
    if (action === 'grant' && !change.listed)
      notes.push(
        `${change.user.email} is not in ADMIN_EMAILS: the grant takes effect only once the address is listed there`,
      );
    if (!change.invalidated)
      notes.push(`running instances apply the change within ${ROLE_CACHE_MAX_SECONDS} s (cached role)`);
    process.stdout.write(
      `${JSON.stringify({
        msg: action === 'grant' ? 'admin role granted' : 'admin role revoked',
        email: change.user.email,
        userId: change.user.id,
        cacheInvalidated: change.invalidated,
        ...(notes.length > 0 ? { notes } : {}),
      })}\n`,
    );
  } finally {
    await db.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    const known = err instanceof ConfigError || err instanceof AdminCommandError;
    process.stderr.write(
      `${known ? (err as Error).message : `admin command failed: ${(err as Error).message}`}\n`,
    );
    process.exit(1);
  });
}
