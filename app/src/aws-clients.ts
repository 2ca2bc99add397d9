import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * Timeouts and attempts of every AWS client the app makes (EventBridge, SQS). Without them the SDK waits on a
 * hung connection indefinitely, and the outbox relay would hold its batch's FOR UPDATE row locks (and a pooled
 * connection) for as long. One call is bounded by about `maxAttempts x (connectionTimeoutMs + requestTimeoutMs)`
 * plus the SDK's retry backoff.
 */
export interface AwsClientOptions {
  /** Time to open the TCP/TLS connection, in ms. @default 2000 */
  readonly connectionTimeoutMs?: number;
  /** Time a request may go without an answer (socket idle), in ms. @default 5000 */
  readonly requestTimeoutMs?: number;
  /** Attempts per call, the first included (the SDK's standard retry strategy). @default 3 */
  readonly maxAttempts?: number;
  /** Tests only: another endpoint (a local server), with region and static credentials. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The defaults of {@link AwsClientOptions}. */
export const AWS_CLIENT_DEFAULTS = {
  connectionTimeoutMs: 2_000,
  requestTimeoutMs: 5_000,
  maxAttempts: 3,
} as const;

/** The longest SQS long poll (ReceiveMessage WaitTimeSeconds): SQS answers a receive only after it. */
export const SQS_LONG_POLL_MS = 20_000;

function config(options: AwsClientOptions, extraRequestMs = 0) {
  const connectionTimeout = options.connectionTimeoutMs ?? AWS_CLIENT_DEFAULTS.connectionTimeoutMs;
  const requestTimeout = (options.requestTimeoutMs ?? AWS_CLIENT_DEFAULTS.requestTimeoutMs) + extraRequestMs;
  const maxAttempts = options.maxAttempts ?? AWS_CLIENT_DEFAULTS.maxAttempts;
  for (const [name, value] of Object.entries({ connectionTimeout, requestTimeout, maxAttempts }))
    if (!Number.isInteger(value) || value < 1) throw new Error(`AWS client ${name} must be an integer >= 1`);
  return {
    // throwOnRequestTimeout: without it this SDK only logs a warning when requestTimeout passes, and waits on.
    requestHandler: { connectionTimeout, requestTimeout, throwOnRequestTimeout: true },
    maxAttempts,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
}

/** An EventBridge client with bounded timeouts and attempts (PutEvents of the relays). */
export function eventBridgeClient(options: AwsClientOptions = {}): EventBridgeClient {
  return new EventBridgeClient(config(options));
}

/**
 * An SQS client with bounded timeouts and attempts. Its request timeout is the long poll's 20 s plus
 * `requestTimeoutMs`: a ReceiveMessage legitimately stays silent for up to 20 s.
 */
export function sqsClient(options: AwsClientOptions = {}): SQSClient {
  return new SQSClient(config(options, SQS_LONG_POLL_MS));
}
