/**
 * Child processes of the benchmark (app instances, the balancer, the bare fastify baseline): started
 * with a readiness probe, their output kept for error messages, stopped with SIGTERM then SIGKILL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A started child process. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Base URL the process serves (http://127.0.0.1:port). */
  readonly url: string;
  /** The last lines the process printed (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start and probe a process. */
export interface StartProcessOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Base URL the process will serve. */
  readonly url: string;
  /** Path polled until it answers 2xx. @default '/healthz' */
  readonly readyPath?: string;
  /** @default 60000 */
  readonly readyTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Spawns a process and waits until `url + readyPath` answers 2xx. Throws with the process's output
 * when it exits or does not become ready in time (and kills it in the latter case).
 */
export async function startProcess(options: StartProcessOptions): Promise<ManagedProcess> {
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  await spawned;

  const managed: ManagedProcess = {
    name: options.name,
    pid: child.pid!,
    url: options.url,
    output: () => lines.join('\n'),
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await waitForExit(child);
      clearTimeout(killed);
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  const probe = new URL(options.readyPath ?? '/healthz', options.url);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${options.name} exited (${child.exitCode ?? child.signalCode}) before it was ready; its output:\n` +
          managed.output(),
      );
    }
    try {
      const response = await fetch(probe, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return managed;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await managed.stop(2_000);
      throw new Error(`${options.name} was not ready at ${probe} in time; its output:\n${managed.output()}`);
    }
    await sleep(100);
  }
}

let clockTicks: number | undefined;

/**
 * CPU time (user + system, seconds) a process has used so far, from /proc/<pid>/stat (fields 14 and 15, in
 * clock ticks of `getconf CLK_TCK`, 10 ms here). `undefined` where /proc cannot be read (not Linux, or the
 * process is gone).
 */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}
