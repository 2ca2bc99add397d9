import {
  renderSynthMarkdown,
  synthFigures,
  synthTargetMet,
  type HyperfineResult,
  type SynthTarget,
} from './synth-report';

const targets: SynthTarget[] = [
  { id: 'trivial', label: 'trivial app', kind: 'baseline', command: 'cdk synth trivial' },
  { id: 'trivial-no-validation', label: 'trivial, off', kind: 'baseline', command: 'cdk synth trivial off' },
  { id: 'stage:1k', label: 'stage 1k', kind: 'stage', command: 'cdk synth 1k' },
  { id: 'stage:10k', label: 'stage 10k', kind: 'stage', command: 'cdk synth 10k' },
  { id: 'all-stages', label: 'all stages', kind: 'all-stages', command: 'cdk synth 1k && cdk synth 10k' },
];

/** A hyperfine result (seconds) with the given median and CPU time. */
const result = (command: string, median: number, cpu: number): HyperfineResult => ({
  command,
  mean: median + 0.1,
  stddev: 0.2,
  median,
  user: cpu * 0.75,
  system: cpu * 0.25,
  min: median - 0.3,
  max: median + 0.5,
  times: [median - 0.3, median, median + 0.5],
});

const results = [
  result('cdk synth trivial', 4, 6),
  result('cdk synth trivial off', 2, 2.5),
  result('cdk synth 1k', 5, 6),
  result('cdk synth 10k', 8, 9),
  result('cdk synth 1k && cdk synth 10k', 13, 15),
];

describe('synthFigures', () => {
  const figures = synthFigures(targets, results, {
    shipped: 'trivial',
    likeForLike: 'trivial-no-validation',
  });

  it('converts hyperfine seconds to ms and divides by the trivial app (wall, CPU, like for like)', () => {
    expect(figures[2]).toMatchObject({
      id: 'stage:1k',
      runs: 3,
      medianMs: 5000,
      meanMs: 5100,
      stddevMs: 200,
      minMs: 4700,
      maxMs: 5500,
      cpuMs: 6000,
      ratio: 1.25,
      cpuRatio: 1,
      likeForLikeRatio: 2.5,
    });
    expect(figures[0].ratio).toBe(1);
    expect(figures[4].ratio).toBe(3.25);
  });

  it('the target holds when every stage alone is within 2x; all stages together do not count', () => {
    expect(synthTargetMet(figures)).toMatchObject({ met: true, worst: { id: 'stage:10k', ratio: 2 } });
    const slower = synthFigures(
      targets,
      results.map((r) => (r.command === 'cdk synth 10k' ? { ...r, median: 8.04 } : r)),
      { shipped: 'trivial' },
    );
    expect(synthTargetMet(slower)).toMatchObject({ met: false, worst: { id: 'stage:10k' } });
    expect(slower[3].likeForLikeRatio).toBeNull();
    expect(synthTargetMet(figures.filter((f) => f.kind !== 'stage'))).toEqual({ met: false, worst: null });
  });

  it('refuses output that does not match the commands', () => {
    expect(() => synthFigures(targets, results.slice(1), { shipped: 'trivial' })).toThrow(
      'hyperfine reported 4 commands, expected 5',
    );
    expect(() => synthFigures(targets, [...results].reverse(), { shipped: 'trivial' })).toThrow(
      /hyperfine result 0 is for "cdk synth 1k && cdk synth 10k", expected "cdk synth trivial"/,
    );
    expect(() => synthFigures(targets, results, { shipped: 'nope' })).toThrow('baseline target "nope"');
  });

  it('renders the table and the verdict', () => {
    const md = renderSynthMarkdown(figures);
    expect(md).toContain('| stage 1k | 3 | 5,000 | 5,100 ± 200 | 4,700–5,500 | 6,000 | 1.25 | 1.00 | 2.50 |');
    expect(md).toContain('| trivial app | 3 | 4,000 |');
    expect(md).toContain('**met** (slowest: stage 10k, 2.00×)');
  });
});
