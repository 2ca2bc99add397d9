import CircuitBreaker from 'opossum';
import { HttpError } from '../errors';

/** Options of {@link ServiceClient}. */
export interface ServiceClientOptions {
  /** The dependency's name, for messages and logs (`products`). */
  readonly name: string;
  /** Base URL (`http://products` over Service Connect). */
  readonly baseUrl: string;
  /** Timeout of one attempt, in ms: shorter than the caller's own request budget. */
  readonly timeoutMs: number;
  /** Retries after the first attempt, for idempotent calls only. */
  readonly retries: number;
  /** Time all attempts of one call may take together, in ms; no attempt starts that could not finish in it. */
  readonly budgetMs: number;
  /** How long the breaker stays open before one probe is let through. */
  readonly breakerResetMs: number;
  /** Failures in a row that open the breaker. @default 5 */
  readonly consecutiveFailures?: number;
  /** First retry delay's upper bound; doubles per retry (full jitter: a random delay below it). @default 100 */
  readonly backoffBaseMs?: number;
  /** Called on every breaker state change (for logs). */
  readonly onStateChange?: (state: 'open' | 'half-open' | 'closed') => void;
}

/** One call to a dependency. */
export interface ServiceRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below the base URL, starting with `/`. */
  readonly path: string;
  /** JSON body. */
  readonly body?: unknown;
  /**
   * Whether repeating the call is harmless (keyed by an id, like a reservation by its order id): only such calls
   * are retried. A non-idempotent call gets one attempt, and a timeout is reported, never repeated.
   */
  readonly idempotent: boolean;
  /** The caller's request id, passed on as X-Request-Id so logs of both services line up. */
  readonly requestId?: string;
}

/** The dependency's answer: any status below 500 (a 4xx is an answer, not an outage). */
export interface ServiceResponse {
  readonly status: number;
  readonly body: unknown;
}

/**
 * The dependency did not answer usefully (timeout, refused connection, 5xx, breaker open): the caller answers
 * 503 with Retry-After, and must treat the call's effect as unknown (it may have happened).
 */
export class DependencyUnavailableError extends HttpError {
  constructor(
    readonly dependency: string,
    readonly retryAfterSeconds: number,
    readonly reason: string,
  ) {
    super(503, `the ${dependency} service is unavailable; try again in ${retryAfterSeconds} s`);
    this.name = 'DependencyUnavailableError';
  }
}

/** A 5xx answer: counted by the breaker as a failure, and retried when the call is idempotent. */
class ServerError extends Error {
  constructor(readonly status: number) {
    super(`answered ${status}`);
  }
}

/**
 * An HTTP client for one dependency (one instance per dependency, so one breaker per dependency): Node's
 * fetch (undici, keep-alive pooled), a timeout per attempt, retries with full jitter for idempotent calls only,
 * a total budget, and an opossum circuit breaker (opossum is already the app's breaker for Redis: a well-kept
 * small library, no hand-written state machine).
 *
 * The breaker opens after `consecutiveFailures` failed attempts in a row (or opossum's own rule: over half of
 * at least 10 calls in the last 10 s), fails fast while open, and after `breakerResetMs` lets one probe
 * through (half-open) whose result closes or re-opens it. Failures are timeouts, connection errors and 5xx;
 * a 4xx is the dependency's answer.
 */
export class ServiceClient {
  private readonly breaker: CircuitBreaker<[ServiceRequest, number], ServiceResponse>;
  private failuresInARow = 0;

  constructor(private readonly options: ServiceClientOptions) {
    const consecutiveFailures = options.consecutiveFailures ?? 5;
    this.breaker = new CircuitBreaker(
      (request: ServiceRequest, timeoutMs: number) => this.attempt(request, timeoutMs),
      {
        // The attempt has its own timeout (an AbortSignal that also ends the connection's request).
        timeout: false,
        errorThresholdPercentage: 50,
        volumeThreshold: 10,
        rollingCountTimeout: 10_000,
        resetTimeout: options.breakerResetMs,
      },
    );
    this.breaker.on('success', () => (this.failuresInARow = 0));
    this.breaker.on('failure', () => {
      this.failuresInARow += 1;
      if (this.failuresInARow >= consecutiveFailures && this.breaker.closed) this.breaker.open();
    });
    this.breaker.on('close', () => (this.failuresInARow = 0));
    const report = options.onStateChange;
    if (report) {
      this.breaker.on('open', () => report('open'));
      this.breaker.on('halfOpen', () => report('half-open'));
      this.breaker.on('close', () => report('closed'));
    }
  }

  /** Breaker state. */
  get state(): 'open' | 'half-open' | 'closed' {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half-open';
    return 'closed';
  }

  /**
   * Sends `request`; resolves with any answer below 500, rejects with {@link DependencyUnavailableError} when
   * no attempt got one within the budget.
   */
  async send(request: ServiceRequest): Promise<ServiceResponse> {
    const { timeoutMs, budgetMs, retries, name } = this.options;
    const deadline = Date.now() + budgetMs;
    const attempts = request.idempotent ? retries + 1 : 1;
    let reason = 'no attempt made';
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) {
        const cap = (this.options.backoffBaseMs ?? 100) * 2 ** (attempt - 1);
        const delay = Math.random() * cap;
        // No retry that could not get a full attempt's time before the budget ends.
        if (Date.now() + delay + Math.min(timeoutMs, 50) > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        return await this.breaker.fire(request, Math.min(timeoutMs, left));
      } catch (err) {
        if ((err as { code?: string }).code === 'EOPENBREAKER') {
          throw new DependencyUnavailableError(name, this.retryAfterSeconds(), 'circuit breaker open');
        }
        reason = (err as Error).message;
      }
    }
    throw new DependencyUnavailableError(name, this.retryAfterSeconds(), reason);
  }

  /** Stops the breaker's timers. */
  shutdown(): void {
    this.breaker.shutdown();
  }

  private retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.options.breakerResetMs / 1000));
  }

  private async attempt(request: ServiceRequest, timeoutMs: number): Promise<ServiceResponse> {
    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl}${request.path}`, {
        method: request.method,
        headers: {
          accept: 'application/json',
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(request.requestId ? { 'x-request-id': request.requestId } : {}),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      if (e.name === 'TimeoutError') throw new Error(`no answer within ${timeoutMs} ms`);
      throw new Error(e.cause?.code ?? e.message);
    }
    const text = await response.text();
    if (response.status >= 500) throw new ServerError(response.status);
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    return { status: response.status, body };
  }
}
