import { Stack, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { pascalCase, SHARD_ZERO_ID } from '../config/naming';
import type { ServiceConfig } from '../config/stage-config';
import type { DatabaseEndpoint } from './data-endpoints';
import { ImportedSecrets, oneOffAppTask } from './one-off-task';
import { SHARD_ENDPOINTS_VARIABLE, shardOwnerSecret } from './shard-endpoints';

/** Name of the shard manager's container (the one to name in a `run-task` command override). */
export const SHARD_MANAGER_CONTAINER_NAME = 'ShardManager';

/**
 * The task's default command, in the app image (app/build.mjs bundles tools/shards/task.ts to dist/shards.js):
 * `status`. Override it per run (`aws ecs run-task --overrides`) with another manager command.
 */
export const SHARD_MANAGER_COMMAND = ['node', '--enable-source-maps', 'dist/shards.js', 'status'] as const;

/** The manager's variable naming each shard's cluster writer endpoint (tools/shards/task.ts reads it). */
export const SHARD_REPLICATION_HOSTS_VARIABLE = 'SHARD_REPLICATION_HOSTS';

/** Properties of {@link ShardManagerTask}. */
export interface ShardManagerTaskProps {
  /** Every shard, shard 0 first: the manager moves logical shards between any two of them. */
  readonly shards: readonly DatabaseEndpoint[];
  /** Log group of the task (stream prefix `shards`). */
  readonly logGroup: logs.ILogGroup;
  /**
   * CPU architecture of the image (the app's).
   *
   * @default 'ARM64'
   */
  readonly cpuArchitecture?: ServiceConfig['cpuArchitecture'];
  /**
   * The app's container image.
   *
   * @default - built from app/Dockerfile with the repository root as context, as the service's (one asset)
   */
  readonly image?: ecs.ContainerImage;
}

/**
 * The shard manager (`tools/shards`, `npm run shards`) as a one-off Fargate task definition of the app image,
 * for stage 100k on: nothing runs it but an operator (`aws ecs run-task`, README "Shard manager").
 *
 * - **Settings**: shard 0 as `DB_HOST`/`DB_PORT`/`DB_NAME` and its owner's secret `DB_MIGRATION_SECRET_ARN`; the
 *   others as `SHARD_ENDPOINTS` entries `{"id","writerHost","port","database","migrationSecretArn"}` (no app
 *   secret); `SHARD_REPLICATION_HOSTS`, each shard's cluster writer endpoint, which subscriptions connect to.
 * - **Task role**: may read the shards' owner secrets (the manager creates publications, subscriptions and
 *   schemas, and revokes and grants the app's writes) and decrypt them through Secrets Manager, nothing else:
 *   no app secret, no cache, no queue, no session secret.
 * - Runs as the image's non-root `node` user with a read-only root filesystem; logs to `logGroup`.
 *
 * The task must be started on a security group that every shard admits (the first service's).
 */
export class ShardManagerTask extends Construct {
  /** The task definition. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The manager's container. */
  public readonly container: ecs.ContainerDefinition;

  constructor(scope: Construct, id: string, props: ShardManagerTaskProps) {
    super(scope, id);
    const shard0 = props.shards.find((shard) => shard.shardId === SHARD_ZERO_ID);
    if (shard0 === undefined) throw new Error('ShardManagerTask: shards must include shard 0');
    const further = props.shards.filter((shard) => shard !== shard0);

    const imports = new ImportedSecrets(this);
    const ownerSecrets = props.shards.map((shard) =>
      imports.secret(`Shard${pascalCase(shard.shardId)}OwnerSecret`, shardOwnerSecret(shard)),
    );
    const stack = Stack.of(this);

    const { taskDefinition, image } = oneOffAppTask(this, props);
    this.taskDefinition = taskDefinition;
    this.container = this.taskDefinition.addContainer(SHARD_MANAGER_CONTAINER_NAME, {
      image,
      essential: true,
      command: [...SHARD_MANAGER_COMMAND],
      environment: {
        NODE_ENV: 'production',
        DB_HOST: shard0.writerHost,
        DB_PORT: String(shard0.port),
        DB_NAME: shard0.databaseName,
        DB_SSL: 'verify-full',
        DB_MIGRATION_SECRET_ARN: shardOwnerSecret(shard0).secretArn,
        [SHARD_ENDPOINTS_VARIABLE]: stack.toJsonString(
          further.map((shard) => ({
            id: shard.shardId,
            writerHost: shard.writerHost,
            port: shard.port,
            database: shard.databaseName,
            migrationSecretArn: shardOwnerSecret(shard).secretArn,
          })),
        ),
        [SHARD_REPLICATION_HOSTS_VARIABLE]: stack.toJsonString(
          Object.fromEntries(props.shards.map((shard) => [shard.shardId, shard.replicationHost])),
        ),
      },
      // A move's log is its audit trail: a blocking driver keeps every line.
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'shards', logGroup: props.logGroup }),
      readonlyRootFilesystem: true,
      // The image's own non-root user (app/Dockerfile `USER node`), as the app container.
      user: 'node',
    });

    imports.grantRead(this.taskDefinition.taskRole, ownerSecrets);
    Validations.of(this.taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken has no resource-level permissions; every other action of the shard ' +
        "manager's execution role is scoped to the asset repository and the log group.",
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Only non-secret settings are plain environment (endpoints, port, database name, the ARNs of the owner ' +
        'secrets); the task reads the credentials from Secrets Manager itself.',
    });
  }
}
