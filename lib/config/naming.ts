/**
 * Names derived from stable ids (shards, services, regions): one place, so that construct ids, stack names
 * and physical names agree, and a name that exists in a deployed stage never changes.
 */

/** Id of the shard the stage's `database` is: shard 0, for ever. */
export const SHARD_ZERO_ID = '0';

/** A shard or service id: 1-12 lower-case letters and digits, starting with a letter (`s1`, `users`). */
export const STABLE_ID = /^[a-z][a-z0-9]{0,11}$/;

/** `s1` -> `S1`, `users` -> `Users`, `eu-west-1` -> `EuWest1`: an id as part of a construct id or alarm name. */
export function pascalCase(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
