import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findFreePort, findPostgresBinDir } from '../../../tools/local-topology/postgres-replication';

/** A private PostgreSQL server that checks passwords (SCRAM) on TCP, unlike the machine's trust-auth one. */
export interface PasswordPostgres {
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** Connection URL of the superuser `postgres` (with its password), database `postgres`. */
  readonly adminUrl: string;
  /** Stops the server and removes its data directory. */
  stop(): void;
}

function runAsPostgres(): { uid?: number; gid?: number } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  // PostgreSQL refuses to run as root.
  const fields = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f[0] === 'postgres');
  if (!fields) throw new Error('running as root without a "postgres" OS user to run PostgreSQL as');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Starts a server made with initdb whose TCP connections need a password (scram-sha-256). */
export async function startPasswordPostgres(): Promise<PasswordPostgres> {
  const bin = (name: string) => path.join(findPostgresBinDir(), name);
  const runAs = runAsPostgres();
  const root = mkdtempSync(path.join(tmpdir(), 'pg-password-'));
  if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(root, runAs.uid, runAs.gid);
  const dataDir = path.join(root, 'data');
  const adminPassword = 'admin-secret';
  const passwordFile = path.join(root, 'pwfile');
  writeFileSync(passwordFile, adminPassword);
  if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(passwordFile, runAs.uid, runAs.gid);
  const options = { cwd: root, uid: runAs.uid, gid: runAs.gid, stdio: 'pipe' as const, timeout: 120_000 };
  const port = await findFreePort();
  let started = false;
  const stop = () => {
    if (started) execFileSync(bin('pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], options);
    started = false;
    rmSync(root, { recursive: true, force: true });
  };
  try {
    execFileSync(
      bin('initdb'),
      [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        '--pwfile',
        passwordFile,
        '--no-sync',
      ],
      options,
    );
    appendFileSync(
      path.join(dataDir, 'postgresql.conf'),
      `\nlisten_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = ''\nfsync = off\n`,
    );
    started = true;
    execFileSync(
      bin('pg_ctl'),
      ['-D', dataDir, '-l', path.join(root, 'log'), '-w', '-t', '60', 'start'],
      options,
    );
  } catch (err) {
    stop();
    throw err;
  }
  return { port, adminUrl: `postgres://postgres:${adminPassword}@127.0.0.1:${port}/postgres`, stop };
}
