// Bundles the sample app for its container image (app/Dockerfile runs this same script).
// Output layout mirrors the source layout one level below the app root, so `appRoot` resolves the same way:
//   app/dist/server.js, app/dist/migrate.js, app/dist/admin.js, app/dist/gateway.js, app/dist/shards.js, app/dist/shards-cli.js (bundles)      app/migrations, app/public   (copied as they are)
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';

const appDir = path.dirname(fileURLToPath(import.meta.url));
// `--outdir=<dir>` bundles elsewhere (a test that lays out an image of its own, so that two tests building at
// once never remove each other's app/dist); the Dockerfile uses the default.
const outdirArg = process.argv.slice(2).find((arg) => arg.startsWith('--outdir='));
const outdir = outdirArg ? path.resolve(outdirArg.slice('--outdir='.length)) : path.join(appDir, 'dist');

// The bundle may use everything the oldest Node.js that package.json `engines` admits supports, and no more:
// that range is the container image's Node line (app/Dockerfile), so the target follows the runtime.
const { engines } = JSON.parse(await readFile(path.join(appDir, '../package.json'), 'utf8'));
const oldest = typeof engines?.node === 'string' ? semver.minVersion(engines.node) : null;
if (!oldest || oldest.major === 0) {
  throw new Error(
    `package.json engines.node must be the container's Node.js line (e.g. ^24.21.0); got ${engines?.node}`,
  );
}
const target = `node${oldest.version}`;

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: {
    server: path.join(appDir, 'src/server.ts'),
    migrate: path.join(appDir, 'src/migrate.ts'),
    admin: path.join(appDir, 'src/admin.ts'),
    // The local API gateway of stage 1m (in AWS the API Gateway HTTP API plays its part; the image carries it so
    // `node dist/gateway.js` runs it anywhere the services run).
    gateway: path.join(appDir, 'src/gateway/server.ts'),
    // The shard manager (tools/shards) in the same image, for its one-off ECS task (stage 100k): `shards` turns
    // the task's secret ARNs into the manager's URLs and runs `shards-cli`, the manager itself.
    shards: path.join(appDir, '../tools/shards/task.ts'),
    'shards-cli': path.join(appDir, '../tools/shards/cli.ts'),
  },
  outdir,
  bundle: true,
  platform: 'node',
  target,
  format: 'cjs',
  sourcemap: true,
  minify: false,
  legalComments: 'none',
  // PGlite loads its WebAssembly and data files from its own package folder at run time, so it stays a
  // package (the image copies it); pg-native is an optional accelerator pg never needs; protobufjs is what
  // @datadog/sketches-js requires (lazily) only to encode a sketch as protobuf, which the app never does.
  external: ['@electric-sql/pglite', 'pg-native', 'protobufjs/minimal'],
  logLevel: 'warning',
});
console.log(`bundled app into ${path.relative(process.cwd(), outdir) || outdir} (target ${target})`);
