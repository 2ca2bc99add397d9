import { shardSchema } from './logical-shard';
import type { PhysicalShard, UserDataRouter } from './user-data-router';

/** One physical shard and the user data schemas a scatter reads there. */
export interface ScatterTarget {
  readonly shard: PhysicalShard;
  /** `['public']` (unsharded), else the `ls_NNN` schemas the shard map places on this shard, in order. */
  readonly schemas: readonly string[];
}

/** What a scatter got: each answering shard's rows, and the shards that did not answer in time (or failed). */
export interface Gathered<R> {
  readonly answers: readonly { readonly shardId: string; readonly rows: readonly R[] }[];
  /** Ids of the shards without an answer, in shard order; empty when the result is complete. */
  readonly missingShards: readonly string[];
}

/** Options of {@link ScatterGather}. */
export interface ScatterGatherOptions {
  /** How long one shard's query may take, from the moment it is sent (connection wait included). */
  readonly shardTimeoutMs: number;
  /** Most shards queried at once. */
  readonly concurrency: number;
  /** Called for each shard that did not answer (timeout or error), with the reason. */
  readonly onShardMissing?: (shardId: string, err: Error) => void;
}

/**
 * Cross-shard reads: one statement per physical shard, over the schemas the shard map places there, sent in
 * parallel with at most `concurrency` in flight, each given up after `shardTimeoutMs`. A shard that does not
 * answer in time (frozen, unreachable, slow, failing) is reported in `missingShards`; the scatter itself never
 * throws and never waits longer than ceil(shards / concurrency) timeouts.
 *
 * Only the schemas the map assigns to a shard are read there: every shard holds every schema, and a copy left by
 * (or being made for) a move must not count twice. A logical shard that is moving is read where it still lives,
 * like a single-user read.
 */
export class ScatterGather {
  constructor(
    private readonly router: UserDataRouter,
    private readonly options: ScatterGatherOptions,
  ) {}

  /** Where a scatter goes now: every physical shard with logical shards on it (shard 0 alone when unsharded). */
  targets(): ScatterTarget[] {
    const { map } = this.router;
    if (!map) return [{ shard: this.router.shard0, schemas: ['public'] }];
    const schemas = new Map<string, string[]>();
    for (const entry of map.entries) {
      schemas.set(entry.shardId, [...(schemas.get(entry.shardId) ?? []), shardSchema(entry.logicalShard)]);
    }
    return [...this.router.shards.values()]
      .filter((shard) => schemas.has(shard.id))
      .map((shard) => ({ shard, schemas: schemas.get(shard.id)! }));
  }

  /**
   * Runs `statement(schemas)` with `params` on every target's reader and gathers the rows. `statement` builds one
   * SQL text for the shard's schemas (typically a `UNION ALL` of one branch per schema); the schema names come
   * from {@link shardSchema}, never from input.
   */
  async gather<R>(
    statement: (schemas: readonly string[]) => string,
    params: unknown[],
  ): Promise<Gathered<R>> {
    const targets = this.targets();
    const outcomes: ({ rows: R[] } | { err: Error })[] = new Array(targets.length);
    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const i = next++;
        const { shard, schemas } = targets[i];
        try {
          outcomes[i] = await shard.db.readWithin<R>(statement(schemas), params, this.options.shardTimeoutMs);
        } catch (err) {
          outcomes[i] = { err: err as Error };
          this.options.onShardMissing?.(shard.id, err as Error);
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(Math.max(1, this.options.concurrency), targets.length) }, worker),
    );
    const answers: { shardId: string; rows: R[] }[] = [];
    const missingShards: string[] = [];
    outcomes.forEach((outcome, i) => {
      if ('rows' in outcome) answers.push({ shardId: targets[i].shard.id, rows: outcome.rows });
      else missingShards.push(targets[i].shard.id);
    });
    return { answers, missingShards };
  }
}

/** `a UNION ALL b UNION ALL ...` of one parenthesised branch per schema. */
export function unionAll(schemas: readonly string[], branch: (schema: string) => string): string {
  return schemas.map((schema) => `(${branch(schema)})`).join('\nUNION ALL\n');
}

/**
 * The first `limit` rows of several lists each sorted by `compare`, merged (a k-way merge; the lists are short,
 * at most `limit` + 1 rows per shard), and whether any row was left over (there is a next page).
 */
export function mergeSorted<T>(
  lists: readonly (readonly T[])[],
  compare: (a: T, b: T) => number,
  limit: number,
): { items: T[]; more: boolean } {
  const heads = lists.map(() => 0);
  const items: T[] = [];
  for (;;) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      if (heads[i] >= lists[i].length) continue;
      if (best === -1 || compare(lists[i][heads[i]], lists[best][heads[best]]) < 0) best = i;
    }
    if (best === -1) return { items, more: false };
    if (items.length === limit) return { items, more: true };
    items.push(lists[best][heads[best]++]);
  }
}
