/**
 * Key policy statements for AWS services that use a customer-managed key on the account's behalf, each
 * scoped so that the service can use the key only for this account's resources (a confused-deputy guard).
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';

/** What CloudWatch Logs does with a key that encrypts a log group. */
export const LOGS_KEY_ACTIONS = [
  'kms:Encrypt*',
  'kms:Decrypt*',
  'kms:ReEncrypt*',
  'kms:GenerateDataKey*',
  'kms:Describe*',
];

/**
 * Lets CloudWatch Logs of the key's region encrypt log groups of the key's account with it: the service
 * passes the log group's ARN as encryption context `aws:logs:arn`, and the statement admits only ARNs of
 * this account and region (the policy AWS documents for encrypted log groups).
 */
export function allowLogsService(key: kms.Key): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchLogsOfThisAccount',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: LOGS_KEY_ACTIONS,
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:*`,
        },
      },
    }),
  );
}

/**
 * Lets CloudWatch alarms of the key's account publish to an SNS topic encrypted with it (`aws:SourceAccount`:
 * an alarm of another account cannot use the key).
 */
export function allowCloudWatchAlarms(key: kms.Key): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsOfThisAccount',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(key).account } },
    }),
  );
}

/**
 * Denies `kms:CreateGrant` on the key to anyone but AWS services acting for a resource (Aurora, ElastiCache,
 * Secrets Manager create grants that way): a principal with `kms:*` through IAM cannot hand the key on with a
 * grant (Control Tower CT.KMS.PR.3).
 */
export function denyGrantsExceptForAwsServices(key: kms.Key): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'GrantsOnlyForAwsServices',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
      },
    }),
  );
}
