import { readFileSync } from 'node:fs';

/** One instruction of a Dockerfile: keyword (upper-cased), its raw arguments, and its 1-based line. */
export interface DockerInstruction {
  keyword: string;
  args: string;
  line: number;
}

/** One `FROM ... [AS name]` stage and the instructions that follow it. */
export interface DockerStage {
  image: string;
  name?: string;
  instructions: DockerInstruction[];
}

/** A `COPY` instruction split into its flags, sources and destination. */
export interface DockerCopy {
  from?: string;
  flags: string[];
  sources: string[];
  dest: string;
}

/**
 * Parses a Dockerfile into stages: handles comments, parser directives, and `\` line continuations.
 * Only what the bundle test needs; heredocs are rejected rather than misread.
 */
export function parseDockerfile(text: string): DockerStage[] {
  const instructions: DockerInstruction[] = [];
  const lines = text.split(/\r?\n/);
  let pending: { text: string; line: number } | undefined;
  lines.forEach((raw, index) => {
    const trimmed = raw.trim();
    if (!pending && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (pending && trimmed.startsWith('#')) return; // comment lines inside a continuation are dropped
    const continued = trimmed.endsWith('\\');
    const body = continued ? trimmed.slice(0, -1) : trimmed;
    pending = pending
      ? { text: `${pending.text} ${body}`, line: pending.line }
      : { text: body, line: index + 1 };
    if (continued) return;
    const match = /^(\S+)\s*(.*)$/.exec(pending.text.trim());
    if (!match) throw new Error(`Dockerfile line ${pending.line}: cannot parse "${pending.text}"`);
    if (match[2].includes('<<'))
      throw new Error(`Dockerfile line ${pending.line}: heredocs are not supported`);
    instructions.push({ keyword: match[1].toUpperCase(), args: match[2].trim(), line: pending.line });
    pending = undefined;
  });
  if (pending) throw new Error('Dockerfile ends inside a line continuation');

  const stages: DockerStage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!from)
        throw new Error(`Dockerfile line ${instruction.line}: cannot parse FROM "${instruction.args}"`);
      stages.push({ image: from[1], name: from[2], instructions: [] });
    } else if (instruction.keyword !== 'ARG' || stages.length > 0) {
      if (stages.length === 0)
        throw new Error(`Dockerfile line ${instruction.line}: instruction before FROM`);
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return stages;
}

/** Reads and parses a Dockerfile from disk. */
export function readDockerfile(file: string): DockerStage[] {
  return parseDockerfile(readFileSync(file, 'utf8'));
}

/** The `COPY` instructions of a stage, with `--from=` pulled out of the flags. */
export function copiesOf(stage: DockerStage): DockerCopy[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      if (i.args.startsWith('[')) {
        throw new Error(`Dockerfile line ${i.line}: JSON-form COPY is not supported by this test`);
      }
      const words = i.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      if (paths.length < 2)
        throw new Error(`Dockerfile line ${i.line}: COPY needs a source and a destination`);
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return {
        from,
        flags: flags.filter((f) => !f.startsWith('--from=')),
        sources: paths.slice(0, -1),
        dest: paths.at(-1)!,
      };
    });
}

/** The stage's last `WORKDIR` (absolute), or `/` when it sets none. */
export function workdirOf(stage: DockerStage): string {
  const workdirs = stage.instructions.filter((i) => i.keyword === 'WORKDIR').map((i) => i.args);
  return workdirs.at(-1) ?? '/';
}

/** The stage's `ENV` variables (both `ENV A=1 B=2` and the legacy `ENV A 1` form), later ones winning. */
export function envOf(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.keyword === 'ENV')) {
    if (!i.args.includes('=')) {
      const [key, ...rest] = i.args.split(/\s+/);
      env[key] = rest.join(' ');
      continue;
    }
    for (const match of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) {
      env[match[1]] = match[3] ?? match[2];
    }
  }
  return env;
}

/** The stage's `CMD` in exec (JSON array) form; shell form is refused because it breaks signal delivery. */
export function cmdOf(stage: DockerStage): string[] {
  const cmd = stage.instructions.filter((i) => i.keyword === 'CMD').at(-1);
  if (!cmd) throw new Error('the stage has no CMD');
  if (!cmd.args.startsWith('[')) {
    throw new Error(
      `CMD must use the exec form (a JSON array) so that node receives SIGTERM; got ${cmd.args}`,
    );
  }
  return JSON.parse(cmd.args) as string[];
}

/** The user the stage runs as (its last `USER`), or `root` when it sets none. */
export function userOf(stage: DockerStage): string {
  return stage.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args ?? 'root';
}

/**
 * Whether `.dockerignore` rules (in file order; `!` re-includes; the last matching rule wins) keep a path
 * in the build context. Supports the pattern forms this repository uses: `*`, plain paths, `*` inside a
 * segment, and `**`. A rule that matches a folder also matches everything below it.
 */
export function isInBuildContext(dockerignore: string, file: string): boolean {
  let included = true;
  for (const raw of dockerignore.split(/\r?\n/)) {
    const rule = raw.trim();
    if (rule === '' || rule.startsWith('#')) continue;
    const negated = rule.startsWith('!');
    const pattern = (negated ? rule.slice(1) : rule).replace(/^\/+|\/+$/g, '');
    if (globMatchesPathOrParent(pattern, file)) included = negated;
  }
  return included;
}

function globMatchesPathOrParent(pattern: string, file: string): boolean {
  const source = pattern
    .split('/')
    .map((segment) =>
      segment === '**'
        ? '.*'
        : segment
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
    )
    .join('/');
  return new RegExp(`^${source}(/.*)?$`).test(file);
}
