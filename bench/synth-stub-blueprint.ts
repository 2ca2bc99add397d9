import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_MONITORING_CONFIG, StageMonitoring } from '../lib/constructs/stage-monitoring';

/**
 * Stand-in for `stages/index.ts` + `lib/blueprint.ts` while those are being written: a stack of the same
 * kind (VPC, ALB, Fargate service built from app/ as a Docker asset, Aurora, optional proxy and Redis,
 * StageMonitoring, cdk-nag) so the synth benchmark exercises the same machinery. The benchmark marks
 * results obtained with it as `stub: true`; it switches to the real blueprint as soon as both files exist.
 */
export interface StubStageConfig {
  /** Aurora readers. */
  readonly readers: number;
  /** Whether the stage has RDS Proxy and Redis. */
  readonly proxyAndCache: boolean;
}

/** Stub stage ids, mirroring the first two real stages. */
export const stubStageIds = ['1k', '10k'] as const;

/** Stub configs by id. */
export const stubStages: Record<string, StubStageConfig> = {
  '1k': { readers: 0, proxyAndCache: false },
  '10k': { readers: 3, proxyAndCache: true },
};

const repoRoot = path.resolve(__dirname, '..');

/** Builds the stub app for one stage config, with cdk-nag registered as the real `bin/` does. */
export function createStubBlueprintApp(props: { config: StubStageConfig; outdir: string }): App {
  const { config } = props;
  // The stub's own resources are not hardened (flow logs, access logs, ...): report, do not fail.
  const app = new App({
    outdir: props.outdir,
    context: { '@aws-cdk/core:failSynthOnValidationErrors': false },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Service', { env: { account: '123456789012', region: 'us-east-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 3, natGateways: 1 });
  const loadBalancer = new elbv2.ApplicationLoadBalancer(stack, 'LoadBalancer', {
    vpc,
    internetFacing: true,
  });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, 'TaskDefinition');
  taskDefinition.addContainer('App', {
    image: ecs.ContainerImage.fromAsset(repoRoot, { file: 'app/Dockerfile' }),
    portMappings: [{ containerPort: 3000 }],
  });
  const service = new ecs.FargateService(stack, 'AppService', { cluster, taskDefinition });
  const targetGroup = loadBalancer.addListener('Http', { port: 80 }).addTargets('App', {
    port: 3000,
    protocol: elbv2.ApplicationProtocol.HTTP,
    targets: [service],
  });
  const database = new rds.DatabaseCluster(stack, 'Database', {
    engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_4 }),
    writer: rds.ClusterInstance.provisioned('Writer'),
    readers: Array.from({ length: config.readers }, (_, i) =>
      rds.ClusterInstance.provisioned(`Reader${i + 1}`),
    ),
    vpc,
  });
  let proxy: rds.DatabaseProxy | undefined;
  if (config.proxyAndCache) {
    proxy = database.addProxy('Proxy', { secrets: [database.secret!], vpc });
    new elasticache.CfnReplicationGroup(stack, 'Cache', {
      replicationGroupDescription: 'cache',
      replicationGroupId: 'shop-cache',
      engine: 'redis',
      cacheNodeType: 'cache.t4g.small',
      numCacheClusters: 3,
    });
  }
  new StageMonitoring(stack, 'Monitoring', {
    config: DEFAULT_MONITORING_CONFIG,
    loadBalancer,
    targetGroup,
    service,
    cluster: database,
    readerInstanceCount: config.readers,
    proxy,
    cacheReplicationGroupId: config.proxyAndCache ? 'shop-cache' : undefined,
    cacheNodeCount: config.proxyAndCache ? 3 : undefined,
    dashboardName: 'shop',
  });
  return app;
}
