/**
 * The contract between the synthesised stage and the app: the `SHARD_ENDPOINTS` (and the rest of the
 * environment) that the app container, the migration task and the shard manager get in stage 100k, with every
 * deploy-time value replaced by a plausible one, pass the app's own parser (`loadConfig` from app/src) and the
 * manager's (tools/shards), and name exactly the stage's shard ids.
 */
import { loadConfig } from '../../app/src/config';
import { shardEndpointsFromEnv } from '../../tools/shards/endpoints';
import { shardManagerTaskEnvironment } from '../../tools/shards/task';
import { stage100k } from '../../stages';
import { resourcesOf, synthStage } from '../support/synth';

// Synthesis is CPU-bound and the machine is shared.
jest.setTimeout(240_000);

type Json = Record<string, unknown>;
type Container = {
  Environment: { Name: string; Value: unknown }[];
  Secrets?: { Name: string; ValueFrom: unknown }[];
};

const ACCOUNT = '123456789012';
const slug = (name: string) =>
  name
    .replace(/^PublishOutput/, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 40);

/**
 * A plausible deployed value for a stack output, by what its name says it is; an output of a kind this
 * function does not know fails the test (add the kind here, with a value of the real shape).
 */
function plausible(outputName: string): string {
  if (/Secret/.test(outputName))
    return `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:${slug(outputName)}-AbCdEf`;
  if (/Key[0-9A-F]*Arn$/.test(outputName))
    return `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
  if (/^PublishOutputRefInvalidationQueue/.test(outputName))
    return `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/${slug(outputName)}`;
  if (/Endpoint|Address|PrimaryEndPoint/.test(outputName))
    return `${slug(outputName)}.cluster-c9abcdefghij.us-east-1.rds.amazonaws.com`;
  throw new Error(`no plausible value for the stack output ${outputName}: add its kind to plausible()`);
}

/** A template value with every stack-output read replaced by a plausible value. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const object = value as Json;
  const output = object['Fn::GetStackOutput'] as { OutputName: string } | undefined;
  if (output) return plausible(output.OutputName);
  const join = object['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) return join[1].map(resolve).join(join[0]);
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

/** The one task definition whose logical id starts with `prefix`: its container's environment, resolved. */
function environmentOf(template: Json, prefix: string): Record<string, string> {
  const found = Object.entries(resourcesOf(template, 'AWS::ECS::TaskDefinition')).filter(([id]) =>
    id.startsWith(prefix),
  );
  expect(found).toHaveLength(1);
  const [container] = found[0]![1].Properties!.ContainerDefinitions as Container[];
  return {
    ...Object.fromEntries(container!.Environment.map(({ Name, Value }) => [Name, resolve(Value)])),
    // ECS injects these at task start: a value of the shape the app checks (32+ characters).
    ...Object.fromEntries((container!.Secrets ?? []).map(({ Name }) => [Name, 'x'.repeat(64)])),
  };
}

describe('stage 100k: SHARD_ENDPOINTS through the parsers of the app and the shard manager', () => {
  // GIVEN
  const service = synthStage('100k', { nag: false }).json.service;
  const shardIds = Object.keys(stage100k.shards ?? {});

  test('the stage has shards beyond shard 0 to check', () => {
    expect(shardIds).toEqual(['s1']);
  });

  test("the app container's environment passes the app's loadConfig, with one shard per config shard", () => {
    const env = environmentOf(service, 'ShopTaskDefinition');
    // WHEN
    const config = loadConfig(env);
    // THEN
    expect(config.production).toBe(true);
    expect(config.sharding?.shards.map((shard) => shard.id)).toEqual(shardIds);
    const entries = JSON.parse(env.SHARD_ENDPOINTS!) as { secretArn: string; writerHost: string }[];
    config.sharding!.shards.forEach((shard, i) => {
      expect(shard.database).toMatchObject({
        kind: 'postgres',
        secretArn: entries[i]!.secretArn,
        writer: { host: entries[i]!.writerHost, port: 5432, database: 'shop' },
      });
      expect(shard.database.secretArn).toMatch(/AppSecret/i);
      // The app is never given an owner's connection.
      expect(shard.migrationDatabase).toBeUndefined();
    });
  });

  test("the migration task's environment passes loadConfig as the migrator, with each shard's owner secret", () => {
    const env = environmentOf(service, 'MigrationTaskDefinition');
    // WHEN
    const config = loadConfig(env, { requireSessionSecret: false, migrator: true });
    // THEN
    expect(config.migrationDatabase?.secretArn).toBe(env.DB_MIGRATION_SECRET_ARN);
    expect(config.sharding?.shards.map((shard) => shard.id)).toEqual(shardIds);
    for (const shard of config.sharding!.shards) {
      expect(shard.database.secretArn).toMatch(/AppSecret/i);
      expect(shard.migrationDatabase?.secretArn).toMatch(/ClusterSecret/i);
      expect(shard.migrationDatabase?.secretArn).not.toBe(shard.database.secretArn);
    }
  });

  test("the shard manager task's environment becomes the manager's URLs: shard 0 and every config shard", async () => {
    const env = environmentOf(service, 'ShardManagerTaskDefinition');
    const read: string[] = [];
    // WHEN: the task's entry point reads each owner secret (faked here) and builds the manager's URLs
    const resolved = await shardManagerTaskEnvironment(env, (secretArn) => {
      read.push(secretArn);
      return Promise.resolve({ username: 'shop_owner', password: 'p@ss/word:1' });
    });
    const shards = shardEndpointsFromEnv(resolved);
    // THEN
    expect(shards.map((shard) => shard.id)).toEqual(['0', ...shardIds]);
    expect(read).toHaveLength(shardIds.length + 1);
    expect(read.every((arn) => /ClusterSecret/i.test(arn))).toBe(true);
    const entries = JSON.parse(env.SHARD_ENDPOINTS!) as { writerHost: string }[];
    const hosts = JSON.parse(env.SHARD_REPLICATION_HOSTS!) as Record<string, string>;
    for (const shard of shards) {
      const admin = new URL(shard.url);
      expect(admin.hostname).toBe(
        shard.id === '0' ? env.DB_HOST : entries[shardIds.indexOf(shard.id)]!.writerHost,
      );
      expect(decodeURIComponent(admin.password)).toBe('p@ss/word:1');
      expect(admin.searchParams.get('sslmode')).toBe('verify-full');
      // Subscriptions reach the cluster itself: RDS Proxy carries no replication connections.
      const replication = new URL(shard.replicationUrl);
      expect(replication.hostname).toBe(hosts[shard.id]);
      expect(replication.hostname).not.toBe(admin.hostname);
      expect(replication.pathname).toBe('/shop');
    }
  });
});

describe("the shard manager task's entry point (tools/shards/task.ts)", () => {
  const never = () => Promise.reject(new Error('must not read a secret'));

  test('passes the environment on unchanged without DB_MIGRATION_SECRET_ARN (local use: URLs)', async () => {
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/shop', SHARD_ENDPOINTS: '[]' };
    await expect(shardManagerTaskEnvironment(env, never)).resolves.toBe(env);
  });

  test('fails naming every bad key, before reading any secret', async () => {
    const env = {
      DB_MIGRATION_SECRET_ARN: 'not-an-arn',
      DB_NAME: 'shop',
      SHARD_ENDPOINTS:
        '[{"id":"s1","writerHost":"h","secretArn":"arn:aws:secretsmanager:us-east-1:1:secret:x"}]',
      SHARD_REPLICATION_HOSTS: '{',
    };
    const error = await shardManagerTaskEnvironment(env, never).catch((err: Error) => err);
    expect((error as Error).message).toMatch(/DB_HOST is not set/);
    expect((error as Error).message).toMatch(/SHARD_ENDPOINTS\[0\] needs .*"migrationSecretArn"/);
    expect((error as Error).message).toMatch(/owner secret of shard "0" is not a Secrets Manager secret ARN/);
    expect((error as Error).message).toMatch(/SHARD_REPLICATION_HOSTS is not valid JSON/);
  });
});
