/**
 * A region's part in stage global: the home region holds the writers and everything that writes (relays,
 * consumers, migrations, the shard manager); every other region is a read-only secondary.
 */

/** What a region is in a deployment with `global`. */
export interface RegionRole {
  /** `home`: the writers, as in a single-region stage, plus the global parts; `secondary`: read-only. */
  readonly role: 'home' | 'secondary';
  /** The home region's code (the app's `HOME_REGION`). */
  readonly homeRegion: string;
  /** Every region of the deployment, the home region first. */
  readonly regions: readonly string[];
}

/** The app's variables that say a task's region role (stage global only; unset: a single region). */
export function regionRoleEnvironment(role: RegionRole): Record<string, string> {
  return { REGION_ROLE: role.role, HOME_REGION: role.homeRegion };
}
