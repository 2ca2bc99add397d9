import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { REPO_ROOT } from '../../lib/constructs/service-platform';
import { appTaskDefinition, onlyResource, resourcesOf, synthStage } from '../support/synth';

type ContainerDefinition = {
  Environment: { Name: string; Value: unknown }[];
  Secrets: { Name: string; ValueFrom: unknown }[];
  Image: unknown;
  [property: string]: unknown;
};

const containerOf = (template: Record<string, unknown>) =>
  (appTaskDefinition(template).Properties.ContainerDefinitions as ContainerDefinition[])[0]!;
const envOf = (template: Record<string, unknown>) =>
  Object.fromEntries(containerOf(template).Environment.map((entry) => [entry.Name, entry.Value]));

describe('ShopService (ShopService/Shop)', () => {
  // GIVEN
  const stage1k = synthStage('1k', { nag: false });
  const stage10k = synthStage('10k', { nag: false });
  const https = synthStage('1k', {
    nag: false,
    context: {
      domainName: 'shop.example.com',
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555',
      alarmEmail: 'oncall@example.com',
    },
  });

  test('runs on an ECS cluster with enhanced Container Insights', () => {
    stage1k.templates.service.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enhanced' }],
    });
  });

  test('runs the app image built from app/Dockerfile, on Graviton, logging to an encrypted log group', () => {
    // THEN
    const taskDefinition = appTaskDefinition(stage1k.json.service);
    expect(taskDefinition.Properties).toMatchObject({
      Cpu: '512',
      Memory: '1024',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      RequiresCompatibilities: ['FARGATE'],
    });
    expect(JSON.stringify(containerOf(stage1k.json.service).Image)).toMatch(
      /container-assets.*:[a-f0-9]{64}/,
    );
    // One image for the whole app, built from the repository root (asset staging is off in tests).
    const images = ['ShopNetwork', 'ShopData', 'ShopService'].flatMap((stackId) => {
      const manifest = JSON.parse(readFileSync(join(stage1k.outdir, `${stackId}.assets.json`), 'utf8')) as {
        dockerImages?: Record<string, { source: Record<string, unknown> }>;
      };
      return Object.values(manifest.dockerImages ?? {}).map((image) => image.source);
    });
    expect(images).toEqual([{ directory: REPO_ROOT, dockerFile: 'app/Dockerfile', platform: 'linux/arm64' }]);
    stage1k.templates.service.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30, KmsKeyId: Match.anyValue() },
      DeletionPolicy: 'Retain',
    });
  });

  test('deploys with the circuit breaker and rollback, one task at 1k, in private subnets', () => {
    const service = onlyResource(stage1k.json.service, 'AWS::ECS::Service');
    expect(service.Properties).toMatchObject({
      DesiredCount: 1,
      LaunchType: 'FARGATE',
      DeploymentConfiguration: {
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
      },
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } },
    });
    expect(JSON.stringify(service.Properties.NetworkConfiguration)).toContain('PrivateSubnet');
    stage1k.templates.service.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
  });

  test.each([
    ['1k', stage1k],
    ['10k', stage10k],
  ])(
    '%s: checks target health on the liveness endpoint /healthz, never the database-pinging /readyz',
    (_id, stage) => {
      stage.templates.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: '/healthz',
        Port: 3000,
        TargetType: 'ip',
        Matcher: { HttpCode: '200' },
      });
      expect(JSON.stringify(stage.json.service)).not.toContain('/readyz');
      // The container's own check is liveness too, on the same endpoint, with a start period for the boot.
      const healthCheck = containerOf(stage.json.service).HealthCheck as Record<string, unknown>;
      expect(JSON.stringify(healthCheck.Command)).toContain('http://127.0.0.1:3000/healthz');
      expect(healthCheck).toMatchObject({ Interval: 30, Timeout: 5, Retries: 3, StartPeriod: 60 });
    },
  );

  test('logs through a non-blocking awslogs driver with a bounded buffer', () => {
    for (const stage of [stage1k, stage10k]) {
      expect(containerOf(stage.json.service).LogConfiguration).toMatchObject({
        LogDriver: 'awslogs',
        Options: { mode: 'non-blocking', 'max-buffer-size': '26214400b' },
      });
    }
  });

  test('runs the app on a read-only root filesystem with no writable mount (nothing in the image writes)', () => {
    for (const stage of [stage1k, stage10k]) {
      const container = containerOf(stage.json.service);
      expect(container.ReadonlyRootFilesystem).toBe(true);
      // The image's own user (app/Dockerfile `USER node`, checked by app/test/bundle), stated in the task too.
      expect(container.User).toBe('node');
      expect(container.MountPoints).toBeUndefined();
      expect(appTaskDefinition(stage.json.service).Properties.Volumes).toBeUndefined();
    }
  });

  test('puts an internet-facing ALB that drops invalid headers and logs to S3 in front', () => {
    const lb = onlyResource(stage1k.json.service, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(lb.Properties.Scheme).toBe('internet-facing');
    expect(lb.Properties.LoadBalancerAttributes).toEqual(
      expect.arrayContaining([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        { Key: 'access_logs.s3.enabled', Value: 'true' },
      ]),
    );
  });

  test('keeps access logs in an encrypted, TLS-only, private bucket with its own server access logs', () => {
    const buckets = resourcesOf(stage1k.json.service, 'AWS::S3::Bucket');
    expect(Object.keys(buckets)).toHaveLength(2);
    for (const bucket of Object.values(buckets)) {
      expect(bucket.Properties).toMatchObject({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      });
      expect(bucket.DeletionPolicy).toBe('Retain');
    }
    const logged = Object.values(buckets).filter(
      (bucket) => bucket.Properties?.LoggingConfiguration !== undefined,
    );
    expect(logged).toHaveLength(1);
    for (const policy of Object.values(resourcesOf(stage1k.json.service, 'AWS::S3::BucketPolicy'))) {
      expect(JSON.stringify(policy.Properties)).toContain('"aws:SecureTransport":"false"');
    }
  });

  test('serves HTTP with a synth warning when no certificate is given (templates to look at)', () => {
    const listeners = Object.values(
      resourcesOf(stage1k.json.service, 'AWS::ElasticLoadBalancingV2::Listener'),
    );
    expect(listeners).toHaveLength(1);
    expect(listeners[0]?.Properties).toMatchObject({ Port: 80, Protocol: 'HTTP' });
    expect(stage1k.synthOutput).toContain('-c hostedZoneId=');
    expect(stage1k.synthOutput).toContain('-c certificateArn=');
    expect(stage1k.synthOutput).toContain('-c plainHttp=true');
  });

  test('answers /metrics with a 404 at the public listener, with or without HTTPS', () => {
    for (const [stage, port] of [
      [stage1k, 80],
      [https, 443],
    ] as const) {
      const rules = Object.values(
        resourcesOf(stage.json.service, 'AWS::ElasticLoadBalancingV2::ListenerRule'),
      );
      expect(rules).toHaveLength(1);
      expect(rules[0]?.Properties).toMatchObject({
        Priority: 1,
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics', '/metrics/*'] } }],
        Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404' } }],
      });
      const listener = resourcesOf(stage.json.service, 'AWS::ElasticLoadBalancingV2::Listener');
      const [listenerId] = Object.entries(listener).find(([, l]) => l.Properties?.Port === port)!;
      expect(rules[0]?.Properties?.ListenerArn).toEqual({ Ref: listenerId });
    }
  });

  test('serves HTTPS and redirects HTTP to it when domain and certificate are given', () => {
    // THEN
    https.templates.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: Match.stringLikeRegexp('^arn:aws:acm:us-east-1:') }],
      SslPolicy: Match.stringLikeRegexp('TLS13'),
    });
    https.templates.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [
        { Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } },
      ],
    });
    expect(https.synthOutput).not.toContain('-c domainName=');
    https.templates.service.hasOutput('Url', { Value: 'https://shop.example.com' });
    https.templates.service.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });

  test('gives the app its endpoints and the database secret ARN as environment, other credentials as ECS secrets (1k: cluster, memory)', () => {
    // WHEN
    const env = envOf(stage1k.json.service);
    const secrets = containerOf(stage1k.json.service)
      .Secrets.map((secret) => secret.Name)
      .sort();
    // THEN
    expect(env).toMatchObject({
      NODE_ENV: 'production',
      DB_PORT: '5432',
      DB_NAME: 'shop',
      DB_SSL: 'verify-full',
    });
    expect(JSON.stringify(env.DB_HOST)).toContain('DatabaseCluster');
    // The app reads the rotating credentials itself, so neither is frozen into the task at start.
    expect(JSON.stringify(env.DB_SECRET_ARN)).toMatch(/AppSecretAttachment/);
    // Migrations belong to the migration task: the service never migrates (the production default).
    expect(env.AUTO_MIGRATE).toBeUndefined();
    expect(env.DB_USER).toBeUndefined();
    expect(env.DB_PASSWORD).toBeUndefined();
    expect(env.DB_READER_HOST).toBeUndefined();
    expect(env).toMatchObject({ CACHE_STORE: 'memory', SESSION_STORE: 'memory' });
    expect(secrets).toEqual(['SESSION_SECRET']);
  });

  describe.each([
    ['1k', stage1k],
    ['10k', stage10k],
  ])('at %s', (_id, stage) => {
    const taskRoleId = () =>
      (
        appTaskDefinition(stage.json.service).Properties.TaskRoleArn as {
          'Fn::GetAtt': [string, string];
        }
      )['Fn::GetAtt'][0];
    const statementsOf = (roleId: string) =>
      Object.values(resourcesOf(stage.json.service, 'AWS::IAM::Policy'))
        .filter((policy) => JSON.stringify(policy.Properties?.Roles).includes(roleId))
        .flatMap(
          (policy) =>
            (policy.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
        );

    test('the app verifies the database certificate and gets no database credentials from ECS', () => {
      const container = containerOf(stage.json.service);
      expect(envOf(stage.json.service).DB_SSL).toBe('verify-full');
      expect(JSON.stringify(envOf(stage.json.service).DB_SECRET_ARN)).toContain('AppSecretAttachment');
      expect(container.Secrets.map((secret) => secret.Name)).not.toEqual(expect.arrayContaining(['DB_USER']));
      expect(container.Secrets.map((secret) => secret.Name)).not.toEqual(
        expect.arrayContaining(['DB_PASSWORD']),
      );
    });

    test("the task role may read exactly the app's secret, and decrypt it only through Secrets Manager", () => {
      const secretArn = envOf(stage.json.service).DB_SECRET_ARN;
      const statements = statementsOf(taskRoleId());
      const secretStatements = statements.filter((statement) =>
        JSON.stringify(statement.Action).includes('secretsmanager:'),
      );
      expect(secretStatements).toEqual([
        {
          Effect: 'Allow',
          Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          Resource: secretArn,
        },
      ]);
      const decrypt = statements.filter((statement) => JSON.stringify(statement.Action).includes('kms:'));
      expect(decrypt).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: expect.objectContaining({
            'Fn::GetStackOutput': expect.objectContaining({ OutputName: expect.stringContaining('DataKey') }),
          }),
          Condition: {
            StringEquals: { 'kms:ViaService': expect.stringMatching(/^secretsmanager\./) },
          },
        }),
      ]);
      // The execution role no longer reads the database secret (only the session secret and the AUTH token).
      const executionRoleId = (
        appTaskDefinition(stage.json.service).Properties.ExecutionRoleArn as {
          'Fn::GetAtt': [string, string];
        }
      )['Fn::GetAtt'][0];
      expect(JSON.stringify(statementsOf(executionRoleId))).not.toContain(JSON.stringify(secretArn));
    });
  });

  test('at 10k points the app at the proxy endpoints and Redis, with the AUTH token as a secret', () => {
    const env = envOf(stage10k.json.service);
    expect(JSON.stringify(env.DB_HOST)).toContain('Proxy21C3295BEndpoint');
    expect(JSON.stringify(env.DB_READER_HOST)).toContain('ProxyReadOnlyEndpoint');
    expect(env).toMatchObject({
      DB_SSL: 'verify-full',
      REDIS_PORT: '6379',
      REDIS_TLS: 'true',
      CACHE_STORE: 'redis',
      SESSION_STORE: 'redis',
    });
    expect(JSON.stringify(env.REDIS_HOST)).toContain('PrimaryEndPointAddress');
    expect(containerOf(stage10k.json.service).Secrets.map((secret) => secret.Name)).toContain(
      'REDIS_AUTH_TOKEN',
    );
  });

  test('at 10k lets autoscaling own the task count: min 3, max from config, CPU and request-count tracking', () => {
    const service = onlyResource(stage10k.json.service, 'AWS::ECS::Service');
    // A rendered DesiredCount would reset a scaled-out service to it on every deployment.
    expect(service.Properties.DesiredCount).toBeUndefined();
    stage10k.templates.service.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 3,
      MaxCapacity: 12,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    stage10k.templates.service.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        TargetValue: 60,
      }),
    });
    stage10k.templates.service.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }),
        TargetValue: 2160,
      }),
    });
  });

  test('admits the load balancer (only) to the tasks on the app port', () => {
    const rules = Object.values(resourcesOf(stage1k.json.service, 'AWS::EC2::SecurityGroupIngress'));
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties).toMatchObject({ FromPort: 3000, ToPort: 3000 });
    expect(JSON.stringify(rules[0]?.Properties?.SourceSecurityGroupId)).toContain(
      'LoadBalancerSecurityGroup',
    );
  });

  test('has one dashboard and its alarms in the service stack', () => {
    stage1k.templates.service.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    stage10k.templates.service.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const alarms = (stage: typeof stage1k) =>
      Object.keys(resourcesOf(stage.json.service, 'AWS::CloudWatch::Alarm')).length;
    expect(alarms(stage1k)).toBeGreaterThanOrEqual(8);
    expect(alarms(stage10k)).toBeGreaterThan(alarms(stage1k));
  });
});
