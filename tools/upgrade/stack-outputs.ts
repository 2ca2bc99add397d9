/**
 * Stack outputs read across stacks: a deployed stack's reads are a public API of the stack it reads.
 *
 * A consumer reads another stack's output with `Fn::GetStackOutput` (CDK's weak cross-stack references,
 * this blueprint's default) or `Fn::ImportValue` (an export). CloudFormation resolves the read when the
 * consumer's resource is created or updated, and at no other time. So for every upgrade A -> B:
 *
 * - every output an A-stage consumer reads must still exist in B: the producer deploys first, and if the
 *   consumer's update then fails, its rollback to the A template reads the output again (a removed one
 *   leaves the consumer in `UPDATE_ROLLBACK_FAILED`; a removed export is refused outright);
 * - the value must not be repointed, and no resource behind it may be replaced: a consumer whose own
 *   template does not change is not updated and keeps the old value (a weak reference), or the producer's
 *   update is refused (an export in use).
 */
import { ResourceIndex } from '../docs/references';
import { compare, type AssemblyTemplates, type StackTemplate } from './assembly';

/** How a consumer reads another stack's output. */
export type OutputReadVia = 'Fn::GetStackOutput' | 'Fn::ImportValue';

/** One output that one consumer stack reads (all its reading resources together). */
export interface OutputRead {
  /** Stack key of the consumer (`<account>/<region>/<stackName>`). */
  readonly consumerStackKey: string;
  /** Stack name of the consumer. */
  readonly consumerStackName: string;
  /** Logical ids of the consumer's resources (and outputs) that read it, sorted. */
  readonly readers: readonly string[];
  /** The intrinsic used. */
  readonly via: OutputReadVia;
  /** Producer stack name (`Fn::GetStackOutput`). @default - an export, found by name */
  readonly producerStackName?: string;
  /** Producer region (`Fn::GetStackOutput`). @default - the consumer's region */
  readonly producerRegion?: string;
  /** Output name (`Fn::GetStackOutput`) or export name (`Fn::ImportValue`). */
  readonly name: string;
}

/** What breaks for one output read. */
export type OutputProblem = 'removed' | 'repointed' | 'replaced';

/** An output read by a deployed stack that the upgrade breaks. */
export interface OutputBreak {
  readonly read: OutputRead;
  readonly problem: OutputProblem;
  /** Producer stack name (as far as known). */
  readonly producerStackName: string;
  /** The output's value before the upgrade, shortened (`${Vpc8378EB38}`), when known. */
  readonly valueBefore?: string;
  /** For `replaced`: the replaced resources behind the output (`<stackName>/<logicalId>`), sorted. */
  readonly replacedResources: readonly string[];
  /** One sentence saying what goes wrong, for the summary. */
  readonly reason: string;
}

interface OutputDefinition {
  readonly Value?: unknown;
  readonly Export?: { readonly Name?: unknown };
}

const region = (stack: StackTemplate) => stack.key.split('/')[1] ?? '';
const account = (stack: StackTemplate) => stack.key.split('/')[0] ?? '';

/** Every output read across stacks in an app, one entry per consumer stack and output, sorted. */
export function outputReads(templates: AssemblyTemplates): OutputRead[] {
  const reads = new Map<string, { read: Omit<OutputRead, 'readers'>; readers: Set<string> }>();
  for (const stack of templates.stacks) {
    const sections = {
      ...(stack.template.Resources ?? {}),
      ...((stack.template.Outputs ?? {}) as Record<string, unknown>),
    };
    for (const [logicalId, element] of Object.entries(sections)) {
      visitIntrinsics(element, (key, argument) => {
        const read = readOf(stack, key, argument);
        if (!read) return;
        const id = JSON.stringify([read.consumerStackKey, read.via, read.producerStackName, read.name]);
        const entry = reads.get(id) ?? { read, readers: new Set<string>() };
        entry.readers.add(logicalId);
        reads.set(id, entry);
      });
    }
  }
  return [...reads.values()]
    .map(({ read, readers }) => ({ ...read, readers: [...readers].sort(compare) }))
    .sort(
      (a, b) =>
        compare(a.consumerStackKey, b.consumerStackKey) ||
        compare(a.producerStackName ?? '', b.producerStackName ?? '') ||
        compare(a.name, b.name),
    );
}

function readOf(
  stack: StackTemplate,
  key: string,
  argument: unknown,
): Omit<OutputRead, 'readers'> | undefined {
  const consumer = { consumerStackKey: stack.key, consumerStackName: stack.stackName };
  if (key === 'Fn::ImportValue' && typeof argument === 'string') {
    return { ...consumer, via: key, name: argument };
  }
  if (key === 'Fn::GetStackOutput') {
    const args = Array.isArray(argument)
      ? { StackName: argument[0], OutputName: argument[1], Region: argument[2] }
      : ((argument ?? {}) as Record<string, unknown>);
    if (typeof args.StackName !== 'string' || typeof args.OutputName !== 'string') return undefined;
    return {
      ...consumer,
      via: key,
      producerStackName: args.StackName,
      ...(typeof args.Region === 'string' ? { producerRegion: args.Region } : {}),
      name: args.OutputName,
    };
  }
  return undefined;
}

