/**
 * Foundation v2 was a refactor: the deployed `1k` and `10k` must not notice. Their templates as the code
 * synthesised them before the reshape are kept in `fixtures/pre-reshape/` (written by
 * `tools/upgrade/baseline.ts`, asset hashes normalised); this test diffs them against today's with the
 * repository's own upgrade diff and asserts that nothing is replaced or removed, that every stack output a
 * deployed stack reads is still there with the same value, and that every other change is on the list of
 * intended changes below.
 */
import { ASSET_HASH_PLACEHOLDER, normaliseAssetHashes, readBaseline } from '../../tools/upgrade/baseline';
import type { AssemblyTemplates, CfnTemplate } from '../../tools/upgrade/assembly';
import { diffAssemblies } from '../../tools/upgrade/diff';
import { interruptionsOf } from '../../tools/upgrade/interruptions';
import { renderMarkdownSummary, renderTextSummary } from '../../tools/upgrade/report';
import { synthStageCached } from '../../tools/upgrade/stage-synth';
import { join } from 'node:path';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

/**
 * Every change the reshape makes to a deployed stage, as `stack name, kind, logical id`. Anything else,
 * an addition included, fails the test: extend this list only for a change you mean (and say why here).
 */
const PLATFORM_CHANGES = [
  // The platform's Cloud Map namespace (HTTP: no hosted zone) for ECS Service Connect, ready for stage 1m.
  'shop-service added ShopClusterDefaultServiceDiscoveryNamespace1202C249',
  // The ECS cluster names it as its Service Connect default (ServiceConnectDefaults: an in-place update).
  'shop-service updated ShopCluster2B4D040E',
  // The dashboard body: a section per service and per shard (its name `shop` and every alarm are unchanged).
  'shop-service updated MonitoringDashboardsDashboard7D19B914',
];
/**
 * Changes made after the reshape, on purpose, that this comparison with the pre-reshape templates also sees.
 * Each is stateless; the upgrade tests of consecutive stages cover them as any other change.
 */
/**
 * Alarms that can fire and mean something (#9 C), in both stages. All stateless but two new log groups.
 * Alarms are named by shard and role now, so shard 0's cluster-wide alarms are removed and per-role ones added.
 */
