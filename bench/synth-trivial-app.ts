import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * The synth-time baseline: a CDK app with one stack holding one S3 bucket.
 *
 * It pays everything any CDK app pays (node start, tsx, loading aws-cdk-lib, the App's context, the
 * built-in template validation, writing the cloud assembly) and nothing the blueprint adds.
 */
export function createTrivialApp(outdir: string): App {
  const app = new App({ outdir });
  const stack = new Stack(app, 'Trivial', { env: { account: '123456789012', region: 'us-east-1' } });
  new s3.Bucket(stack, 'Bucket', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  return app;
}
