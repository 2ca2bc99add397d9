/**
 * Jest snapshot serializer that replaces asset hashes (64 hex characters, in image tags, S3 keys, asset
 * parameter names) with a placeholder, so a snapshot changes only when the infrastructure does, not when
 * the app's source (the image's build context) does.
 */
const HASH = /[a-f0-9]{64}/g;

/** Whether a value is a string containing an asset hash. */
function test(value: unknown): boolean {
  return typeof value === 'string' && /[a-f0-9]{64}/.test(value);
}

/** Prints the string with every hash replaced. */
function serialize(value: unknown): string {
  return JSON.stringify((value as string).replace(HASH, '<asset-hash>'));
}

/** The serializer, for `expect.addSnapshotSerializer`. */
export const assetHashSerializer = { test, serialize };
