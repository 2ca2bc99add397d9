import CircuitBreaker from 'opossum';

/** Options of {@link RedisBreaker}; the defaults suit production. */
export interface RedisBreakerOptions {
  /**
   * Failures in a row that open the breaker, whatever the traffic: in a hang every call fails, so this
   * opens it after a few timeouts both on a quiet instance and under load.
   * @default 3
   */
  readonly consecutiveFailures?: number;
  /** How long the breaker stays open (failing fast) before it lets one probe through. @default 5000 */
  readonly resetTimeoutMs?: number;
}

/** What the Redis adapters run their calls through ({@link RedisBreaker}, or a pass-through in tests). */
export interface RedisCallGuard {
  run<T>(call: () => Promise<T>): Promise<T>;
}

/** State of the breaker, as `/readyz` and the logs report it. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Thrown instead of calling Redis while the breaker is open. */
export class RedisUnavailableError extends Error {
  constructor() {
    super('redis circuit breaker is open: failing fast');
    this.name = 'RedisUnavailableError';
  }
}

/**
 * One circuit breaker (opossum) in front of every Redis adapter of an instance: cache, sessions and rate-limit
 * counters share one connection, so they share one view of whether it answers.
 *
 * A Redis that accepts connections but does not answer makes every command wait for the client's command
 * timeout (1 s). After `consecutiveFailures` failed calls in a row (or more than half of the calls of the
 * last 10 s, opossum's own rule, for a Redis that fails intermittently) the breaker opens and calls fail at
 * once (the cache falls back to the database, sessions and log-in answer 503) for `resetTimeoutMs`; then one
 * call is let through as a probe and its result closes or re-opens the breaker.
 *
 * Only failures to get an answer count: a reply error (Redis answered, e.g. WRONGTYPE) is the caller's bug,
 * not an outage.
 */
export class RedisBreaker implements RedisCallGuard {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private readonly listeners: ((state: BreakerState) => void)[] = [];
  private failuresInARow = 0;

  constructor(options: RedisBreakerOptions = {}) {
    const consecutiveFailures = options.consecutiveFailures ?? 3;
    this.breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
      // The ioredis client has its own command timeout; a second timer here would only race it.
      timeout: false,
      errorThresholdPercentage: 50,
      volumeThreshold: 10,
      rollingCountTimeout: 10_000,
      resetTimeout: options.resetTimeoutMs ?? 5_000,
      // errorFilter returning true means "not a failure of the dependency".
      errorFilter: (err: Error) => err?.name === 'ReplyError',
    });
    // opossum opens on a failure rate over a rolling window, which on a quiet instance (one call a second,
    // each waiting out the 1 s timeout) never reaches its volume threshold: count failures in a row too.
    this.breaker.on('success', () => (this.failuresInARow = 0));
    this.breaker.on('failure', () => {
      this.failuresInARow += 1;
      if (this.failuresInARow >= consecutiveFailures && this.breaker.closed) this.breaker.open();
    });
    this.breaker.on('close', () => (this.failuresInARow = 0));
    const changed = () => {
      const state = this.state;
      for (const listener of this.listeners) listener(state);
    };
    this.breaker.on('open', changed);
    this.breaker.on('halfOpen', changed);
    this.breaker.on('close', changed);
  }

  /** Runs one Redis call through the breaker; rejects with {@link RedisUnavailableError} while open. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return (await this.breaker.fire(call)) as T;
    } catch (err) {
      if ((err as { code?: string }).code === 'EOPENBREAKER') throw new RedisUnavailableError();
      throw err;
    }
  }

  /** Current state. */
  get state(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half-open';
    return 'closed';
  }

  /** Calls `listener` on every state change (for logging). */
  onStateChange(listener: (state: BreakerState) => void): void {
    this.listeners.push(listener);
  }

  /** Stops the breaker's timers. */
  shutdown(): void {
    this.breaker.shutdown();
  }
}
