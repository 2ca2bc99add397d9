import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// scrypt parameters (N=2^14, r=8, p=1: about 16 MiB and ~50 ms per hash), stored with each hash so they
// can be raised later without invalidating existing passwords.
const N = 16384;
const r = 8;
const p = 1;
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, options: ScryptOptions, keyLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, keyLength, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Hashes a password with scrypt and a random per-password salt: `scrypt$N$r$p$salt$hash` (base64). */
export async function hashPassword(plain: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(plain, salt, { N, r, p, maxmem: 64 * 1024 * 1024 }, KEY_LENGTH);
  return ['scrypt', N, r, p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Checks a password against a stored hash in constant time; false for malformed hashes. */
export async function verifyPassword(plain: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [cost, blockSize, parallel] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  if (!cost || !blockSize || !parallel || expected.length === 0) return false;
  const actual = await derive(
    plain,
    salt,
    { N: cost, r: blockSize, p: parallel, maxmem: 64 * 1024 * 1024 },
    expected.length,
  );
  return timingSafeEqual(actual, expected);
}

/** A valid hash of a random password, compared against when an email is unknown (same timing as a miss). */
export const dummyPasswordHash = hashPassword(randomBytes(16).toString('hex'));
