/**
 * `SHARD_ENDPOINTS`: how the app reaches every shard beyond shard 0 (stage 100k on). Shard 0 stays the
 * `DB_*` settings: it holds the control schema (the shard map) and the catalog.
 */
import { Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SHARD_ZERO_ID } from '../config/naming';
import type { DatabaseEndpoint } from './data-endpoints';

/** The name of the app's variable: a contract with the app (its config reads exactly this). */
export const SHARD_ENDPOINTS_VARIABLE = 'SHARD_ENDPOINTS';

/** One entry of `SHARD_ENDPOINTS`, as the app reads it. */
export interface ShardEndpointEntry {
  /** The shard's stable id, the key under the stage's `shards` (e.g. `s1`), as the shard map names it. */
  readonly id: string;
  /** Read/write host (the shard's RDS Proxy when it has one, else the cluster endpoint). */
  readonly writerHost: string;
  /** Read-only host; the writer's when the shard has no readers (reads then go to the writer). */
  readonly readerHost: string;
  /** Port of both hosts. */
  readonly port: number;
  /** ARN of the secret the app logs in to this shard with (`username`, `password`). */
  readonly secretArn: string;
  /**
   * ARN of the schema owner's secret (the cluster's master user): in the migration task's variable only, which
   * migrates every shard with it; never in a service's.
   */
  readonly migrationSecretArn?: string;
}

/** Which secrets of each shard a `SHARD_ENDPOINTS` carries. */
export interface ShardEndpointsOptions {
  /**
   * Add each shard's `migrationSecretArn` (the owner's secret): for the migration task only.
   *
   * @default false
   */
  readonly withOwnerSecret?: boolean;
  /**
   * A secondary region of stage global: every shard is a read-only replica, so each entry's writer host is its
   * reader host (there is no writer in the region; the app sends no write there).
   *
   * @default false
   */
  readonly readerOnly?: boolean;
}

/**
 * The secret the app logs in to a shard with, and its key: the one place that says which of a shard's
 * secrets the app uses (the shard's DML-only app secret, never the owner's), for shard 0's
 * `DB_SECRET_ARN`, every `SHARD_ENDPOINTS` entry and the task role's grants alike (a test checks that the role
 * and the variables agree).
 */
export function shardAppSecret(endpoint: DatabaseEndpoint): {
  readonly secretArn: string;
  readonly keyArn: string;
} {
  return { secretArn: endpoint.appSecretArn, keyArn: endpoint.secretKeyArn };
}

/**
 * The schema owner's secret of a shard and its key: the one place that says which secret migrates a shard and
 * runs the shard manager (the cluster's master secret), for the migration task's `DB_MIGRATION_SECRET_ARN` and
 * `migrationSecretArn` entries, the shard manager's and both tasks' grants alike.
 */
export function shardOwnerSecret(endpoint: DatabaseEndpoint): {
  readonly secretArn: string;
  readonly keyArn: string;
} {
  return { secretArn: endpoint.migrationSecretArn, keyArn: endpoint.secretKeyArn };
}

/** The entries of `SHARD_ENDPOINTS`: every shard but shard 0, in config order. */
export function shardEndpointEntries(
  shards: readonly DatabaseEndpoint[],
  options: ShardEndpointsOptions = {},
): ShardEndpointEntry[] {
  return shards
    .filter((endpoint) => endpoint.shardId !== SHARD_ZERO_ID)
    .map((endpoint) => ({
      id: endpoint.shardId,
      writerHost:
        options.readerOnly === true ? (endpoint.readerHost ?? endpoint.writerHost) : endpoint.writerHost,
      readerHost: endpoint.readerHost ?? endpoint.writerHost,
      port: endpoint.port,
      secretArn: shardAppSecret(endpoint).secretArn,
      ...(options.withOwnerSecret === true
        ? { migrationSecretArn: shardOwnerSecret(endpoint).secretArn }
        : {}),
    }));
}

/**
 * The app's `SHARD_ENDPOINTS` (a JSON array of {@link ShardEndpointEntry}), rendered in `scope`'s stack; an
 * empty record when there is no shard beyond shard 0, so earlier stages' task definitions do not change.
 * Hosts and ARNs of shards in other stacks become that stack's outputs, read here (CDK's weak references).
 */
export function shardEndpointsEnvironment(
  scope: Construct,
  shards: readonly DatabaseEndpoint[],
  options: ShardEndpointsOptions = {},
): Record<string, string> {
  const entries = shardEndpointEntries(shards, options);
  if (entries.length === 0) return {};
  return { [SHARD_ENDPOINTS_VARIABLE]: Stack.of(scope).toJsonString(entries) };
}
