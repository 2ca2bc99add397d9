/**
 * Rendering an upgrade report: the per-stack `cdk diff` output, a plain-text summary for the terminal and
 * a Markdown summary for `docs/upgrades/`. Both summaries are built from the same tables.
 */
import { formatDifferences, type FormatStream } from '@aws-cdk/cloudformation-diff';
import { changeKinds, type ChangeKind, type DataLoss, type UpgradeReport } from './diff';
import { changeMinutes, defaultChangeMinutes, estimateDuration, interruptionsOf } from './interruptions';
import type { OutputBreak } from './stack-outputs';

/** Column headings for change kinds. */
export const changeKindLabels: Readonly<Record<ChangeKind, string>> = {
  added: 'added',
  updated: 'updated',
  'will-replace': 'will replace',
  'may-replace': 'may replace',
  removed: 'removed',
};

/** A table: a header row and body rows of cells. */
export interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/**
 * Writes each stack's diff in `cdk diff` format (the library's `formatDifferences`).
 *
 * @param stream - where to write (`process.stdout`, or a collecting stream in tests)
 */
export function writeStackDiffs(report: UpgradeReport, stream: FormatStream): void {
  for (const stack of report.stacks) {
    const note =
      stack.status === 'added'
        ? ' (new stack, diffed against an empty template)'
        : stack.status === 'removed'
          ? ' (stack goes away, diffed against an empty template)'
          : '';
    stream.write(`Stack ${stack.stackName}${note}\n`);
    if (stack.diff.isEmpty) {
      stream.write('There were no differences\n\n');
    } else {
      formatDifferences(stream, stack.diff, { ...stack.logicalToPath });
      stream.write('\n');
    }
  }
}

/** Changes per resource type plus a total row (types without changes are omitted). */
export function typeTable(report: UpgradeReport): Table {
  const rows = report.byType.map(({ type, counts }) => [
    type,
    ...changeKinds.map((kind) => String(counts[kind])),
  ]);
  rows.push(['Total', ...changeKinds.map((kind) => String(report.totals[kind]))]);
  return { header: ['Resource type', ...changeKinds.map((kind) => changeKindLabels[kind])], rows };
}

/** Changes per stack. */
export function stackTable(report: UpgradeReport): Table {
  return {
    header: ['Stack', 'status', ...changeKinds.map((kind) => changeKindLabels[kind])],
    rows: report.stacks.map((stack) => [
      stack.stackName,
      stack.status,
      ...changeKinds.map((kind) => String(stack.changes.filter((change) => change.kind === kind).length)),
    ]),
  };
}

/** IAM statement changes, one row each. */
export function iamTable(report: UpgradeReport): Table {
  return {
    header: ['', 'Resource', 'Effect', 'Action', 'Principal', 'Condition'],
    rows: report.iam.statementRows,
  };
}

/** Security-group rule changes, one row each. */
export function securityGroupTable(report: UpgradeReport): Table {
  return {
    header: ['', 'Direction', 'Group', 'Protocol / port', 'Peer'],
    rows: report.securityGroups.ruleRows,
  };
}

/** Data-bearing resources and data anchors that would be lost. */
export function dataLossTable(report: UpgradeReport): Table {
  return {
    header: ['Change', 'Holds', 'Type', 'Stack', 'Logical id', 'Construct path', 'Why'],
    rows: report.dataLoss.map((loss) => [
      changeKindLabels[loss.change.kind],
      loss.category === 'anchor' ? 'anchor' : 'data',
      loss.change.type,
      loss.change.stackName,
      loss.change.logicalId,
      loss.change.constructPath ?? '',
      describeLoss(loss),
    ]),
  };
}

/** Labels of output problems. */
export const outputProblemLabels: Readonly<Record<OutputBreak['problem'], string>> = {
  removed: 'output removed',
  repointed: 'output repointed',
  replaced: 'output behind a replaced resource',
};

/** Names of a consumer's reading resources: the first three, then how many more. */
function readerList(readers: readonly string[]): string {
  const shown = readers.slice(0, 3).join(', ');
  return readers.length > 3 ? `${shown} and ${readers.length - 3} more` : shown;
}

/** `shop-data:PublishOutput... (${DatabaseCluster.Endpoint.Address})` or `export Name (...)`. */
export function describeOutput(broken: OutputBreak): string {
  const name =
    broken.read.via === 'Fn::ImportValue'
      ? `export ${broken.read.name}`
      : `${broken.producerStackName}:${broken.read.name}`;
  return broken.valueBefore ? `${name} (${broken.valueBefore})` : name;
}

