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
import { renderTextSummary } from '../../tools/upgrade/report';
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
const LATER_CHANGES = [
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
const INTENDED: Readonly<Record<string, readonly string[]>> = {
  '1k': [...PLATFORM_CHANGES, ...LATER_CHANGES],
  '10k': [...PLATFORM_CHANGES, ...LATER_CHANGES, ...LATER_PROXY_CHANGES],
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
        ![...LATER_CHANGES, ...LATER_PROXY_CHANGES].includes(
          `${change.stackName} ${change.kind} ${change.logicalId}`,
        ),
    );
    expect({ lost, summary: lost.length > 0 ? summary : '' }).toEqual({ lost: [], summary: '' });
    expect(report.safe).toBe(true);
    expect(
      report.changes.map((change) => `${change.stackName} ${change.kind} ${change.logicalId}`).sort(),
    ).toEqual([...(INTENDED[id] ?? [])].sort());
    // Same logical ids: every resource of the baseline is still there, of the same type.
    const ids = (templates: AssemblyTemplates) =>
      templates.stacks.flatMap((stack) =>
        Object.entries(stack.template.Resources ?? {}).map(
          ([logicalId, r]) => `${stack.stackName}/${logicalId} ${r.Type}`,
        ),
      );
    expect(ids(after)).toEqual(expect.arrayContaining(ids(before)));
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
