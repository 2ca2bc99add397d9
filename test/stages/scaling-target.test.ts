import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MEASURED_REQUESTS_PER_SECOND_PER_TASK, REQUEST_SCALING_HEADROOM, stage10k } from '../../stages/10k';

/** The benchmark's result for one topology, as `npm run bench` writes it. */
interface BenchScenario {
  readonly id: string;
  readonly fixed: { readonly requestsPerSecond: number; readonly offeredRate: number };
}

const runtime = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'bench', 'results', 'runtime-2026-11-30-loaded.json'), 'utf8'),
) as { scenarios: BenchScenario[] };

describe('request-count scaling target of stage 10k', () => {
  // GIVEN the measured throughput of one saturated app process (stage 1k's topology)
  const oneProcess = runtime.scenarios.find((scenario) => scenario.id === 'stage-1k');

  test('the stated per-task capacity is the benchmark figure (a saturated run: served below offered)', () => {
    expect(oneProcess).toBeDefined();
    const served = oneProcess!.fixed.requestsPerSecond;
    // Saturated: the process served less than it was offered, so `served` is its capacity, not the load.
    expect(served).toBeLessThan(oneProcess!.fixed.offeredRate);
    // The stage file states the figure rounded down, never more than was measured.
    expect(MEASURED_REQUESTS_PER_SECOND_PER_TASK).toBeLessThanOrEqual(served);
    expect(MEASURED_REQUESTS_PER_SECOND_PER_TASK).toBeGreaterThan(served - 1);
  });

  test('the target is derived from the measured capacity: at least 40% of it, and below it', () => {
    // WHEN
    const target = stage10k.service.autoscaling.requestsPerTarget;
    const capacityPerMinute = oneProcess!.fixed.requestsPerSecond * 60;

    // THEN: ALBRequestCountPerTarget is per minute; below 40% of capacity the policy would hold the service
    // near its maximum under modest load (the old 1,000 was 23%), at capacity it would never act before CPU.
    expect(target).toBe(Math.round(MEASURED_REQUESTS_PER_SECOND_PER_TASK * 60 * REQUEST_SCALING_HEADROOM));
    expect(target / capacityPerMinute).toBeGreaterThanOrEqual(0.4);
    expect(target).toBeLessThan(capacityPerMinute);
    expect(REQUEST_SCALING_HEADROOM).toBeGreaterThan(0);
    expect(REQUEST_SCALING_HEADROOM).toBeLessThan(1);
  });
});
