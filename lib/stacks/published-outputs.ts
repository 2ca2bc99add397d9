/**
 * Stack outputs are append-only across stages: an output a deployed stack reads stays published.
 */
import { CfnOutput, Stack, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/**
 * Keeps publishing values as the outputs that CDK's weak cross-stack references read, whether or not a
 * stack of this stage still reads them.
 *
 * Why: a consumer stack reads a producer's value through `Fn::GetStackOutput` of an output CDK creates
 * only while some consumer refers to the value. When a later stage stops reading it (the service moves
 * from the cluster endpoint to the RDS Proxy), the output would vanish from the producer; the producer
 * deploys first, and if the consumer's update then fails, its rollback reads the vanished output and
 * the stack is stuck in `UPDATE_ROLLBACK_FAILED`. Publishing the value here keeps the output.
 *
 * Why not `Stack.exportValue()`: it creates a CloudFormation export (`ExportsOutput...`), a different
 * output from the weak reference's `PublishOutput...` that the deployed consumer reads
 * (test/upgrade/published-outputs.test.ts shows both). This function creates the output under the same
 * construct path CDK's weak reference uses (`<Stack>/Publish/Output<resolved value>`), so the output
 * keeps its logical id, and CDK reuses it when a consumer refers to the value again. The upgrade tests
 * fail if CDK ever names it differently.
 *
 * @param stack - the producing stack
 * @param values - resource attributes (tokens such as `cluster.clusterEndpoint.hostname`)
 * @throws Error when a value is not a token (nothing to keep)
 */
export function keepPublishedForEarlierStages(stack: Stack, values: readonly string[]): void {
  const scope =
    (stack.node.tryFindChild('Publish') as Construct | undefined) ?? new Construct(stack, 'Publish');
  for (const value of values) {
    if (!Token.isUnresolved(value)) {
      throw new Error(`keepPublishedForEarlierStages: "${value}" is not a resource attribute (a token).`);
    }
    const id = `Output${JSON.stringify(stack.resolve(value))}`;
    if (!scope.node.tryFindChild(id)) new CfnOutput(scope, id, { value });
  }
}
