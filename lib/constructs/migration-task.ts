import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { transformSync } from 'esbuild';
import type { ServiceConfig } from '../config/stage-config';
import { pascalCase } from '../config/naming';
import type { DatabaseEndpoint } from './data-endpoints';
import { ImportedSecrets, oneOffAppTask } from './one-off-task';
import {
  SHARD_ENDPOINTS_VARIABLE,
  shardAppSecret,
  shardEndpointsEnvironment,
  shardOwnerSecret,
} from './shard-endpoints';

/** Name of the migration container (its exit code decides whether a deployment goes on). */
export const MIGRATION_CONTAINER_NAME = 'Migrate';

/** The command that migrates, in the app image (app/build.mjs bundles app/src/migrate.ts to dist/migrate.js). */
export const MIGRATION_COMMAND = ['node', '--enable-source-maps', 'dist/migrate.js'] as const;

/** Properties of {@link MigrationTask}. */
export interface MigrationTaskProps {
  /** The ECS cluster the task runs in. */
  readonly cluster: ecs.ICluster;
  /** VPC: the task goes into its private subnets (with egress: ECR, Secrets Manager, CloudWatch Logs). */
  readonly vpc: ec2.IVpc;
  /** Shard 0: its writer host, the app's secret and the schema owner's (migration) secret. */
  readonly database: DatabaseEndpoint;
  /**
   * The shards beyond shard 0 (stage 100k on), migrated by the same run: the task gets them as
   * `SHARD_ENDPOINTS` with each shard's owner secret (`migrationSecretArn`) beside the app's (`secretArn`, the
   * login the task creates there), and may read exactly those secrets. Entries with shard id `0` are ignored.
   *
   * @default - shard 0 only
   */
  readonly shards?: readonly DatabaseEndpoint[];
  /** Security group of the task; must be admitted on `database.securityGroupId` (the app's group is). */
  readonly securityGroup: ec2.ISecurityGroup;
  /** Log group of the task (stream prefix `migrate`) and of the function that runs it. */
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
 * The one-off migration task of a stage, and its run on every deployment that changes it.
 *
 * - **Task definition** (`TaskDefinition`): the app image with the command `node dist/migrate.js`, the
 *   writer endpoint (`DB_HOST`: the proxy's or the cluster's), the app's secret (`DB_SECRET_ARN`: the task
 *   creates the app's login from it) and the schema owner's (`DB_MIGRATION_SECRET_ARN`: it logs in with it).
 *   Its task role may read those two secrets and decrypt them through Secrets Manager, nothing else; no Redis,
 *   no session secret; read-only root filesystem.
 * - **Run** (`Run`, a custom resource): a function that calls `ecs:RunTask`, waits for the task to stop and
 *   fails the deployment unless the container exited 0. Its properties hold the task definition's ARN, which
 *   changes with every revision, so CloudFormation runs it on creation and whenever the task changes (a new
 *   image, a new endpoint), and not otherwise. Make the services depend on {@link MigrationTask.run}: the
 *   database is migrated before a new task definition of theirs is deployed.
 */
export class MigrationTask extends Construct {
  /** The migration task definition. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The migration container. */
  public readonly container: ecs.ContainerDefinition;
  /** The function that runs the task and waits for it. */
  public readonly runner: lambda.Function;
  /** The deployment's run of the task: what must come before the services. */
  public readonly run: CustomResource;

  constructor(scope: Construct, id: string, props: MigrationTaskProps) {
    super(scope, id);
    const { database } = props;
    const further = (props.shards ?? []).filter((shard) => shard.shardId !== database.shardId);

    const imports = new ImportedSecrets(this);
    const appSecret = imports.secret('AppSecret', shardAppSecret(database));
    const ownerSecret = imports.secret('OwnerSecret', shardOwnerSecret(database));
    // Every further shard: the app's secret (the task creates the app's login there too) and the owner's.
    const shardSecrets = further.flatMap((shard) => [
      imports.secret(`Shard${pascalCase(shard.shardId)}AppSecret`, shardAppSecret(shard)),
      imports.secret(`Shard${pascalCase(shard.shardId)}OwnerSecret`, shardOwnerSecret(shard)),
    ]);

    const { taskDefinition, image } = oneOffAppTask(this, props);
    this.taskDefinition = taskDefinition;
    this.container = this.taskDefinition.addContainer(MIGRATION_CONTAINER_NAME, {
      image,
      essential: true,
      command: [...MIGRATION_COMMAND],
      environment: {
        NODE_ENV: 'production',
        DB_HOST: database.writerHost,
        DB_PORT: String(database.port),
        DB_NAME: database.databaseName,
        DB_SSL: 'verify-full',
        DB_SECRET_ARN: appSecret.secretArn,
        DB_MIGRATION_SECRET_ARN: ownerSecret.secretArn,
        // Stage 100k on: every further shard, with its owner's secret (absent before: earlier stages' task
        // definitions do not change).
        ...shardEndpointsEnvironment(this, further, { withOwnerSecret: true }),
      },
      // Migrations are few and short: a blocking log driver keeps every line of them.
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'migrate', logGroup: props.logGroup }),
      readonlyRootFilesystem: true,
      // The image's own non-root user (app/Dockerfile `USER node`), as the app container.
      user: 'node',
    });

