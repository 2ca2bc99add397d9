import { v7 as uuidv7 } from 'uuid';
import type { SqlExecutor } from '../db/database';
import { conflict, isUniqueViolation } from '../errors';

/** Roles a user can have. */
export type Role = 'customer' | 'admin';

/** A user as the API shows it. */
export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  created_at: Date | string;
  password_hash: string;
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Users (user data: sharded by user_id in later stages). */
export class UserRepository {
  /** Inserts a user with a lower-cased email; 409 when the email is taken. */
  async create(
    db: SqlExecutor,
    input: { email: string; name: string; passwordHash: string; role: Role },
  ): Promise<User> {
    try {
      const { rows } = await db.query<UserRow>(
        `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, email, name, role, created_at, password_hash`,
        [uuidv7(), input.email.toLowerCase(), input.name, input.passwordHash, input.role],
      );
      return toUser(rows[0]);
    } catch (err) {
      if (isUniqueViolation(err, 'users_email_key')) throw conflict('email is already registered');
      throw err;
    }
  }

  /** A user and their password hash, by email (case-insensitive). */
  async findByEmail(db: SqlExecutor, email: string): Promise<{ user: User; passwordHash: string } | null> {
    const { rows } = await db.query<UserRow>(
      'SELECT id, email, name, role, created_at, password_hash FROM users WHERE email = $1',
      [email.toLowerCase()],
    );
    return rows[0] ? { user: toUser(rows[0]), passwordHash: rows[0].password_hash } : null;
  }

  /** Sets the stored role of the user with `email`; returns the user, or null when there is none. */
  async setRole(db: SqlExecutor, email: string, role: Role): Promise<User | null> {
    const { rows } = await db.query<UserRow>(
      `UPDATE users SET role = $2 WHERE email = $1
       RETURNING id, email, name, role, created_at, password_hash`,
      [email.toLowerCase(), role],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  /** Deletes a user that has no orders (undoing a sign-up whose session could not be stored). */
  async delete(db: SqlExecutor, id: string): Promise<void> {
    await db.query(
      'DELETE FROM users WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM orders WHERE user_id = $1)',
      [id],
    );
  }

  /** A user by id, or null. */
  async get(db: SqlExecutor, id: string): Promise<User | null> {
    const { rows } = await db.query<UserRow>(
      'SELECT id, email, name, role, created_at, password_hash FROM users WHERE id = $1',
      [id],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }
}
