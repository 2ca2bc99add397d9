import { MIGRATION_COMMAND } from '../../lib/constructs/migration-task';
import { resourcesOf, synthStage } from '../support/synth';

type Resource = { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** The one resource of a type whose logical id starts with `prefix`. */
function only(template: Record<string, unknown>, type: string, prefix: string): [string, Resource] {
  const found = Object.entries(resourcesOf(template, type)).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${found.length}`);
  return found[0]! as [string, Resource];
}

/** Every statement of the policies attached to a role. */
function statementsOf(template: Record<string, unknown>, roleId: string): Statement[] {
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((policy) => (policy.Properties?.PolicyDocument as { Statement: Statement[] }).Statement);
}
const roleOf = (taskDefinition: Resource, key: 'TaskRoleArn' | 'ExecutionRoleArn') =>
  (taskDefinition.Properties?.[key] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const envOf = (taskDefinition: Resource) =>
  Object.fromEntries(
    (
      taskDefinition.Properties?.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[]
    )[0]!.Environment.map((entry) => [entry.Name, entry.Value]),
  );
/** The data-stack resource a cross-stack value names (the weak reference's output name carries its id). */
const outputOf = (value: unknown) =>
  (value as { 'Fn::GetStackOutput': { OutputName: string } })['Fn::GetStackOutput'].OutputName;

describe.each(['1k', '10k'])('MigrationTask (ShopService/Migration) at %s', (id) => {
  // GIVEN
  const stage = synthStage(id, { nag: false });
  const service = stage.json.service;
  const [, migration] = only(service, 'AWS::ECS::TaskDefinition', 'MigrationTaskDefinition');
  const [, app] = only(service, 'AWS::ECS::TaskDefinition', 'ShopTaskDefinition');
  const migrationEnv = envOf(migration);
  const appEnv = envOf(app);

  test('runs the app image with `node dist/migrate.js`, against the writer, with both secrets', () => {
    const container = (migration.Properties?.ContainerDefinitions as Record<string, unknown>[])[0]!;
    expect(container).toMatchObject({
      Name: 'Migrate',
      Command: [...MIGRATION_COMMAND],
      ReadonlyRootFilesystem: true,
    });
    expect(MIGRATION_COMMAND).toEqual(['node', '--enable-source-maps', 'dist/migrate.js']);
    expect(container.Image).toEqual(
      (app.Properties?.ContainerDefinitions as Record<string, unknown>[])[0]!.Image,
    );
    expect(migrationEnv).toMatchObject({
      NODE_ENV: 'production',
      DB_PORT: '5432',
      DB_NAME: 'shop',
      DB_SSL: 'verify-full',
    });
    expect(migrationEnv.DB_HOST).toEqual(appEnv.DB_HOST);
    // The owner's secret (the cluster's master) to log in, the app's to create the app's login from.
    expect(outputOf(migrationEnv.DB_MIGRATION_SECRET_ARN)).toMatch(
      /^PublishOutputRefDatabaseClusterSecretAttachment/,
    );
    expect(outputOf(migrationEnv.DB_SECRET_ARN)).toMatch(/^PublishOutputRefAppSecretAttachment/);
    // Nothing the migration does not need.
    expect(Object.keys(migrationEnv).filter((name) => /REDIS|SESSION|CACHE|AUTO_MIGRATE/.test(name))).toEqual(
      [],
    );
    expect(container.Secrets).toBeUndefined();
    expect(JSON.stringify(container.LogConfiguration)).toContain('"awslogs-stream-prefix":"migrate"');
  });

  test('the app task gets only the app secret; the migration task reads both, decrypting via Secrets Manager only', () => {
    const secretActions = (statements: Statement[]) =>
      statements.filter((statement) => JSON.stringify(statement.Action).includes('secretsmanager:'));
    // The app: its own secret, never the owner's.
    const appStatements = statementsOf(service, roleOf(app, 'TaskRoleArn'));
    expect(secretActions(appStatements).map((statement) => outputOf(statement.Resource))).toEqual([
      expect.stringMatching(/^PublishOutputRefAppSecretAttachment/),
    ]);
    expect(JSON.stringify(appStatements)).not.toContain('DatabaseClusterSecretAttachment');
    expect(JSON.stringify(statementsOf(service, roleOf(app, 'ExecutionRoleArn')))).not.toContain(
      'SecretAttachment',
    );
    // The migration task: exactly the two, read by the task itself (its execution role reads none).
    const migrationStatements = statementsOf(service, roleOf(migration, 'TaskRoleArn'));
    expect(secretActions(migrationStatements)).toEqual([
      {
        Effect: 'Allow',
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        Resource: [migrationEnv.DB_SECRET_ARN, migrationEnv.DB_MIGRATION_SECRET_ARN],
      },
    ]);
    expect(
      migrationStatements.filter((statement) => JSON.stringify(statement.Action).includes('kms:')),
    ).toEqual([
      expect.objectContaining({
        Action: 'kms:Decrypt',
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } },
      }),
    ]);
    expect(migrationStatements).toHaveLength(2);
    expect(JSON.stringify(statementsOf(service, roleOf(migration, 'ExecutionRoleArn')))).not.toContain(
      'secretsmanager',
    );
  });

  test('is run by a custom resource that names the task definition revision, before the service changes', () => {
    const [runId, run] = only(service, 'Custom::MigrationTask', 'MigrationRun');
    const [taskDefinitionId] = only(service, 'AWS::ECS::TaskDefinition', 'MigrationTaskDefinition');
    const [runnerId] = only(service, 'AWS::Lambda::Function', 'MigrationRunner');
    expect(run.Properties).toMatchObject({
      ServiceToken: { 'Fn::GetAtt': [runnerId, 'Arn'] },
      TaskDefinitionArn: { Ref: taskDefinitionId },
      ContainerName: 'Migrate',
      ClusterArn: { 'Fn::GetAtt': [expect.stringMatching(/^ShopCluster/), 'Arn'] },
      ServiceTimeout: '960',
    });
    // The same network as the app: private subnets and the app's security group (admitted to the database).
    const [, appService] = only(service, 'AWS::ECS::Service', 'ShopService');
    const network = (
      appService.Properties?.NetworkConfiguration as { AwsvpcConfiguration: Record<string, unknown> }
    ).AwsvpcConfiguration;
    expect(run.Properties?.Subnets).toEqual(network.Subnets);
    expect(run.Properties?.SecurityGroups).toEqual(network.SecurityGroups);
    // The order: the service waits for the run; the run waits for its function's policy and for the task's
    // own policies (secrets through the task role; image pull and log through the execution role).
    expect(appService.DependsOn).toContain(runId);
    expect(run.DependsOn).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^MigrationRunnerRoleDefaultPolicy/),
        expect.stringMatching(/^MigrationTaskDefinitionTaskRoleDefaultPolicy/),
        expect.stringMatching(/^MigrationTaskDefinitionExecutionRoleDefaultPolicy/),
      ]),
    );
    // Only the service resource waits, not its scaling.
    for (const [, target] of Object.entries(
      resourcesOf(service, 'AWS::ApplicationAutoScaling::ScalableTarget'),
    )) {
      expect(target.DependsOn ?? []).not.toContain(runId);
    }
  });

  test("the runner may run only this task definition, pass only its roles to ECS, and look at this cluster's tasks", () => {
    const [runnerId, runner] = only(service, 'AWS::Lambda::Function', 'MigrationRunner');
    expect(runner.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Timeout: 900,
      Handler: 'index.handler',
    });
    expect(runner.Properties?.VpcConfig).toBeUndefined();
    const roleId = (runner.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = statementsOf(service, roleId);
    const [taskDefinitionId, migration2] = only(
      service,
      'AWS::ECS::TaskDefinition',
      'MigrationTaskDefinition',
    );
    const byAction = Object.fromEntries(
      statements.map((statement) => [JSON.stringify(statement.Action), statement]),
    );
    expect(Object.keys(byAction).sort()).toEqual(
      [
        '"ecs:DescribeTasks"',
        '"ecs:RunTask"',
        '"iam:PassRole"',
        '["logs:CreateLogStream","logs:PutLogEvents"]',
      ].sort(),
    );
    expect(byAction['"ecs:RunTask"']!.Resource).toEqual({ Ref: taskDefinitionId });
    expect(byAction['"iam:PassRole"']).toMatchObject({
      Resource: expect.arrayContaining([
        { 'Fn::GetAtt': [roleOf(migration2, 'TaskRoleArn'), 'Arn'] },
        { 'Fn::GetAtt': [roleOf(migration2, 'ExecutionRoleArn'), 'Arn'] },
      ]),
      Condition: { StringLike: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    expect((byAction['"iam:PassRole"']!.Resource as unknown[]).length).toBe(2);
    expect(byAction['"ecs:DescribeTasks"']!.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/^ShopCluster/), 'Arn'] } },
    });
    expect(runnerId).toMatch(/^MigrationRunner/);
  });
});
