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
});

describe('the asset hash serializer', () => {
  test('replaces 64-character hex hashes and leaves other strings alone', () => {
    const hash = 'a'.repeat(64);
    expect(assetHashSerializer.test(`repo:${hash}`)).toBe(true);
    expect(assetHashSerializer.serialize(`repo:${hash}`)).toBe('"repo:<asset-hash>"');
    expect(assetHashSerializer.test('DataKey17AFBB84')).toBe(false);
  });
});
