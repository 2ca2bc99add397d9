/**
 * The upgrade diff: which resources an in-place upgrade adds, updates, replaces and removes, and whether
 * any of them holds data. A pure function over two sets of synthesised templates; the semantic diff itself
 * (including which property changes force replacement) comes from `@aws-cdk/cloudformation-diff`, the
 * library behind `cdk diff`.
 */
import {
  fullDiff,
  ResourceImpact,
  type ResourceDifference,
  type TemplateDiff,
} from '@aws-cdk/cloudformation-diff';
import { compare, type AssemblyTemplates, type CfnTemplate, type StackTemplate } from './assembly';
import { dataAnchorOf, dataAttachedResources, type AnchorFacts } from './data-anchors';
import { isDataBearing, type TemplateResource } from './data-bearing';
import { brokenOutputReads, outputReads, type OutputBreak } from './stack-outputs';

/** What happens to one resource. */
export type ChangeKind = 'added' | 'updated' | 'will-replace' | 'may-replace' | 'removed';

/** Change kinds in report order. */
export const changeKinds: readonly ChangeKind[] = [
  'added',
  'updated',
  'will-replace',
  'may-replace',
  'removed',
];

/** Kinds that lose the data of a data-bearing resource. */
export const dataLosingKinds: readonly ChangeKind[] = ['will-replace', 'may-replace', 'removed'];

/** One changed resource. */
export interface ResourceChange {
  /** Stack key (`<account>/<region>/<stackName>`). */
  readonly stackKey: string;
  /** CloudFormation stack name. */
  readonly stackName: string;
  /** Logical id in the template. */
  readonly logicalId: string;
  /** Resource type (the new type for additions, the old type otherwise). */
  readonly type: string;
  /** What happens to it. */
  readonly kind: ChangeKind;
  /** Construct path from `aws:cdk:path` metadata, when present. */
  readonly constructPath?: string;
  /** Whether the resource holds data (see `data-bearing.ts`). */
  readonly dataBearing: boolean;
  /**
   * Why the resource is an anchor of data (see `data-anchors.ts`): data lives in it or is reached through it.
   * @default - not an anchor
   */
  readonly anchorReason?: string;
  /** For replacements: the changed properties that force (or may force) the replacement, sorted. */
  readonly replacingProperties: readonly string[];
  /** For removals: the resource has `DeletionPolicy: Retain`, so it is orphaned rather than deleted. */
  readonly retained: boolean;
  /**
   * For updates: changed resource attributes that protect data on deletion or replacement
   * (`DeletionPolicy`, `UpdateReplacePolicy`), as `Name: old -> new`.
   */
  readonly protectionChanges: readonly string[];
}

/** A data-bearing resource or data anchor that the upgrade would replace or remove. */
export interface DataLoss {
  /** The offending change. */
  readonly change: ResourceChange;
  /** Whether the resource holds data itself or is an anchor of data. */
  readonly category: 'data-bearing' | 'anchor';
  /** One sentence saying what goes wrong. */
  readonly reason: string;
  /**
   * For removals: an added resource of the same type, which suggests a renamed or moved construct.
   * @default - no candidate
   */
  readonly possibleRenameTo?: ResourceChange;
}

/** IAM changes of one stack or of the whole upgrade (from the library's `iamChanges`). */
export interface IamChangeSummary {
  readonly statementsAdded: number;
  readonly statementsRemoved: number;
  readonly managedPoliciesAdded: number;
  readonly managedPoliciesRemoved: number;
  /** Positive statements or managed policies were added, or negative statements removed. */
  readonly permissionsBroadened: boolean;
  /** `['+'|'-', resource, effect, action, principal, condition]`, sorted. */
  readonly statementRows: readonly (readonly string[])[];
}

/** Security-group rule changes (from the library's `securityGroupChanges`). */
export interface SecurityGroupChangeSummary {
  readonly ingressAdded: number;
  readonly ingressRemoved: number;
  readonly egressAdded: number;
  readonly egressRemoved: number;
  /** `['+'|'-', 'ingress'|'egress', group, protocol, peer]`, sorted. */
  readonly ruleRows: readonly (readonly string[])[];
}

