// Real-process helpers for integration tests: temp dirs, configs, spawning the built binaries
// from dist/, waiting for their log lines, and killing everything at the end of a test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const distDir = resolve(import.meta.dirname, '../../../dist');

/** A spawned binary with its collected output. */
export interface RunningProcess {
  child: ChildProcess;
  name: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first parsed JSON log line for which `match` holds. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Tracks processes and temp dirs of one test so `cleanup` can always remove them. */
export class TestWorld {
  private readonly processes: RunningProcess[] = [];
  private readonly dirs: string[] = [];

  tempDir(prefix = '3fs-test-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Writes a cluster secret file and returns its path. */
  secretFile(dir: string, secret = 'test-cluster-secret-0123456789'): string {
    const path = join(dir, 'cluster-secret');
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    return path;
  }

  /** Starts `dist/<binary>.js` with arguments. */
  spawnBinary(binary: string, args: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
    const child = spawn(process.execPath, [join(distDir, `${binary}.js`), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const waiters: {
      match: (line: Record<string, unknown>) => boolean;
      resolve: (line: Record<string, unknown>) => void;
    }[] = [];
    const lines: Record<string, unknown>[] = [];
    let partial = '';
    child.stdout?.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr?.on('data', (data: Buffer) => {
      const text = data.toString();
      stderr += text;
      partial += text;
      const complete = partial.split('\n');
      partial = complete.pop() ?? '';
      for (const raw of complete) {
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          continue;
        }
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (waiter.match(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
      child.on('exit', (code, signal) => resolveExit({ code, signal })),
    );
    const running: RunningProcess = {
      child,
      name: binary,
      stdout: () => stdout,
      stderr: () => stderr,
      exited,
      waitForLog(match, timeoutMs = 15_000) {
        const seen = lines.find(match);
        if (seen !== undefined) return Promise.resolve(seen);
        return new Promise((resolveLine, reject) => {
          const timer = setTimeout(() => {
            reject(
              new Error(
                `${binary}: no matching log line within ${timeoutMs} ms; stderr:\n${stderr.slice(-4000)}`,
              ),
            );
          }, timeoutMs);
          waiters.push({
            match,
            resolve: (line) => {
              clearTimeout(timer);
              resolveLine(line);
            },
          });
          void exited.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(
              new Error(
                `${binary} exited (code ${code}, signal ${signal}) before the log line; stderr:\n${stderr.slice(-4000)}`,
              ),
            );
          });
        });
      },
    };
    this.processes.push(running);
    return running;
  }

  /** Runs a binary to completion and returns its exit code and output. */
  async runBinary(
    binary: string,
    args: string[],
    timeoutMs = 20_000,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const running = this.spawnBinary(binary, args);
    const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
    const { code } = await running.exited;
    clearTimeout(timer);
    return { code, stdout: running.stdout(), stderr: running.stderr() };
  }

  /** Kills every process still running (SIGKILL) and removes temp dirs. */
  async cleanup(): Promise<void> {
    for (const running of this.processes) {
      if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL');
    }
    await Promise.all(this.processes.map((running) => running.exited));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await new Promise((resolveSleep) => setTimeout(resolveSleep, 100));
  }
}
