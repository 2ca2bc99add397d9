import { v7 as uuidv7 } from 'uuid';
import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../db/database';
import { insertEventSql } from '../events/event-outbox';
import { conflict, isUniqueViolation } from '../errors';
import { safeSchema } from '../sharding/logical-shard';

/** Roles a user can have. */
export type Role = 'customer' | 'admin';

/** A user as the API shows it. */
export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
  /** Orders placed, as the users service counts them from OrderPlaced events (eventually consistent). */
  orderCount?: number;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  created_at: Date | string;
  password_hash: string;
  order_count?: number;
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
    ...(row.order_count !== undefined ? { orderCount: Number(row.order_count) } : {}),
  };
}

/**
 * Users (user data). Every method takes the schema the user's data lives in: `public` in the unsharded layout
 * (stages 1k, 10k), the logical shard's `ls_NNN` in the sharded one; statements name it (checked by
 * {@link safeSchema}) rather than relying on a connection's search_path.
 */
export class UserRepository {
  /** Inserts a user with a lower-cased email (and `id` when given, else a new UUIDv7); 409 when the email is taken. */
  async create(
    db: SqlExecutor,
    input: { id?: string; email: string; name: string; passwordHash: string; role: Role },
    schema = 'public',
  ): Promise<User> {
    try {
      // The user and its UserRegistered event (in this database's event outbox), in one statement.
      const { rows } = await db.query<UserRow>(
        `WITH u AS (
           INSERT INTO ${safeSchema(schema)}.users (id, email, name, password_hash, role) VALUES ($1, $2, $3, $4, $5)
           RETURNING id, email, name, role, created_at, password_hash
         ), event AS (
           ${insertEventSql('$6::uuid', 'UserRegistered', "jsonb_build_object('userId', u.id)", 'u')}
         )
         SELECT * FROM u`,
        [
          input.id ?? uuidv7(),
          input.email.toLowerCase(),
          input.name,
          input.passwordHash,
          input.role,
          randomUUID(),
        ],
      );
      return toUser(rows[0]);
    } catch (err) {
      if (isUniqueViolation(err, 'users_email_key')) throw conflict('email is already registered');
      throw err;
    }
  }

  /** A user and their password hash, by email (case-insensitive). */
  async findByEmail(
    db: SqlExecutor,
    email: string,
    schema = 'public',
  ): Promise<{ user: User; passwordHash: string } | null> {
    const { rows } = await db.query<UserRow>(
      `SELECT id, email, name, role, created_at, password_hash FROM ${safeSchema(schema)}.users WHERE email = $1`,
      [email.toLowerCase()],
    );
    return rows[0] ? { user: toUser(rows[0]), passwordHash: rows[0].password_hash } : null;
  }

  /** Sets the stored role of the user with `email`; returns the user, or null when there is none. */
  async setRole(db: SqlExecutor, email: string, role: Role, schema = 'public'): Promise<User | null> {
    const { rows } = await db.query<UserRow>(
      `UPDATE ${safeSchema(schema)}.users SET role = $2 WHERE email = $1
       RETURNING id, email, name, role, created_at, password_hash`,
      [email.toLowerCase(), role],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  /** Deletes a user that has no orders (undoing a sign-up whose session could not be stored). */
  async delete(db: SqlExecutor, id: string, schema = 'public'): Promise<void> {
    const s = safeSchema(schema);
    // Its UserRegistered goes too while still unsent (a sign-up taken back is not a registration).
    await db.query(
      `WITH gone AS (
         DELETE FROM ${s}.users WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ${s}.orders WHERE user_id = $1)
         RETURNING id
       )
       DELETE FROM public.event_outbox e USING gone
       WHERE e.type = 'UserRegistered' AND e.envelope -> 'data' ->> 'userId' = gone.id::text AND e.sent_at IS NULL`,
      [id],
    );
  }

  /** A user by id (with the order count), or null. */
  async get(db: SqlExecutor, id: string, schema = 'public'): Promise<User | null> {
    const { rows } = await db.query<UserRow>(
      `SELECT id, email, name, role, created_at, password_hash, order_count FROM ${safeSchema(schema)}.users WHERE id = $1`,
      [id],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }
}
