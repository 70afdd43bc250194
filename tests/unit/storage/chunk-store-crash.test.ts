// Proves that a chunk store killed with SIGKILL at random moments while it writes and commits comes
// back with every chunk at the last version it acknowledged or the one it was committing, with
// every block checksum verified, for both stores (and the native engine writing whole blocks with
// O_DIRECT), with and without durability.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import {
  type ChunkStoreKind,
  chunkStoreKinds,
  nativeDirectKind,
  openTestStore,
  workloadScaleOf,
} from './helpers/chunk-store-kinds.js';
import { crashChunks, crashContent } from './helpers/crash-workload.js';

const writer = join(import.meta.dirname, 'helpers', 'crash-writer.ts');
const rounds = 4;

let dir: string;
let children: ChildProcess[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), '3fs-chunk-crash-'));
  children = [];
});
afterEach(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the writer until it has acknowledged `commitsBeforeKill` more commits and then a random
 * moment later, kills it, and returns the highest version it acknowledged per chunk.
 */
async function runAndKill(options: {
  kind: string;
  path: string;
  durable: boolean;
  delayMs: number;
}): Promise<Map<number, number>> {
  const acknowledged = new Map<number, number>();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', writer, options.kind, options.path, options.durable ? '1' : '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let buffered = '';
  // 'close' comes after stdout is drained: every acknowledgement written before the kill is read.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`the writer made no progress: ${stderr}`)), 20_000);
    let started = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [word, index, version] = line.split(' ');
        if (word !== 'committed') continue;
        acknowledged.set(Number(index), Math.max(acknowledged.get(Number(index)) ?? 0, Number(version)));
        if (!started) {
          started = true;
          setTimeout(() => {
            clearTimeout(deadline);
            child.kill('SIGKILL');
            resolve();
          }, options.delayMs);
        }
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`the writer exited (${code}, ${signal}): ${stderr}`));
    });
  });
  await exited;
  return acknowledged;
}

// native-direct: whole blocks written around the page cache, killed mid-write as well.
describe.each<ChunkStoreKind>([...chunkStoreKinds, nativeDirectKind])(
  'the %s chunk store killed mid-write',
  (kind) => {
    it('comes back with every chunk at its acknowledged version or the next one, checksums verified', async () => {
      const path = join(dir, 'target');
      const highest = new Map<number, number>();
      for (let round = 0; round < rounds; round++) {
        const acknowledged = await runAndKill({
          kind,
          path,
          durable: round % 2 === 1,
          delayMs: 30 + Math.floor(Math.random() * 400),
        });
        const store = await openTestStore({ kind, path });
        try {
          for (let index = 0; index < crashChunks; index++) {
            const chunkId = { inode: 77n, index };
            const floor = Math.max(acknowledged.get(index) ?? 0, highest.get(index) ?? 0);
            const committed = store.stat(chunkId)?.committed;
            const version = committed?.version ?? 0;
            expect(store.stat(chunkId)?.pending).toBeUndefined();
            expect(version === floor || version === floor + 1, `chunk ${index}: ${version} vs ${floor}`).toBe(
              true,
            );
            highest.set(index, version);
            if (version === 0) continue;
            const { data } = await store.read(chunkId, { offset: 0, length: 1 << 20, pending: false });
            expect(data).toEqual(crashContent(index, version, workloadScaleOf(kind)));
            expect(committed?.checksum).toBe(crc32c(data));
          }
        } finally {
          await store.close();
        }
      }
      expect([...highest.values()].some((version) => version > 1)).toBe(true);
    }, 90_000);
  },
);