/** One line per broken output read: what, who reads it, why it breaks. */
export function describeBrokenOutput(broken: OutputBreak): string {
  return (
    `${outputProblemLabels[broken.problem]}: ${describeOutput(broken)} is read by deployed stack ` +
    `${broken.read.consumerStackName} (${readerList(broken.read.readers)}); ${broken.reason}`
  );
}

/** Outputs read by a deployed stack that the upgrade breaks. */
export function brokenOutputsTable(report: UpgradeReport): Table {
  return {
    header: ['Problem', 'Output', 'Read by', 'Why'],
    rows: report.brokenOutputs.map((broken) => [
      outputProblemLabels[broken.problem],
      describeOutput(broken),
      `${broken.read.consumerStackName} (${readerList(broken.read.readers)})`,
      broken.reason,
    ]),
  };
}

/** Data-bearing resources the upgrade adds: their construct ids join the contract. */
export function addedDataBearingTable(report: UpgradeReport): Table {
  return {
    header: ['Type', 'Stack', 'Construct path', 'Logical id'],
    rows: report.changes
      .filter((change) => change.dataBearing && change.kind === 'added')
      .map((change) => [change.type, change.stackName, change.constructPath ?? '', change.logicalId]),
  };
}

/** One sentence per lost resource, with the rename hint when there is one. */
export function describeLoss(loss: DataLoss): string {
  const rename = loss.possibleRenameTo
    ? `; an added ${loss.possibleRenameTo.type} at ${loss.possibleRenameTo.constructPath ?? loss.possibleRenameTo.logicalId} suggests a renamed or moved construct`
    : '';
  return `${loss.reason}${rename}`;
}

function iamLine(report: UpgradeReport): string {
  const { iam } = report;
  const broadened = iam.permissionsBroadened ? ' (permissions broadened)' : '';
  return (
    `IAM: ${iam.statementsAdded} statement(s) added, ${iam.statementsRemoved} removed; ` +
    `${iam.managedPoliciesAdded} managed policy attachment(s) added, ${iam.managedPoliciesRemoved} removed${broadened}` +
    `; ${resourceCountsLine(report, 'AWS::IAM::', 'IAM resources')}`
  );
}

/** e.g. `IAM resources: AWS::IAM::Policy 1 added, 1 updated; AWS::IAM::Role 1 added` (or `none changed`). */
function resourceCountsLine(report: UpgradeReport, typePrefix: string, label: string): string {
  const parts = report.byType
    .filter(({ type }) => type.startsWith(typePrefix))
    .map(
      ({ type, counts }) =>
        `${type} ${changeKinds
          .filter((kind) => counts[kind] > 0)
          .map((kind) => `${counts[kind]} ${changeKindLabels[kind]}`)
          .join(', ')}`,
    );
  return `${label}: ${parts.length ? parts.join('; ') : 'none changed'}`;
}

function securityGroupLine(report: UpgradeReport): string {
  const sg = report.securityGroups;
  return (
    `Security groups: ${sg.ingressAdded} ingress rule(s) added, ${sg.ingressRemoved} removed; ` +
    `${sg.egressAdded} egress rule(s) added, ${sg.egressRemoved} removed; ` +
    resourceCountsLine(report, 'AWS::EC2::SecurityGroup', 'security-group resources')
  );
}

function dataBearingLine(report: UpgradeReport): string {
  const added = report.changes.filter((change) => change.dataBearing && change.kind === 'added').length;
  const updated = report.changes.filter((change) => change.dataBearing && change.kind === 'updated').length;
  const lost = report.dataLoss.filter((loss) => loss.category === 'data-bearing').length;
  return (
    `Data-bearing resources: ${report.dataBearingKept} kept (${updated} of them updated in place), ` +
    `${added} added, ${lost} replaced or removed`
  );
}

function anchorLine(report: UpgradeReport): string {
  const anchor = (kind: ChangeKind) =>
    report.changes.filter((change) => !change.dataBearing && change.anchorReason && change.kind === kind)
      .length;
  const lost = report.dataLoss.filter((loss) => loss.category === 'anchor').length;
  return (
    `Data anchors (what data lives in or is reached through): ${report.anchorsKept} kept ` +
    `(${anchor('updated')} of them updated in place), ${anchor('added')} added, ${lost} replaced or removed`
  );
}

function outputsLine(report: UpgradeReport): string {
  return (
    `Outputs read across stacks: ${report.outputReadsChecked} read by deployed stacks, ` +
    `${report.brokenOutputs.length} removed, repointed or behind a replaced resource`
  );
}

/** Data-bearing resources kept in place whose deletion or replacement policy changes (a warning, not a failure). */
export function protectionWarnings(report: UpgradeReport): string[] {
  return report.changes
    .filter((change) => change.dataBearing && change.protectionChanges.length > 0)
    .map(
      (change) =>
        `${change.type} ${change.constructPath ?? `${change.stackName}/${change.logicalId}`}: ${change.protectionChanges.join(', ')}`,
    );
}

