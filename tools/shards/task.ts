/**
 * The shard manager as the one-off ECS task of stage 100k (`node dist/shards.js <command>`): turns the
 * task's settings, which name secrets, into the connection URLs the manager reads (endpoints.ts), then runs the
 * manager (`dist/shards-cli.js`, the bundle of cli.ts) with them and exits with its code.
 *
 * The task definition (lib/constructs/shard-manager-task.ts) sets:
 * - shard 0: `DB_HOST` (its writer endpoint), `DB_PORT`, `DB_NAME`, `DB_MIGRATION_SECRET_ARN` (the owner's secret);
 * - the other shards: `SHARD_ENDPOINTS`, `[{"id","writerHost","port","database"?,"migrationSecretArn"}]`;
 * - `SHARD_REPLICATION_HOSTS`, `{"<id>": "<cluster writer endpoint>"}` for every shard (subscriptions connect
 *   there: RDS Proxy carries no replication connections).
 *
 * It reads each owner secret (`username`, `password`) with the task role and sets `SHARDS_ADMIN_URL`,
 * `SHARDS_ADMIN_URLS` (`sslmode` = `DB_SSL`, the app's variable, default `verify-full`: RDS Proxy's certificate
 * is publicly trusted) and `SHARDS_REPLICATION_URLS` (`sslmode=require`, `disable` with `DB_SSL=disable`: the
 * target server connects with its own libpq, which has no CA bundle of ours). Without
 * `DB_MIGRATION_SECRET_ARN` the environment is passed on unchanged (locally: URLs as endpoints.ts reads them).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { SecretsManagerCredentials, type DatabaseCredentials } from '../../app/src/db/credentials';

/** Reads a secret's `username` and `password` (the task role's Secrets Manager read). */
export type ReadCredentials = (secretArn: string) => Promise<DatabaseCredentials>;

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$/;

/** `postgres://user:password@host:port/database?sslmode=…` with user and password encoded. */
function postgresUrl(credentials: DatabaseCredentials, host: string, port: number, db: string, ssl: string) {
  const user = encodeURIComponent(credentials.username);
  const password = encodeURIComponent(credentials.password);
  return `postgres://${user}:${password}@${host}:${port}/${encodeURIComponent(db)}?sslmode=${ssl}`;
}

/**
 * The manager's environment for the task's settings: `env` plus `SHARDS_ADMIN_URL`, `SHARDS_ADMIN_URLS` and
 * `SHARDS_REPLICATION_URLS`; `env` unchanged without `DB_MIGRATION_SECRET_ARN`.
 *
 * @throws Error naming every bad key and its fix
 */
export async function shardManagerTaskEnvironment(
  env: NodeJS.ProcessEnv,
  readCredentials: ReadCredentials = (secretArn) => new SecretsManagerCredentials({ secretArn }).get(),
): Promise<NodeJS.ProcessEnv> {
  if (!env.DB_MIGRATION_SECRET_ARN) return env;
  const problems: string[] = [];
  const json = (key: string, fallback: string): unknown => {
    try {
      return JSON.parse(env[key] || fallback);
    } catch (err) {
      problems.push(`${key} is not valid JSON (${(err as Error).message})`);
      return JSON.parse(fallback);
    }
  };
  const port0 = Number(env.DB_PORT ?? '5432');
  const shards: { id: string; host: string; port: number; database: string; secretArn: string }[] = [];
  if (!env.DB_HOST) problems.push("DB_HOST is not set: give shard 0's writer endpoint (its RDS Proxy)");
  if (!env.DB_NAME) problems.push('DB_NAME is not set: give the database name');
  shards.push({
    id: '0',
    host: env.DB_HOST ?? '',
    port: port0,
    database: env.DB_NAME ?? '',
    secretArn: env.DB_MIGRATION_SECRET_ARN,
  });
  const entries = json('SHARD_ENDPOINTS', '[]');
  if (!Array.isArray(entries)) problems.push('SHARD_ENDPOINTS must be a JSON array');
  else
    entries.forEach((item: unknown, i) => {
      const entry = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      const at = `SHARD_ENDPOINTS[${i}]`;
      const { id, writerHost, migrationSecretArn } = entry;
      if (
        typeof id !== 'string' ||
        typeof writerHost !== 'string' ||
        typeof migrationSecretArn !== 'string'
      ) {
        problems.push(`${at} needs "id", "writerHost" and "migrationSecretArn" (the shard owner's secret)`);
        return;
      }
      shards.push({
        id,
        host: writerHost,
        port: typeof entry.port === 'number' ? entry.port : port0,
        database: typeof entry.database === 'string' ? entry.database : (env.DB_NAME ?? ''),
        secretArn: migrationSecretArn,
      });
    });
  for (const shard of shards)
    if (!SECRET_ARN.test(shard.secretArn))
      problems.push(`the owner secret of shard "${shard.id}" is not a Secrets Manager secret ARN`);
  const replicationHosts = json('SHARD_REPLICATION_HOSTS', '{}') as Record<string, unknown>;
  const ssl = env.DB_SSL || 'verify-full';
  if (!['disable', 'require', 'verify-full'].includes(ssl))
    problems.push(`DB_SSL must be disable, require or verify-full (received "${ssl}")`);
  if (problems.length > 0)
    throw new Error(`Invalid shard manager task configuration: ${problems.join('; ')}`);

  const admin: Record<string, string> = {};
  const replication: Record<string, string> = {};
  for (const shard of shards) {
    const credentials = await readCredentials(shard.secretArn);
    admin[shard.id] = postgresUrl(credentials, shard.host, shard.port, shard.database, ssl);
    const replicationHost = replicationHosts[shard.id];
    if (typeof replicationHost === 'string' && replicationHost !== '')
      replication[shard.id] = postgresUrl(
        credentials,
        replicationHost,
        shard.port,
        shard.database,
        'require',
      );
  }
  const { ['0']: shard0, ...others } = admin;
  return {
    ...env,
    SHARDS_ADMIN_URL: shard0,
    SHARDS_ADMIN_URLS: JSON.stringify(others),
    SHARDS_REPLICATION_URLS: JSON.stringify(replication),
  };
}

/** Runs the bundled manager beside this file with the resolved environment; resolves to its exit code. */
async function main(argv: string[]): Promise<number> {
  let env: NodeJS.ProcessEnv;
  try {
    env = await shardManagerTaskEnvironment(process.env);
  } catch (err) {
    process.stderr.write(`Error: ${(err as Error).message}\n`);
    return 2;
  }
  const child = spawn(
    process.execPath,
    [...process.execArgv, path.join(__dirname, 'shards-cli.js'), ...argv],
    {
      env,
      stdio: 'inherit',
    },
  );
  // ECS stops a task with SIGTERM: the manager gets it too (every step is resumable by a rerun).
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGTERM', forward).on('SIGINT', forward);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 3 : 0)));
    child.on('error', (err) => {
      process.stderr.write(`Error: cannot run the shard manager (${err.message})\n`);
      resolve(3);
    });
  });
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