    // The task reads the secrets itself.
    imports.grantRead(this.taskDefinition.taskRole, [appSecret, ownerSecret, ...shardSecrets]);
    const executionRole = this.taskDefinition.obtainExecutionRole();
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken has no resource-level permissions; every other action of the migration ' +
        "task's execution role is scoped to the asset repository and the log group.",
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Only non-secret settings are plain environment (the writer endpoint, port, database name, TLS mode, ' +
        `the ARNs of the secrets, and ${SHARD_ENDPOINTS_VARIABLE}: hosts and secret ARNs of further shards); the ` +
        'task reads the credentials from Secrets Manager itself.',
    });

    // The function that runs the task: no VPC (it calls the ECS API only), its own role.
    const role = new iam.Role(this, 'RunnerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Runs the migration task during deployments and waits for its exit code',
    });
    props.logGroup.grantWrite(role);
    // ecs:RunTask on this task definition, iam:PassRole on its two roles to ECS tasks only.
    this.taskDefinition.grantRun(role);
    const cluster = props.cluster;
    // Task ids are known only once the task runs: every task of this cluster, and only of this cluster.
    const clusterTasks = Stack.of(this).formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${cluster.clusterName}/*`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:DescribeTasks'],
        resources: [clusterTasks],
        conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceName(Stack.of(this).resolve(clusterTasks))}]`,
      reason:
        'ecs:DescribeTasks is allowed on the tasks of the shop cluster only (condition ecs:cluster); a task id ' +
        'exists only once RunTask has started it, so it cannot be named in advance.',
    });

    this.runner = new lambda.Function(this, 'Runner', {
      description: 'Runs the migration task (ecs:RunTask) and fails the deployment unless it exits 0',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline(runnerSource()),
      role,
      // Fargate takes about a minute to start a task; migrations take seconds. The function answers
      // CloudFormation 30 s before its own timeout in any case.
      timeout: Duration.minutes(15),
      memorySize: 256,
      logGroup: props.logGroup,
    });
    Validations.of(this.runner).acknowledge({
      id: 'cdk-validator-cfnguard::lambda_inside_vpc_check',
      reason:
        'The function only calls the ECS API (RunTask, DescribeTasks) and answers CloudFormation; it reaches ' +
        'nothing inside the VPC, and in a VPC it would need the NAT or endpoints for the same calls.',
    });

    const subnets = props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds;
    this.run = new CustomResource(this, 'Run', {
      serviceToken: this.runner.functionArn,
      resourceType: 'Custom::MigrationTask',
      // A function that never answers fails the deployment after this, not after CloudFormation's hour.
      serviceTimeout: Duration.minutes(16),
      properties: {
        ClusterArn: cluster.clusterArn,
        TaskDefinitionArn: this.taskDefinition.taskDefinitionArn,
        ContainerName: MIGRATION_CONTAINER_NAME,
        Subnets: subnets,
        SecurityGroups: [props.securityGroup.securityGroupId],
        LogGroupName: props.logGroup.logGroupName,
      },
    });
    // The function's policy (a new task definition revision is named there) exists before it runs.
    this.run.node.addDependency(role);
    // ... and for the task's own roles with their policies: the task reads the secrets (task role) and pulls the
    // image and writes its log (execution role) from its first second.
    this.run.node.addDependency(this.taskDefinition.taskRole, this.taskDefinition.obtainExecutionRole());
  }
}

/** A resolved value as cdk-nag names it in a finding: references as `<LogicalId>`, `<LogicalId.Attribute>`. */
function nagResourceName(value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as {
    Ref?: string;
    'Fn::GetAtt'?: [string, string];
    'Fn::Join'?: [string, unknown[]];
  };
  if (intrinsic.Ref !== undefined) return `<${intrinsic.Ref}>`;
  if (intrinsic['Fn::GetAtt'] !== undefined) return `<${intrinsic['Fn::GetAtt'].join('.')}>`;
  if (intrinsic['Fn::Join'] !== undefined) {
    const [separator, parts] = intrinsic['Fn::Join'];
    return parts.map(nagResourceName).join(separator);
  }
  return JSON.stringify(value);
}

/** The runner's source, transpiled to one CommonJS file for an inline function (under Lambda's 4 KB limit). */
function runnerSource(): string {
  const file = path.join(__dirname, '..', 'functions', 'run-migration-task.ts');
  const { code } = transformSync(readFileSync(file, 'utf8'), {
    loader: 'ts',
    format: 'cjs',
    target: 'node22',
    // Minified: CloudFormation takes at most 4 KB of inline code. The readable source is the file above.
    minify: true,
    legalComments: 'none',
  });
  return code;
}