/** The diff of one stack. */
export interface StackUpgrade {
  readonly stackKey: string;
  readonly stackName: string;
  /** `added` / `removed`: the stack exists on one side only and is diffed against an empty template. */
  readonly status: 'added' | 'removed' | 'changed' | 'unchanged';
  /** The library's diff, for `formatDifferences`. */
  readonly diff: TemplateDiff;
  /** Logical id to construct path (both sides), for `formatDifferences`. */
  readonly logicalToPath: Readonly<Record<string, string>>;
  readonly changes: readonly ResourceChange[];
  readonly iam: IamChangeSummary;
  readonly securityGroups: SecurityGroupChangeSummary;
  /** Data-bearing resources present on both sides and not replaced (they may be updated in place). */
  readonly dataBearingKept: number;
  /** Data anchors present on both sides and not replaced. */
  readonly anchorsKept: number;
}

/** Counts per resource type. */
export interface TypeChangeCount {
  readonly type: string;
  readonly counts: Readonly<Record<ChangeKind, number>>;
}

/** The whole upgrade. */
export interface UpgradeReport {
  /** Every stack on either side, sorted by key. */
  readonly stacks: readonly StackUpgrade[];
  /** Every changed resource, sorted by stack, kind, type and logical id. */
  readonly changes: readonly ResourceChange[];
  /** Per resource type, sorted by type. */
  readonly byType: readonly TypeChangeCount[];
  readonly totals: Readonly<Record<ChangeKind, number>>;
  readonly iam: IamChangeSummary;
  readonly securityGroups: SecurityGroupChangeSummary;
  /** Data-bearing resources present on both sides and kept in place (possibly updated). */
  readonly dataBearingKept: number;
  /** Data anchors present on both sides and kept in place (possibly updated). */
  readonly anchorsKept: number;
  /** Data-bearing resources and data anchors the upgrade would lose. */
  readonly dataLoss: readonly DataLoss[];
  /** Outputs read across stacks by the earlier stage (one per consumer stack and output): all are checked. */
  readonly outputReadsChecked: number;
  /** Outputs read by a deployed stack of the earlier stage that the upgrade removes, repoints or replaces. */
  readonly brokenOutputs: readonly OutputBreak[];
  /** `dataLoss` and `brokenOutputs` are empty. */
  readonly safe: boolean;
}

const emptyTemplate: CfnTemplate = {};

/**
 * Diffs two synthesised apps stack by stack and classifies every resource change.
 *
 * Stacks are matched by key (environment and stack name); a stack on one side only is diffed against an
 * empty template, so all its resources count as added or removed.
 */
export function diffAssemblies(from: AssemblyTemplates, to: AssemblyTemplates): UpgradeReport {
  const before = new Map(from.stacks.map((stack) => [stack.key, stack]));
  const after = new Map(to.stacks.map((stack) => [stack.key, stack]));
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort(compare);
  const attached = { before: dataAttachedResources(from), after: dataAttachedResources(to) };
  const stacks = keys.map((key) => diffStack(key, before.get(key), after.get(key), attached));
  const replaced = new Set(
    stacks
      .flatMap((stack) => stack.changes)
      .filter((change) => change.kind === 'will-replace' || change.kind === 'may-replace')
      .map((change) => `${change.stackKey}|${change.logicalId}`),
  );
  return summarise(stacks, brokenOutputReads(from, to, replaced), outputReads(from).length);
}

/** Resources referred to by data (keys `<stack key>|<logical id>`), on each side of an upgrade. */
export interface DataAttachments {
  readonly before: ReadonlySet<string>;
  readonly after: ReadonlySet<string>;
}

/**
 * Diffs two templates of one stack (the building block of `diffAssemblies`).
 *
 * @param key - stack key used in the result
 * @param before - the stack as deployed today (`undefined`: the stack is new)
 * @param after - the stack after the upgrade (`undefined`: the stack goes away)
 * @param attached - resources referred to by data on each side (see `dataAttachedResources`); security
 *   groups among them are data anchors. Default: none.
 */