const MONITORING_CHANGES_1K = [
  // Site down: no healthy task behind the load balancer, missing data counted as down (C3).
  'shop-service added MonitoringFacadeshopServiceHealthyTasksCritical0DA45233',
  // The writer's alarms on Role=WRITER, named after shard 0; connections against db.t4g.medium's max_connections (C1, C2).
  'shop-service added MonitoringFacadeshopShard0WriterConnectionsCriticalEC72E8E3',
  'shop-service added MonitoringFacadeshopShard0WriterCpuCriticalE3781D64',
  'shop-service added MonitoringFacadeshopShard0WriterFreeableMemoryCritical438981B0',
  // ... replacing the cluster-wide ones (an average over every instance; a fixed 400 connections).
  'shop-service removed MonitoringFacadeshopAuroraCPUUsageCritical0CF2793C',
  'shop-service removed MonitoringFacadeshopAuroraConnectionCountHighCritical99986720',
  'shop-service removed MonitoringFacadeshopAuroraExtraAuroraFreeableMemoryCritical866045CF',
  // The 5xx rate counts only from 100 requests per period (C4): its expression changes in place.
  'shop-service updated MonitoringFacadeshopLoadBalancerAlb5xxRateCriticalCF7F109D',
  // The app-metrics collector sidecar (C5): its EMF log group and its own log (retained, encrypted), the task
  // role's write on the EMF group, the execution role's on the collector log. The sidecar is part of the
  // task definition revision listed above.
  'shop-service added ShopMetricsCollectorEmfLogs796CBD61',
  'shop-service added ShopMetricsCollectorLogs821EBBE1',
  // (the execution role's policy update is listed with the #9 B/F changes below)
  'shop-service updated ShopTaskDefinitionTaskRoleDefaultPolicy8636778A',
];
const MONITORING_CHANGES_10K = [
  ...MONITORING_CHANGES_1K,
  // The readers' alarms on Role=READER, replica lag among them (C1).
  'shop-service added MonitoringFacadeshopShard0ReadersConnectionsCriticalC3B044F6',
  'shop-service added MonitoringFacadeshopShard0ReadersCpuCriticalECC25587',
  'shop-service added MonitoringFacadeshopShard0ReadersFreeableMemoryCritical8506E531',
  'shop-service added MonitoringFacadeshopShard0ReadersReplicaLagCriticalABA4A38A',
  'shop-service removed MonitoringFacadeshopAuroraExtraAuroraReplicaLagCritical7F9E8887',
  // RDS Proxy: client connections against what 12 tasks can open (240), replacing the unreachable 1000; and
  // borrow latency (C2).
  'shop-service added MonitoringFacadeshopShard0ProxyBorrowLatencyCritical33E0ED90',
  'shop-service added MonitoringFacadeshopShard0ProxyClientConnectionsCriticalA5CA23AA',
  'shop-service removed MonitoringFacadeshopProxyProxyClientConnectionsCriticalA9221316',
  // From the app's own metrics: the share of its cache lookups that failed (Redis unreachable to the app) (C5).
  'shop-service added MonitoringFacadeshopAppCacheCacheErrorRateCritical4A40EF52',
];
const LATER_CHANGES = [
  // A new task definition revision (task definitions are immutable): the metrics collector sidecar joins the
  // app container (#9 C5), the health check, log driver and read-only root (#9 B, F), the app's own secret (#9 D1).
  'shop-service will-replace ShopTaskDefinitionEB66A537',
  // Defaults that hold in a real deploy (#9 B, F), all in place:
  // - Aurora 16.8 -> 16.13 (EngineVersion: an in-place minor upgrade that restarts the instances; the upgrade
  //   report lists it under Interruptions), and Enhanced Monitoring (MonitoringInterval and MonitoringRoleArn on
  //   each instance, no interruption) with its new role.
  'shop-data updated DatabaseCluster5B53A178',
  'shop-data updated DatabaseClusterWriterD43085C6',
  'shop-data added DatabaseClusterMonitoringRole89BA807D',
  // - Key policies: the logs service only for this account's log groups (encryption context), CloudWatch alarms
  //   only for this account (aws:SourceAccount), CreateGrant only for AWS services.
  'shop-data updated DataKey17AFBB84',
  'shop-network updated LogsKeyA6AB43B2',
  'shop-service updated MonitoringAlarmTopicKeyFFA45DC9',
  // - The execution role decrypts the ECS secrets only through Secrets Manager (kms:ViaService).
  'shop-service updated ShopTaskDefinitionExecutionRoleDefaultPolicyA832FAB9',
  // - The ALB health check is liveness (/healthz), not /readyz.
  'shop-service updated ShopTargetGroupC025E89F',
];
/** The same, for what only `10k` has: its readers (Enhanced Monitoring) and its request-count target. */
const LATER_CHANGES_10K = [
  'shop-data updated DatabaseClusterReader1D8B76102',
  'shop-data updated DatabaseClusterReader26C65DE14',
  'shop-data updated DatabaseClusterReader3ECB7752A',
  // The target derived from the measured per-task capacity (stages/10k.ts): 1,000 -> 2,160 requests a minute.
  'shop-service updated ShopServiceTaskCountTargetRequestCountScaling27D5037E',
];
/** Database roles (#9 D1), in both stages. */
const DB_ROLES_CHANGES = [
  // Database roles (#9 D1): the app logs in as its own DML-only user, migrations run as the owner in a task.
  // A new task definition revision (task definitions are immutable): DB_SECRET_ARN is the app's secret.
  'shop-service will-replace ShopTaskDefinitionEB66A537',
  // ... and its task role may read that secret instead of the master's.
  'shop-service updated ShopTaskDefinitionTaskRoleDefaultPolicy8636778A',
  // The service waits for the migration run (DependsOn only).
  'shop-service updated ShopServiceDEBF294A',
  // The migration task definition, its roles, and the function (with its role) that runs it on deployment.
  'shop-service added MigrationTaskDefinitionF6B23059',
  'shop-service added MigrationTaskDefinitionTaskRole415EAA1A',
  'shop-service added MigrationTaskDefinitionTaskRoleDefaultPolicy56B45477',
  'shop-service added MigrationTaskDefinitionExecutionRole1DA332F4',
  'shop-service added MigrationTaskDefinitionExecutionRoleDefaultPolicyA8400FA9',
  'shop-service added MigrationRunner929A4CC5',
  'shop-service added MigrationRunnerRole441A38D9',
  'shop-service added MigrationRunnerRoleDefaultPolicyBDF6C65B',
  'shop-service added MigrationRun95D15400',
  // The app's secret (retained), attached to the cluster, with its multi-user rotation: the SAR application,
  // the schedule (not on creation: the migration task creates the user), the deny-delete policy CDK adds to a
  // rotated secret, and the rotation function's group with its one rule each way to the cluster on 5432.
  'shop-data added AppSecretFAB5164C',
  'shop-data added AppSecretAttachmentE541E0E5',
  'shop-data added AppSecretAttachmentRotationScheduleDF56CD59',
  'shop-data added AppSecretPolicy95FFF96D',
  'shop-data added DatabaseClusterAppSecretRotation28225EDF',
  'shop-data added AppSecretRotationSecurityGroupFBC8A075',
  'shop-data added AppSecretRotationSecurityGrouptoShopDataDatabaseClusterSecurityGroup2B12831AIndirectPort498964C4',
  'shop-data added DatabaseClusterSecurityGroupfromShopDataAppSecretRotationSecurityGroup62FE3D72IndirectPortB97D068F',
];
/** The same, where the stage has RDS Proxy (10k). */
const LATER_PROXY_CHANGES = [
  // A second auth entry (the app's secret) on the fixed-name proxy: an in-place update.
  'shop-data updated Proxy21C3295B',
  // The proxy's role may read the app's secret too.
  'shop-data updated ProxyIAMRoleDefaultPolicy1328A3AF',
];
/** Each change once (a resource can change for several of the reasons above). */
const unique = (...lists: (readonly string[])[]) => [...new Set(lists.flat())];
const INTENDED: Readonly<Record<string, readonly string[]>> = {
  '1k': unique(PLATFORM_CHANGES, LATER_CHANGES, MONITORING_CHANGES_1K, DB_ROLES_CHANGES),
  '10k': unique(
    PLATFORM_CHANGES,
    LATER_CHANGES,
    LATER_CHANGES_10K,
    MONITORING_CHANGES_10K,
    DB_ROLES_CHANGES,
    LATER_PROXY_CHANGES,
  ),
};

