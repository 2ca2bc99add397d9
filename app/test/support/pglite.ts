import Module from 'node:module';
import type { PGlite } from '@electric-sql/pglite';

/**
 * Starts an in-memory PGlite for a test file (about 4 s, so once per file).
 *
 * PGlite loads Node built-ins with dynamic `import()`, which Jest's CommonJS sandbox rejects without
 * --experimental-vm-modules. Loading the package with Node's own loader (Jest replaces `createRequire`,
 * not `Module._load`) runs it outside the sandbox, where dynamic import works.
 */
export async function startPglite(): Promise<PGlite> {
  const load = (Module as unknown as { _load(request: string, parent: object): unknown })._load;
  const paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(
    __dirname,
  );
  const { PGlite: NativePGlite } = load('@electric-sql/pglite', {
    id: __filename,
    filename: __filename,
    paths,
  }) as {
    PGlite: typeof PGlite;
  };
  const db = new NativePGlite();
  await db.waitReady;
  return db;
}