export function diffStack(
  key: string,
  before?: StackTemplate,
  after?: StackTemplate,
  attached: DataAttachments = { before: new Set(), after: new Set() },
): StackUpgrade {
  const stackName = (after ?? before)?.stackName ?? key;
  const diff = fullDiff(before?.template ?? emptyTemplate, after?.template ?? emptyTemplate);
  const facts = (side: 'before' | 'after', logicalId: string): AnchorFacts => ({
    attachedToData: attached[side].has(`${key}|${logicalId}`),
  });
  const changes: ResourceChange[] = [];
  diff.resources.forEachDifference((logicalId, resourceDiff) => {
    const change = classify(key, stackName, logicalId, resourceDiff, (side) => facts(side, logicalId));
    if (change) changes.push(change);
  });
  changes.sort(changeOrder);
  const status = !before ? 'added' : !after ? 'removed' : diff.isEmpty ? 'unchanged' : 'changed';
  const lost = new Set(
    changes.filter((change) => dataLosingKinds.includes(change.kind)).map((change) => change.logicalId),
  );
  const afterResources = after?.template.Resources ?? {};
  const kept = Object.entries(before?.template.Resources ?? {}).filter(
    ([logicalId]) => logicalId in afterResources && !lost.has(logicalId),
  );
  return {
    stackKey: key,
    stackName,
    status,
    diff,
    logicalToPath: logicalToPathMap(before?.template, after?.template),
    changes,
    iam: iamSummary(diff),
    securityGroups: securityGroupSummary(diff),
    dataBearingKept: kept.filter(([, resource]) => isDataBearing(resource)).length,
    anchorsKept: kept.filter(([logicalId, resource]) => dataAnchorOf(resource, facts('before', logicalId)))
      .length,
  };
}

function classify(
  stackKey: string,
  stackName: string,
  logicalId: string,
  resourceDiff: ResourceDifference,
  facts: (side: 'before' | 'after') => AnchorFacts,
): ResourceChange | undefined {
  if (!resourceDiff.isDifferent) return undefined;
  const oldResource = resourceDiff.oldValue as TemplateResource | undefined;
  const newResource = resourceDiff.newValue as TemplateResource | undefined;
  const kind = kindOf(resourceDiff);
  if (!kind) return undefined;
  const replacingProperties =
    kind === 'will-replace' || kind === 'may-replace'
      ? Object.entries(resourceDiff.propertyUpdates)
          .filter(([, property]) => property.changeImpact === impactOf(kind))
          .map(([name]) => name)
          .sort(compare)
      : [];
  if (kind === 'will-replace' && resourceDiff.resourceTypeChanged) replacingProperties.push('Type');
  // An existing resource holds data if it did before the change; a new one if it will after it.
  const dataBearing =
    kind === 'added' ? isDataBearing(newResource) : isDataBearing(oldResource) || isDataBearing(newResource);
  // Likewise for anchors: an existing resource is judged by what it was (and what referred to it).
  const anchor =
    kind === 'added'
      ? dataAnchorOf(newResource, facts('after'))
      : (dataAnchorOf(oldResource, facts('before')) ?? dataAnchorOf(newResource, facts('after')));
  const constructPath = cdkPath(newResource) ?? cdkPath(oldResource);
  return {
    stackKey,
    stackName,
    logicalId,
    type: (kind === 'added' ? newResource?.Type : oldResource?.Type) ?? 'unknown',
    kind,
    ...(constructPath !== undefined ? { constructPath } : {}),
    dataBearing,
    ...(anchor ? { anchorReason: anchor.reason } : {}),
    replacingProperties,
    retained: kind === 'removed' && resourceDiff.changeImpact === ResourceImpact.WILL_ORPHAN,
    protectionChanges: protectionPolicies
      .filter((name) => resourceDiff.otherChanges[name] !== undefined)
      .map(
        (name) =>
          `${name}: ${String(oldResource?.[name] ?? 'Delete')} -> ${String(newResource?.[name] ?? 'Delete')}`,
      ),
  };
}

const protectionPolicies = ['DeletionPolicy', 'UpdateReplacePolicy'];

