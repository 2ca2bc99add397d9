/**
 * A private PostgreSQL primary with a real streaming replica, for tests and benchmarks on one machine.
 *
 * The system cluster has no replication entry in its pg_hba.conf, so this module builds its own pair:
 * a primary made with `initdb` (wal_level=replica, replication allowed from 127.0.0.1 with trust) and a
 * hot standby cloned from it with `pg_basebackup -R`, each on a free TCP port, both running as the
 * `postgres` OS user when the caller is root. Everything lives under one temporary directory that
 * `stop()` removes; the same clean-up also runs on process exit, SIGINT and SIGTERM.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  appendFileSync,
  chownSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/** A running primary + streaming replica pair. */
export interface ReplicatedPostgres {
  /** Connection string of the primary (database `postgres`, user `postgres`, trust auth). */
  readonly primaryUrl: string;
  /** Connection string of the hot-standby replica (read-only). */
  readonly replicaUrl: string;
  /** Pauses WAL replay on the replica; rows written afterwards stay invisible there until resumed. */
  pauseReplay(): Promise<void>;
  /** Resumes WAL replay on the replica. */
  resumeReplay(): Promise<void>;
  /**
   * Waits until the replica has replayed everything the primary had written when the call started.
   * @param timeoutMs how long to wait before throwing; @default 15000
   */
  waitForCatchUp(timeoutMs?: number): Promise<void>;
  /** Fast-shuts down both servers and removes their data directories. Safe to call more than once. */
  stop(): Promise<void>;
}

/** Options for {@link startReplicatedPostgres}. */
export interface StartReplicatedPostgresOptions {
  /**
   * Parent directory for the temporary data directories (must be traversable by the `postgres` user).
   * @default - the operating system's temporary directory
   */
  readonly baseDir?: string;
  /**
   * Extra `postgresql.conf` settings for both servers, e.g. `{ max_connections: '200' }`.
   * @default - initdb's defaults plus what replication needs
   */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * Directory holding `initdb`, `pg_ctl` and `pg_basebackup`.
   * @default - `$PG_BIN_DIR`, else the newest `/usr/lib/postgresql/<version>/bin`, else `pg_config --bindir`
   */
  readonly binDir?: string;
}

const REQUIRED_BINARIES = ['initdb', 'pg_ctl', 'pg_basebackup'] as const;

/**
 * Finds the PostgreSQL server binaries, or throws an error saying where it looked and how to fix it.
 * @param explicit a directory the caller chose; checked alone when given
 */
export function findPostgresBinDir(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) {
    candidates.push(explicit);
  } else {
    if (process.env.PG_BIN_DIR) candidates.push(process.env.PG_BIN_DIR);
    const root = '/usr/lib/postgresql';
    if (existsSync(root)) {
      const versions = readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a));
      candidates.push(...versions.map((v) => path.join(root, v, 'bin')));
    }
    try {
      candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: 'pipe' }).trim());
    } catch {
      // pg_config is not on PATH; the candidates above are all we have.
    }
  }
  const found = candidates.find((dir) => REQUIRED_BINARIES.every((bin) => existsSync(path.join(dir, bin))));
  if (!found) {
    throw new Error(
      `PostgreSQL server binaries (${REQUIRED_BINARIES.join(', ')}) not found; looked in: ` +
        `${candidates.length ? candidates.join(', ') : '(no candidate directories)'}. ` +
        'Install the PostgreSQL server package (e.g. apt-get install postgresql-15) or set PG_BIN_DIR ' +
        'to the directory that holds initdb.',
    );
  }
  return found;
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not obtain a free port'))));
    });
  });
}

/** The OS identity the servers run as: the `postgres` user when we are root, else ourselves. */
interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
}

function resolveRunAs(): RunAs {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  // PostgreSQL refuses to run as root; use the distribution's `postgres` account.
  const passwd = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (!passwd) {
    throw new Error(
      'running as root, but there is no "postgres" OS user to run the private PostgreSQL servers as; ' +
        'create one (useradd --system postgres) or run as a non-root user',
    );
  }
  return { uid: Number(passwd[2]), gid: Number(passwd[3]) };
}

