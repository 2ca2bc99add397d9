import fc from 'fast-check';
import { describePlan, planRebalance } from './rebalance';

/** The app's bootstrap: contiguous ranges of logical shards over the shards, shard 0 first. */
function bootstrap(n: number, shards: string[]) {
  return Array.from({ length: n }, (_, ls) => ({
    logicalShard: ls,
    shardId: shards[Math.floor((ls * shards.length) / n)],
  }));
}

function apply(
  map: { logicalShard: number; shardId: string }[],
  moves: { logicalShard: number; from: string; to: string }[],
) {
  const next = new Map(map.map((e) => [e.logicalShard, e.shardId]));
  for (const m of moves) {
    expect(next.get(m.logicalShard)).toBe(m.from);
    next.set(m.logicalShard, m.to);
  }
  return next;
}

describe('planRebalance', () => {
  it('adds a third shard to 256 logical shards on two: 85 moves, 86/85/85', () => {
    // GIVEN
    const map = bootstrap(256, ['0', '1']);

    // WHEN
    const plan = planRebalance({ map, shards: ['0', '1', '2'], batchSize: 2 });

    // THEN
    expect(plan.before).toEqual({ '0': 128, '1': 128, '2': 0 });
    expect(Object.values(plan.after).sort()).toEqual([85, 85, 86]);
    expect(plan.moves).toHaveLength(85);
    expect(plan.moves.every((m) => m.to === '2')).toBe(true);
    expect(plan.maxOverMean).toBeLessThanOrEqual(1.05);
    expect(plan.batches).toHaveLength(43);
    expect(plan.batches[0].map((m) => m.from)).toEqual(['0', '1']); // donors alternate
    expect(describePlan(plan)).toMatch(/moves: 85 \(33\.2% of the logical shards\), 43 batches/);
  });

  // max/mean <= 1.05 by logical-shard count needs N/S >= 20 (the shares are whole logical shards, ceil(N/S) at
  // most): with N = 256 it holds up to 12 physical shards, with 480 up to 24.
  it('after adding one shard to a balanced layout of up to 12 shards: max/mean <= 1.05 and moves <= 1.1 x the ideal 1/(S+1)', () => {
    fc.assert(
      fc.property(fc.constantFrom(256, 480), fc.integer({ min: 1, max: 11 }), (n, s) => {
        const shards = Array.from({ length: s }, (_, i) => String(i));
        const map = bootstrap(n, shards);
        const plan = planRebalance({ map, shards: [...shards, String(s)] });
        const after = apply(map, plan.moves);
        const counts = [...shards, String(s)].map((id) => [...after.values()].filter((v) => v === id).length);
        const mean = n / (s + 1);
        expect(Math.max(...counts) / mean).toBeLessThanOrEqual(1.05);
        expect(plan.movedFraction).toBeLessThanOrEqual((1.1 * 1) / (s + 1));
      }),
    );
  });

  it('moves exactly the excess over the even share from any layout, and a drained shard gives everything', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 5 }),
        (owners, s) => {
          const map = owners.map((o, ls) => ({ logicalShard: ls, shardId: String(o) }));
          const shards = Array.from({ length: s }, (_, i) => String(i));
          const plan = planRebalance({ map, shards });
          const after = apply(map, plan.moves);
          const counts = shards.map((id) => [...after.values()].filter((v) => v === id).length);
          // everything lands on a listed shard, within one of the others
          expect([...after.values()].every((v) => shards.includes(v))).toBe(true);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
          // no logical shard moves twice, none moves to where it is
          expect(new Set(plan.moves.map((m) => m.logicalShard)).size).toBe(plan.moves.length);
          expect(plan.moves.every((m) => m.from !== m.to)).toBe(true);
          // minimal: a shard over its share gives only its excess
          const base = Math.floor(owners.length / s);
          const given = new Map<string, number>();
          for (const m of plan.moves) given.set(m.from, (given.get(m.from) ?? 0) + 1);
          for (const [id, n] of given) {
            const had = owners.filter((o) => String(o) === id).length;
            expect(had - n).toBeGreaterThanOrEqual(shards.includes(id) ? base : 0);
          }
        },
      ),
    );
  });

  it('plans nothing when the shards are already even', () => {
    const plan = planRebalance({ map: bootstrap(256, ['0', '1']), shards: ['0', '1'] });
    expect(plan.moves).toEqual([]);
    expect(plan.maxOverMean).toBe(1);
  });

  it('fails with a clear message for no shards or a bad batch size', () => {
    expect(() => planRebalance({ map: [], shards: [] })).toThrow(/at least one shard/);
    expect(() => planRebalance({ map: [], shards: ['0'], batchSize: 0 })).toThrow(
      /batch size 0 must be a positive integer/,
    );
  });
});
