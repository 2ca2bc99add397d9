/**
 * Where the shard manager connects: the physical shards, from the same environment as the app.
 *
 * - Shard 0 (it holds the control schema): `SHARDS_ADMIN_URL`, else `MIGRATION_DATABASE_URL`, else `DATABASE_URL`.
 * - The other shards: `SHARD_ENDPOINTS`, the app's JSON array; the manager uses each entry's `migrationUrl`
 *   when given, else its `url` (`[{"id":"1","url":"postgres://…"}]`).
 * - `SHARDS_ADMIN_URLS` (optional JSON object `{"1":"postgres://…"}`) overrides a shard's URL: the manager needs a
 *   role that may create publications and subscriptions (superuser locally, rds_superuser on Aurora).
 * - `SHARDS_REPLICATION_URLS` (optional, same shape) is what a target server uses to reach a source for its
 *   subscription (on AWS the cluster's writer endpoint: RDS Proxy does not carry replication connections);
 *   default: the shard's manager URL.
 */

/** One physical shard as the manager reaches it. */
export interface ShardEndpoint {
  readonly id: string;
  /** The manager's connection (an administrator of that server). */
  readonly url: string;
  /** The connection string a subscription on another server uses to reach this one. */
  readonly replicationUrl: string;
}

const SHARD_ID = /^[0-9a-z][0-9a-z-]{0,30}$/;

function jsonObject(env: NodeJS.ProcessEnv, key: string, problems: string[]): Record<string, string> {
  const raw = env[key];
  if (raw === undefined || raw === '') return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    for (const [id, url] of Object.entries(parsed))
      if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url))
        problems.push(`${key}["${id}"] must be a postgres:// URL`);
    return parsed as Record<string, string>;
  } catch (err) {
    problems.push(`${key} must be a JSON object of shard id to postgres:// URL (${(err as Error).message})`);
    return {};
  }
}

/** Reads the shards from the environment; throws one error naming every bad key and its fix. */
export function shardEndpointsFromEnv(env: NodeJS.ProcessEnv): ShardEndpoint[] {
  const problems: string[] = [];
  const admin = jsonObject(env, 'SHARDS_ADMIN_URLS', problems);
  const replication = jsonObject(env, 'SHARDS_REPLICATION_URLS', problems);
  const shard0 = admin['0'] ?? env.SHARDS_ADMIN_URL ?? env.MIGRATION_DATABASE_URL ?? env.DATABASE_URL;
  if (!shard0)
    problems.push(
      'DATABASE_URL (or SHARDS_ADMIN_URL) is not set: give shard 0, the database with the control schema, ' +
        'e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop',
    );
  const raw: { id: string; url: string }[] = shard0 ? [{ id: '0', url: shard0 }] : [];
  let parsed: unknown = [];
  try {
    parsed = JSON.parse(env.SHARD_ENDPOINTS ?? '[]');
  } catch (err) {
    problems.push(
      `SHARD_ENDPOINTS is not valid JSON (${(err as Error).message}): give a JSON array, e.g. []`,
    );
  }
  if (!Array.isArray(parsed)) {
    problems.push('SHARD_ENDPOINTS must be a JSON array of {"id":"1","url":"postgres://…"} objects');
    parsed = [];
  }
  (parsed as unknown[]).forEach((item, i) => {
    const entry = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const id = entry.id;
    if (typeof id !== 'string' || !SHARD_ID.test(id) || id === '0') {
      problems.push(
        `SHARD_ENDPOINTS[${i}].id must be a shard id of lower-case letters, digits and "-", not "0"`,
      );
      return;
    }
    const url = admin[id] ?? entry.migrationUrl ?? entry.url;
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      problems.push(
        `SHARD_ENDPOINTS[${i}] (shard "${id}") has no postgres:// "url": the manager cannot reach it; ` +
          `give "url" (locally) or SHARDS_ADMIN_URLS {"${id}": "postgres://…"} (AWS)`,
      );
      return;
    }
    if (raw.some((shard) => shard.id === id))
      problems.push(`SHARD_ENDPOINTS lists shard id "${id}" twice: give every shard its own id`);
    else raw.push({ id, url });
  });
  if (problems.length > 0) throw new Error(`Invalid shard manager configuration: ${problems.join('; ')}`);
  return raw.map((shard) => ({ ...shard, replicationUrl: replication[shard.id] ?? shard.url }));
}
