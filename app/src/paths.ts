import path from 'node:path';

/**
 * The app's root folder (the one holding `migrations/` and `public/`).
 *
 * Resolved from this module's folder one level up, so it is the same from the source (`app/src`) and from
 * the esbuild bundle (`app/dist`, or `/srv/app/dist` in the container image).
 */
export const appRoot = path.resolve(__dirname, '..');

/** Folder of the numbered SQL migrations. */
export const migrationsDir = path.join(appRoot, 'migrations');

/** Folder of the static storefront served at `/`. */
export const publicDir = path.join(appRoot, 'public');
