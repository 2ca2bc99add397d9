import * as tls from 'node:tls';
import { Client, Connection, Pool, type PoolClient, type PoolConfig } from 'pg';
import type { PgConnectionConfig } from '../config';
import type { CredentialsProvider } from './credentials';
import {
  deadline,
  QueryTimeoutError,
  type Database,
  type QueryObserver,
  type SqlConnection,
  type SqlExecutor,
} from './database';
import { hasReplayed, readReplayPosition, type ReplayPosition } from './replay-position';

/** Options of the `pg` adapter. */
export interface PgDatabaseOptions {
  writer: PgConnectionConfig;
  /** @default - no replica: reads go to the writer */
  reader?: PgConnectionConfig;
  /** @default 10 */
  poolMax?: number;
  /** Reported as application_name in pg_stat_activity. @default 'shop' */
  applicationName?: string;
  observe?: QueryObserver;
  /**
   * Where each new connection gets its user name and password (both, from one value of the secret: with
   * multi-user rotation the user name alternates): read when the connection opens, and fetched anew once when
   * the server rejects them (a rotated secret).
   * @default - the static `user` and `password` of the connection settings
   */
  credentials?: CredentialsProvider;
}

/**
 * SQLSTATEs of a log-in the server (or RDS Proxy) refused for its credentials: invalid_password (28P01), and
 * invalid_authorization_specification (28000), which is what a user name unknown to RDS Proxy gets, for instance
 * while it still holds the previous user of an alternating-users secret.
 */
const REJECTED_CREDENTIALS = new Set(['28P01', '28000']);

type ConnectCallback = ((err: Error) => void) | ((err: null, client: Client) => void);

/**
 * A `pg` client class whose connections log in with the provider's current user name and password. `pg`
 * accepts a function for the password but only a fixed string for the user; the user name is sent in the
 * start-up message, before the password is asked for, so both are set here, from one snapshot, just before
 * connecting.
 */
function clientWithCredentials(credentials: CredentialsProvider): typeof Client {
  return class CredentialedClient extends Client {
    connect(): Promise<Client>;
    connect(callback: ConnectCallback): void;
    connect(callback?: ConnectCallback): Promise<Client> | void {
      const ready = credentials.get().then(({ username, password }) => {
        // `user` feeds the start-up message and `password` the authentication exchange (pg reads both fields).
        const self = this as unknown as {
          user: string;
          password: string;
          connectionParameters: { user: string; password: string };
        };
        self.user = self.connectionParameters.user = username;
        self.password = self.connectionParameters.password = password;
      });
      if (callback === undefined) return ready.then(() => super.connect());
      ready.then(
        () => super.connect(callback),
        (err: unknown) => (callback as (err: Error) => void)(err as Error),
      );
    }
  };
}

const secureContexts = new WeakMap<readonly string[], tls.SecureContext>();

/**
 * Node TLS options for a connection's `ssl` setting. A CA list becomes one secure context shared by every
 * connection: parsing the ~260 certificates of Node's store plus the RDS bundle takes over 100 ms of CPU, too
 * much to repeat for each new connection.
 */
export function tlsConnectionOptions(ssl: PgConnectionConfig['ssl']): PoolConfig['ssl'] {
  if (ssl === undefined || ssl === false || ssl.ca === undefined) return ssl;
  let secureContext = secureContexts.get(ssl.ca);
  if (secureContext === undefined) {
    secureContext = tls.createSecureContext({ ca: ssl.ca });
    secureContexts.set(ssl.ca, secureContext);
  }
  return { rejectUnauthorized: ssl.rejectUnauthorized, secureContext };
}

function poolConfig(
  connection: PgConnectionConfig,
  max: number,
  applicationName: string,
  credentials: CredentialsProvider | undefined,
): PoolConfig {
  return {
    ...connection,
    ssl: tlsConnectionOptions(connection.ssl),
    // Every new connection reads the provider, so a refreshed secret reaches the next one.
    ...(credentials ? { Client: clientWithCredentials(credentials) } : {}),
    max,
    application_name: applicationName,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
  };
}

