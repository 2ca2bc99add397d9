import type { Cache } from './cache/cache';
import type { Role, User } from './repositories/user-repository';

/** Cache key and tag of one user's role, shared by the app and the admin command that invalidates it. */
export const roleCache = {
  key: (userId: string) => `user-role:${userId}`,
  tag: (userId: string) => `user:${userId}`,
} as const;

/**
 * Longest a role change can take to reach a request when its invalidation is lost (the admin command could
 * not reach Redis, or the instance caches in process): the role entry's TTL.
 */
export const ROLE_CACHE_MAX_SECONDS = 10;

/**
 * The role a request acts with, read per request (never from the session, which lives for a day).
 *
 * A user is an admin only while both hold: the role was granted in the database (`npm run admin -- grant`), and
 * the email is listed in `ADMIN_EMAILS`. Revoking the grant or removing the address demotes the user at the
 * next request. Lookups are cached (cache-aside, loaded from the writer so a fresh grant is never read from a
 * lagging replica) under the tag `user:<id>`, which the admin command invalidates.
 */
export class RoleReader {
  constructor(
    private readonly cache: Cache,
    /** Reads a user on the writer of their shard (UserAccounts). */
    private readonly users: { get(userId: string): Promise<User | null> },
    private readonly adminEmails: ReadonlySet<string>,
    private readonly ttlSeconds: number,
  ) {}

  /** The role a user's stored role and email amount to under the current `ADMIN_EMAILS`. */
  effectiveRole(user: Pick<User, 'email' | 'role'>): Role {
    return user.role === 'admin' && this.adminEmails.has(user.email.toLowerCase()) ? 'admin' : 'customer';
  }

  /** `user` with its effective role (what the API shows). */
  withEffectiveRole(user: User): User {
    return { ...user, role: this.effectiveRole(user) };
  }

  /** The current effective role of a user, or null when the user no longer exists. */
  async currentRole(userId: string): Promise<Role | null> {
    const found = await this.cache.getOrLoad(
      roleCache.key(userId),
      [roleCache.tag(userId)],
      async () => {
        const user = await this.users.get(userId);
        return user ? { email: user.email, role: user.role } : null;
      },
      this.ttlSeconds,
    );
    return found ? this.effectiveRole(found) : null;
  }
}
