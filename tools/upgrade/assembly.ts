/**
 * Reading synthesised stacks out of a cloud assembly into plain, comparable data.
 */
import type * as cxapi from 'aws-cdk-lib/cx-api';

/** A CloudFormation template as synthesised (JSON object). */
export interface CfnTemplate {
  readonly Resources?: Record<string, { readonly Type: string; readonly [key: string]: unknown }>;
  readonly [key: string]: unknown;
}

/** One synthesised stack. */
export interface StackTemplate {
  /**
   * Identity of the deployed stack: `<account>/<region>/<stackName>`. Stacks are matched across
   * assemblies by this key, because CloudFormation identifies a stack by its name in an environment.
   */
  readonly key: string;
  /** CloudFormation stack name. */
  readonly stackName: string;
  /** Artifact id (hierarchical for stacks inside a `Stage`), e.g. `Blueprint-Data` or `Eu/Blueprint-Data`. */
  readonly artifactId: string;
  /** The template. */
  readonly template: CfnTemplate;
}

/** All stacks of one synthesised app, sorted by key. */
export interface AssemblyTemplates {
  readonly stacks: readonly StackTemplate[];
}

/**
 * Collects every stack of a cloud assembly (including stacks inside nested `Stage` assemblies).
 *
 * The result holds only plain JSON, so the assembly directory may be deleted afterwards.
 */
export function templatesFromAssembly(assembly: cxapi.CloudAssembly): AssemblyTemplates {
  const stacks = assembly.stacksRecursively.map((artifact) => ({
    key: `${artifact.environment.account}/${artifact.environment.region}/${artifact.stackName}`,
    stackName: artifact.stackName,
    artifactId: artifact.hierarchicalId,
    template: artifact.template as CfnTemplate,
  }));
  const seen = new Set<string>();
  for (const stack of stacks) {
    if (seen.has(stack.key)) {
      throw new Error(`Two stacks deploy as ${stack.key}; stack names must be unique per environment.`);
    }
    seen.add(stack.key);
  }
  return { stacks: stacks.sort((a, b) => compare(a.key, b.key)) };
}

/** Locale-independent string order, so generated output is the same on every machine. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when `value` contains `{Ref: id}` or `{Fn::GetAtt: [id, ...]}`. */
export function refersTo(value: unknown, logicalId: string): boolean {
  if (Array.isArray(value)) return value.some((item) => refersTo(item, logicalId));
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (record.Ref === logicalId) return true;
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[0] === logicalId) return true;
  return Object.values(record).some((item) => refersTo(item, logicalId));
}
