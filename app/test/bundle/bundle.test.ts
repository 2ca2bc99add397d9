// The container image without a Docker engine: the same `npm run build:app` the Dockerfile runs, laid out in a
// temp folder exactly as the Dockerfile's runtime stage copies it (the COPY --from=build lines are read from the
// Dockerfile, not repeated here), then started with the image's CMD and ENV against a real Postgres database
// and on embedded PGlite, on the image's Node.js line: the `node` devDependency (the Node.js binary from the npm
// registry), whose major.minor the Dockerfile's FROM lines must name. Also checks the Dockerfile's invariants and
// .dockerignore.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import semver from 'semver';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import {
  cmdOf,
  copiesOf,
  envOf,
  isInBuildContext,
  readDockerfile,
  userOf,
  workdirOf,
  type DockerStage,
} from './dockerfile';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '../../..');
const dockerfilePath = path.join(repoRoot, 'app/Dockerfile');
const stages = readDockerfile(dockerfilePath);
const runtime = stages[stages.length - 1];
const dockerignore = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8');
const packageJson = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
/** The Node.js the bundle runs on here: the `node` devDependency, whose install script puts the binary here. */
const runtimeNode = path.join(repoRoot, 'node_modules/node/bin/node');
/** The exact version of that package (package.json pins it), e.g. 24.21.0. */
const runtimeVersion = packageJson.devDependencies.node;
const SESSION_SECRET = 'bundle-test-session-secret-0123456789abcdef';

jest.setTimeout(300_000);

/** The stage a `COPY --from=<name>` refers to. */
function stageNamed(name: string): DockerStage {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`COPY --from=${name}: no stage of that name in app/Dockerfile`);
  return stage;
}

/**
 * Paths (relative to a build stage's WORKDIR) that the stage produces: what its context COPYs bring in,
 * plus node_modules when it runs `npm ci`. A runtime COPY must take its files from one of these, which is
 * what makes "the build stage's /src is the repository root" a fact rather than an assumption.
 */
function producedBy(stage: DockerStage): string[] {
  const produced: string[] = [];
  for (const copy of copiesOf(stage).filter((c) => !c.from)) {
    const dest = copy.dest.replace(/^\.\/?/, '').replace(/\/$/, '');
    for (const source of copy.sources) produced.push(dest === '' ? source : dest);
  }
  if (stage.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)))
    produced.push('node_modules');
  return produced;
}

/** Lays out `dir` as the runtime stage's WORKDIR, copying from the repository as its COPY --from lines say. */
async function layOutRuntimeStage(dir: string): Promise<string[]> {
  const runtimeWorkdir = workdirOf(runtime);
  const copied: string[] = [];
  for (const copy of copiesOf(runtime)) {
    if (!copy.from)
      throw new Error(`runtime stage copies from the build context (${copy.sources.join(' ')})`);
    const build = stageNamed(copy.from);
    const buildWorkdir = workdirOf(build).replace(/\/$/, '');
    const produced = producedBy(build);
    for (const source of copy.sources) {
      if (!source.startsWith(`${buildWorkdir}/`)) {
        throw new Error(
          `COPY --from=${copy.from} ${source}: not under the build stage's WORKDIR ${buildWorkdir}`,
        );
      }
      const relative = source.slice(buildWorkdir.length + 1).replace(/\/$/, '');
      if (!produced.some((p) => relative === p || relative.startsWith(`${p}/`))) {
        throw new Error(`COPY --from=${copy.from} ${source}: the build stage does not produce ${relative}`);
      }
      const dest = path.posix.isAbsolute(copy.dest)
        ? path.posix.relative(runtimeWorkdir, copy.dest)
        : path.posix.normalize(copy.dest);
      const from = path.join(repoRoot, relative);
      const isDir = (await stat(from)).isDirectory();
      const to =
        !isDir && copy.dest.endsWith('/') ? path.join(dir, dest, path.basename(from)) : path.join(dir, dest);
      await mkdir(path.dirname(to), { recursive: true });
      await cp(from, to, { recursive: true, dereference: true });
      copied.push(path.relative(dir, to));
    }
  }
  return copied;
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The image's environment: the runtime stage's ENV lines, and a PATH on which `node` is the image's Node line
 * (the `node` devDependency) as it is in the container, not the Node running jest.
 */
function imageEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: [path.dirname(runtimeNode), process.env.PATH].join(path.delimiter),
    ...envOf(runtime),
    ...overrides,
  };
}

