/**
 * The diff command with its dependencies passed in, so tests can run it on fixture apps and real stages
 * alike without spawning a process.
 */
import type { FormatStream } from '@aws-cdk/cloudformation-diff';
import { StageConfigError } from '../../lib/config/validate-stage-config';
import type { AssemblyTemplates } from './assembly';
import { exitCodes, parseDiffArgs, usage, UsageError } from './args';
import { diffAssemblies } from './diff';
import { renderTextSummary, writeStackDiffs } from './report';

/** What `runDiff` needs from its surroundings. */
export interface DiffCommandIo {
  /** Known stage ids, in upgrade order. */
  readonly stageIds: readonly string[];
  /** Synthesises a stage. */
  readonly synth: (id: string) => AssemblyTemplates;
  /** Receives the diff and the summary. */
  readonly stdout: FormatStream;
  /** Receives progress and error messages. */
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Runs `diff <from> <to> [--summary]` and returns the exit code (see `exitCodes`).
 */
export function runDiff(argv: readonly string[], io: DiffCommandIo): number {
  let args;
  try {
    args = parseDiffArgs(argv, io.stageIds);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`Error: ${error.message}\n\n${usage(io.stageIds)}\n`);
    return exitCodes.usage;
  }
  if (args === 'help') {
    io.stdout.write(`${usage(io.stageIds)}\n`);
    return exitCodes.safe;
  }

  const synthesised: AssemblyTemplates[] = [];
  for (const id of [args.from, args.to]) {
    io.stderr.write(`Synthesising stage ${id} ...\n`);
    try {
      synthesised.push(io.synth(id));
    } catch (error) {
      // A config error names the key and the fix; its stack trace would only bury them.
      const configError = error instanceof StageConfigError;
      io.stderr.write(
        `Error: stage ${id} failed to synthesise: ${configError ? error.message : ((error as Error).stack ?? String(error))}\n`,
      );
      return exitCodes.synthFailed;
    }
  }
  const report = diffAssemblies(synthesised[0] as AssemblyTemplates, synthesised[1] as AssemblyTemplates);
  if (!args.summaryOnly) writeStackDiffs(report, io.stdout);
  io.stdout.write(renderTextSummary(report, `${args.from} -> ${args.to}`));
  return report.safe ? exitCodes.safe : exitCodes.unsafe;
}
