import * as path from 'node:path';
import { DefaultStackSynthesizer, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { AccessLogsBucket } from './access-logs-bucket';
import { REPO_ROOT } from './service-platform';

/** The app's static storefront (served by the app itself at `/` on the stages without an edge). */
export const STOREFRONT_SOURCE_DIR = path.join(REPO_ROOT, 'app', 'public');

/** Properties of {@link EdgeStorefrontBucket}. */
export interface EdgeStorefrontBucketProps {
  /** Physical name (`storefrontBucketName`): deterministic, so a stack in another region can name it. */
  readonly bucketName: string;
  /**
   * Folder whose files are deployed to the bucket (pruned: files gone from the folder leave the bucket).
   *
   * @default STOREFRONT_SOURCE_DIR (app/public)
   */
  readonly sourceDir?: string;
  /**
   * Previous versions of a file are deleted after this long (the bucket is versioned: a bad deployment can be
   * rolled back by restoring the previous versions).
   *
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
}

/**
 * The static storefront in S3 for CloudFront: a bucket that only CloudFront reads (origin access control, public
 * access blocked, TLS-only policy, SSE-S3, versioned, server access logs in an {@link AccessLogsBucket}), filled
 * with the app's static files by a `BucketDeployment` on every deployment.
 */
export class EdgeStorefrontBucket extends Construct {
  /** The bucket holding the storefront's files. */
  public readonly bucket: s3.Bucket;
  /** The buckets receiving `bucket`'s server access logs (and their own). */
  public readonly accessLogs: AccessLogsBucket;
  /** The deployment of the files (a custom resource), once {@link deployFiles} was called. */
  public deployment?: s3deploy.BucketDeployment;

  private readonly sourceDir: string;

  constructor(scope: Construct, id: string, props: EdgeStorefrontBucketProps) {
    super(scope, id);
    this.sourceDir = props.sourceDir ?? STOREFRONT_SOURCE_DIR;
    this.accessLogs = new AccessLogsBucket(this, 'AccessLogs');
    this.bucket = new s3.Bucket(this, 'Resource', {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [
        { noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30) },
      ],
      serverAccessLogsBucket: this.accessLogs.bucket,
      serverAccessLogsPrefix: 'storefront/',
      // The house rule for buckets; the files are the app's and can be deployed again.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'cdk-validator-cfnguard::s3_bucket_default_encryption_kms_check',
      reason:
        'The storefront holds only the public static files every visitor downloads; SSE-S3 keeps CloudFront origin ' +
        'access control free of a KMS key policy in every region (nothing here is secret).',
    });
  }

  /**
   * Deploys the files to the bucket (once per construct), pruning files gone from the folder; with a
   * distribution, invalidates its cache of every file afterwards (the storefront's names carry no content hash).
   */
  public deployFiles(distribution?: cloudfront.IDistribution): s3deploy.BucketDeployment {
    if (this.deployment !== undefined) throw new Error('EdgeStorefrontBucket: the files are deployed once');
    this.deployment = new s3deploy.BucketDeployment(this, 'Deployment', {
      sources: [s3deploy.Source.asset(this.sourceDir)],
      destinationBucket: this.bucket,
      ...(distribution !== undefined ? { distribution, distributionPaths: ['/*'] } : {}),
    });
    this.acknowledgeDeploymentHandler(distribution !== undefined);
    return this.deployment;
  }

  /**
   * The deployment's handler is CDK's singleton function (one per stack, shared by every deployment in it): its
   * findings are acknowledged on its own constructs, one rule each, with the reason.
   */
  private acknowledgeDeploymentHandler(invalidates: boolean): void {
    const stack = Stack.of(this);
    const handler = stack.node
      .findAll()
      .find(
        (construct) =>
          construct.node.id.startsWith('Custom::CDKBucketDeployment') && construct.node.scope === stack,
      );
    if (handler === undefined) {
      throw new Error('EdgeStorefrontBucket: the BucketDeployment handler was not found in the stack');
    }
    const role = handler.node.tryFindChild('ServiceRole');
    const policy = role?.node.tryFindChild('DefaultPolicy');
    if (role === undefined || policy === undefined) {
      throw new Error('EdgeStorefrontBucket: the BucketDeployment handler has no ServiceRole/DefaultPolicy');
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        "CDK's BucketDeployment handler writes its own logs with the AWS managed basic execution policy " +
        '(CloudWatch Logs create/put only); it has no other managed policy.',
    });
    // CDK's grants: read the CDK asset bucket's objects, write this stack's storefront objects (sync and prune),
    // and (with a distribution) create invalidations. One acknowledgement per wildcard, each with its reason.
    const bucketId = stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    const wildcards: Record<string, string> = {
      'Action::s3:GetObject*':
        'BucketDeployment reads the zipped files and their metadata from the CDK asset bucket (GetObject*).',
      'Action::s3:GetBucket*':
        'BucketDeployment reads the location and settings of the asset and storefront buckets (GetBucket*) to sync.',
      'Action::s3:List*':
        'BucketDeployment lists the asset bucket and the storefront bucket to sync and prune files.',
      'Action::s3:DeleteObject*':
        'BucketDeployment prunes files gone from app/public from the storefront bucket (DeleteObject*) only.',
      'Action::s3:Abort*':
        'BucketDeployment aborts its own failed multipart uploads to the storefront bucket.',
      [`Resource::<${bucketId}.Arn>/*`]:
        'BucketDeployment writes every object of the storefront bucket: the bucket holds only the deployed files.',
      [`Resource::${assetBucketArn(stack)}/*`]:
        "BucketDeployment reads the CDK bootstrap asset bucket's objects: the asset key is only known at deploy time.",
    };
    if (invalidates) {
      wildcards['Resource::*'] =
        'cloudfront:CreateInvalidation/GetInvalidation as CDK grants them: the distribution is created in the same ' +
        'deployment and invalidation permissions are not scoped by CDK; nothing else is allowed on "*".';
    }
    for (const [finding, reason] of Object.entries(wildcards)) {
      Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
    }
    const logGroup = handler.node.tryFindChild('LogGroup');
    if (logGroup !== undefined) {
      Validations.of(logGroup).acknowledge({
        id: 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check',
        reason:
          "The BucketDeployment handler's own run log (the aws s3 sync of the storefront's public files, no content " +
          'and no secret), encrypted by CloudWatch Logs; a KMS key per edge stack would protect nothing here.',
      });
    }
    Validations.of(handler).acknowledge(
      {
        id: 'AwsSolutions-L1',
        reason:
          "The runtime is chosen by CDK's BucketDeployment (it ships the handler and the aws CLI layer for it); " +
          'upgrading aws-cdk-lib moves it to the runtime the handler is tested with.',
      },
      {
        id: 'cdk-validator-cfnguard::lambda_inside_vpc_check',
        reason:
          'The deployment handler talks only to S3 and CloudFront (public AWS APIs) once per deployment; a VPC ' +
          'would add NAT or endpoints in us-east-1 and the replica region for nothing.',
      },
    );
  }
}

