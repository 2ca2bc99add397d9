import { stageIds } from '../../stages';
import { assetHashSerializer } from '../support/asset-hash-serializer';
import { synthStage } from '../support/synth';

expect.addSnapshotSerializer(assetHashSerializer);

describe.each(stageIds)('stage %s', (id) => {
  test('synthesises the same templates as last time (asset hashes normalised)', () => {
    // GIVEN / WHEN
    const stage = synthStage(id, { nag: false });
    // THEN
    expect(stage.json).toMatchSnapshot();
  });

  // A stage deployed to several regions (stage global): one snapshot per region, of every stack in it.
  const regions = Object.keys(synthStage(id, { nag: false }).stacks.regions);
  if (regions.length > 1) {
    test.each(regions)('synthesises the same templates in region %s as last time', (region) => {
      // GIVEN
      const stage = synthStage(id, { nag: false });
      // WHEN: every stack of the region (and nothing else), by construct path
      const templates = Object.fromEntries(
        stage.assembly.stacks
          .filter((stack) => stack.environment.region === region)
          .map((stack) => [stack.hierarchicalId, stack.template as unknown]),
      );
      // THEN
      expect(Object.keys(templates).length).toBeGreaterThanOrEqual(3);
      expect(templates).toMatchSnapshot();
    });
  }
});

describe('the asset hash serializer', () => {
  test('replaces 64-character hex hashes and leaves other strings alone', () => {
    const hash = 'a'.repeat(64);
    expect(assetHashSerializer.test(`repo:${hash}`)).toBe(true);
    expect(assetHashSerializer.serialize(`repo:${hash}`)).toBe('"repo:<asset-hash>"');
    expect(assetHashSerializer.test('DataKey17AFBB84')).toBe(false);
  });
});
