/**
 * cdk-nag (AwsSolutions) on the edge stacks, in us-east-1 and in the replica region: zero findings left, and each
 * acknowledgement on one resource, for one rule, with a reason.
 */
import { Validations, type Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EDGE_STACK_IDS } from '../../lib/edge/build-edge';
import { synthStage, type ValidationReport } from '../support/synth';
import { globalContext, globalStage } from './support';

// Both plugins over every template of a three-region app, on a shared machine.
jest.setTimeout(600_000);

// GIVEN: stage 1m + global synthesised once with cdk-nag and the Control Tower rules registered (synth throws on
// any finding left, in any stack)
// The Control Tower rules (cfn-guard) run over the same templates in test/nag/control-tower.test.ts (every stage,
// global included): not twice.
const stage = synthStage('1m', { config: globalStage(), context: globalContext() });
const edgeStacks = [EDGE_STACK_IDS.edge, EDGE_STACK_IDS.replica].map(
  (id) => stage.app.node.findChild(id) as Stack,
);

/** Findings of `plugin` at constructs under the edge stacks. */
function edgeFindings(report: ValidationReport, plugin: string): string[] {
  return report.pluginReports
    .filter((entry) => entry.pluginName === plugin)
    .flatMap((entry) => entry.violations ?? [])
    .flatMap((violation) =>
      (violation.violatingConstructs ?? [{}]).map(
        (resource) => `${violation.ruleName} at ${resource.constructPath}`,
      ),
    )
    .filter((finding) => / at ShopEdge(Replica)?\//.test(finding));
}

/** The acknowledgements recorded under `scope`. */
function acknowledgements(scope: Stack) {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('the edge stacks under cdk-nag', () => {
  test('cdk-nag left zero findings in us-east-1 and the replica region', () => {
    // cdk-nag reports only when it finds something (walked directly below).
    expect(edgeFindings(stage.report, 'AwsSolutions')).toEqual([]);
    expect(edgeStacks.map((stack) => stack.region)).toEqual(['us-east-1', 'eu-west-1']);
  });

  test.each([EDGE_STACK_IDS.edge, EDGE_STACK_IDS.replica])(
    'cdk-nag walking %s directly finds nothing',
    (id) => {
      const result = new AwsSolutionsChecks().validateScope(stage.app.node.findChild(id));
      expect(result.violations.map((violation) => violation.ruleName)).toEqual([]);
    },
  );

  test.each([EDGE_STACK_IDS.edge, EDGE_STACK_IDS.replica])(
    '%s acknowledges each finding on one resource, one rule id, with a specific reason',
    (id) => {
      const stack = stage.app.node.findChild(id) as Stack;
      const acks = acknowledgements(stack);
      expect(acks.length).toBeGreaterThan(0);
      for (const ack of acks) {
        // Never on the stack itself.
        expect(ack.path).not.toBe(stack.node.path);
        expect(ack.id).toMatch(
          /^(AwsSolutions-[A-Z]+\d+(\[[^\]]+\])?|cdk-validator-cfnguard::[a-z0-9_]+|@aws-cdk\/[a-z0-9-]+:[A-Za-z]+)$/,
        );
        expect([ack.id, ack.reason.length > 60]).toEqual([ack.id, true]);
      }
    },
  );

  test('lists the acknowledgements of the edge (review any change here)', () => {
    const list = edgeStacks.flatMap((stack) => acknowledgements(stack).map((ack) => `${ack.path} ${ack.id}`));
    expect(list.sort()).toMatchSnapshot();
  });
});
