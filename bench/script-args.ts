/**
 * What the small measuring scripts (`bench:events`, `bench:invalidation`, `bench:1m`) share: a positive numeric
 * `--name value` option, a nearest-rank percentile, a median, phases alternated over rounds and rounding to two decimals.
 */
import type { LoadResult } from './open-loop';

/** The value of `--<name> <n>`, or `fallback`; anything but a positive number ends the process with exit 2. */
export function positiveArg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} must be a positive number, got ${process.argv[at + 1]}`);
    process.exit(2);
  }
  return value;
}

/** The nearest-rank `p`th percentile of ascending `sorted` (undefined when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The median of `values` (the mean of the middle two when even; NaN when empty), e.g. over a bench's rounds. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs `phases` in turn, `rounds` times, the order reversed every other round. */
export async function inRounds(rounds: number, phases: readonly (() => Promise<unknown>)[]): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    for (const phase of round % 2 === 1 ? phases : [...phases].reverse()) await phase();
  }
}

/** The round whose p50 is the median (the lower middle one of an even count): its figures are reported together. */
export function medianRound(results: readonly LoadResult[]): LoadResult {
  const sorted = [...results].sort((a, b) => a.latencyMs.p50 - b.latencyMs.p50);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** `n` rounded to two decimals (milliseconds in reports). */
export const round2 = (n: number): number => Math.round(n * 100) / 100;
