/**
 * Stage global's regional readers on one machine: a hot standby of a running private PostgreSQL server
 * (postgres-replication.ts / postgres-shards.ts make those with replication allowed from 127.0.0.1), cloned with
 * `pg_basebackup -R -X stream` and streaming from it, as an Aurora Global Database secondary cluster replicates the
 * primary's storage. Runs as the `postgres` OS user when the caller is root; its directory is removed on stop and
 * on process exit.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { findFreePort, findPostgresBinDir } from './postgres-replication';

/** A running streaming standby. */
export interface Standby {
  /** Connection URL of the standby (same database as the primary URL it was made from; read-only). */
  readonly url: string;
  /** Waits until the standby has replayed everything its primary had written when the call started. */
  waitForCatchUp(timeoutMs?: number): Promise<void>;
  /** Pauses WAL replay (a lagging region: rows written afterwards stay invisible there until resumed). */
  pauseReplay(): Promise<void>;
  /** Resumes WAL replay. */
  resumeReplay(): Promise<void>;
  /**
   * Once its primary is gone: waits until the standby has replayed every WAL record it received and no longer
   * streams; resolves with that position (the end of the primary's timeline, as far as this standby got).
   */
  waitForEndOfStream(timeoutMs?: number): Promise<string>;
  /**
   * Promotes the standby (`pg_promote`, a new timeline) and resolves once it accepts writes: from then on it is a
   * primary, {@link waitForCatchUp} resolves at once and other standbys may {@link follow} it.
   */
  promote(): Promise<void>;
  /**
   * Streams from another primary from now on (`primary_conninfo` changed, configuration reloaded; the default
   * `recovery_target_timeline = latest` follows a promoted standby's new timeline); resolves once the WAL receiver
   * streams from it and the standby has replayed what that primary had written.
   */
  follow(primaryUrl: string, timeoutMs?: number): Promise<void>;
  /** Fast-shuts the standby down and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/** The `postgres` OS user's ids when we are root (PostgreSQL refuses to run as root), else nothing. */
function postgresUser(): { uid?: number; gid?: number } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const fields = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f[0] === 'postgres');
  if (!fields)
    throw new Error(
      'running as root, but there is no "postgres" OS user to run the standby as; create one (useradd --system postgres)',
    );
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

function run(binary: string, args: string[], user: { uid?: number; gid?: number }, cwd: string) {
  return new Promise<void>((resolve, reject) =>
    execFile(binary, args, { cwd, ...user, timeout: 120_000 }, (error, _stdout, stderr) =>
      error
        ? reject(new Error(`${path.basename(binary)} ${args.join(' ')} failed: ${error.message}\n${stderr}`))
        : resolve(),
    ),
  );
}