function run(binary: string, args: string[], runAs: RunAs, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { cwd, uid: runAs.uid, gid: runAs.gid, encoding: 'utf8', timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `${path.basename(binary)} ${args.join(' ')} failed: ${error.message.trim()}\n${stderr}`.trim(),
            ),
          );
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

function confLines(settings: Readonly<Record<string, string>>): string {
  return (
    '\n# --- added by tools/local-topology/postgres-replication.ts ---\n' +
    Object.entries(settings)
      .map(([key, value]) => `${key} = '${value.replace(/'/g, "''")}'`)
      .join('\n') +
    '\n'
  );
}

async function query<T extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a private primary (initdb) and a streaming replica (pg_basebackup -R) on free ports.
 *
 * Throws a clear error when the server binaries are missing or a server does not start (with the tail
 * of its log). Whatever was started is cleaned up if start-up fails half-way.
 */
export async function startReplicatedPostgres(
  opts: StartReplicatedPostgresOptions = {},
): Promise<ReplicatedPostgres> {
  return startServers(opts, true);
}

/** A running private PostgreSQL server without a replica. */
export interface PrivatePostgres {
  /** Connection string (database `postgres`, user `postgres`, trust auth). */
  readonly url: string;
  /** Fast-shuts down the server and removes its data directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts a private server alone (initdb, on a free port), set up like the primary of
 * {@link startReplicatedPostgres}: for a topology without a replica that must still get its own settings
 * (e.g. `shared_preload_libraries`, which the shared system server cannot take without a restart).
 */
export async function startPrivatePostgres(
  opts: StartReplicatedPostgresOptions = {},
): Promise<PrivatePostgres> {
  const server = await startServers(opts, false);
  return { url: server.primaryUrl, stop: () => server.stop() };
}

async function startServers(
  opts: StartReplicatedPostgresOptions,
  withReplica: boolean,
): Promise<ReplicatedPostgres> {
  const binDir = findPostgresBinDir(opts.binDir);
  const runAs = resolveRunAs();
  const bin = (name: string) => path.join(binDir, name);

  const root = mkdtempSync(path.join(opts.baseDir ?? tmpdir(), 'pg-replication-'));
  if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(root, runAs.uid, runAs.gid);
  const primaryDir = path.join(root, 'primary');
  const replicaDir = path.join(root, 'replica');
  const primaryLog = path.join(root, 'primary.log');
  const replicaLog = path.join(root, 'replica.log');
  const started: string[] = [];
  let stopped = false;

  /** Synchronous clean-up, usable from 'exit' and signal handlers where promises never settle. */
  const cleanupSync = (mode: 'fast' | 'immediate') => {
    if (stopped) return;
    stopped = true;
    for (const dir of [...started].reverse()) {
      spawnSync(bin('pg_ctl'), ['-D', dir, '-m', mode, '-w', '-t', '30', 'stop'], {
        cwd: root,
        uid: runAs.uid,
        gid: runAs.gid,
        stdio: 'ignore',
      });
    }
    rmSync(root, { recursive: true, force: true });
    removeHandlers();
  };
  const removeHandlers = () => {
    process.removeListener('exit', onExit);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
  const onExit = () => cleanupSync('immediate');
  const onSignal = (signal: NodeJS.Signals) => {
    cleanupSync('immediate');
    // Keep the default behaviour (terminate) unless someone else also handles the signal.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.once('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const [primaryPort, replicaPort] = await Promise.all([findFreePort(), findFreePort()]);
    const common = {
      listen_addresses: '127.0.0.1',
      // TCP only: no socket files in shared directories, no path-length limits.
      unix_socket_directories: '',
      wal_level: 'replica',
      max_wal_senders: '10',
      hot_standby: 'on',
      ...opts.settings,
    };

    await run(
      bin('initdb'),
      ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      runAs,
      root,
    );
    appendFileSync(primaryDir + '/postgresql.conf', confLines({ ...common, port: String(primaryPort) }));
    appendFileSync(
      primaryDir + '/pg_hba.conf',
      '\n# streaming replica (tools/local-topology/postgres-replication.ts)\n' +
        'host replication postgres 127.0.0.1/32 trust\n',
    );
    started.push(primaryDir);
    await run(
      bin('pg_ctl'),
      ['-D', primaryDir, '-l', primaryLog, '-w', '-t', '60', 'start'],
      runAs,
      root,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nprimary log:\n${logTail(primaryLog)}`);
    });

    const primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`;
    if (!withReplica) {
      const noReplica = async () => {
        throw new Error('this server was started without a replica');
      };
      return {
        primaryUrl,
        replicaUrl: '',
        pauseReplay: noReplica,
        resumeReplay: noReplica,
        waitForCatchUp: noReplica,
        async stop() {
          if (stopped) return;
          stopped = true;
          removeHandlers();
          await run(
            bin('pg_ctl'),
            ['-D', primaryDir, '-m', 'fast', '-w', '-t', '60', 'stop'],
            runAs,
            root,
          ).catch(() => undefined);
          await rm(root, { recursive: true, force: true });
        },
      };
    }

    // -R writes standby.signal and primary_conninfo; -X stream copies the WAL written during the backup.
    await run(
      bin('pg_basebackup'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(primaryPort),
        '-U',
        'postgres',
        '-D',
        replicaDir,
        '-R',
        '-X',
        'stream',
      ],
      runAs,
      root,
    );
    appendFileSync(replicaDir + '/postgresql.conf', confLines({ port: String(replicaPort) }));
    started.push(replicaDir);
    await run(
      bin('pg_ctl'),
      ['-D', replicaDir, '-l', replicaLog, '-w', '-t', '60', 'start'],
      runAs,
      root,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nreplica log:\n${logTail(replicaLog)}`);
    });

    const replicaUrl = `postgres://postgres@127.0.0.1:${replicaPort}/postgres`;
    const [{ in_recovery: inRecovery }] = await query<{ in_recovery: boolean }>(
      replicaUrl,
      'SELECT pg_is_in_recovery() AS in_recovery',
    );
    if (!inRecovery) throw new Error(`replica on port ${replicaPort} is not in recovery (not a standby)`);

    const pair: ReplicatedPostgres = {
      primaryUrl,
      replicaUrl,
      async pauseReplay() {
        await query(replicaUrl, 'SELECT pg_wal_replay_pause()');
        // The startup process checks the pause flag before applying each WAL record, so nothing written
        // after this call returns is applied; wait briefly for the state to settle for good measure.
        for (let i = 0; i < 50; i++) {
          const [{ state }] = await query<{ state: string }>(
            replicaUrl,
            'SELECT pg_get_wal_replay_pause_state() AS state',
          );
          if (state === 'paused') return;
          await sleep(20);
        }
      },
      async resumeReplay() {
        await query(replicaUrl, 'SELECT pg_wal_replay_resume()');
      },
      async waitForCatchUp(timeoutMs = 15_000) {
        const [{ lsn }] = await query<{ lsn: string }>(
          primaryUrl,
          'SELECT pg_current_wal_lsn()::text AS lsn',
        );
        const deadline = Date.now() + timeoutMs;
        const client = new Client({ connectionString: replicaUrl });
        await client.connect();
        try {
          for (;;) {
            const { rows } = await client.query<{ done: boolean; replayed: string | null; paused: string }>(
              `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done,
                      pg_last_wal_replay_lsn()::text AS replayed,
                      pg_get_wal_replay_pause_state() AS paused`,
              [lsn],
            );
            if (rows[0].done) return;
            if (Date.now() > deadline) {
              throw new Error(
                `replica did not catch up within ${timeoutMs} ms: primary at ${lsn}, replica replayed ` +
                  `${rows[0].replayed ?? 'nothing'} (replay state: ${rows[0].paused})`,
              );
            }
            await sleep(10);
          }
        } finally {
          await client.end();
        }
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        removeHandlers();
        for (const dir of [...started].reverse()) {
          await run(bin('pg_ctl'), ['-D', dir, '-m', 'fast', '-w', '-t', '60', 'stop'], runAs, root).catch(
            () => undefined, // already stopped (e.g. crashed): removing its directory is all that is left
          );
        }
        await rm(root, { recursive: true, force: true });
      },
    };
    await pair.waitForCatchUp();
    return pair;
  } catch (error) {
    cleanupSync('immediate');
    throw error;
  }
}
