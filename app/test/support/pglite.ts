import { PGlite } from '@electric-sql/pglite';

/** Starts an in-memory PGlite for a test file (a few seconds, so once per file). */
export async function startPglite(): Promise<PGlite> {
  const db = new PGlite();
  await db.waitReady;
  return db;
}