/** Calls `found` for every single-key intrinsic object (`{ "Fn::X": argument }`) inside `node`. */
function visitIntrinsics(node: unknown, found: (key: string, argument: unknown) => void): void {
  if (Array.isArray(node)) {
    node.forEach((item) => visitIntrinsics(item, found));
    return;
  }
  if (!node || typeof node !== 'object') return;
  const object = node as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1 && (keys[0] === 'Fn::GetStackOutput' || keys[0] === 'Fn::ImportValue')) {
    found(keys[0], object[keys[0]]);
    return;
  }
  Object.values(object).forEach((item) => visitIntrinsics(item, found));
}

/** The output a read refers to, in an app, with the stack that defines it. */
export function resolveOutputRead(
  templates: AssemblyTemplates,
  read: OutputRead,
): { readonly stack?: StackTemplate; readonly output?: OutputDefinition } {
  const consumer = read.consumerStackKey.split('/');
  if (read.via === 'Fn::GetStackOutput') {
    const wantedRegion = read.producerRegion ?? consumer[1];
    const candidates = templates.stacks.filter(
      (stack) => stack.stackName === read.producerStackName && region(stack) === wantedRegion,
    );
    const stack = candidates.find((candidate) => account(candidate) === consumer[0]) ?? candidates[0];
    const outputs = (stack?.template.Outputs ?? {}) as Record<string, OutputDefinition>;
    const output = Object.prototype.hasOwnProperty.call(outputs, read.name) ? outputs[read.name] : undefined;
    return { ...(stack ? { stack } : {}), ...(output ? { output } : {}) };
  }
  // Exports are unique per account and region.
  for (const stack of templates.stacks) {
    if (account(stack) !== consumer[0] || region(stack) !== consumer[1]) continue;
    for (const output of Object.values((stack.template.Outputs ?? {}) as Record<string, OutputDefinition>)) {
      if (output.Export?.Name === read.name) return { stack, output };
    }
  }
  return {};
}

/** `{"Ref":"X"}` reads `${X}`, `{"Fn::GetAtt":["X","a"]}` reads `${X.a}`; anything else as JSON (shortened). */
export function shortValue(value: unknown): string {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    if (typeof object.Ref === 'string') return `\${${object.Ref}}`;
    const getAtt = object['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `\${${getAtt.join('.')}}`;
    if (typeof getAtt === 'string') return `\${${getAtt}}`;
  }
  const json = JSON.stringify(value) ?? 'undefined';
  return json.length > 80 ? `${json.slice(0, 79)}…` : json;
}

/**
 * The outputs read by deployed stacks of `from` that the upgrade to `to` breaks.
 *
 * @param replaced - keys `<stack key>|<logical id>` of resources the upgrade replaces (will or may)
 */
export function brokenOutputReads(
  from: AssemblyTemplates,
  to: AssemblyTemplates,
  replaced: ReadonlySet<string>,
): OutputBreak[] {
  const afterIndex = new ResourceIndex(to);
  const breaks: OutputBreak[] = [];
  for (const read of outputReads(from)) {
    const before = resolveOutputRead(from, read);
    const after = resolveOutputRead(to, read);
    const producerStackName =
      after.stack?.stackName ?? before.stack?.stackName ?? read.producerStackName ?? '?';
    const valueBefore = before.output ? { valueBefore: shortValue(before.output.Value) } : {};
    const common = { read, producerStackName, ...valueBefore };
    if (!after.output) {
      breaks.push({
        ...common,
        problem: 'removed',
        replacedResources: [],
        reason: removedReason(read, producerStackName),
      });
      continue;
    }
    if (before.output && JSON.stringify(before.output.Value) !== JSON.stringify(after.output.Value)) {
      breaks.push({
        ...common,
        problem: 'repointed',
        replacedResources: [],
        reason:
          `now points at ${shortValue(after.output.Value)} instead of ${shortValue(before.output.Value)}: ` +
          staleTail(read),
      });
      continue;
    }
    const behind = afterIndex
      .referencesIn(after.output.Value, after.stack as StackTemplate)
      .filter((resource) => replaced.has(resource.uid))
      .map((resource) => `${resource.stack.stackName}/${resource.logicalId}`);
    const replacedResources = [...new Set(behind)].sort(compare);
    if (replacedResources.length) {
      breaks.push({
        ...common,
        problem: 'replaced',
        replacedResources,
        reason: `${replacedResources.join(', ')} behind it would be replaced: ${staleTail(read)}`,
      });
    }
  }
  return breaks;
}

function removedReason(read: OutputRead, producer: string): string {
  return read.via === 'Fn::ImportValue'
    ? `the upgrade removes this export, and CloudFormation refuses to delete an export in use: the ${producer} update fails`
    : `the upgrade removes this output: if the ${read.consumerStackName} update fails, its rollback reads an output ` +
        'that no longer exists and the stack is left in UPDATE_ROLLBACK_FAILED';
}

function staleTail(read: OutputRead): string {
  return read.via === 'Fn::ImportValue'
    ? 'CloudFormation refuses to change an export in use, so the producer update fails'
    : `${read.consumerStackName} keeps the old value until its own resources are updated`;
}
