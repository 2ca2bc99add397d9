import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ACCESS_LOGS_DEFAULTS } from '../config/defaults';

/** Properties of {@link AccessLogsBucket}. */
export interface AccessLogsBucketProps {
  /**
   * Access log objects are deleted after this long.
   *
   * @default Duration.days(365)
   */
  readonly expiration?: Duration;
}

/**
 * S3 bucket for load balancer access logs: encrypted (SSE-S3, the only encryption ELB log delivery
 * supports), public access blocked, TLS-only bucket policy, bucket owner owns every object, retained on
 * stack deletion, with its own server access logs in a second bucket.
 */
export class AccessLogsBucket extends Construct {
  /** The bucket receiving the access logs. */
  public readonly bucket: s3.Bucket;
  /** The bucket receiving the server access logs of `bucket`. */
  public readonly serverAccessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogsBucketProps = {}) {
    super(scope, id);
    const expiration = props.expiration ?? ACCESS_LOGS_DEFAULTS.expiration;
    const common: s3.BucketProps = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration }],
    };

    const sinkReason =
      "This bucket is the sink of the access-log bucket's server access logs; logging it into itself would loop.";
    this.serverAccessLogsBucket = new s3.Bucket(this, 'ServerAccessLogs', common);
    Validations.of(this.serverAccessLogsBucket).acknowledge(
      { id: 'AwsSolutions-S1', reason: sinkReason },
      { id: 'cdk-validator-cfnguard::s3_bucket_logging_enabled_check', reason: sinkReason },
    );

    this.bucket = new s3.Bucket(this, 'Resource', {
      ...common,
      serverAccessLogsBucket: this.serverAccessLogsBucket,
      serverAccessLogsPrefix: 'access-logs-bucket/',
    });
    for (const bucket of [this.bucket, this.serverAccessLogsBucket]) {
      Validations.of(bucket).acknowledge({
        id: 'cdk-validator-cfnguard::s3_bucket_default_encryption_kms_check',
        reason:
          'ELB access-log delivery (and S3 server access logging) write only to buckets encrypted with SSE-S3, ' +
          'not SSE-KMS.',
      });
    }
  }
}
