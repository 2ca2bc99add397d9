/**
 * Why the data stack keeps outputs with `keepPublishedForEarlierStages` rather than `Stack.exportValue`:
 * with weak cross-stack references (cdk.json), a consumer reads the `PublishOutput...` output, which
 * `exportValue` does not create.
 */
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import { keepPublishedForEarlierStages } from '../../lib/stacks/published-outputs';

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
