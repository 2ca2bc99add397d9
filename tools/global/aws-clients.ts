/**
 * The RDS and ElastiCache clients of `npm run global`, with the app's bounded timeouts and attempts
 * (app/src/aws-clients.ts): without them the SDK waits on a hung connection indefinitely, and an operator in
 * the middle of a regional outage would watch a command that never answers.
 */
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { AWS_CLIENT_DEFAULTS } from '../../app/src/aws-clients';

/**
 * Request timeout of these control-plane calls, in ms: longer than the app's 5 s (a switchover request is
 * answered once RDS has validated the topology, which can take several seconds), still bounded.
 */
export const CONTROL_PLANE_REQUEST_TIMEOUT_MS = 30_000;

function config(region: string) {
  return {
    region,
    requestHandler: {
      connectionTimeout: AWS_CLIENT_DEFAULTS.connectionTimeoutMs,
      requestTimeout: CONTROL_PLANE_REQUEST_TIMEOUT_MS,
      // Without it this SDK only logs a warning when requestTimeout passes, and waits on.
      throwOnRequestTimeout: true,
    },
    maxAttempts: AWS_CLIENT_DEFAULTS.maxAttempts,
  };
}

/** An RDS client for a region, with bounded timeouts and attempts. Credentials: the SDK's default chain. */
export function rdsClient(region: string): RDSClient {
  return new RDSClient(config(region));
}

/** An ElastiCache client for a region, with bounded timeouts and attempts. Credentials: the SDK's default chain. */
export function elastiCacheClient(region: string): ElastiCacheClient {
  return new ElastiCacheClient(config(region));
}