/** The verdict line (the last line of the terminal summary; bold in the Markdown page). */
export function verdict(report: UpgradeReport): string {
  if (report.safe) {
    return 'SAFE: no data-bearing resource or data anchor is replaced or removed, and every output a deployed stack reads is kept.';
  }
  const lost = report.dataLoss.filter((loss) => loss.category === 'data-bearing').length;
  const anchors = report.dataLoss.length - lost;
  const parts = [
    lost ? `${lost} data-bearing resource(s)` : '',
    anchors ? `${anchors} data anchor(s)` : '',
  ].filter(Boolean);
  const losses = parts.length ? `${parts.join(' and ')} would be replaced or removed` : '';
  const outputs = report.brokenOutputs.length
    ? `${report.brokenOutputs.length} output(s) read by a deployed stack would break`
    : '';
  return `UNSAFE: ${[losses, outputs].filter(Boolean).join('; ')}.`;
}

/**
 * Shortens intrinsics the library leaves as JSON: a weak cross-stack reference
 * `{"Fn::GetStackOutput":{"StackName":"s","OutputName":"o",...}}` reads as `${s:o}`.
 */
export function readableCell(cell: string): string {
  return cell.replace(
    /\{"Fn::GetStackOutput":\{(?=[^{}]*"StackName":"([^"]+)")(?=[^{}]*"OutputName":"([^"]+)")[^{}]*\}\}/g,
    (_, stack: string, output: string) => `\${${stack}:${output}}`,
  );
}

const maxTextCell = 100;

/**
 * Renders a table as aligned plain text: one line per row (line breaks inside cells become `; `), cells
 * longer than 100 characters shortened (the per-stack diff above the summary shows them in full).
 */
export function textTable(table: Table, indent = '  '): string {
  const flat = (row: readonly string[]) =>
    row.map((cell) => {
      const line = readableCell(cell ?? '').replace(/\s*\n\s*/g, '; ');
      return line.length > maxTextCell ? `${line.slice(0, maxTextCell - 1)}…` : line;
    });
  const all = [flat(table.header), ...table.rows.map(flat)];
  const widths = table.header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all
    .map((row) =>
      (indent + row.map((cell, column) => (cell ?? '').padEnd(widths[column] ?? 0)).join('  ')).trimEnd(),
    )
    .join('\n');
}

/** Renders a table as GitHub-flavoured Markdown (pipes and newlines in cells escaped). */
export function markdownTable(table: Table): string {
  const escape = (cell: string) => readableCell(cell).replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
  const line = (row: readonly string[]) => `| ${row.map((cell) => escape(cell ?? '')).join(' | ')} |`;
  return [line(table.header), line(table.header.map(() => '---')), ...table.rows.map(line)].join('\n');
}

/** The "Interruptions" section of an upgrade page: what users will feel, and roughly how long it takes. */
export function interruptionsMarkdown(report: UpgradeReport): string[] {
  const found = interruptionsOf(report);
  const duration = estimateDuration(report);
  const parts = [
    '## Interruptions',
    '',
    'What users and operators will notice while `cdk deploy` applies this upgrade, read from the diff ' +
      '(writer and reader class changes, parameter groups, the session store, NAT gateway addresses, the ' +
      'service deployment).',
    '',
  ];
  if (!found.length) parts.push('_Nothing users would notice._', '');
  for (const interruption of found) {
    parts.push(`- **${interruption.title}.** ${interruption.detail}`);
    parts.push(...interruption.resources.map((resource) => `  - \`${resource}\``));
  }
  if (found.length) parts.push('');
  parts.push(
    '### How long CloudFormation will take (rough)',
    '',
    `About **${duration.minutes} minutes** in all. Estimated, not measured: each changed resource is costed ` +
      `from typical deployment times (e.g. an Aurora instance ${changeMinutes['AWS::RDS::DBInstance']?.added ?? '?'} ` +
      `min, a Redis replication group ${changeMinutes['AWS::ElastiCache::ReplicationGroup']?.added ?? '?'} min, ` +
      `most other resources ${defaultChangeMinutes} min; \`tools/upgrade/interruptions.ts\`); within a stack, ` +
      'independent changes run in parallel, so a stack takes as long as its longest chain of changes that wait ' +
      'for one another; stacks deploy one after another. Deletions run in the clean-up phase and are not counted.',
    '',
  );
  if (duration.stacks.length) {
    parts.push(
      markdownTable({
        header: ['Stack', 'Minutes (rough)', 'Longest chain of changes'],
        rows: duration.stacks.map((stack) => [
          stack.stackName,
          String(stack.minutes),
          stack.chain.join(' → ') || '(seconds-long changes only)',
        ]),
      }),
      '',
    );
  }
  return parts;
}

