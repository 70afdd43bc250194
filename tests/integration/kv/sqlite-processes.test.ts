// Proves that real processes sharing one sqlite file stay serializable, and that a SIGKILL mid-commit loses no acknowledged commit.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { openSqliteKvEngine, prefixEnd } from '../../../src/kv/index.js';

const helpers = join(dirname(fileURLToPath(import.meta.url)), 'helpers');
const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const lineTimeoutMs = 20_000;

/** A child process and the lines it printed, with a way to wait for one. */
interface Child {
  process: ChildProcess;
  lines: string[];
  waitFor(predicate: (line: string) => boolean): Promise<string>;
  exited: Promise<void>;
}

const children: Child[] = [];
let directory: string | undefined;

function start(script: string, args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', join(helpers, script), ...args], {
    cwd: repositoryRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters: Array<{ predicate: (line: string) => boolean; resolve: (line: string) => void }> = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const handle: Child = {
    process: child,
    lines,
    exited,
    waitFor(predicate) {
      const seen = lines.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching line from ${script} in ${lineTimeoutMs} ms`)),
          lineTimeoutMs,
        );
        waiters.push({
          predicate,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(
            new Error(
              `${script} exited before printing the expected line; it printed: ${lines.slice(-5).join(' | ')}`,
            ),
          );
        });
      });
    },
  };
  children.push(handle);
  return handle;
}

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    await child.exited;
  }
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  directory = undefined;
});

describe('sqlite shared by several processes', () => {
  it(
    'two processes incrementing one counter concurrently end at exactly the sum',
    { timeout: 60_000 },
    async () => {
      directory = await mkdtemp(join(tmpdir(), '3fs-kv-processes-'));
      const path = join(directory, 'kv.sqlite');
      const incrementsPerProcess = 400;
      const workers = [
        start('increment-counter.ts', [path, String(incrementsPerProcess)]),
        start('increment-counter.ts', [path, String(incrementsPerProcess)]),
      ];
      await Promise.all(workers.map((worker) => worker.waitFor((line) => line === 'ready')));
      for (const worker of workers) worker.process.stdin?.write('go\n');
      await Promise.all(workers.map((worker) => worker.waitFor((line) => line === 'done')));

      const engine = await openSqliteKvEngine({ path, logger: silentLogger() });
      try {
        const counter = await engine.read((tx) => tx.get(Buffer.from('counter')));
        expect(counter?.readBigUInt64BE()).toBe(BigInt(2 * incrementsPerProcess));
      } finally {
        await engine.close();
      }
    },
  );

  for (const synchronous of ['full', 'normal'] as const) {
    it(
      `keeps every acknowledged commit when the writer is killed with SIGKILL (synchronous=${synchronous})`,
      { timeout: 60_000 },
      async () => {
        directory = await mkdtemp(join(tmpdir(), '3fs-kv-kill-'));
        const path = join(directory, 'kv.sqlite');
        const writer = start('commit-sequence.ts', [path, synchronous]);
        await writer.waitFor((line) => line === 'committed 300');
        writer.process.kill('SIGKILL');
        await writer.exited;
        expect(writer.process.signalCode).toBe('SIGKILL');
        const acknowledged = writer.lines
          .filter((line) => line.startsWith('committed '))
          .map((line) => Number(line.slice(10)));
        const lastAcknowledged = Math.max(...acknowledged);
        expect(acknowledged).toEqual(Array.from({ length: lastAcknowledged + 1 }, (_, index) => index));

        // Reopening runs sqlite's WAL recovery; the file must then be intact.
        const engine = await openSqliteKvEngine({ path, synchronous, logger: silentLogger() });
        let items: Map<number, Buffer>;
        let twins: Map<number, Buffer>;
        try {
          const readGroup = (name: string) =>
            engine.read(async (tx) => {
              const prefix = Buffer.from(`${name}/`);
              const pairs = await tx.getRange(prefix, prefixEnd(prefix));
              return new Map(pairs.map((pair) => [pair.key.readUInt32BE(prefix.length), pair.value]));
            });
          items = await readGroup('item');
          twins = await readGroup('twin');
        } finally {
          await engine.close();
        }
        for (let index = 0; index <= lastAcknowledged; index++) {
          expect(items.get(index)?.equals(expectedValue(index)), `item ${index}`).toBe(true);
        }
        // A commit is all or nothing: both keys of a transaction are there, or neither.
        expect([...items.keys()].sort((a, b) => a - b)).toEqual([...twins.keys()].sort((a, b) => a - b));
        expect(items.size).toBeGreaterThanOrEqual(lastAcknowledged + 1);
        expect(items.size).toBeLessThanOrEqual(lastAcknowledged + 2);

        const database = new Database(path, { readonly: true });
        try {
          expect(database.pragma('integrity_check', { simple: true })).toBe('ok');
        } finally {
          database.close();
        }
      },
    );
  }
});

/** The value commit-sequence.ts writes for transaction `index`. */
function expectedValue(index: number): Buffer {
  return Buffer.alloc(1_000 + (index % 7) * 500, index % 251);
}
