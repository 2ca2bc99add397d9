/**
 * Comparing generated pages with the files on disk, and writing them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Folders whose Markdown files are all generated (stale pages in them are removed). */
export const generatedFolders = ['docs', 'docs/stages', 'docs/upgrades'];

/** Generated Markdown files currently on disk, relative to `root`. */
export function existingPages(root: string): string[] {
  return generatedFolders.flatMap((folder) =>
    existsSync(join(root, folder))
      ? readdirSync(join(root, folder))
          .filter((name) => name.endsWith('.md'))
          .map((name) => `${folder}/${name}`)
      : [],
  );
}

/** Pages that differ from disk: missing, changed, or stale (on disk but no longer generated). */
export function outdatedPages(root: string, pages: ReadonlyMap<string, string>): string[] {
  const changed = [...pages.entries()]
    .filter(([path, content]) => !existsSync(join(root, path)) || readFileSync(join(root, path), 'utf8') !== content)
    .map(([path]) => path);
  const stale = existingPages(root).filter((path) => !pages.has(path));
  return [...changed, ...stale].sort();
}

/** Writes every page and removes stale generated pages; returns the paths that changed. */
export function writePages(root: string, pages: ReadonlyMap<string, string>): string[] {
  const outdated = outdatedPages(root, pages);
  for (const path of outdated) {
    const content = pages.get(path);
    if (content === undefined) {
      rmSync(join(root, path));
    } else {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
  }
  return outdated;
}