function logicalToPathMap(...templates: (CfnTemplate | undefined)[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const template of templates) {
    for (const [logicalId, resource] of Object.entries(template?.Resources ?? {})) {
      const path = cdkPath(resource);
      if (path !== undefined) map[logicalId] = path;
    }
  }
  return map;
}

function kindOf(resourceDiff: ResourceDifference): ChangeKind | undefined {
  if (resourceDiff.isAddition) return 'added';
  if (resourceDiff.isRemoval) return 'removed';
  switch (resourceDiff.changeImpact) {
    case ResourceImpact.WILL_REPLACE:
      return 'will-replace';
    case ResourceImpact.MAY_REPLACE:
      return 'may-replace';
    case ResourceImpact.NO_CHANGE:
      return undefined;
    default:
      return 'updated';
  }
}

function impactOf(kind: 'will-replace' | 'may-replace'): ResourceImpact {
  return kind === 'will-replace' ? ResourceImpact.WILL_REPLACE : ResourceImpact.MAY_REPLACE;
}

function cdkPath(resource: TemplateResource | undefined): string | undefined {
  const metadata = resource?.Metadata as Record<string, unknown> | undefined;
  const path = metadata?.['aws:cdk:path'];
  return typeof path === 'string' ? path : undefined;
}

function changeOrder(a: ResourceChange, b: ResourceChange): number {
  return (
    compare(a.stackKey, b.stackKey) ||
    changeKinds.indexOf(a.kind) - changeKinds.indexOf(b.kind) ||
    compare(a.type, b.type) ||
    compare(a.logicalId, b.logicalId)
  );
}

function iamSummary(diff: TemplateDiff): IamChangeSummary {
  const { statements, managedPolicies } = diff.iamChanges;
  const rows = [
    ...statements.additions.map((statement) => ['+', ...renderStatement(statement.render())]),
    ...statements.removals.map((statement) => ['-', ...renderStatement(statement.render())]),
  ];
  return {
    statementsAdded: statements.additions.length,
    statementsRemoved: statements.removals.length,
    managedPoliciesAdded: managedPolicies.additions.length,
    managedPoliciesRemoved: managedPolicies.removals.length,
    permissionsBroadened: diff.iamChanges.permissionsBroadened,
    statementRows: rows.sort(rowOrder),
  };
}

function renderStatement(rendered: {
  resource: string;
  effect: string;
  action: string;
  principal: string;
  condition: string;
}): string[] {
  return [rendered.resource, rendered.effect, rendered.action, rendered.principal, rendered.condition];
}

function securityGroupSummary(diff: TemplateDiff): SecurityGroupChangeSummary {
  const { ingress, egress } = diff.securityGroupChanges;
  type Rule = (typeof ingress.additions)[number];
  const row = (sign: string, direction: string, rule: Rule) => [
    sign,
    direction,
    rule.groupId,
    rule.describeProtocol(),
    rule.describePeer(),
  ];
  const rows = [
    ...ingress.additions.map((rule) => row('+', 'ingress', rule)),
    ...ingress.removals.map((rule) => row('-', 'ingress', rule)),
    ...egress.additions.map((rule) => row('+', 'egress', rule)),
    ...egress.removals.map((rule) => row('-', 'egress', rule)),
  ];
  return {
    ingressAdded: ingress.additions.length,
    ingressRemoved: ingress.removals.length,
    egressAdded: egress.additions.length,
    egressRemoved: egress.removals.length,
    ruleRows: rows.sort(rowOrder),
  };
}

function rowOrder(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const order = compare(a[i] ?? '', b[i] ?? '');
    if (order) return order;
  }
  return 0;
}

function zeroCounts(): Record<ChangeKind, number> {
  return { added: 0, updated: 0, 'will-replace': 0, 'may-replace': 0, removed: 0 };
}

