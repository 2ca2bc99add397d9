import { RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { replicaKeyAlias } from './global-sessions-secrets';
import { denyGrantsExceptForAwsServices } from './key-policies';

/** Properties of {@link GlobalSessionsReplicaKey}. */
export interface GlobalSessionsReplicaKeyProps {
  /** Prefix of physical names: the alias is `alias/<prefix>-replicated-secrets`. */
  readonly prefix: string;
}

/**
 * A secondary region's customer-managed key for its replicas of the secrets every region shares (stage global: the
 * session secret and the sessions' Redis AUTH token, see {@link GlobalSessionsSecrets}). It lives in the region's
 * network stack, which is deployed before the home region's data stack replicates to it; the home stack names it by
 * its alias, so no reference crosses regions.
 */
export class GlobalSessionsReplicaKey extends Construct {
  /** The key. */
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: GlobalSessionsReplicaKeyProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Resource', {
      alias: replicaKeyAlias(props.prefix),
      description:
        "Encrypts this region's replicas of the home region's secrets (database secrets, session secret, Redis AUTH token)",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    denyGrantsExceptForAwsServices(this.key);
  }
}