/** The construct path is metadata: moving a construct under a `Default` wrapper changes it, nothing else. */
function withoutPaths(templates: AssemblyTemplates): AssemblyTemplates {
  const copy = JSON.parse(JSON.stringify(templates)) as AssemblyTemplates;
  for (const stack of copy.stacks) {
    for (const resource of Object.values(stack.template.Resources ?? {})) {
      const metadata = (resource as { Metadata?: Record<string, unknown> }).Metadata;
      if (metadata) delete metadata['aws:cdk:path'];
    }
  }
  return copy;
}

/** Outputs of every stack, keyed `stackName/outputName`. */
function outputsOf(templates: AssemblyTemplates): Map<string, unknown> {
  const outputs = new Map<string, unknown>();
  for (const stack of templates.stacks) {
    const template = stack.template as CfnTemplate & { Outputs?: Record<string, unknown> };
    for (const [name, output] of Object.entries(template.Outputs ?? {})) {
      outputs.set(`${stack.key}/${name}`, output);
    }
  }
  return outputs;
}

/** `stackName/OutputName` of every stack output that another stack of the same app reads. */
function outputsRead(templates: AssemblyTemplates): Set<string> {
  const read = new Set<string>();
  for (const stack of templates.stacks) {
    const text = JSON.stringify(stack.template);
    for (const match of text.matchAll(/"StackName":"([^"]+)","Region":"([^"]+)","OutputName":"([^"]+)"/g)) {
      read.add(`${match[1]}/${match[3]}`);
    }
    for (const match of text.matchAll(/"Fn::ImportValue":"([^"]+)"/g)) read.add(`import:${match[1]}`);
  }
  return read;
}

