import { v7 as uuidv7 } from 'uuid';
import type { SqlExecutor } from '../db/database';
import { conflict } from '../errors';
import type { Role, User, UserRepository } from '../repositories/user-repository';
import type { UserDataPlace, UserDataRouter } from './user-data-router';

/**
 * How old an email claim without its user must be before a new sign-up may take it over: far longer than a
 * sign-up takes between claiming and creating, so only a claim whose sign-up died (the process was killed
 * between the two steps) is ever taken over.
 */
export const STALE_CLAIM_SECONDS = 60;

/**
 * Users by id and by email, in either layout. Unsharded, the users table's unique email index is the directory.
 * Sharded, `control.email_directory` on shard 0 maps every email to its user id (and so to its logical shard):
 * sign-up claims the email there first (the primary key decides between concurrent sign-ups on any instance and
 * any shard), then creates the user on its shard, and gives the claim back if that fails.
 */
export class UserAccounts {
  constructor(
    private readonly router: UserDataRouter,
    private readonly users: UserRepository,
  ) {}

  private get control(): SqlExecutor {
    return this.router.shard0.db.writer;
  }

  /** Creates a user (409 when the email is taken) and returns it with its place. */
  async create(input: {
    email: string;
    name: string;
    passwordHash: string;
    role: Role;
  }): Promise<{ user: User; place: UserDataPlace }> {
    if (!this.router.sharded) {
      return this.router.write('', async (place) => ({
        user: await this.users.create(place.shard.db.writer, input, place.schema),
        place,
      }));
    }
    const id = uuidv7();
    const email = input.email.toLowerCase();
    // The logical shard's state is checked before the claim: a shard being moved answers 503 without
    // leaving a claim behind; a fenced schema (stale map) fails the insert, and the claim is given back.
    return this.router.write(id, async (place) => {
      // Data still in the public tables (before the move from the unsharded layout): their unique email index
      // is the directory, as unsharded; the move fills control.email_directory from them.
      if (place.logicalShard === null)
        return {
          user: await this.users.create(place.shard.db.writer, { ...input, id }, place.schema),
          place,
        };
      if (!(await this.claim(email, id))) throw conflict('email is already registered');
      try {
        const user = await this.users.create(place.shard.db.writer, { ...input, id, email }, place.schema);
        return { user, place };
      } catch (err) {
        await this.control
          .query('DELETE FROM control.email_directory WHERE email = $1 AND user_id = $2', [email, id])
          .catch(() => {});
        throw err;
      }
    });
  }

  /**
   * Claims `email` for `userId`; false when another user holds it. A claim older than
   * {@link STALE_CLAIM_SECONDS} whose user does not exist on its shard is taken over; while that user's logical
   * shard is moving (or the map changed as it was read) the takeover is not decided: a 503 with Retry-After.
   */
  private async claim(email: string, userId: string): Promise<boolean> {
    const insert = () =>
      this.control.query<{ user_id: string }>(
        `INSERT INTO control.email_directory (email, user_id) VALUES ($1, $2)
         ON CONFLICT (email) DO NOTHING RETURNING user_id`,
        [email, userId],
      );
    if ((await insert()).rows.length > 0) return true;
    const { rows } = await this.control.query<{ user_id: string }>(
      `SELECT user_id FROM control.email_directory
       WHERE email = $1 AND created_at < now() - make_interval(secs => $2)`,
      [email, STALE_CLAIM_SECONDS],
    );
    if (rows.length === 0) return false;
    const holder = rows[0].user_id;
    // Decided on a map just checked, and only while the holder's logical shard is active and stays where it was:
    // a stale or moving map could look on the wrong shard, not find the user, and give their email away.
    const place = await this.router.settledPlace(holder);
    if (!place) throw this.router.unavailable(holder);
    const exists = await this.users.get(place.shard.db.writer, holder, place.schema);
    if (!(await this.router.stillSettled(place))) throw this.router.unavailable(holder);
    if (exists) return false;
    // Only the stale claim itself is deleted: a concurrent taker that got there first has a fresh one.
    await this.control.query('DELETE FROM control.email_directory WHERE email = $1 AND user_id = $2', [
      email,
      holder,
    ]);
    return (await insert()).rows.length > 0;
  }

  /** The user with `email` and their password hash, read on the writer (log-in right after sign-up works). */
  async findByEmail(email: string): Promise<{ user: User; passwordHash: string } | null> {
    if (!this.router.shardedNow) {
      const { shard, schema } = this.router.forRead('');
      return this.users.findByEmail(shard.db.writer, email, schema);
    }
    const { rows } = await this.control.query<{ user_id: string }>(
      'SELECT user_id FROM control.email_directory WHERE email = $1',
      [email.toLowerCase()],
    );
    if (rows.length === 0) return null;
    const { shard, schema } = this.router.forRead(rows[0].user_id);
    return this.users.findByEmail(shard.db.writer, email, schema);
  }

  /** A user by id on the writer of their shard, or null. */
  async get(userId: string): Promise<User | null> {
    const { shard, schema } = this.router.forRead(userId);
    return this.users.get(shard.db.writer, userId, schema);
  }

  /** Deletes a user that has no orders, and gives their email back. */
  async delete(userId: string): Promise<void> {
    await this.router.write(userId, async ({ shard, schema }) => {
      await this.users.delete(shard.db.writer, userId, schema);
      if (schema !== 'public' && !(await this.users.get(shard.db.writer, userId, schema)))
        await this.control.query('DELETE FROM control.email_directory WHERE user_id = $1', [userId]);
    });
  }
}
