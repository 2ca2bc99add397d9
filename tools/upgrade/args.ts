/**
 * Command-line arguments of `npm run diff`, validated without touching any stage.
 */

/** Exit codes of `npm run diff`. */
export const exitCodes = {
  /** No data-bearing resource is replaced or removed. */
  safe: 0,
  /** At least one data-bearing resource would be replaced, may be replaced, or is removed. */
  unsafe: 1,
  /** Bad arguments: wrong count, unknown stage id, the same stage twice, unknown option. */
  usage: 2,
  /** A stage failed to synthesise. */
  synthFailed: 3,
} as const;

/** Parsed arguments. */
export interface DiffArgs {
  readonly from: string;
  readonly to: string;
  /** Print only the summary, not the per-stack diffs. */
  readonly summaryOnly: boolean;
}

/** A usage error; its message is printed as is, followed by the usage text. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The usage text. */
export function usage(knownIds: readonly string[]): string {
  return [
    'Usage: npm run diff -- <from> <to> [--summary]',
    '',
    'Synthesises both stages offline and prints what upgrading <from> in place to <to> changes, per stack',
    '(cdk diff format), then a summary. Exit code 0: safe; 1: a data-bearing resource would be replaced or',
    'removed; 2: usage error; 3: a stage failed to synthesise.',
    '',
    `Stages: ${knownIds.join(', ')}`,
    '  --summary   print only the summary',
  ].join('\n');
}

/**
 * Parses `<from> <to> [--summary]` (or `--help`, which returns `'help'`).
 *
 * @throws UsageError naming the bad argument and the known stage ids
 */
export function parseDiffArgs(argv: readonly string[], knownIds: readonly string[]): DiffArgs | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const options = argv.filter((arg) => arg.startsWith('-'));
  const positional = argv.filter((arg) => !arg.startsWith('-'));
  const unknownOptions = options.filter((option) => option !== '--summary');
  const known = knownIds.join(', ');
  if (unknownOptions.length) throw new UsageError(`Unknown option ${unknownOptions.join(', ')}.`);
  if (positional.length !== 2) {
    throw new UsageError(
      `Expected two stage ids, <from> and <to>, got ${positional.length}` +
        `${positional.length ? ` (${positional.join(' ')})` : ''}. Known stages: ${known}.`,
    );
  }
  const [from, to] = positional as [string, string];
  const problems = (
    [
      ['<from>', from],
      ['<to>', to],
    ] as const
  )
    .filter(([, id]) => !knownIds.includes(id))
    .map(([name, id]) => `Unknown stage id "${id}" for ${name}.`);
  if (problems.length) throw new UsageError(`${problems.join(' ')} Known stages: ${known}.`);
  if (from === to) {
    const next = knownIds[knownIds.indexOf(from) + 1];
    const example = next ? ` (e.g. npm run diff -- ${from} ${next})` : '';
    throw new UsageError(
      `<from> and <to> are both "${from}": an upgrade needs two different stages${example}.`,
    );
  }
  return { from, to, summaryOnly: options.includes('--summary') };
}
