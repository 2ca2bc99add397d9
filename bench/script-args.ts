/**
 * What the small measuring scripts (`bench:events`, `bench:invalidation`, `bench:1m`) share: a positive numeric
 * `--name value` option, a nearest-rank percentile and rounding to two decimals.
 */

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

/** `n` rounded to two decimals (milliseconds in reports). */
export const round2 = (n: number): number => Math.round(n * 100) / 100;
