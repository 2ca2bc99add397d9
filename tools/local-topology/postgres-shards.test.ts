import { Client } from 'pg';
import { loadConfig } from '../../app/src/config';
import { startShardedPostgres, type ShardedPostgres } from './postgres-shards';

let shards: ShardedPostgres;

beforeAll(async () => {
  shards = await startShardedPostgres({ shards: 2 });
}, 120_000);

afterAll(async () => {
  await shards?.stop();
});

test('two private servers with logical decoding on, and the app environment that names them', async () => {
  expect(shards.urls).toHaveLength(2);
  expect(new Set(shards.urls).size).toBe(2);
  for (const url of shards.urls) {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SHOW wal_level');
      expect(rows).toEqual([{ wal_level: 'logical' }]);
    } finally {
      await client.end();
    }
  }
  const config = loadConfig({ NODE_ENV: 'test', ...shards.env('shop') });
  expect(config.database.kind).toBe('postgres');
  expect(config.sharding?.shards.map((shard) => shard.id)).toEqual(['1']);
  // Recorded without the user name (no credentials in the control schema).
  const port = new URL(shards.urls[1]).port;
  expect(config.sharding?.shards[0].description.writer).toBe(`postgres://127.0.0.1:${port}/shop`);
});

test('stop() removes the servers and may be called again', async () => {
  const urls = shards.urls;
  await shards.stop();
  await shards.stop();
  const client = new Client({ connectionString: urls[0], connectionTimeoutMillis: 2000 });
  await expect(client.connect()).rejects.toThrow();
});
