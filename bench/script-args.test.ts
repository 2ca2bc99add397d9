/** The measuring scripts' shared helpers: the median, phases alternated over rounds, the median round. */
import type { LoadResult } from './open-loop';
import { inRounds, median, medianRound } from './script-args';

test('the median of an odd count is the middle value, of an even count the mean of the middle two', () => {
  expect(median([9, 1, 5])).toBe(5);
  expect(median([4, 1, 3, 2])).toBe(2.5);
  expect(median([-3, 7])).toBe(2);
});

test('inRounds runs every phase each round, in reverse order every other round', async () => {
  const ran: string[] = [];
  await inRounds(3, [async () => ran.push('a'), async () => ran.push('b'), async () => ran.push('c')]);
  expect(ran).toEqual(['a', 'b', 'c', 'c', 'b', 'a', 'a', 'b', 'c']);
});

test("medianRound returns one round's result whole: the one whose p50 is the (lower) median", () => {
  const round = (p50: number, p99: number) => ({ latencyMs: { p50, p99 } }) as unknown as LoadResult;
  const rounds = [round(30, 90), round(10, 500), round(20, 40)];
  expect(medianRound(rounds)).toBe(rounds[2]);
  // Even count: the lower of the two middle rounds, not a blend of two rounds' figures.
  const even = [round(4, 1), round(1, 1), round(3, 1), round(2, 1)];
  expect(medianRound(even)).toBe(even[3]);
});
