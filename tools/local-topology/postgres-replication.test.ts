import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { findPostgresBinDir, startReplicatedPostgres, type ReplicatedPostgres } from './postgres-replication';

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  await client.connect();
  return client;
}

describe('startReplicatedPostgres', () => {
  let pg: ReplicatedPostgres;
  let primary: Client;
  let replica: Client;

  beforeAll(async () => {
    pg = await startReplicatedPostgres();
    primary = await connect(pg.primaryUrl);
    replica = await connect(pg.replicaUrl);
    await primary.query('CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)');
    await pg.waitForCatchUp();
  }, 120_000);

  afterAll(async () => {
    await primary?.end();
    await replica?.end();
    await pg?.stop();
  });

  it('runs the replica as a hot standby on its own port', async () => {
    // GIVEN / WHEN
    const { rows: standby } = await replica.query('SELECT pg_is_in_recovery() AS r');
    const { rows: writer } = await primary.query('SELECT pg_is_in_recovery() AS r');

    // THEN
    expect(standby[0].r).toBe(true);
    expect(writer[0].r).toBe(false);
    expect(new URL(pg.replicaUrl).port).not.toBe(new URL(pg.primaryUrl).port);
  });

  it('streams a row written on the primary to the replica', async () => {
    // GIVEN
    await primary.query("INSERT INTO notes VALUES (1, 'streamed')");

    // WHEN
    await pg.waitForCatchUp();

    // THEN
    const { rows } = await replica.query('SELECT body FROM notes WHERE id = 1');
    expect(rows).toEqual([{ body: 'streamed' }]);
  });

  it('keeps a new row invisible on the replica while replay is paused, and shows it after resume', async () => {
    // GIVEN
    await pg.pauseReplay();

    try {
      // WHEN
      await primary.query("INSERT INTO notes VALUES (2, 'held back')");
      // Give streaming every chance to deliver (and wrongly apply) the WAL record.
      await new Promise((resolve) => setTimeout(resolve, 500));

      // THEN
      const { rows: during } = await replica.query('SELECT body FROM notes WHERE id = 2');
      expect(during).toEqual([]);
      await expect(pg.waitForCatchUp(300)).rejects.toThrow(/did not catch up within 300 ms.*paused/);
    } finally {
      await pg.resumeReplay();
    }
    await pg.waitForCatchUp();
    const { rows: after } = await replica.query('SELECT body FROM notes WHERE id = 2');
    expect(after).toEqual([{ body: 'held back' }]);
  });

  it('rejects writes on the replica', async () => {
    await expect(replica.query("INSERT INTO notes VALUES (3, 'nope')")).rejects.toThrow(
      /read-only transaction/,
    );
  });

  it('stop() shuts both servers down and removes the data directory', async () => {
    // GIVEN a second, short-lived pair (the shared one is still in use by the other tests)
    const other = await startReplicatedPostgres();
    const client = await connect(other.primaryUrl);
    const { rows } = await client.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir");
    await client.end();
    expect(existsSync(rows[0].dir)).toBe(true);

    // WHEN
    await other.stop();
    await other.stop(); // idempotent

    // THEN
    expect(existsSync(rows[0].dir)).toBe(false);
    await expect(connect(other.primaryUrl)).rejects.toThrow(/ECONNREFUSED/);
    await expect(connect(other.replicaUrl)).rejects.toThrow(/ECONNREFUSED/);
  }, 120_000);
});

describe('clean-up when the owning process ends without stop()', () => {
  const fixture = path.join(__dirname, 'fixtures', 'hold-replicated-postgres.ts');

  /** Runs the fixture, returns what it printed once ready, plus a promise of its exit. */
  function startFixture(mode: 'wait' | 'exit') {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    const ready = new Promise<{ primaryUrl: string; replicaUrl: string; dataDir: string }>(
      (resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
        });
        child.on('exit', () => reject(new Error(`fixture exited before it was ready: ${out}`)));
      },
    );
    return { child, ready, exited };
  }

  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s stops both servers and removes the data directory',
    async (sig) => {
      // GIVEN
      const { child, ready, exited } = startFixture('wait');
      const info = await ready;
      expect(existsSync(info.dataDir)).toBe(true);

      // WHEN
      child.kill(sig);

      // THEN the process still dies of the signal (default behaviour kept) and nothing is left behind
      await expect(exited).resolves.toBe(sig);
      expect(existsSync(info.dataDir)).toBe(false);
      await expect(connect(info.primaryUrl)).rejects.toThrow(/ECONNREFUSED/);
      await expect(connect(info.replicaUrl)).rejects.toThrow(/ECONNREFUSED/);
    },
    120_000,
  );

  it('process exit stops both servers and removes the data directory', async () => {
    const { ready, exited } = startFixture('exit');
    const info = await ready;
    await expect(exited).resolves.toBe(0);
    expect(existsSync(info.dataDir)).toBe(false);
    await expect(connect(info.primaryUrl)).rejects.toThrow(/ECONNREFUSED/);
    await expect(connect(info.replicaUrl)).rejects.toThrow(/ECONNREFUSED/);
  }, 120_000);
});

describe('findPostgresBinDir', () => {
  it('fails with a message naming the binaries, the place it looked and the fix', () => {
    expect(() => findPostgresBinDir('/nonexistent/pg/bin')).toThrow(
      /initdb, pg_ctl, pg_basebackup\) not found; looked in: \/nonexistent\/pg\/bin.*PG_BIN_DIR/,
    );
  });

  it('rejects start-up clearly when the binaries are missing', async () => {
    await expect(startReplicatedPostgres({ binDir: '/nonexistent/pg/bin' })).rejects.toThrow(/not found/);
  });
});
