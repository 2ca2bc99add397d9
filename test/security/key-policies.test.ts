/**
 * Key policies and key grants (issue 9, F): a service principal uses a customer-managed key only for this
 * account's resources, and the task execution role decrypts only through Secrets Manager.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { resourcesOf, synthStage } from '../support/synth';

type Statement = {
  Sid?: string;
  Principal?: { Service?: unknown; AWS?: unknown };
  Action: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
};

/** Every key policy statement of a template whose principal is the given service (a string or a token). */
function serviceStatements(template: Record<string, unknown>, service: RegExp): Statement[] {
  return Object.values(resourcesOf(template, 'AWS::KMS::Key')).flatMap((key) =>
    ((key.Properties?.KeyPolicy as { Statement: Statement[] }).Statement ?? []).filter((statement) =>
      service.test(JSON.stringify(statement.Principal?.Service ?? '')),
    ),
  );
}

/** Log groups of the deployment's account and region only (the partition is resolved with the region). */
const accountAndRegionLogsArn = 'arn:aws:logs:us-east-1:123456789012:*';

describe.each(['1k', '10k'])('stage %s key policies', (id) => {
  // GIVEN
  const stage = synthStage(id, { nag: false });

  test.each([
    ['network', 'flow logs and container logs'],
    ['data', 'the exported PostgreSQL log'],
  ] as const)(
    'the %s key admits CloudWatch Logs only for log groups of this account and region (%s)',
    (stack, _what) => {
      const statements = serviceStatements(stage.json[stack], /logs\./);
      expect(statements).toHaveLength(1);
      expect(statements[0]!.Condition).toEqual({
        ArnLike: { 'kms:EncryptionContext:aws:logs:arn': accountAndRegionLogsArn },
      });
      // No other statement gives the logs service the key without the condition.
      expect(JSON.stringify(statements[0]!.Action)).toContain('kms:GenerateDataKey*');
    },
  );

  test('the alarm topic key admits CloudWatch only for alarms of this account (aws:SourceAccount)', () => {
    const statements = serviceStatements(stage.json.service, /cloudwatch\.amazonaws\.com/);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': '123456789012' } });
    expect(statements[0]!.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
  });

  test('no key policy statement for a service principal is unconditioned', () => {
    for (const stack of ['network', 'data', 'service'] as const) {
      for (const statement of serviceStatements(stage.json[stack], /amazonaws\.com/)) {
        expect([stack, statement.Sid, statement.Condition]).toEqual([
          stack,
          statement.Sid,
          expect.any(Object),
        ]);
      }
    }
  });

  test('the task execution role decrypts the secrets at task start only through Secrets Manager', () => {
    // The execution role is the one ECS assumes to start the task (its policy also pulls the image).
    const executionPolicies = Object.values(resourcesOf(stage.json.service, 'AWS::IAM::Policy')).filter(
      (policy) => JSON.stringify(policy.Properties?.Roles).includes('ShopTaskDefinitionExecutionRole'),
    );
    expect(executionPolicies).toHaveLength(1);
    const kmsStatements = (
      executionPolicies[0]!.Properties!.PolicyDocument as { Statement: Statement[] }
    ).Statement.filter((statement) => JSON.stringify(statement.Action).includes('kms:'));
    expect(kmsStatements).toEqual([
      expect.objectContaining({
        Action: 'kms:Decrypt',
        Effect: 'Allow',
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } },
      }),
    ]);
    stage.templates.service.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [Match.objectLike({ Ref: Match.stringLikeRegexp('ExecutionRole') })],
    });
  });
});
