import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * The synth-time baseline: a CDK app with one stack holding one S3 bucket.
 *
 * It pays everything any CDK app pays (node start, tsx, loading aws-cdk-lib, the App's context, the
 * built-in template validation, writing the cloud assembly) and nothing the blueprint adds. Run by
 * `npx cdk synth --app 'npx tsx bench/synth-trivial-app.ts'` (bench/synth.ts).
 *
 * @param outdir where to write the cloud assembly; @default - the CLI's (CDK_OUTDIR)
 */
export function createTrivialApp(outdir?: string): App {
  const app = new App(outdir ? { outdir } : {});
  const stack = new Stack(app, 'Trivial', { env: { account: '123456789012', region: 'us-east-1' } });
  new s3.Bucket(stack, 'Bucket', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  return app;
}

if (require.main === module) createTrivialApp().synth();