function summarise(
  stacks: StackUpgrade[],
  brokenOutputs: OutputBreak[],
  outputReadsChecked: number,
): UpgradeReport {
  const changes = stacks.flatMap((stack) => stack.changes);
  const totals = zeroCounts();
  const perType = new Map<string, Record<ChangeKind, number>>();
  for (const change of changes) {
    totals[change.kind]++;
    const counts = perType.get(change.type) ?? zeroCounts();
    counts[change.kind]++;
    perType.set(change.type, counts);
  }
  const byType = [...perType.entries()]
    .sort(([a], [b]) => compare(a, b))
    .map(([type, counts]) => ({ type, counts }));

  const added = changes.filter((change) => change.kind === 'added');
  const dataLoss: DataLoss[] = changes
    .filter(
      (change) =>
        (change.dataBearing || change.anchorReason !== undefined) && dataLosingKinds.includes(change.kind),
    )
    .map((change) => {
      const category = change.dataBearing ? 'data-bearing' : 'anchor';
      // An anchor holds no data itself: the message says what it takes down with it.
      const anchorTail = change.dataBearing ? '' : `; data anchor: ${change.anchorReason ?? ''}`;
      if (change.kind !== 'removed') {
        const how = change.kind === 'will-replace' ? 'would be replaced' : 'may be replaced';
        const what = change.dataBearing ? ' (a new, empty resource)' : '';
        return {
          change,
          category,
          reason: `${how}${what} because ${change.replacingProperties.join(', ') || 'its definition'} changed${anchorTail}`,
        };
      }
      const possibleRenameTo = likelyRenameTarget(change, added);
      return {
        change,
        category,
        reason:
          (change.retained
            ? 'would be removed from the stack (retained, but orphaned: the new stack no longer manages it)'
            : 'would be deleted') + anchorTail,
        ...(possibleRenameTo ? { possibleRenameTo } : {}),
      };
    });

  return {
    stacks,
    changes,
    byType,
    totals,
    iam: mergeIam(stacks.map((stack) => stack.iam)),
    securityGroups: mergeSecurityGroups(stacks.map((stack) => stack.securityGroups)),
    dataBearingKept: stacks.reduce((count, stack) => count + stack.dataBearingKept, 0),
    anchorsKept: stacks.reduce((count, stack) => count + stack.anchorsKept, 0),
    dataLoss,
    outputReadsChecked,
    brokenOutputs,
    safe: dataLoss.length === 0 && brokenOutputs.length === 0,
  };
}

function mergeIam(summaries: IamChangeSummary[]): IamChangeSummary {
  return {
    statementsAdded: sum(summaries, (s) => s.statementsAdded),
    statementsRemoved: sum(summaries, (s) => s.statementsRemoved),
    managedPoliciesAdded: sum(summaries, (s) => s.managedPoliciesAdded),
    managedPoliciesRemoved: sum(summaries, (s) => s.managedPoliciesRemoved),
    permissionsBroadened: summaries.some((s) => s.permissionsBroadened),
    statementRows: summaries.flatMap((s) => s.statementRows),
  };
}

function mergeSecurityGroups(summaries: SecurityGroupChangeSummary[]): SecurityGroupChangeSummary {
  return {
    ingressAdded: sum(summaries, (s) => s.ingressAdded),
    ingressRemoved: sum(summaries, (s) => s.ingressRemoved),
    egressAdded: sum(summaries, (s) => s.egressAdded),
    egressRemoved: sum(summaries, (s) => s.egressRemoved),
    ruleRows: summaries.flatMap((s) => s.ruleRows),
  };
}

function sum<T>(items: T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

/**
 * The added resource of the same type that most resembles a removed one: same stack first, then the
 * longest common tail of construct path segments (`Database/Writer/Resource` matches `Db/Writer/Resource`).
 */
function likelyRenameTarget(
  removed: ResourceChange,
  added: readonly ResourceChange[],
): ResourceChange | undefined {
  const segments = (change: ResourceChange) =>
    (change.constructPath ?? change.logicalId).split('/').slice(1).reverse();
  const removedSegments = segments(removed);
  let best: ResourceChange | undefined;
  let bestScore = -1;
  for (const candidate of added) {
    if (candidate.type !== removed.type) continue;
    const candidateSegments = segments(candidate);
    let common = 0;
    while (common < removedSegments.length && removedSegments[common] === candidateSegments[common]) common++;
    const score = common * 2 + (candidate.stackKey === removed.stackKey ? 1 : 0);
    if (score > bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}