/** Interruptions in the terminal summary: one line each, plus the rough duration. */
function interruptionLines(report: UpgradeReport): string[] {
  const lines = interruptionsOf(report).map(
    (interruption) => `  ! ${interruption.title}: ${interruption.resources.join('; ')}`,
  );
  return [
    `Interruptions (see docs/upgrades/ for what to do): ${lines.length ? '' : 'none'}`.trimEnd(),
    ...lines,
    `  CloudFormation, roughly: ${estimateDuration(report).minutes} minutes`,
  ];
}

/** The terminal summary printed after the per-stack diffs. */
export function renderTextSummary(report: UpgradeReport, title: string): string {
  const parts = [
    `Summary: ${title}`,
    '',
    'Stacks:',
    textTable(stackTable(report)),
    '',
    'Resources by type:',
    report.changes.length ? textTable(typeTable(report)) : '  (no resource changes)',
    '',
    iamLine(report),
  ];
  if (report.iam.statementRows.length) parts.push(textTable(iamTable(report)));
  parts.push(securityGroupLine(report));
  if (report.securityGroups.ruleRows.length) parts.push(textTable(securityGroupTable(report)));
  parts.push('', dataBearingLine(report), anchorLine(report), outputsLine(report));
  for (const warning of protectionWarnings(report)) parts.push(`  ! protection policy changes: ${warning}`);
  for (const loss of report.dataLoss) {
    const where = loss.change.constructPath ?? `${loss.change.stackName}/${loss.change.logicalId}`;
    parts.push(
      `  ✗ ${changeKindLabels[loss.change.kind]}: ${loss.change.type} ${where} ${describeLoss(loss)}`,
    );
  }
  for (const broken of report.brokenOutputs) parts.push(`  ✗ ${describeBrokenOutput(broken)}`);
  if (report.dataLoss.length) {
    parts.push(
      '  See README "Upgrading a stage": keep construct ids of data-bearing resources and anchors, or move them',
      '  with `cdk refactor` / pin their logical ids with overrideLogicalId; network.cidr and network.maxAzs are',
      '  permanent once deployed.',
    );
  }
  if (report.brokenOutputs.length) {
    parts.push(
      '  See README "Upgrading a stage": outputs a deployed stack reads are append-only; keep publishing them',
      '  (lib/stacks/published-outputs.ts) until no deployed stage reads them.',
    );
  }
  parts.push('', ...interruptionLines(report));
  parts.push('', verdict(report), '');
  return parts.join('\n');
}

/** The Markdown summary written to `docs/upgrades/<from>-to-<to>.md` (a full document). */
export function renderMarkdownSummary(report: UpgradeReport, from: string, to: string): string {
  const parts = [
    `# Upgrade \`${from}\` → \`${to}\``,
    '',
    `Generated by \`npm run docs\` from the synthesised stages; \`npm run diff -- ${from} ${to}\` prints the full ` +
      'per-stack diff. Do not edit by hand.',
    '',
    `**${verdict(report)}**`,
    '',
    ...interruptionsMarkdown(report),
    '## Stacks',
    '',
    markdownTable(stackTable(report)),
    '',
    '## Resources by type',
    '',
    report.changes.length ? markdownTable(typeTable(report)) : '_No resource changes._',
    '',
    '## Data-bearing resources, data anchors and outputs read across stacks',
    '',
    `${dataBearingLine(report)}.`,
    '',
    `${anchorLine(report)}.`,
    '',
    `${outputsLine(report)}.`,
    '',
  ];
  if (report.dataLoss.length) parts.push(markdownTable(dataLossTable(report)), '');
  if (report.brokenOutputs.length) parts.push(markdownTable(brokenOutputsTable(report)), '');
  const added = addedDataBearingTable(report);
  if (added.rows.length) {
    parts.push('Added (their construct ids become part of the contract):', '', markdownTable(added), '');
  }
  const warnings = protectionWarnings(report);
  if (warnings.length)
    parts.push(...warnings.map((warning) => `- Protection policy changes: ${warning}`), '');
  parts.push('## IAM', '', `${iamLine(report)}.`, '');
  if (report.iam.statementRows.length) parts.push(markdownTable(iamTable(report)), '');
  parts.push('## Security groups', '', `${securityGroupLine(report)}.`, '');
  if (report.securityGroups.ruleRows.length) parts.push(markdownTable(securityGroupTable(report)), '');
  return parts.join('\n');
}
