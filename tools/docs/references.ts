/**
 * Following references between resources in synthesised templates, within a stack and across stacks
 * (`Fn::ImportValue` of an export, or `Fn::GetStackOutput` of a weak cross-stack reference).
 */
import type { AssemblyTemplates, StackTemplate } from '../upgrade/assembly';

/** A resource somewhere in the app. */
export interface ResourceHandle {
  readonly stack: StackTemplate;
  readonly logicalId: string;
  readonly type: string;
  readonly properties: Record<string, unknown>;
  /** Construct path without the stack and without a trailing `Resource`/`Default`, e.g. `Database/Writer`. */
  readonly path: string;
  /** Unique id across stacks. */
  readonly uid: string;
}

/** Index of every resource, with reference resolution. */
export class ResourceIndex {
  /** All resources, in stack order then logical id order. */
  public readonly all: readonly ResourceHandle[];
  private readonly byUid = new Map<string, ResourceHandle>();
  private readonly exports = new Map<string, { stack: StackTemplate; value: unknown }>();
  private readonly stacksByName = new Map<string, StackTemplate[]>();

  constructor(templates: AssemblyTemplates) {
    const all: ResourceHandle[] = [];
    for (const stack of templates.stacks) {
      this.stacksByName.set(stack.stackName, [...(this.stacksByName.get(stack.stackName) ?? []), stack]);
      const resources = stack.template.Resources ?? {};
      for (const logicalId of Object.keys(resources).sort()) {
        const resource = resources[logicalId] as { Type: string; Properties?: Record<string, unknown> };
        const handle: ResourceHandle = {
          stack,
          logicalId,
          type: resource.Type,
          properties: resource.Properties ?? {},
          path: shortPath(resource as Record<string, unknown>, logicalId),
          uid: uidOf(stack, logicalId),
        };
        all.push(handle);
        this.byUid.set(handle.uid, handle);
      }
      const outputs = (stack.template.Outputs ?? {}) as Record<string, { Value?: unknown; Export?: { Name?: unknown } }>;
      for (const output of Object.values(outputs)) {
        if (typeof output.Export?.Name === 'string') this.exports.set(output.Export.Name, { stack, value: output.Value });
      }
    }
    this.all = all;
  }

  /** The resource with this uid. */
  get(uid: string): ResourceHandle | undefined {
    return this.byUid.get(uid);
  }

  /** Resources referenced anywhere inside `value` (which lives in `stack`), cross-stack references resolved. */
  referencesIn(value: unknown, stack: StackTemplate, depth = 0): ResourceHandle[] {
    const found: ResourceHandle[] = [];
    const visit = (node: unknown, current: StackTemplate): void => {
      if (Array.isArray(node)) {
        node.forEach((item) => visit(item, current));
        return;
      }
      if (!node || typeof node !== 'object') return;
      const object = node as Record<string, unknown>;
      const keys = Object.keys(object);
      if (keys.length === 1) {
        const [key] = keys as [string];
        const argument = object[key];
        const local = (logicalId: unknown) => {
          const handle = typeof logicalId === 'string' ? this.byUid.get(uidOf(current, logicalId)) : undefined;
          if (handle) found.push(handle);
        };
        if (key === 'Ref') return local(argument);
        if (key === 'Fn::GetAtt') {
          return local(Array.isArray(argument) ? argument[0] : String(argument).split('.')[0]);
        }
        if (key === 'Fn::ImportValue' && typeof argument === 'string' && depth < 3) {
          const exported = this.exports.get(argument);
          if (exported) found.push(...this.referencesIn(exported.value, exported.stack, depth + 1));
          return;
        }
        if (key === 'Fn::GetStackOutput' && depth < 3) {
          const target = this.stackOutput(argument);
          if (target) found.push(...this.referencesIn(target.value, target.stack, depth + 1));
          return;
        }
      }
      Object.values(object).forEach((item) => visit(item, current));
    };
    visit(value, stack);
    return found;
  }

  private stackOutput(argument: unknown): { stack: StackTemplate; value: unknown } | undefined {
    const args = Array.isArray(argument)
      ? { StackName: argument[0], OutputName: argument[1], Region: argument[2] }
      : ((argument ?? {}) as Record<string, unknown>);
    const stackName = args.StackName;
    const outputName = args.OutputName;
    if (typeof stackName !== 'string' || typeof outputName !== 'string') return undefined;
    const candidates = this.stacksByName.get(stackName) ?? [];
    const stack =
      candidates.find((candidate) => typeof args.Region === 'string' && candidate.key.split('/')[1] === args.Region) ??
      candidates[0];
    const outputs = (stack?.template.Outputs ?? {}) as Record<string, { Value?: unknown }>;
    return stack && outputs[outputName] ? { stack, value: outputs[outputName].Value } : undefined;
  }
}

function uidOf(stack: StackTemplate, logicalId: string): string {
  return `${stack.key}|${logicalId}`;
}

function shortPath(resource: Record<string, unknown>, logicalId: string): string {
  const metadata = resource.Metadata as Record<string, unknown> | undefined;
  const path = metadata?.['aws:cdk:path'];
  if (typeof path !== 'string') return logicalId;
  const parts = path.split('/').slice(1);
  while (parts.length > 1 && (parts[parts.length - 1] === 'Resource' || parts[parts.length - 1] === 'Default')) {
    parts.pop();
  }
  return parts.join('/') || logicalId;
}