/** ARN of the CDK bootstrap asset bucket of `stack` (the default synthesizer's name pattern and qualifier). */
function assetBucketArn(stack: Stack): string {
  const synthesizer = stack.synthesizer;
  const qualifier =
    (synthesizer instanceof DefaultStackSynthesizer ? synthesizer.bootstrapQualifier : undefined) ??
    DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  const name = DefaultStackSynthesizer.DEFAULT_FILE_ASSETS_BUCKET_NAME.replace('${Qualifier}', qualifier)
    .replace('${AWS::AccountId}', stack.account)
    .replace('${AWS::Region}', stack.region);
  const partition = stack.resolve(stack.partition);
  return `arn:${typeof partition === 'string' ? partition : 'aws'}:s3:::${name}`;
}

/**
 * A bucket policy statement admitting CloudFront (origin access control) to read `bucket`'s objects under
 * `conditions` (which distributions, which account).
 */
export function cloudFrontReadStatement(bucket: s3.IBucket, conditions: iam.Conditions): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'CloudFrontOriginAccessControlRead',
    effect: iam.Effect.ALLOW,
    principals: [new iam.ServicePrincipal('cloudfront.amazonaws.com')],
    actions: ['s3:GetObject'],
    resources: [bucket.arnForObjects('*')],
    conditions,
  });
}
