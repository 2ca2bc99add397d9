/**
 * `npm run bench:synth`: how long `cdk synth` takes, as users run it, against a trivial one-bucket CDK app in
 * the same run. hyperfine does the timing (warm-up, runs, mean/median/spread, user and system CPU time of the
 * whole process tree); this script builds the commands, runs hyperfine once over all of them and turns its
 * JSON into ratios, the target verdict, a Markdown table and a chart.
 *
 *   tsx bench/synth.ts [--runs 5] [--warmup 1] [--out bench/results]
 *
 * Commands (each a real `npx cdk synth`, the CLI and cdk.json included, into a scratch output directory):
 * - the trivial app as CDK ships it (a default App: CDK's built-in CloudFormation validation on);
 * - the trivial app with that validation off (CDK_VALIDATION=false), which is what the blueprint's own
 *   `cdk synth` skips unless `-c validate=true`: the like-for-like baseline;
 * - each stage alone (`npx cdk synth -c stage=<id>`);
 * - all stages as users synthesise them: one `cdk synth` per stage, one after the other.
 * Target (issue 17): every stage alone in at most 2× the trivial app's time. A benchmark, not a test.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stageContext, stageIds } from '../stages';
import { renderSvgChart } from './svg-chart';
import {
  renderSynthMarkdown,
  synthFigures,
  synthTargetMet,
  SYNTH_TARGET_RATIO,
  type HyperfineResult,
  type SynthFigures,
  type SynthTarget,
} from './synth-report';

const repoRoot = path.resolve(__dirname, '..');

function parseArgs(argv: readonly string[]): { runs: number; warmup: number; out: string } {
  const args = { runs: 5, warmup: 1, out: path.join(repoRoot, 'bench', 'results') };
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = inline ?? argv[++i];
    if (flag === '--runs' || flag === '--warmup') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (flag === '--runs' ? 2 : 0) || n > 100) {
        problems.push(`${flag} must be an integer from ${flag === '--runs' ? 2 : 0} to 100, got "${value}"`);
      } else args[flag === '--runs' ? 'runs' : 'warmup'] = n;
    } else if (flag === '--out' && value) {
      args.out = path.resolve(value);
    } else {
      problems.push(`unknown argument "${argv[i]}"`);
    }
  }
  if (problems.length) {
    throw new Error(
      `${problems.join('; ')}\nusage: npm run bench:synth -- [--runs 5] [--warmup 1] [--out DIR]`,
    );
  }
  return args;
}

/** Counts the resources of every template in a cloud assembly directory. */
function resourceCount(assemblyDir: string): number {
  let count = 0;
  for (const file of readdirSync(assemblyDir).filter((f) => f.endsWith('.template.json'))) {
    const template = JSON.parse(readFileSync(path.join(assemblyDir, file), 'utf8')) as { Resources?: object };
    count += Object.keys(template.Resources ?? {}).length;
  }
  return count;
}