/** The binary of the `node` devDependency, or a clear error saying how to get it. */
function requireRuntimeNode(): string {
  if (!existsSync(runtimeNode)) {
    throw new Error(
      `${path.relative(repoRoot, runtimeNode)} is missing: the \`node\` devDependency (Node.js ${runtimeVersion}, ` +
        "the image's Node line) installs it from the npm registry in its install script. Run `npm ci` " +
        '(not with --ignore-scripts).',
    );
  }
  return runtimeNode;
}

/** Every file and folder under `root` with its size and modification time, to tell whether anything wrote there. */
function treeSnapshot(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: false })
    .map((entry) => {
      const info = statSync(path.join(root, String(entry)));
      return `${String(entry)} ${info.size} ${info.mtimeMs}`;
    })
    .sort();
}

/** The image's CMD, with `node` resolved to the `node` devDependency (the image's Node line). */
function imageCommand(): [string, string[]] {
  const [command, ...args] = cmdOf(runtime);
  if (command !== 'node') throw new Error(`CMD starts with ${command}, expected node`);
  return [requireRuntimeNode(), args];
}

interface RunningServer {
  url: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the image's CMD in `dir` and waits until /healthz answers (or the process dies). */
async function startServer(dir: string, env: Record<string, string>): Promise<RunningServer> {
  const port = await freePort();
  const [command, args] = imageCommand();
  const child = spawn(command, args, {
    cwd: dir,
    env: imageEnv({ HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  // Generous: PGlite's first start (WebAssembly, initdb, migrations, seed) is slow on a busy two-core CI box.
  const deadline = Date.now() + 150_000;
  let dead = false;
  void exited.then(() => (dead = true));
  while (Date.now() < deadline) {
    if (dead) throw new Error(`the bundled server exited during start-up:\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return { url, child, output: () => output, exited };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`the bundled server did not answer /healthz within 150 s:\n${output}`);
}

/** Sends SIGTERM and returns how the process ended (SIGKILL after 40 s, which fails the assertion). */
async function terminate(
  server: RunningServer,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 40_000);
  try {
    return await server.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** One page of GET /api/products (the parts these tests read). */
interface ProductPage {
  items: { id: string; name: string; priceCents: number }[];
  nextCursor: string | null;
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

describe('app/Dockerfile', () => {
  test('every stage builds on the same slim Node image, pinned to the major.minor of the `node` devDependency', () => {
    // GIVEN the stages that start from an image (not from an earlier stage)
    const bases = stages.map((s) => s.image).filter((image) => !stages.some((s) => s.name === image));
    expect(bases.length).toBeGreaterThan(0);
    // THEN all are one image: build and runtime stages run the same Node
    expect(new Set(bases).size).toBe(1);
    // AND it is a slim Debian node image pinned to major.minor (optionally a full version and a digest)
    const tag = /^node:(\d+)\.(\d+)(\.\d+)?-(bookworm|trixie)-slim(@sha256:[0-9a-f]{64})?$/.exec(bases[0]);
    expect([bases[0], tag !== null]).toEqual([bases[0], true]);
    // AND its major.minor is the version of the Node.js binary the bundle is tested on below
    const tested = semver.parse(runtimeVersion);
    expect(tested).not.toBeNull();
    expect(`${tag![1]}.${tag![2]}`).toBe(`${tested!.major}.${tested!.minor}`);
  });

  test("package.json engines names the image's Node line: it admits the tested version and no other major", () => {
    const major = semver.major(runtimeVersion);
    expect(semver.satisfies(runtimeVersion, packageJson.engines.node)).toBe(true);
    expect(semver.subset(packageJson.engines.node, `${major}.x`)).toBe(true);
  });

  test("the bundle is tested on the Node.js binary of the `node` devDependency, at the image's version", async () => {
    // The machine's own Node (which may run jest) is not the image's: the tests below start the bundle with this one.
    const { stdout } = await run(requireRuntimeNode(), ['--version']);
    expect(stdout.trim()).toBe(`v${runtimeVersion}`);
  });

  test('the runtime stage runs as a non-root user', () => {
    const user = userOf(runtime);
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    // the node images ship the unprivileged `node` user (uid 1000)
    expect(user).toBe('node');
  });

  test('the runtime stage installs nothing: no package manager runs, only the bundle and PGlite are copied', () => {
    const runs = runtime.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    for (const command of runs) expect(command).not.toMatch(/\b(npm|npx|yarn|pnpm|apt-get|apt)\b/);
    const sources = copiesOf(runtime).flatMap((c) => c.sources);
    const modules = sources.filter((s) => s.includes('node_modules'));
    // only PGlite (it loads its WebAssembly from its own folder); never the whole node_modules
    expect(modules).toEqual(['/src/node_modules/@electric-sql/pglite']);
    expect(copiesOf(runtime).every((c) => c.from !== undefined)).toBe(true);
  });

  test('the build stage installs from the lockfile and bundles with the script this test runs', () => {
    const build = stageNamed('build');
    const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /^npm ci\b/.test(r))).toBe(true);
    expect(runs).toContain('npm run build:app');
    const scripts = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).scripts;
    expect(scripts['build:app']).toBe('node app/build.mjs');
  });

  test('CMD runs the bundled server with node directly (exec form, so node gets SIGTERM)', () => {
    expect(cmdOf(runtime)).toEqual(['node', '--enable-source-maps', 'dist/server.js']);
    expect(envOf(runtime)).toMatchObject({ NODE_ENV: 'production' });
  });

  test('.dockerignore keeps what the build stage copies and leaves out tests, dist, node_modules and infrastructure', () => {
    const build = stageNamed('build');
    const contextSources = copiesOf(build)
      .filter((c) => !c.from)
      .flatMap((c) => c.sources);
    expect(contextSources.length).toBeGreaterThan(0);
    for (const source of contextSources)
      expect([source, isInBuildContext(dockerignore, source)]).toEqual([source, true]);
    for (const kept of [
      'app/src/server.ts',
      'app/public/index.html',
      'app/migrations/001_catalog.sql',
      'app/build.mjs',
    ]) {
      expect([kept, isInBuildContext(dockerignore, kept)]).toEqual([kept, true]);
    }
    for (const left of [
      'node_modules/fastify/package.json',
      'app/dist/server.js',
      'app/test/bundle/bundle.test.ts',
      'lib/constructs/x.ts',
      'cdk.out/manifest.json',
      '.git/HEAD',
      'README.md',
    ]) {
      expect([left, isInBuildContext(dockerignore, left)]).toEqual([left, false]);
    }
  });
});

describe('the bundle, laid out like the runtime stage', () => {
  let dir: string;
  let copied: string[];

  let buildOutput: string;

  beforeAll(async () => {
    // WHEN the same build the Dockerfile runs...
    const { stdout, stderr } = await run('npm', ['run', 'build:app'], { cwd: repoRoot });
    buildOutput = `${stdout}${stderr}`;
    // ...is copied the way the runtime stage copies it
    dir = await mkdtemp(path.join(os.tmpdir(), 'shop-bundle-'));
    copied = await layOutRuntimeStage(dir);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("esbuild targets the image's Node line (the oldest version engines admits)", () => {
    const target = /\(target node(\d+\.\d+\.\d+)\)/.exec(buildOutput);
    expect([buildOutput, target !== null]).toEqual([buildOutput, true]);
    expect(target![1]).toBe(semver.minVersion(packageJson.engines.node)!.version);
    expect(semver.major(target![1])).toBe(semver.major(runtimeVersion));
  });

  test('the layout holds the bundle, migrations, storefront and PGlite, and nothing resolves from outside it', () => {
    expect(copied.sort()).toEqual(['dist', 'migrations', 'node_modules/@electric-sql/pglite', 'public']);
    expect(existsSync(path.join(dir, 'dist/server.js'))).toBe(true);
    expect(existsSync(path.join(dir, 'dist/migrate.js'))).toBe(true);
    expect(existsSync(path.join(dir, 'dist/admin.js'))).toBe(true);
    expect(
      readdirSync(path.join(dir, 'migrations')).filter((f) => f.endsWith('.sql')).length,
    ).toBeGreaterThan(0);
    expect(existsSync(path.join(dir, 'public/index.html'))).toBe(true);
    expect(existsSync(path.join(dir, 'node_modules/@electric-sql/pglite/package.json'))).toBe(true);
    // The only package beside the bundle: everything else the servers below need must be inside dist/.
    expect(readdirSync(path.join(dir, 'node_modules'))).toEqual(['@electric-sql']);
    expect(readdirSync(path.join(dir, 'node_modules/@electric-sql'))).toEqual(['pglite']);
    // No node_modules above the temp folder, or a missing package would be found there and go unnoticed.
    for (let parent = path.dirname(dir); parent !== path.dirname(parent); parent = path.dirname(parent)) {
      expect([parent, existsSync(path.join(parent, 'node_modules'))]).toEqual([parent, false]);
    }
  });

  describe('on real Postgres and Redis (the configuration it has in AWS)', () => {
    let db: TestDatabase;
    let redisKeys: TestRedisPrefix;

    beforeAll(async () => {
      db = await createTestDatabase();
      redisKeys = createTestRedisPrefix();
    });

    afterAll(async () => {
      await db?.drop();
      await redisKeys?.cleanup();
    });

    test('the one-off migrate command applies every migration', async () => {
      // WHEN dist/migrate.js runs in the image layout
      const { stdout, stderr } = await run(requireRuntimeNode(), ['dist/migrate.js'], {
        cwd: dir,
        env: imageEnv({ DATABASE_URL: db.url, SESSION_SECRET }),
      }).catch((err: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`migrate failed: ${err.message}\n${err.stdout}\n${err.stderr}`);
      });
      // THEN every migration file is recorded as applied
      const files = readdirSync(path.join(dir, 'migrations')).filter((f) => f.endsWith('.sql'));
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number }>(
          'SELECT version FROM schema_migrations ORDER BY 1',
        );
        expect(rows.map((r) => Number(r.version))).toEqual(
          files.map((f) => Number(f.slice(0, f.indexOf('_')))),
        );
      } finally {
        await client.end();
      }
      expect(`${stdout}${stderr}`).not.toMatch(/error/i);
    });

    test('the one-off admin command grants the admin role to an existing user', async () => {
      // GIVEN a user (the migrations ran in the previous test)
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query(
          `INSERT INTO users (id, email, name, password_hash) VALUES ('01900000-0000-7000-8000-0000000000ad', 'ops@example.test', 'Ops', 'x')`,
        );
        // WHEN dist/admin.js runs in the image layout
        const { stdout } = await run(process.execPath, ['dist/admin.js', 'grant', 'ops@example.test'], {
          cwd: dir,
          env: imageEnv({ DATABASE_URL: db.url, ADMIN_EMAILS: 'ops@example.test' }),
        });
        // THEN the role is stored
        expect(JSON.parse(stdout)).toMatchObject({ msg: 'admin role granted', email: 'ops@example.test' });
        const { rows } = await client.query(`SELECT role FROM users WHERE email = 'ops@example.test'`);
        expect(rows).toEqual([{ role: 'admin' }]);
      } finally {
        await client.end();
      }
    });

    test('the server starts, is ready, serves products and the storefront, and exits cleanly on SIGTERM', async () => {
      // GIVEN the migrated database; the server must not need to migrate it again. The task's root filesystem
      // is read-only in AWS: the image layout, TMPDIR and HOME are compared before and after the run, so any
      // file the server writes (or touches) fails the test (the tests may run as root, which ignores modes).
      const scratch = await mkdtemp(path.join(os.tmpdir(), 'shop-bundle-scratch-'));
      const layoutBefore = treeSnapshot(dir);
      const server = await startServer(dir, {
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: redisKeys.prefix,
        SESSION_SECRET,
        AUTO_MIGRATE: 'false',
        SEED_DEMO_DATA: 'true',
        TMPDIR: scratch,
        HOME: scratch,
      });
      let ended = false;
      try {
        // THEN it is ready with the database and Redis reachable
        const ready = await getJson<Record<string, string>>(`${server.url}/readyz`);
        expect(ready).toMatchObject({ status: 200, body: { status: 'ready', database: 'ok', cache: 'ok' } });

        // AND the seeded catalog is served, page by page
        const page = await getJson<ProductPage>(`${server.url}/api/products?limit=3`);
        expect(page.status).toBe(200);
        expect(page.body.items).toHaveLength(3);
        expect(page.body.items[0]).toEqual(
          expect.objectContaining({
            id: expect.any(String),
            name: expect.any(String),
            priceCents: expect.any(Number),
          }),
        );
        expect(typeof page.body.nextCursor).toBe('string');
        // (served through the Redis cache: the page is stored under the app's key prefix)
        expect((await redisKeys.keys()).length).toBeGreaterThan(0);

        // AND the storefront comes from the copied public/ folder
        const index = await fetch(`${server.url}/`);
        expect(index.status).toBe(200);
        expect(await index.text()).toContain('<script type="module" src="app.js"></script>');
        const script = await fetch(`${server.url}/app.js`);
        expect(script.status).toBe(200);
        expect(script.headers.get('content-type')).toMatch(/javascript/);

        // WHEN it is asked to stop
        const exit = await terminate(server);
        ended = true;
        // THEN it exits by itself with status 0 and stops listening (the server's log tells why if not)
        expect({ ...exit, log: exit.code === 0 ? '' : server.output() }).toEqual({
          code: 0,
          signal: null,
          log: '',
        });
        await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
        // AND it wrote nothing: a read-only root filesystem with no tmpfs serves it (lib/constructs/app-service.ts)
        expect(treeSnapshot(dir)).toEqual(layoutBefore);
        expect(treeSnapshot(scratch)).toEqual([]);
      } finally {
        if (!ended) server.child.kill('SIGKILL');
        await rm(scratch, { recursive: true, force: true });
      }
    });
  });

  describe('on embedded PGlite (no database configured)', () => {
    test('the copied PGlite package works: migrations, demo catalog, readiness, SIGTERM', async () => {
      const server = await startServer(dir, { SESSION_SECRET });
      let ended = false;
      try {
        const ready = await getJson<Record<string, string>>(`${server.url}/readyz`);
        expect(ready).toMatchObject({
          status: 200,
          body: { status: 'ready', database: 'ok', cache: 'memory' },
        });
        const page = await getJson<ProductPage>(`${server.url}/api/products?limit=5`);
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBe(5);

        const exit = await terminate(server);
        ended = true;
        expect(exit).toEqual({ code: 0, signal: null });
      } finally {
        if (!ended) server.child.kill('SIGKILL');
      }
    });
  });
});
