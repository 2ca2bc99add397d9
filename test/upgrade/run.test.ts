/**
 * The diff command on fixture "stages": argument validation and exit codes without spawning a process.
 */
import type { AssemblyTemplates } from '../../tools/upgrade/assembly';
import { exitCodes, parseDiffArgs, UsageError } from '../../tools/upgrade/args';
import { StageConfigError } from '../../lib/config/validate-stage-config';
import { runDiff } from '../../tools/upgrade/run';
import { synthTemplates } from '../../tools/upgrade/synth';
import { buildFixtureApp, type FixtureOptions } from './fixtures/fixture-app';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

const ids = ['small', 'grown', 'renamed', 'broken', 'misconfigured'];
const variants: Record<string, FixtureOptions> = {
  small: {},
  grown: { readers: 2 },
  renamed: { databaseId: 'Db' },
};
const synthesised = new Map<string, AssemblyTemplates>();
function synth(id: string): AssemblyTemplates {
  if (id === 'broken') throw new Error('stage broken: cache.nodeType is missing');
  if (id === 'misconfigured') {
    throw new StageConfigError([{ key: 'network.cidr', received: '10.1.0.0/16', fix: 'keep "10.0.0.0/16"' }]);
  }
  if (!synthesised.has(id))
    synthesised.set(
      id,
      synthTemplates((outdir) => buildFixtureApp(outdir, variants[id])),
    );
  return synthesised.get(id) as AssemblyTemplates;
}

function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = runDiff(argv, {
    stageIds: ids,
    synth,
    stdout: { write: (chunk: string) => ((stdout += chunk), true) } as NodeJS.WritableStream,
    stderr: { write: (chunk: string) => ((stderr += chunk), true) } as NodeJS.WritableStream,
  });
  return { code, stdout, stderr };
}

describe('parseDiffArgs', () => {
  test('accepts two known, different ids and --summary', () => {
    expect(parseDiffArgs(['small', 'grown'], ids)).toEqual({
      from: 'small',
      to: 'grown',
      summaryOnly: false,
    });
    expect(parseDiffArgs(['--summary', 'grown', 'small'], ids)).toEqual({
      from: 'grown',
      to: 'small',
      summaryOnly: true,
    });
    expect(parseDiffArgs(['--help'], ids)).toBe('help');
  });

  test.each([
    [
      [],
      /Expected two stage ids, <from> and <to>, got 0\. Known stages: small, grown, renamed, broken, misconfigured\./,
    ],
    [['small'], /got 1 \(small\)/],
    [['small', 'huge'], /Unknown stage id "huge" for <to>\. Known stages: small, grown/],
    [['tiny', 'huge'], /Unknown stage id "tiny" for <from>\. Unknown stage id "huge" for <to>\./],
    [
      ['grown', 'grown'],
      /<from> and <to> are both "grown": an upgrade needs two different stages \(e\.g\. npm run diff -- grown renamed\)/,
    ],
    [['small', 'grown', '--json'], /Unknown option --json\./],
  ])('fails for %j', (argv, message) => {
    expect(() => parseDiffArgs(argv, ids)).toThrow(UsageError);
    expect(() => parseDiffArgs(argv, ids)).toThrow(message);
  });
});

describe('runDiff', () => {
  test('usage errors exit 2 with the message and the usage text, before any synthesis', () => {
    const result = run('small', 'small');
    expect(result.code).toBe(exitCodes.usage);
    expect(result.stderr).toContain('Error: <from> and <to> are both "small"');
    expect(result.stderr).toContain('Usage: npm run diff -- <from> <to>');
    expect(result.stdout).toBe('');
    expect(synthesised.size).toBe(0);
  });

  test('a safe upgrade exits 0 and prints the per-stack diff and the summary', () => {
    const result = run('small', 'grown');
    expect(result.code).toBe(exitCodes.safe);
    expect(result.stdout).toContain(
      'Stack FixtureData\nResources\n[+] AWS::RDS::DBInstance Database/Reader2',
    );
    expect(result.stdout).toContain('Summary: small -> grown');
    expect(result.stdout).toContain(
      'SAFE: no data-bearing resource or data anchor is replaced or removed, and every output a deployed stack reads is kept.',
    );
  });

  test('an unsafe upgrade exits 1 and names the lost resources', () => {
    const result = run('small', 'renamed', '--summary');
    expect(result.code).toBe(exitCodes.unsafe);
    expect(result.stdout).not.toContain('Stack FixtureData\nResources');
    expect(result.stdout).toContain(
      '✗ removed: AWS::RDS::DBCluster FixtureData/Database/Resource would be deleted',
    );
    expect(result.stdout).toContain(
      'UNSAFE: 4 data-bearing resource(s) and 2 data anchor(s) would be replaced or removed.',
    );
  });

  test('a stage with a config error exits 3 with the message only, no stack trace', () => {
    const result = run('misconfigured', 'small');
    expect(result.code).toBe(exitCodes.synthFailed);
    expect(result.stderr).toContain(
      'Error: stage misconfigured failed to synthesise: Invalid stage configuration (1 problem):\n' +
        '  - network.cidr: received "10.1.0.0/16". Fix: keep "10.0.0.0/16"\n',
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  test('a stage that fails to synthesise exits 3 with its error', () => {
    const result = run('small', 'broken');
    expect(result.code).toBe(exitCodes.synthFailed);
    expect(result.stderr).toContain(
      'stage broken failed to synthesise: Error: stage broken: cache.nodeType is missing',
    );
  });
});
