/** Options of {@link UpstreamPool}. */
export interface UpstreamPoolOptions {
  /** How long an upstream that refused or reset a connection gets no traffic (GATEWAY_UPSTREAM_COOLDOWN_MS). */
  readonly cooldownMs: number;
  /** The clock (tests). @default Date.now */
  readonly now?: () => number;
}

/**
 * The tasks of one service as the gateway sees them (the internal ALB's target group, on one machine): round-robin
 * over the base URLs, skipping one marked down until its cool-down ends. After it, the upstream gets traffic again
 * (the next failure marks it down again), so a restarted task is back within one cool-down; when every upstream is
 * marked down, the one whose cool-down ends first is tried rather than none.
 */
export class UpstreamPool {
  private next = 0;
  private readonly downUntil = new Map<string, number>();
  private readonly now: () => number;

  /** @param upstreams the service's base URLs (at least one). */
  constructor(
    readonly upstreams: readonly string[],
    private readonly options: UpstreamPoolOptions,
  ) {
    if (upstreams.length === 0) throw new Error('UpstreamPool needs at least one upstream URL');
    this.now = options.now ?? Date.now;
  }

  /** The next upstream to send a request to, skipping `exclude` (ones this request already failed on). */
  pick(exclude: ReadonlySet<string> = new Set()): string | undefined {
    const now = this.now();
    const candidates = this.upstreams.filter((u) => !exclude.has(u));
    if (candidates.length === 0) return undefined;
    for (let i = 0; i < this.upstreams.length; i++) {
      const upstream = this.upstreams[(this.next + i) % this.upstreams.length];
      if (exclude.has(upstream) || (this.downUntil.get(upstream) ?? 0) > now) continue;
      this.next = (this.upstreams.indexOf(upstream) + 1) % this.upstreams.length;
      return upstream;
    }
    // All marked down: the one back soonest (a restarted task is found without waiting for every cool-down).
    return candidates.reduce((a, b) =>
      (this.downUntil.get(a) ?? 0) <= (this.downUntil.get(b) ?? 0) ? a : b,
    );
  }

  /** The upstream refused or dropped a connection: no traffic for the cool-down. */
  markDown(upstream: string): void {
    this.downUntil.set(upstream, this.now() + this.options.cooldownMs);
  }
}