/** How long a cancel request may take to be delivered before its socket is dropped. */
const CANCEL_DELIVERY_MS = 2_000;

/**
 * Asks the server to cancel what `client`'s backend is running: PostgreSQL's CancelRequest (its backend's process
 * id and secret key) on a new connection to the same host and port, as `pg_cancel_backend` would, without needing
 * a working session. Best effort and never awaited: an unreachable server just never gets it (the socket is
 * dropped after {@link CANCEL_DELIVERY_MS}).
 */
function requestCancel(client: PoolClient): void {
  const target = client as unknown as {
    processID: number | null;
    secretKey: number | null;
    host: string;
    port: number;
  };
  if (target.processID === null || target.secretKey === null || typeof target.host !== 'string') return;
  const { processID, secretKey } = target;
  // pg's Connection speaks the wire protocol; its typings omit connect() and cancel().
  const con = new Connection() as Connection & {
    connect(portOrSocketPath: number | string, host?: string): void;
    cancel(processID: number, secretKey: number): void;
  };
  const guard = setTimeout(() => con.stream.destroy(), CANCEL_DELIVERY_MS);
  guard.unref();
  con.on('error', () => {});
  con.once('connect', () => con.cancel(processID, secretKey));
  con.stream.once('close', () => clearTimeout(guard));
  // A host starting with / is a Unix socket directory, as in libpq.
  if (target.host.startsWith('/')) con.connect(`${target.host}/.s.PGSQL.${target.port}`);
  else con.connect(target.port, target.host);
}

