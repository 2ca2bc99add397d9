/**
 * The synth benchmark's own part: hyperfine times the commands; this module only turns hyperfine's JSON
 * (`--export-json`) into ratios against the trivial app, the target verdict and the Markdown table. Pure
 * functions, unit-tested.
 */

/** One command of hyperfine's `--export-json` output (times in seconds). */
export interface HyperfineResult {
  readonly command: string;
  readonly mean: number;
  readonly stddev: number | null;
  readonly median: number;
  readonly user: number;
  readonly system: number;
  readonly min: number;
  readonly max: number;
  readonly times: readonly number[];
}

/** What one synth target is, and the command that runs it. */
export interface SynthTarget {
  /** Stable id, e.g. `trivial`, `stage:10k`, `all-stages`. */
  readonly id: string;
  readonly label: string;
  readonly kind: 'baseline' | 'stage' | 'all-stages';
  readonly command: string;
}

/** A target's figures from hyperfine, and its ratio to the trivial app. */
export interface SynthFigures {
  readonly id: string;
  readonly label: string;
  readonly kind: SynthTarget['kind'];
  readonly command: string;
  readonly runs: number;
  readonly meanMs: number;
  readonly medianMs: number;
  readonly stddevMs: number | null;
  readonly minMs: number;
  readonly maxMs: number;
  /** User + system CPU time of the whole process tree (npx, the CDK CLI, tsx, the app), mean, ms. */
  readonly cpuMs: number;
  /** Median wall time / the trivial app's median wall time (the default trivial app). */
  readonly ratio: number;
  /** CPU time / the trivial app's CPU time. */
  readonly cpuRatio: number;
  /** Median wall time / the trivial app's with CDK's validation off too (like for like). */
  readonly likeForLikeRatio: number | null;
}

/** The synth target: every stage alone in at most this many times the trivial app's time. */
export const SYNTH_TARGET_RATIO = 2;

const ms = (seconds: number) => Math.round(seconds * 1000 * 10) / 10;

/**
 * Matches hyperfine's results to the targets (same order, same commands) and computes the ratios.
 * @throws Error when hyperfine's output does not have one result per target, or a baseline is missing
 */
export function synthFigures(
  targets: readonly SynthTarget[],
  results: readonly HyperfineResult[],
  baselines: { readonly shipped: string; readonly likeForLike?: string },
): SynthFigures[] {
  if (results.length !== targets.length) {
    throw new Error(`hyperfine reported ${results.length} commands, expected ${targets.length}`);
  }
  results.forEach((r, i) => {
    if (r.command !== targets[i].command) {
      throw new Error(`hyperfine result ${i} is for "${r.command}", expected "${targets[i].command}"`);
    }
  });
  const byId = (id: string) => {
    const i = targets.findIndex((t) => t.id === id);
    if (i === -1) throw new Error(`baseline target "${id}" is not among the measured targets`);
    return results[i];
  };
  const shipped = byId(baselines.shipped);
  const likeForLike = baselines.likeForLike ? byId(baselines.likeForLike) : undefined;
  return targets.map((t, i) => {
    const r = results[i];
    const cpu = r.user + r.system;
    return {
      id: t.id,
      label: t.label,
      kind: t.kind,
      command: t.command,
      runs: r.times.length,
      meanMs: ms(r.mean),
      medianMs: ms(r.median),
      stddevMs: r.stddev === null ? null : ms(r.stddev),
      minMs: ms(r.min),
      maxMs: ms(r.max),
      cpuMs: ms(cpu),
      ratio: r.median / shipped.median,
      cpuRatio: cpu / (shipped.user + shipped.system),
      likeForLikeRatio: likeForLike ? r.median / likeForLike.median : null,
    };
  });
}

/** The target's verdict: every stage alone within {@link SYNTH_TARGET_RATIO} of the trivial app. */
export function synthTargetMet(figures: readonly SynthFigures[]): {
  met: boolean;
  worst: SynthFigures | null;
} {
  const stages = figures.filter((f) => f.kind === 'stage');
  const worst = stages.reduce<SynthFigures | null>((w, f) => (w === null || f.ratio > w.ratio ? f : w), null);
  return { met: worst !== null && stages.every((f) => f.ratio <= SYNTH_TARGET_RATIO), worst };
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const ratio = (x: number | null) => (x === null ? '–' : x.toFixed(2));

/** The Markdown table of a synth run. */
export function renderSynthMarkdown(figures: readonly SynthFigures[]): string {
  const lines = [
    '| target | runs | median wall ms | mean ± sd ms | min–max ms | CPU ms (user+sys) | × trivial (wall) | × trivial (CPU) | × trivial, validation off in both |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const f of figures) {
    lines.push(
      `| ${f.label} | ${f.runs} | ${fmt(f.medianMs)} | ${fmt(f.meanMs)} ± ${f.stddevMs === null ? '–' : fmt(f.stddevMs)} | ` +
        `${fmt(f.minMs)}–${fmt(f.maxMs)} | ${fmt(f.cpuMs)} | ${ratio(f.ratio)} | ${ratio(f.cpuRatio)} | ${ratio(f.likeForLikeRatio)} |`,
    );
  }
  const verdict = synthTargetMet(figures);
  lines.push(
    '',
    `Target: every stage alone in at most ${SYNTH_TARGET_RATIO}× the trivial app's time (median wall time, same run): ` +
      (verdict.worst
        ? `**${verdict.met ? 'met' : 'not met'}** (slowest: ${verdict.worst.label}, ${ratio(verdict.worst.ratio)}×).`
        : 'not measured.'),
  );
  return lines.join('\n') + '\n';
}