function main(): number {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const version = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) {
    console.error(
      'hyperfine is not installed: apt-get install hyperfine (Debian/Ubuntu) or see github.com/sharkdp/hyperfine',
    );
    return 1;
  }
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  try {
    const out = (name: string) => path.join(scratch, name);
    const synth = (context: string, dir: string) => `npx cdk synth ${context} -o ${out(dir)} -q`;
    const trivialApp = `--app 'npx tsx bench/synth-trivial-app.ts'`;
    // A stage's example context (stage global's regions, domain and front door) as `-c key=value` arguments.
    const stageArgs = (id: string) =>
      [
        `-c stage=${id}`,
        ...Object.entries(stageContext(id)).map(([key, value]) => `-c ${key}=${value}`),
      ].join(' ');
    const targets: SynthTarget[] = [
      {
        id: 'trivial',
        label: 'trivial app (as CDK ships it: validation on)',
        kind: 'baseline',
        command: synth(trivialApp, 'trivial'),
      },
      {
        id: 'trivial-no-validation',
        label: 'trivial app, validation off (like the blueprint)',
        kind: 'baseline',
        command: `CDK_VALIDATION=false ${synth(trivialApp, 'trivial-off')}`,
      },
      ...stageIds.map((id): SynthTarget => ({
        id: `stage:${id}`,
        label: `stage ${id}`,
        kind: 'stage',
        command: synth(stageArgs(id), `stage-${id}`),
      })),
      {
        id: 'all-stages',
        label: `all stages (${stageIds.join(', ')}), one cdk synth each`,
        kind: 'all-stages',
        command: stageIds.map((id) => synth(stageArgs(id), `all-${id}`)).join(' && '),
      },
    ];
    const exported = out('hyperfine.json');
    const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
    console.log(
      `[bench:synth] hyperfine ${version.stdout.trim()}, ${targets.length} commands, ${args.runs} runs each...`,
    );
    const run = spawnSync(
      'hyperfine',
      [
        '--warmup',
        String(args.warmup),
        '--runs',
        String(args.runs),
        '--export-json',
        exported,
        ...targets.map((t) => t.command),
      ],
      { cwd: repoRoot, stdio: 'inherit' },
    );
    if (run.status !== 0) {
      console.error(`[bench:synth] hyperfine exited with ${run.status}`);
      return 1;
    }
    const loadEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
    const hyperfine = JSON.parse(readFileSync(exported, 'utf8')) as { results: HyperfineResult[] };
    const figures: SynthFigures[] = synthFigures(targets, hyperfine.results, {
      shipped: 'trivial',
      likeForLike: 'trivial-no-validation',
    });
    const resources = Object.fromEntries(stageIds.map((id) => [id, resourceCount(out(`stage-${id}`))]));
    const verdict = synthTargetMet(figures);
    const cpus = os.cpus();
    const report = {
      benchmark: 'synth',
      date: new Date().toISOString(),
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? 'unknown',
        node: process.version,
        hyperfine: version.stdout.trim(),
        loadAverage: { start: loadStart, end: loadEnd },
      },
      method:
        `hyperfine --warmup ${args.warmup} --runs ${args.runs}: every command runs to completion ${args.runs} times after ` +
        `${args.warmup} unmeasured run(s), the commands one after another in one hyperfine run; CPU = user + system ` +
        'time of the whole process tree',
      resourcesPerStage: resources,
      target: {
        description: `every stage alone in at most ${SYNTH_TARGET_RATIO}x the trivial app's median wall time, same run`,
        met: verdict.met,
        worst: verdict.worst
          ? { id: verdict.worst.id, ratio: Math.round(verdict.worst.ratio * 100) / 100 }
          : null,
      },
      figures,
      hyperfine: hyperfine.results.map(({ command, times, user, system }) => ({
        command,
        times,
        user,
        system,
      })),
    };
    mkdirSync(args.out, { recursive: true });
    const markdown = renderSynthMarkdown(figures);
    writeFileSync(path.join(args.out, 'synth.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(path.join(args.out, 'synth.md'), markdown);
    writeFileSync(
      path.join(args.out, 'synth.svg'),
      renderSvgChart(figures, {
        title: `cdk synth, median wall time (hyperfine, ${cpus.length} cores, ${report.date.slice(0, 10)})`,
        panels: [
          {
            title: 'Median wall time, ms (lower is better)',
            value: (f) => f.medianMs,
            format: (v) => v.toFixed(0),
          },
          {
            title: '× the trivial app (as CDK ships it)',
            value: (f) => f.ratio,
            format: (v) => v.toFixed(2),
            reference: { value: SYNTH_TARGET_RATIO, label: `target ${SYNTH_TARGET_RATIO}×` },
          },
        ],
      }),
    );
    console.log('\n' + markdown);
    console.log(
      `resources per stage: ${JSON.stringify(resources)}; load average ${loadStart.join('/')} -> ${loadEnd.join('/')}`,
    );
    console.log(`[bench:synth] wrote ${path.relative(process.cwd(), args.out)}/synth.{json,md,svg}`);
    return 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

process.exit(main());