/** The PostgreSQL adapter: a writer pool and, when a reader endpoint is configured, a reader pool. */
export class PgDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly hasReplica: boolean;
  readonly writer: SqlExecutor;
  readonly reader: SqlExecutor;
  private readonly writerPool: Pool;
  private readonly readerPool?: Pool;
  private readonly observe: QueryObserver;
  private readonly credentials?: CredentialsProvider;

  constructor(options: PgDatabaseOptions) {
    const max = options.poolMax ?? 10;
    const name = options.applicationName ?? 'shop';
    this.observe = options.observe ?? (() => {});
    this.credentials = options.credentials;
    this.writerPool = new Pool(poolConfig(options.writer, max, name, this.credentials));
    // A pool emits 'error' when an idle client's connection drops (failover); without a listener the
    // process would crash. The next query simply gets a fresh connection.
    this.writerPool.on('error', () => {});
    this.writer = this.executor(this.writerPool, 'writer');
    if (options.reader) {
      this.readerPool = new Pool(poolConfig(options.reader, max, name, this.credentials));
      this.readerPool.on('error', () => {});
      this.reader = this.executor(this.readerPool, 'reader');
    } else {
      this.reader = this.writer;
    }
    this.hasReplica = this.readerPool !== undefined;
  }

  /**
   * Runs `attempt`, and once more after refreshing the credentials when the server rejected them. The
   * rejection happens at log-in, before any statement ran, so repeating the attempt is safe.
   */
  private async withFreshCredentials<T>(attempt: () => Promise<T>): Promise<T> {
    const credentials = this.credentials;
    if (!credentials) return attempt();
    const generation = credentials.generation;
    try {
      return await attempt();
    } catch (err) {
      if (!REJECTED_CREDENTIALS.has((err as { code?: string }).code ?? '')) throw err;
      await credentials.refresh(generation);
      return attempt();
    }
  }

  private connect(pool: Pool): Promise<PoolClient> {
    return this.withFreshCredentials(() => pool.connect());
  }

  private executor(pool: Pool, role: 'writer' | 'reader'): SqlExecutor {
    return {
      query: async <R>(text: string, params?: unknown[]) => {
        this.observe(role);
        const result = await this.withFreshCredentials(() => pool.query(text, params));
        return { rows: result.rows as R[] };
      },
    };
  }

  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.writer.query<R>(text, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.withConnection(async (conn) => {
      await conn.query('BEGIN');
      try {
        const result = await fn(conn);
        await conn.query('COMMIT');
        return result;
      } catch (err) {
        await conn.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async withConnection<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T> {
    const client = await this.connect(this.writerPool);
    let broken: Error | undefined;
    try {
      return await fn({
        query: async <R>(text: string, params?: unknown[]) => {
          this.observe('writer');
          try {
            const result = await client.query(text, params);
            return { rows: result.rows as R[] };
          } catch (err) {
            // A connection-level failure must not go back to the pool.
            if (!(err as { code?: string }).code) broken = err as Error;
            throw err;
          }
        },
        exec: async (sql) => {
          this.observe('writer');
          await client.query(sql);
        },
      });
    } finally {
      client.release(broken);
    }
  }

  async writerLsn(): Promise<string | null> {
    if (!this.readerPool) return null;
    const { rows } = await this.writer.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return rows[0].lsn;
  }

  async replicaReplayPosition(): Promise<ReplayPosition> {
    if (!this.readerPool) return { state: 'primary' };
    return readReplayPosition(this.reader);
  }

  async replicaHasReplayed(lsn: string): Promise<boolean> {
    if (!this.readerPool) return true;
    return hasReplayed(await this.replicaReplayPosition(), lsn);
  }

  async withReaderTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const pool = this.readerPool ?? this.writerPool;
    const role = this.readerPool ? 'reader' : 'writer';
    const client = await this.connect(pool);
    let broken: Error | undefined;
    const run = async <R>(text: string, params?: unknown[]) => {
      this.observe(role);
      try {
        const result = await client.query(text, params);
        return { rows: result.rows as R[] };
      } catch (err) {
        // A connection-level failure must not go back to the pool.
        if (!(err as { code?: string }).code) broken = err as Error;
        throw err;
      }
    };
    try {
      await run('BEGIN READ ONLY');
      let result: T;
      try {
        result = await fn({ query: run });
      } catch (err) {
        if (!broken) await run('ROLLBACK').catch(() => {});
        throw err;
      }
      await run('COMMIT');
      return result;
    } finally {
      client.release(broken);
    }
  }

  async readWithin<R = Record<string, unknown>>(
    text: string,
    params: unknown[] | undefined,
    timeoutMs: number,
  ): Promise<{ rows: R[] }> {
    const pool = this.readerPool ?? this.writerPool;
    const role = this.readerPool ? 'reader' : 'writer';
    const { expired, disarm } = deadline(timeoutMs);
    try {
      const checkout = this.connect(pool);
      let client: PoolClient;
      try {
        client = await Promise.race([checkout, expired]);
      } catch (err) {
        // A connection that arrives after the deadline goes back to the pool unused.
        if (err instanceof QueryTimeoutError)
          checkout.then(
            (late) => late.release(),
            () => {},
          );
        throw err;
      }
      this.observe(role);
      const running = client.query(text, params);
      try {
        const result = await Promise.race([running, expired]);
        client.release();
        return { rows: result.rows as R[] };
      } catch (err) {
        if (err instanceof QueryTimeoutError) {
          // A live server is asked to stop the statement (a lock wait or a long scan would otherwise go on). It may
          // be frozen or the network gone, so waiting for its answer (or for a polite close) could take forever:
          // the socket is dropped, and the pool forgets the client.
          running.catch(() => {});
          requestCancel(client);
          client.release(err);
          (
            client as unknown as { connection?: { stream?: { destroy(): void } } }
          ).connection?.stream?.destroy();
        } else {
          client.release((err as { code?: string }).code ? undefined : (err as Error));
        }
        throw err;
      }
    } finally {
      disarm();
    }
  }

  async ping(): Promise<void> {
    await this.withFreshCredentials(() => this.writerPool.query('SELECT 1'));
    const readerPool = this.readerPool;
    if (readerPool) await this.withFreshCredentials(() => readerPool.query('SELECT 1'));
  }

  private closing?: Promise<void>;

  async close(): Promise<void> {
    this.closing ??= Promise.all([this.writerPool.end(), this.readerPool?.end()]).then(() => {});
    return this.closing;
  }
}
