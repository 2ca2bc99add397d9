/**
 * The committed docs/ are what the code generates: a changed stage (or a new one) without `npm run docs`
 * fails here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stageById, stageIds } from '../../stages';
import { existingPages, outdatedPages, writePages } from '../../tools/docs/files';
import { generateDocs, stageDocPath, upgradeDocPath } from '../../tools/docs/generate';
import { consecutiveStagePairs, synthStageCached } from '../../tools/upgrade/stage-synth';
import { repoRoot } from '../../tools/upgrade/synth';

// Synthesis is CPU-bound and the machine is shared: allow for a slow, loaded run.
jest.setTimeout(180_000);

let pages: Map<string, string>;
beforeAll(() => {
  pages = generateDocs(stageIds, synthStageCached, (id) => stageById(id).description);
});

test('a page per stage and per consecutive upgrade, plus the index', () => {
  expect([...pages.keys()].sort()).toEqual(
    [
      'docs/README.md',
      ...stageIds.map(stageDocPath),
      ...consecutiveStagePairs(stageIds).map(([from, to]) => upgradeDocPath(from, to)),
    ].sort(),
  );
  for (const id of stageIds) {
    const page = pages.get(stageDocPath(id)) ?? '';
    expect(page).toContain('```mermaid\nflowchart LR');
    expect(page).toContain('## Resource inventory');
    expect(page).toContain('AWS::RDS::DBCluster');
  }
  for (const [from, to] of consecutiveStagePairs(stageIds)) {
    expect(pages.get(upgradeDocPath(from, to))).toContain('## Interruptions');
    expect(pages.get(upgradeDocPath(from, to))).toMatch(/About \*\*\d+ minutes\*\* in all/);
    expect(pages.get(upgradeDocPath(from, to))).toContain(
      '**SAFE: no data-bearing resource or data anchor is replaced or removed, and every output a deployed stack reads is kept.**',
    );
  }
});

test('1k -> 10k tells users about the one-time sign-out and the new NAT gateway addresses', () => {
  const page = pages.get(upgradeDocPath('1k', '10k')) ?? '';
  expect(page).toContain('- **Sessions move to another store: everyone is signed out once.**');
  expect(page).toContain('`ShopService/Shop/Default/TaskDefinition/Resource (memory → redis)`');
  expect(page).toContain('- **NAT gateway addresses change: update allow-lists.**');
  expect(page).toContain('`ShopNetwork/Vpc/PublicSubnet2/EIP (new)`');
});

test('1m -> global lists the class change as an interruption and the deploy order of the regions', () => {
  const page = pages.get(upgradeDocPath('1m', 'global')) ?? '';
  expect(page).toContain('- **Writer instance class changes: a failover.**');
  expect(page).toContain(
    '`ShopData/Default/Database/Cluster/Writer/Resource (db.t4g.medium → db.r7g.large)`',
  );
  expect(page).toContain(
    '`ShopShardS1/Shard/Database/Cluster/Writer/Resource (db.t4g.medium → db.r7g.large)`',
  );
  expect(page).toContain('- **Aurora Global Database: the running clusters become primaries, in place.**');
  expect(page).toContain('## Procedure: from one region to three');
  // Home data and shards (the global clusters) before the further regions' data stacks, edge and routing after the
  // services, and the domain moved to the edge last (frontDoor=edge: CloudFront's API origin exists by then).
  const order = [
    "**Further regions' networks**",
    '**Home data and shards**',
    "**Further regions' data and shards**",
    '**Edge and routing**',
    '**Move the domain to the edge**',
  ];
  const positions = order.map((step) => page.indexOf(step));
  expect(positions.every((position) => position > 0)).toBe(true);
  expect([...positions].sort((a, b) => a - b)).toEqual(positions);
});

test('generation is deterministic and holds no asset hashes or timestamps', () => {
  expect(generateDocs(stageIds, synthStageCached, (id) => stageById(id).description)).toEqual(pages);
  for (const [path, content] of pages) {
    expect({ path, hash: /[0-9a-f]{64}/.exec(content)?.[0] }).toEqual({ path, hash: undefined });
    expect({ path, date: /20\d\d-\d\d-\d\dT/.exec(content)?.[0] }).toEqual({ path, date: undefined });
  }
});

test('the committed docs/ match the generated pages (run `npm run docs` when this fails)', () => {
  const outdated = outdatedPages(repoRoot, pages);
  if (outdated.length) {
    throw new Error(
      `docs/ is out of date: ${outdated.join(', ')}. Run \`npm run docs\` and commit the result.`,
    );
  }
  expect(existingPages(repoRoot).sort()).toEqual([...pages.keys()].sort());
});

test('writePages updates changed pages and removes stale ones', () => {
  const root = mkdtempSync(join(tmpdir(), 'docs-test-'));
  try {
    mkdirSync(join(root, 'docs/upgrades'), { recursive: true });
    writeFileSync(join(root, 'docs/upgrades/old-to-gone.md'), 'stale');
    const sample = new Map([
      ['docs/README.md', 'index\n'],
      ['docs/stages/a.md', 'stage a\n'],
    ]);

    expect(outdatedPages(root, sample)).toEqual([
      'docs/README.md',
      'docs/stages/a.md',
      'docs/upgrades/old-to-gone.md',
    ]);
    expect(writePages(root, sample)).toHaveLength(3);

    expect(readFileSync(join(root, 'docs/stages/a.md'), 'utf8')).toBe('stage a\n');
    expect(existingPages(root).sort()).toEqual(['docs/README.md', 'docs/stages/a.md']);
    expect(outdatedPages(root, sample)).toEqual([]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
