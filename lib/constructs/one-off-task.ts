import { Stack } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { SERVICE_DEFAULTS } from '../config/defaults';
import type { ServiceConfig } from '../config/stage-config';
import { REPO_ROOT } from './service-platform';

/**
 * Secrets of the data stacks imported by ARN, with their keys (each key imported once). Granting on the data
 * stacks' own objects would make them depend on the stack that reads them.
 */
export class ImportedSecrets {
  private readonly keys = new Map<string, kms.IKey>();

  constructor(private readonly scope: Construct) {}

  /** Imports a secret and its encryption key under construct id `id`. */
  secret(
    id: string,
    secret: { readonly secretArn: string; readonly keyArn: string },
  ): secretsmanager.ISecret {
    let key = this.keys.get(secret.keyArn);
    if (key === undefined) {
      key = kms.Key.fromKeyArn(this.scope, `Key${this.keys.size + 1}`, secret.keyArn);
      this.keys.set(secret.keyArn, key);
    }
    return secretsmanager.Secret.fromSecretAttributes(this.scope, id, {
      secretCompleteArn: secret.secretArn,
      encryptionKey: key,
    });
  }

  /**
   * Lets `grantee` read `secrets` and decrypt them only when Secrets Manager asks on its behalf
   * (`kms:ViaService`; the grant's own decrypt half cannot write an imported key's policy).
   */
  grantRead(grantee: iam.IGrantable, secrets: readonly secretsmanager.ISecret[]): void {
    for (const secret of secrets) secret.grantRead(grantee);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [...this.keys.values()].map((key) => key.keyArn),
      conditions: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this.scope).region}.amazonaws.com` },
      },
    });
  }
}

/**
 * A small Fargate task definition of the app image (0.25 vCPU, 0.5 GB) for one-off commands (migrations,
 * the shard manager), and the image: the app's, built from app/Dockerfile (one asset with the service's).
 */
export function oneOffAppTask(
  scope: Construct,
  props: { readonly cpuArchitecture?: ServiceConfig['cpuArchitecture']; readonly image?: ecs.ContainerImage },
): { readonly taskDefinition: ecs.FargateTaskDefinition; readonly image: ecs.ContainerImage } {
  const arm = (props.cpuArchitecture ?? SERVICE_DEFAULTS.cpuArchitecture) === 'ARM64';
  const taskDefinition = new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
    cpu: 256,
    memoryLimitMiB: 512,
    runtimePlatform: {
      cpuArchitecture: arm ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    },
  });
  const image =
    props.image ??
    ecs.ContainerImage.fromAsset(REPO_ROOT, {
      file: 'app/Dockerfile',
      platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
    });
  return { taskDefinition, image };
}
