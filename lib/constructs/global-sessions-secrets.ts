import { Arn, ArnFormat, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** The names of the secrets every region of stage global shares (replicated from the home region). */
export function globalSecretNames(prefix: string): {
  readonly session: string;
  readonly cacheAuthToken: string;
} {
  // No name ends in a hyphen and six characters: a partial ARN of such a name reads as a complete one.
  return { session: `${prefix}/global/SessionSecret`, cacheAuthToken: `${prefix}/global/RedisAuthToken` };
}

/** Alias of the key a secondary region's replicas of the shared secrets are encrypted with. */
export function replicaKeyAlias(prefix: string): string {
  return `alias/${prefix}-replicated-secrets`;
}

/** Properties of {@link GlobalSessionsSecrets}. */
export interface GlobalSessionsSecretsProps {
  /** Prefix of physical names (the secrets' names, the replica keys' alias). */
  readonly prefix: string;
  /** The home region's session secret (`SESSION_SECRET` until stage global): the value the shared one starts with. */
  readonly sessionSecret: secretsmanager.ISecret;
  /** The home region's Redis AUTH token (the primary's): the value the shared one carries. */
  readonly cacheAuthToken: secretsmanager.ISecret;
  /** Key of the home region's copies (the data key). */
  readonly encryptionKey: kms.IKey;
  /** The secondary regions: each gets a replica, encrypted with its own key (`replicaKeyAlias`). */
  readonly replicaRegions: readonly string[];
}

/**
 * The secrets every region of stage global must share, in the home region under fixed names and replicated by
 * Secrets Manager to each secondary region, encrypted there with that region's replica key (a customer-managed
 * key in the replica's region, named by alias: `alias/<prefix>-replicated-secrets`):
 *
 * - the session signing secret: a user whom failover moves to another region stays logged in; every region's
 *   tasks read it (the home region's too, so there is one value to rotate);
 * - the Redis AUTH token of the sessions' Global Datastore: the primary's token, so each secondary member (and the
 *   regional cache beside it, which the app reaches with the same `REDIS_AUTH_TOKEN`) takes the same one.
 *
 * Why copies with fixed names rather than replicas of the existing secrets: those have names CloudFormation made
 * up (a rename replaces a secret), so another region could name their replicas only through a cross-region
 * reference. A copy starts with the existing secret's value (a dynamic reference, resolved by CloudFormation), so
 * the upgrade to stage global signs nobody out; afterwards the copies are the ones to rotate (README).
 */
export class GlobalSessionsSecrets extends Construct {
  /** The shared session secret (home region copy). */
  public readonly sessionSecret: secretsmanager.Secret;
  /** The shared Redis AUTH token (home region copy). */
  public readonly cacheAuthToken: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: GlobalSessionsSecretsProps) {
    super(scope, id);
    const names = globalSecretNames(props.prefix);
    const stack = Stack.of(this);
    // Each replica's key by alias ARN: the key lives in the replica's region (its network stack, deployed before
    // this one), so no reference crosses regions.
    const replicaRegions = props.replicaRegions.map((region) => ({
      Region: region,
      KmsKeyId: Arn.format(
        {
          service: 'kms',
          region,
          resource: replicaKeyAlias(props.prefix),
          arnFormat: ArnFormat.NO_RESOURCE_NAME,
        },
        stack,
      ),
    }));
    const copy = (secretId: string, name: string, description: string, source: secretsmanager.ISecret) => {
      const secret = new secretsmanager.Secret(this, secretId, {
        secretName: name,
        description,
        encryptionKey: props.encryptionKey,
        secretStringValue: SecretValue.secretsManager(source.secretArn),
        removalPolicy: RemovalPolicy.RETAIN,
      });
      (secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyOverride(
        'ReplicaRegions',
        replicaRegions,
      );
      return secret;
    };
    this.sessionSecret = copy(
      'SessionSecret',
      names.session,
      'Signs the shop session cookies in every region (SESSION_SECRET), replicated to each secondary region',
      props.sessionSecret,
    );
    Validations.of(this.sessionSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the session signing secret signs every user out; it is rotated deliberately (new value, then a ' +
        'new deployment of the services in every region), not on a schedule.',
    });
    this.cacheAuthToken = copy(
      'CacheAuthToken',
      names.cacheAuthToken,
      "AUTH token of the sessions' Global Datastore (the primary's), replicated to each secondary region",
      props.cacheAuthToken,
    );
    Validations.of(this.cacheAuthToken).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'ElastiCache has no managed rotation function for AUTH tokens; rotate with ModifyReplicationGroup ' +
        '(ROTATE then SET) in every region, putting the new value here and in the home cache token.',
    });
  }
}