describe.each(['1k', '10k'])('stage %s before and after the reshape', (id) => {
  const before = readBaseline(join(__dirname, 'fixtures', 'pre-reshape', `${id}.json`));
  let after: AssemblyTemplates;
  beforeAll(() => {
    after = normaliseAssetHashes(synthStageCached(id));
  });

  test('the baseline is a real synthesis of the stage (asset hashes normalised)', () => {
    expect(before.stacks.map((stack) => stack.stackName)).toEqual([
      'shop-data',
      'shop-network',
      'shop-service',
    ]);
    expect(JSON.stringify(before)).toContain(ASSET_HASH_PLACEHOLDER);
  });

  test('the same stacks, under the same names and environments', () => {
    expect(after.stacks.map((stack) => [stack.key, stack.artifactId])).toEqual(
      before.stacks.map((stack) => [stack.key, stack.artifactId]),
    );
  });

  test('nothing is replaced or removed, and every change is intended', () => {
    const report = diffAssemblies(withoutPaths(before), withoutPaths(after));
    const summary = renderTextSummary(report, `${id} before -> after the reshape`);

    const lost = report.changes.filter(
      (change) =>
        change.kind !== 'added' &&
        change.kind !== 'updated' &&
        !(INTENDED[id] ?? []).includes(`${change.stackName} ${change.kind} ${change.logicalId}`),
    );
    expect({ lost, summary: lost.length > 0 ? summary : '' }).toEqual({ lost: [], summary: '' });
    expect(report.safe).toBe(true);
    expect(
      report.changes.map((change) => `${change.stackName} ${change.kind} ${change.logicalId}`).sort(),
    ).toEqual([...(INTENDED[id] ?? [])].sort());
    // Same logical ids: every resource of the baseline is still there, of the same type, but the alarms
    // removed on purpose (listed above).
    const removedOnPurpose = new Set(
      (INTENDED[id] ?? [])
        .filter((change) => change.split(' ')[1] === 'removed')
        .map((change) => {
          const [stackName, , logicalId] = change.split(' ');
          return `${stackName}/${logicalId}`;
        }),
    );
    const ids = (templates: AssemblyTemplates) =>
      templates.stacks.flatMap((stack) =>
        Object.entries(stack.template.Resources ?? {})
          .filter(([logicalId]) => !removedOnPurpose.has(`${stack.stackName}/${logicalId}`))
          .map(([logicalId, r]) => `${stack.stackName}/${logicalId} ${r.Type}`),
      );
    expect(ids(after)).toEqual(expect.arrayContaining(ids(before)));
  });

  test('the engine pin moves in place, and the upgrade report says the writer restarts', () => {
    // GIVEN the deployed stage on 16.8
    const report = diffAssemblies(withoutPaths(before), withoutPaths(after));
    const cluster = report.changes.find((change) => change.type === 'AWS::RDS::DBCluster');

    // THEN: updated, not replaced, and named under Interruptions with both versions
    expect(cluster?.kind).toBe('updated');
    const engine = interruptionsOf(report).find((interruption) => interruption.kind === 'engine-upgrade');
    expect(engine?.resources).toEqual([expect.stringMatching(/DatabaseCluster.* \(16\.8 → 16\.13\)$/)]);
    expect(renderMarkdownSummary(report, 'before', 'after')).toContain(
      'Aurora engine version changes: the writer and every reader restart',
    );
  });

  test('every output a deployed stack reads is still there, with the same value', () => {
    const beforeOutputs = outputsOf(before);
    const afterOutputs = outputsOf(after);
    const read = outputsRead(before);
    expect(read.size).toBeGreaterThan(0);
    for (const key of beforeOutputs.keys()) {
      // Every output survives (a public API: add, never remove), with the same value.
      expect([key, afterOutputs.get(key)]).toEqual([key, beforeOutputs.get(key)]);
    }
    // Each output read today is one of them (stack name and output name).
    const names = new Set([...beforeOutputs.keys()].map((key) => key.split('/').slice(2).join('/')));
    for (const entry of read) expect(names.has(entry)).toBe(true);
  });
});
