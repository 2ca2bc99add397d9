/**
 * The shard manager as its ECS task runs it: the image's bundle (`node dist/shards.js status`, built by the same
 * app/build.mjs the Dockerfile runs) with the task's settings (secret ARNs, not URLs), against real Postgres
 * (shard 0 and shard s1 as two databases of the test server), reading the owner secrets from a local stand-in
 * for Secrets Manager (the SDK's `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, cp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../../app/test/support/postgres';

const run = promisify(execFile);
jest.setTimeout(240_000);

const repoRoot = path.join(__dirname, '..', '..');
/** The Node.js the image runs (the `node` devDependency), as app/test/bundle uses. */
const runtimeNode = path.join(repoRoot, 'node_modules/node/bin/node');
const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`;

describe('dist/shards.js, the shard manager task', () => {
  let shard0: TestDatabase;
  let shard1: TestDatabase;
  let dist: string;
  let secrets: Server;
  const asked: string[] = [];

  beforeAll(async () => {
    // The same build the Dockerfile runs, laid out as the runtime stage copies it (dist/, migrations/, PGlite);
    // bundled straight into the layout, not app/dist, which app/test/bundle builds and reads meanwhile.
    dist = await mkdtemp(path.join(os.tmpdir(), 'shards-bundle-'));
    await run(process.execPath, ['app/build.mjs', `--outdir=${path.join(dist, 'dist')}`], { cwd: repoRoot });
    await cp(path.join(repoRoot, 'app/migrations'), path.join(dist, 'migrations'), { recursive: true });
    await cp(
      path.join(repoRoot, 'node_modules/@electric-sql/pglite'),
      path.join(dist, 'node_modules/@electric-sql/pglite'),
      { recursive: true },
    );
    [shard0, shard1] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    // The app's layout on both shards, by the image's own migrator (as the migration task does first).
    await run(runtimeNode, ['dist/migrate.js'], {
      cwd: dist,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: shard0.url,
        SHARD_ENDPOINTS: JSON.stringify([{ id: 's1', url: shard1.url }]),
      },
    });
    // Secrets Manager: GetSecretValue answers an owner secret for any ARN (the test server trusts the user).
    secrets = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const { SecretId } = JSON.parse(body) as { SecretId: string };
        asked.push(`${String(request.headers['x-amz-target'])} ${SecretId}`);
        response.setHeader('content-type', 'application/x-amz-json-1.1');
        response.end(
          JSON.stringify({
            ARN: SecretId,
            SecretString: JSON.stringify({ username: 'postgres', password: 'owner:p@ss/word' }),
          }),
        );
      });
    });
    await new Promise<void>((resolve) => secrets.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    if (secrets) await new Promise((resolve) => secrets.close(resolve));
    await Promise.all([shard0?.drop(), shard1?.drop()]);
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  test('reads the owner secrets with the task role and runs the manager on every shard', async () => {
    const { port } = secrets.address() as AddressInfo;
    // The task definition's variables (lib/constructs/shard-manager-task.ts), pointed at the test server.
    const env = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DB_HOST: '127.0.0.1',
      DB_PORT: '5432',
      DB_NAME: shard0.name,
      DB_SSL: 'disable',
      DB_MIGRATION_SECRET_ARN: arn('shard0-owner'),
      SHARD_ENDPOINTS: JSON.stringify([
        {
          id: 's1',
          writerHost: '127.0.0.1',
          port: 5432,
          database: shard1.name,
          migrationSecretArn: arn('s1-owner'),
        },
      ]),
      SHARD_REPLICATION_HOSTS: JSON.stringify({ '0': 'localhost', s1: 'localhost' }),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${port}`,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'example',
    };
    // WHEN
    const { stdout } = await run(runtimeNode, ['--enable-source-maps', 'dist/shards.js', 'status'], {
      cwd: dist,
      env,
    });
    // THEN both shards are reached, with the owners' secrets, read once each
    // (the migrator's bootstrap spreads the 256 logical shards over both)
    expect(stdout).toMatch(/^shard 0: 128 logical shards\nshard s1: 128 logical shards\n/);
    expect(stdout).toMatch(/moves in flight: none/);
    expect(asked.sort()).toEqual([
      `secretsmanager.GetSecretValue ${arn('s1-owner')}`,
      `secretsmanager.GetSecretValue ${arn('shard0-owner')}`,
    ]);
  });

  test("a usage error is the manager's exit code 2, and bad settings stop it before any secret is read", async () => {
    const usage = await run(runtimeNode, ['dist/shards.js'], {
      cwd: dist,
      env: { PATH: process.env.PATH },
    }).catch((err: { code: number; stdout: string }) => err);
    expect(usage).toMatchObject({ code: 2, stdout: expect.stringMatching(/^Error: usage: npm run shards/) });
    const before = asked.length;
    const bad = await run(runtimeNode, ['dist/shards.js', 'status'], {
      cwd: dist,
      env: { PATH: process.env.PATH, DB_MIGRATION_SECRET_ARN: arn('x'), SHARD_ENDPOINTS: '[{"id":"s1"}]' },
    }).catch((err: { code: number; stderr: string }) => err);
    expect(bad).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/DB_HOST is not set.*SHARD_ENDPOINTS\[0\] needs/),
    });
    expect(asked.length).toBe(before);
  });
});
