/**
 * The home pin cookie is written twice: by the app (which sets it after a write in the home region) and by the
 * infrastructure's routing table (which the edge function and the local geo router read). lib/ does not import
 * the app, so this test keeps the two names equal: a rename on one side fails here, not in a deployment where
 * writers' reads would silently stop being pinned home.
 */
import { HOME_PIN_COOKIE as LIB_HOME_PIN_COOKIE, REGIONAL_METHODS } from '../../../lib/config/global-routing';
import { HOME_PIN_COOKIE, SAFE_METHODS } from '../../src/regions/region-role';

test('the app sets the pin cookie the edge and the geo router read', () => {
  expect(HOME_PIN_COOKIE).toBe(LIB_HOME_PIN_COOKIE);
});

test('a secondary region serves exactly the methods the edge routes to it', () => {
  expect([...SAFE_METHODS].sort()).toEqual([...REGIONAL_METHODS].sort());
});
