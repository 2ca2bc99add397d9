import type { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SecretValueSource } from '../../src/db/credentials';

/** A user name and password, as an RDS secret holds them. */
export interface FakeSecretValue {
  username: string;
  password: string;
}

/** The staged values of one fake secret. */
export interface FakeSecretStages {
  current: FakeSecretValue;
  pending?: FakeSecretValue;
  previous?: FakeSecretValue;
}

/**
 * A stand-in for Secrets Manager's GetSecretValue: serves AWSCURRENT, AWSPENDING and AWSPREVIOUS of the
 * secrets it holds (ResourceNotFoundException for a stage or secret it lacks, as the service does) and records
 * every request as `stage` (one secret) or `arn stage`.
 */
export class FakeSecrets implements SecretValueSource {
  readonly secrets = new Map<string, FakeSecretStages>();
  readonly requests: string[] = [];

  constructor(secrets: Record<string, FakeSecretStages> = {}) {
    for (const [arn, stages] of Object.entries(secrets)) this.secrets.set(arn, stages);
  }

  /** The stages of one secret (throws for an unknown ARN, so a typo in a test fails loudly). */
  get(arn: string): FakeSecretStages {
    const stages = this.secrets.get(arn);
    if (stages === undefined) throw new Error(`FakeSecrets holds no secret ${arn}`);
    return stages;
  }

  async send(command: GetSecretValueCommand) {
    const arn = command.input.SecretId ?? '';
    const stage = command.input.VersionStage ?? 'AWSCURRENT';
    this.requests.push(this.secrets.size === 1 ? stage : `${arn} ${stage}`);
    const stages = this.secrets.get(arn);
    const value =
      stage === 'AWSPENDING' ? stages?.pending : stage === 'AWSPREVIOUS' ? stages?.previous : stages?.current;
    if (value === undefined) {
      throw Object.assign(new Error("Secrets Manager can't find the specified secret value"), {
        name: 'ResourceNotFoundException',
      });
    }
    return { SecretString: JSON.stringify({ ...value, engine: 'postgres', port: 5432 }) };
  }
}
