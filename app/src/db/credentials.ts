import { GetSecretValueCommand, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** A database user name and password. */
export interface DatabaseCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * The part of the Secrets Manager client the provider uses (tests pass a fake with the same shape).
 */
export interface SecretValueSource {
  send(command: GetSecretValueCommand): Promise<Pick<GetSecretValueCommandOutput, 'SecretString'>>;
}

/** Where a connection gets its database credentials from. */
export interface CredentialsProvider {
  /** The cached credentials; fetched on first use. */
  get(): Promise<DatabaseCredentials>;
  /** Increases by one each time the credentials are fetched anew (see {@link refresh}). */
  readonly generation: number;
  /**
   * Fetches the credentials anew after the server rejected them, unless someone else already did since
   * `seenGeneration` (the generation the failed connection started with): many connections failing at once
   * after a rotation cost one fetch.
   */
  refresh(seenGeneration: number): Promise<void>;
}

/** Options of {@link SecretsManagerCredentials}. */
export interface SecretsManagerCredentialsOptions {
  /** ARN of a secret holding JSON with `username` and `password` (an RDS secret). */
  readonly secretArn: string;
  /**
   * The Secrets Manager client.
   *
   * @default - a `SecretsManagerClient` in the secret's region, with the default credential chain (the task role)
   */
  readonly client?: SecretValueSource;
}

/**
 * Database credentials read from a Secrets Manager secret at connection time, cached, and fetched again when
 * the database rejects the cached ones: after a rotation, the next connection attempt that fails refreshes
 * them once and is retried, so running tasks keep connecting. Works with single-user rotation (the password
 * changes) and alternating-users rotation (the user name changes too): user name and password always come
 * from the same secret value.
 */
export class SecretsManagerCredentials implements CredentialsProvider {
  private readonly secretArn: string;
  private readonly client: SecretValueSource;
  private current?: DatabaseCredentials;
  private loading?: Promise<DatabaseCredentials>;
  private generationValue = 0;

  constructor(options: SecretsManagerCredentialsOptions) {
    this.secretArn = options.secretArn;
    // The ARN names the region (arn:aws:secretsmanager:<region>:<account>:secret:<name>), so the app needs
    // no AWS_REGION of its own.
    this.client = options.client ?? new SecretsManagerClient({ region: options.secretArn.split(':')[3] });
  }

  get generation(): number {
    return this.generationValue;
  }

  async get(): Promise<DatabaseCredentials> {
    if (this.current) return this.current;
    return this.load();
  }

  async refresh(seenGeneration: number): Promise<void> {
    if (seenGeneration !== this.generationValue) return;
    await this.load();
  }

  /** Fetches the secret; concurrent callers share one request. */
  private load(): Promise<DatabaseCredentials> {
    this.loading ??= this.fetch(this.current)
      .then((credentials) => {
        this.current = credentials;
        this.generationValue += 1;
        return credentials;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  /**
   * The value to log in with next: AWSCURRENT, unless that is exactly what the database just rejected. Then a
   * rotation is under way or the server has not caught up with it yet:
   * - single user: the new password is set on the database but not yet promoted; it is AWSPENDING;
   * - alternating users: AWSPREVIOUS names the other user, whose password this rotation left alone, so it
   *   still logs in (RDS Proxy, which reads secrets on its own schedule, may know only that user for a while).
   */
  private async fetch(rejected: DatabaseCredentials | undefined): Promise<DatabaseCredentials> {
    const current = await this.read('AWSCURRENT');
    if (current === undefined) throw new Error(`Secret ${this.secretArn} has no current value`);
    if (rejected === undefined || !sameCredentials(current, rejected)) return current;
    for (const stage of ['AWSPENDING', 'AWSPREVIOUS']) {
      const candidate = await this.read(stage);
      if (candidate !== undefined && !sameCredentials(candidate, rejected)) return candidate;
    }
    return current;
  }

  private async read(versionStage: string): Promise<DatabaseCredentials | undefined> {
    let output: Pick<GetSecretValueCommandOutput, 'SecretString'>;
    try {
      output = await this.client.send(
        new GetSecretValueCommand({ SecretId: this.secretArn, VersionStage: versionStage }),
      );
    } catch (err) {
      if (versionStage !== 'AWSCURRENT' && (err as { name?: string }).name === 'ResourceNotFoundException')
        return undefined;
      throw err;
    }
    return parseSecret(this.secretArn, output.SecretString);
  }
}

function sameCredentials(a: DatabaseCredentials, b: DatabaseCredentials): boolean {
  return a.username === b.username && a.password === b.password;
}

function parseSecret(secretArn: string, secretString: string | undefined): DatabaseCredentials {
  let value: unknown;
  try {
    value = JSON.parse(secretString ?? '');
  } catch {
    throw new Error(`Secret ${secretArn} is not JSON with "username" and "password"`);
  }
  const { username, password } = (value ?? {}) as Record<string, unknown>;
  if (typeof username !== 'string' || typeof password !== 'string' || username === '')
    throw new Error(`Secret ${secretArn} is not JSON with "username" and "password"`);
  return { username, password };
}