async function sql(url: string, text: string): Promise<Record<string, unknown>[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Clones the server at `primaryUrl` (which must allow replication connections from 127.0.0.1, as the private
 * servers of this folder do) into a hot standby on a free port and starts it. The standby keeps the primary's
 * settings (pg_basebackup copies postgresql.conf, so `max_connections` matches as a standby requires).
 */
export async function startStandby(primaryUrl: string, binDir?: string): Promise<Standby> {
  const bin = (name: string) => path.join(findPostgresBinDir(binDir), name);
  const user = postgresUser();
  const primary = new URL(primaryUrl);
  const root = mkdtempSync(path.join(tmpdir(), 'pg-standby-'));
  if (user.uid !== undefined) chownSync(root, user.uid, user.gid!);
  const dataDir = path.join(root, 'data');
  const log = path.join(root, 'standby.log');
  // A replication slot of its own (created by pg_basebackup -C, named in primary_conninfo's slot by -R): the
  // primary keeps the WAL the standby still needs, during the copy (other clones' checkpoints would recycle it) and
  // while its replay is paused.
  const slot = `standby_${randomBytes(6).toString('hex')}`;
  let started = false;
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    if (started)
      spawnSync(bin('pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], {
        ...user,
        stdio: 'ignore',
      });
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', stopSync);
  try {
    const port = await findFreePort();
    await run(
      bin('pg_basebackup'),
      [
        '-h',
        primary.hostname,
        '-p',
        primary.port,
        '-U',
        'postgres',
        '-D',
        dataDir,
        '-R',
        '-X',
        'stream',
        '--checkpoint=fast',
      ],
      user,
      root,
    );
    appendFileSync(
      path.join(dataDir, 'postgresql.conf'),
      `\n# --- standby (tools/local-topology/global-postgres.ts) ---\nport = ${port}\nhot_standby = on\n`,
    );
    started = true;
    await run(bin('pg_ctl'), ['-D', dataDir, '-l', log, '-w', '-t', '60', 'start'], user, root).catch(
      (error: Error) => {
        let tail = '';
        try {
          tail = readFileSync(log, 'utf8').split('\n').slice(-20).join('\n');
        } catch {
          // no log written
        }
        throw new Error(`${error.message}\nstandby log:\n${tail}`);
      },
    );
    const url = new URL(primaryUrl);
    url.port = String(port);
    // The server it streams from; none once promoted.
    let upstream: string | undefined = primaryUrl;
    const standby: Standby = {
      url: url.toString(),
      async waitForCatchUp(timeoutMs = 15_000) {
        if (upstream === undefined) return;
        const writer = new Client({ connectionString: upstream });
        await writer.connect();
        let lsn: string;
        try {
          lsn = (await writer.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn;
        } finally {
          await writer.end();
        }
        const reader = new Client({ connectionString: url.toString() });
        await reader.connect();
        try {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const { rows } = await reader.query<{ done: boolean }>(
              'SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done',
              [lsn],
            );
            if (rows[0].done) return;
            if (Date.now() > deadline)
              throw new Error(`standby ${url.port} did not replay up to ${lsn} within ${timeoutMs} ms`);
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        } finally {
          await reader.end();
        }
      },
      async pauseReplay() {
        await sql(url.toString(), 'SELECT pg_wal_replay_pause()');
        // The startup process checks the flag before each record: wait until it says paused.
        const deadline = Date.now() + 5_000;
        while ((await sql(url.toString(), 'SELECT pg_get_wal_replay_pause_state() AS s'))[0].s !== 'paused') {
          if (Date.now() > deadline)
            throw new Error(`standby ${url.port} did not pause its replay within 5 s`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      },
      async resumeReplay() {
        await sql(url.toString(), 'SELECT pg_wal_replay_resume()');
      },
      async waitForEndOfStream(timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const [row] = (await sql(
            url.toString(),
            `SELECT pg_last_wal_receive_lsn()::text AS received, pg_last_wal_replay_lsn()::text AS replayed,
                    coalesce(pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn(), false) AS done,
                    EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming,
                    pg_get_wal_replay_pause_state() AS pause`,
          )) as { received: string; replayed: string; done: boolean; streaming: boolean; pause: string }[];
          if (row.done && !row.streaming) return row.replayed;
          if (Date.now() > deadline)
            throw new Error(
              `standby ${url.port} did not reach the end of its primary's WAL within ${timeoutMs} ms: received ` +
                `${row.received}, replayed ${row.replayed}, ${row.streaming ? 'still streaming' : 'not streaming'}, ` +
                `replay ${row.pause}`,
            );
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
      async promote() {
        const [{ promoted }] = (await sql(url.toString(), 'SELECT pg_promote(true, 60) AS promoted')) as {
          promoted: boolean;
        }[];
        if (!promoted) throw new Error(`standby ${url.port} was not promoted within 60 s (see ${log})`);
        // Out of recovery is not yet writable for every session: assigning a transaction id is the proof.
        const deadline = Date.now() + 15_000;
        for (;;) {
          try {
            await sql(url.toString(), 'SELECT pg_current_xact_id()');
            break;
          } catch (error) {
            if (Date.now() > deadline)
              throw new Error(`promoted standby ${url.port} refuses writes: ${(error as Error).message}`);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
        upstream = undefined;
      },
      async follow(newPrimaryUrl, timeoutMs = 30_000) {
        const next = new URL(newPrimaryUrl);
        const conninfo = `host=${next.hostname} port=${next.port} user=postgres application_name=standby_${url.port}`;
        await sql(url.toString(), `ALTER SYSTEM SET primary_conninfo = '${conninfo}'`);
        await sql(url.toString(), 'SELECT pg_reload_conf()');
        upstream = newPrimaryUrl;
        // The WAL receiver restarts on the new conninfo (PostgreSQL 13+); wait until it streams from that server.
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const rows = (await sql(
            url.toString(),
            "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'",
          )) as { sender_port: number }[];
          if (rows.length === 1 && String(rows[0].sender_port) === next.port) break;
          if (Date.now() > deadline)
            throw new Error(
              `standby ${url.port} does not stream from ${next.port} within ${timeoutMs} ms ` +
                `(streaming from: ${rows.map((r) => r.sender_port).join(', ') || 'nothing'}); see ${log}`,
            );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await standby.waitForCatchUp(timeoutMs);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', stopSync);
        await run(bin('pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], user, root).catch(
          () => undefined, // already down: removing its directory is all that is left
        );
        await rm(root, { recursive: true, force: true });
        if (upstream === undefined) return;
        await sql(upstream, `SELECT pg_drop_replication_slot('${slot}')`).catch(
          () => undefined, // the primary is gone too: nothing holds WAL any more
        );
      },
    };
    await standby.waitForCatchUp();
    return standby;
  } catch (error) {
    process.removeListener('exit', stopSync);
    stopSync();
    throw error;
  }
}
