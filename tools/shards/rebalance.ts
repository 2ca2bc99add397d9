/**
 * Rebalance planning: which logical shards to move so that every physical shard holds an even share, moving
 * no more than needed. A pure function (no I/O), tested on its own; `npm run shards -- rebalance` feeds it the
 * shard map and the configured shards, and runs the plan a batch at a time.
 */

/** One planned move. */
export interface PlannedMove {
  readonly logicalShard: number;
  readonly from: string;
  readonly to: string;
}

/** Input of {@link planRebalance}. */
export interface RebalanceInput {
  /** Where each logical shard lives now. */
  readonly map: readonly { readonly logicalShard: number; readonly shardId: string }[];
  /** The physical shards that should hold data (a new, empty shard included; a shard left out is drained). */
  readonly shards: readonly string[];
  /** Moves per batch (run one after another, then a pause). @default 2 */
  readonly batchSize?: number;
}

/** A rebalance plan. */
export interface RebalancePlan {
  readonly moves: PlannedMove[];
  /** `moves` cut into batches of `batchSize`. */
  readonly batches: PlannedMove[][];
  /** Logical shards per physical shard, before and after. */
  readonly before: Record<string, number>;
  readonly after: Record<string, number>;
  /** Largest count over the mean, after (1 is perfect). */
  readonly maxOverMean: number;
  /** Moved logical shards over all logical shards. */
  readonly movedFraction: number;
}

const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Plans the fewest moves that leave every shard in `shards` with ⌊N/S⌋ or ⌈N/S⌉ logical shards (N logical,
 * S physical). The shards that already hold the most keep the ⌈N/S⌉ shares, so nothing moves that need not:
 * the moves are exactly the excess of each shard over its share. Donors give their highest-numbered logical
 * shards; moves alternate between donors and receivers so each batch spreads the copy load.
 */
export function planRebalance(input: RebalanceInput): RebalancePlan {
  const shards = [...new Set(input.shards)].sort(byId);
  if (shards.length === 0) throw new Error('rebalance needs at least one shard to hold the data');
  const batchSize = input.batchSize ?? 2;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batch size ${batchSize} must be a positive integer`);
  const held = new Map<string, number[]>();
  for (const id of shards) held.set(id, []);
  for (const entry of input.map) {
    if (!held.has(entry.shardId)) held.set(entry.shardId, []);
    held.get(entry.shardId)!.push(entry.logicalShard);
  }
  for (const list of held.values()) list.sort((a, b) => a - b);
  const n = input.map.length;
  const base = Math.floor(n / shards.length);
  const extra = n % shards.length;
  // The `extra` larger shares go to the shards holding most already (ties by id), so they give least.
  const ranked = [...shards].sort((a, b) => held.get(b)!.length - held.get(a)!.length || byId(a, b));
  const share = new Map<string, number>(ranked.map((id, i) => [id, base + (i < extra ? 1 : 0)]));
  const before = Object.fromEntries([...held].map(([id, list]) => [id, list.length]));

  const give: { from: string; logical: number[] }[] = [];
  const take: { to: string; room: number }[] = [];
  for (const [id, list] of [...held].sort(([a], [b]) => byId(a, b))) {
    const target = share.get(id) ?? 0; // a shard not in `shards` is drained
    if (list.length > target) give.push({ from: id, logical: list.slice(target).reverse() });
    else if (list.length < target) take.push({ to: id, room: target - list.length });
  }
  const moves: PlannedMove[] = [];
  let receiver = 0;
  while (give.some((g) => g.logical.length > 0)) {
    for (const donor of give) {
      const logical = donor.logical.shift();
      if (logical === undefined) continue;
      while (take[receiver % take.length].room === 0) receiver++;
      const slot = take[receiver % take.length];
      slot.room--;
      moves.push({ logicalShard: logical, from: donor.from, to: slot.to });
      receiver++;
    }
  }
  const after = Object.fromEntries(shards.map((id) => [id, share.get(id)!]));
  const mean = n / shards.length;
  const batches: PlannedMove[][] = [];
  for (let i = 0; i < moves.length; i += batchSize) batches.push(moves.slice(i, i + batchSize));
  return {
    moves,
    batches,
    before,
    after,
    maxOverMean: n === 0 ? 1 : Math.max(...Object.values(after)) / mean,
    movedFraction: n === 0 ? 0 : moves.length / n,
  };
}

/** The plan as lines of text (what `rebalance --dry-run` prints). */
export function describePlan(plan: RebalancePlan): string {
  const counts = (c: Record<string, number>) =>
    Object.entries(c)
      .map(([id, n]) => `${id}: ${n}`)
      .join(', ');
  const lines = [
    `logical shards per physical shard now:   ${counts(plan.before)}`,
    `logical shards per physical shard after: ${counts(plan.after)} (max/mean ${plan.maxOverMean.toFixed(3)})`,
    `moves: ${plan.moves.length} (${(plan.movedFraction * 100).toFixed(1)}% of the logical shards), ` +
      `${plan.batches.length} batches`,
    ...plan.batches.map(
      (batch, i) =>
        `  batch ${i + 1}: ${batch.map((m) => `ls ${m.logicalShard} ${m.from} -> ${m.to}`).join('; ')}`,
    ),
  ];
  return lines.join('\n');
}
