/**
 * Why the data stack keeps outputs with `keepPublishedForEarlierStages` rather than `Stack.exportValue`:
 * with weak cross-stack references (cdk.json), a consumer reads the `PublishOutput...` output, which
 * `exportValue` does not create. And that the shard stacks keep theirs too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { shardStackId } from '../../lib/region';
import { ShardStack } from '../../lib/stacks/shard-stack';
import { keepPublishedForEarlierStages } from '../../lib/stacks/published-outputs';
import { stage100k } from '../../stages';
import { synthStage } from '../support/synth';

// Synthesis is CPU-bound and the machine is shared.
jest.setTimeout(240_000);

const env = { account: '123456789012', region: 'us-east-1' };

/** A producer with a topic, and optionally a consumer reading the topic's name (a weak reference). */
function build(keep: (producer: Stack, topicName: string) => void, withConsumer: boolean) {
  const app = new App({ context: { '@aws-cdk/core:defaultCrossStackReferences': 'weak' } });
  const producer = new Stack(app, 'Producer', { env, stackName: 'producer' });
  const topic = new CfnResource(producer, 'Topic', { type: 'AWS::SNS::Topic' });
  const topicName = topic.getAtt('TopicName').toString();
  keep(producer, topicName);
  if (withConsumer) {
    const consumer = new Stack(app, 'Consumer', { env, stackName: 'consumer' });
    new CfnResource(consumer, 'Queue', { type: 'AWS::SQS::Queue', properties: { QueueName: topicName } });
  }
  const assembly = app.synth();
  const template = (name: string) => assembly.getStackByName(name).template as Record<string, unknown>;
  return {
    outputs: Object.keys((template('producer').Outputs ?? {}) as object),
    read: withConsumer ? JSON.stringify(template('consumer').Resources) : '',
  };
}

test('the consumer reads the weak reference output, which keepPublishedForEarlierStages keeps', () => {
  // GIVEN the output a deployed consumer reads
  const deployed = build(() => undefined, true);
  const [readOutput] = deployed.outputs;
  expect(readOutput).toMatch(/^PublishOutputFnGetAttTopicTopicName/);
  expect(deployed.read).toContain(`"OutputName":"${readOutput}"`);

  // WHEN the consumer no longer reads it, but the producer keeps publishing the value
  const kept = build((producer, name) => keepPublishedForEarlierStages(producer, [name]), false);
  // THEN the very same output is still there
  expect(kept.outputs).toEqual([readOutput]);

  // AND with a consumer still reading it, CDK reuses the kept output instead of adding a second one
  const both = build((producer, name) => keepPublishedForEarlierStages(producer, [name]), true);
  expect(both.outputs).toEqual([readOutput]);
});

test('Stack.exportValue creates an export under another name: the deployed consumer would still break', () => {
  const deployed = build(() => undefined, true);
  const exported = build((producer, name) => producer.exportValue(name), false);
  expect(exported.outputs).toHaveLength(1);
  expect(exported.outputs[0]).toMatch(/^ExportsOutputFnGetAttTopicTopicName/);
  expect(exported.outputs).not.toContain(deployed.outputs[0]);
});

test('fails for a value that is not a token', () => {
  const stack = new Stack(new App(), 'S', { env });
  expect(() => keepPublishedForEarlierStages(stack, ['literal'])).toThrow(
    'keepPublishedForEarlierStages: "literal" is not a resource attribute (a token).',
  );
});

describe('a shard stack keeps publishing what a service may read of it, read or not', () => {
  // GIVEN stage 100k's shard s1 as deployed: the outputs its readers use today
  const stage = synthStage('100k', { nag: false });
  const outputsOf = (template: Record<string, unknown>) =>
    Object.keys((template.Outputs ?? {}) as object).sort();
  const deployed = outputsOf(
    JSON.parse(readFileSync(join(stage.outdir, `${shardStackId('s1')}.template.json`), 'utf8')) as Record<
      string,
      unknown
    >,
  );
  const read = JSON.stringify(stage.json.service);

  test('every output the service reads is one the shard stack keeps by itself', () => {
    // WHEN the same shard stack has no reader at all (as after a change of which secret the app reads)
    const app = new App({ context: { '@aws-cdk/core:defaultCrossStackReferences': 'weak' } });
    const network = new Stack(app, 'Network', { env });
    const vpc = new ec2.Vpc(network, 'Vpc', {
      maxAzs: 3,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      ],
    });
    const shard = new ShardStack(app, shardStackId('s1'), {
      env,
      shardId: 's1',
      config: stage100k.shards!.s1!,
      vpc,
      prefix: 'shop',
    });
    const alone = outputsOf(app.synth().getStackByName(shard.stackName).template as Record<string, unknown>);

    // THEN it publishes the very outputs the deployed service reads, under the same names
    const readByService = deployed.filter((output) => read.includes(`"OutputName":"${output}"`));
    expect(readByService.length).toBeGreaterThan(0);
    for (const output of readByService) expect([output, alone.includes(output)]).toEqual([output, true]);
    // Both secrets, the key, the client group, the proxy's endpoints and the cluster's, the watched names.
    for (const kind of [
      /^PublishOutputRefShardDatabaseCluster[0-9A-F]+$/,
      /^PublishOutputRefShardProxy[0-9A-F]+$/,
      /^PublishOutputRefShardAppSecretAttachment/,
      /^PublishOutputRefShardDatabaseClusterSecretAttachment/,
      /^PublishOutputFnGetAttKey[0-9A-F]+Arn/,
      /^PublishOutputFnGetAttShardProxySecurityGroup[0-9A-F]+GroupId/,
      /^PublishOutputFnGetAttShardProxy[0-9A-F]+Endpoint/,
      /^PublishOutputFnGetAttShardProxyReadOnlyEndpoint/,
      /^PublishOutputFnGetAttShardDatabaseCluster[0-9A-F]+EndpointAddress/,
      /^PublishOutputFnGetAttShardDatabaseCluster[0-9A-F]+ReadEndpointAddress/,
    ])
      expect([String(kind), alone.some((output) => kind.test(output))]).toEqual([String(kind), true]);
  });
});
