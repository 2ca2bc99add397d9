/**
 * Everything the benchmark starts registers its undo here; the stack runs in reverse order from a
 * `finally` block and from SIGINT/SIGTERM, so an interrupted run leaves no processes, databases,
 * Redis keys or replica directories behind.
 */

/** A last-in-first-out list of clean-up steps. */
export class CleanupStack {
  private readonly steps: { readonly name: string; readonly run: () => Promise<void> | void }[] = [];
  private running: Promise<string[]> | undefined;

  /** Registers a step; returns a function that runs (and removes) just this step early. */
  defer(name: string, run: () => Promise<void> | void): () => Promise<void> {
    const step = { name, run };
    this.steps.push(step);
    return async () => {
      const index = this.steps.indexOf(step);
      if (index === -1) return;
      this.steps.splice(index, 1);
      await step.run();
    };
  }

  /** Number of pending steps. */
  get size(): number {
    return this.steps.length;
  }

  /**
   * Runs every pending step, newest first, each at most `timeoutMs`; a failing step does not stop the
   * others. Concurrent calls share one run. Resolves to the failures ("name: message").
   */
  runAll(timeoutMs = 30_000): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      while (this.steps.length) {
        const step = this.steps.pop()!;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(step.run),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
            }),
          ]);
        } catch (error) {
          failures.push(`${step.name}: ${(error as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }
      return failures;
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * On SIGINT/SIGTERM: runs the stack, then exits with 128 + signal number. Returns a function that
   * removes the handlers.
   */
  exitOnSignals(log: (message: string) => void = console.error): () => void {
    const handler = (signal: NodeJS.Signals) => {
      log(`\n${signal} received: cleaning up ${this.size} resource(s) before exiting...`);
      void this.runAll().then((failures) => {
        for (const failure of failures) log(`  clean-up failed: ${failure}`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    };
  }
}

/**
 * Runs a measuring script's `work` with a new stack: on SIGINT or SIGTERM the stack runs and the process exits
 * with 130; when `work` ends, however it ends, what is left of the stack runs and its failures are printed.
 */
export async function runWithCleanup(work: (cleanup: CleanupStack) => Promise<void>): Promise<void> {
  const cleanup = new CleanupStack();
  const onSignal = () => void cleanup.runAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await work(cleanup);
  } finally {
    const failures = await cleanup.runAll();
    if (failures.length > 0) console.error(`clean-up failures: ${failures.join('; ')}`);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
