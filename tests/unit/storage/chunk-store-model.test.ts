// Proves each chunk store behaves as a byte-array model over random sequences of prepared and
// committed writes, replaces, truncates, zeroed ranges and removes, discarded updates, committed
// and relaxed (pending) reads of random ranges, syncs and reopens, on a few chunks at once.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { hasCode } from '../../../src/common/errors.js';
import { StorageCode } from '../../../src/common/status-code.js';
import type { ChunkStore, ChunkUpdate } from '../../../src/storage/store/chunk-store.js';
import { NativeChunkStore } from '../../../src/storage/store/native-chunk-store.js';
import { openTestStore, readPathKinds, type ChunkStoreKind } from './helpers/chunk-store-kinds.js';
import { applyToModel, zeroedModel } from './helpers/crash-workload.js';

const chunkCount = 3;

const updateArbitrary: fc.Arbitrary<ChunkUpdate> = fc.oneof(
  fc
    .record({ offset: fc.nat(400), data: fc.uint8Array({ maxLength: 200 }) })
    .map(({ offset, data }) => ({ kind: 'write' as const, offset, data: Buffer.from(data) })),
  fc.uint8Array({ maxLength: 300 }).map((data) => ({ kind: 'replace' as const, data: Buffer.from(data) })),
  fc.nat(500).map((length) => ({ kind: 'truncate' as const, length })),
  fc.constant({ kind: 'remove' as const }),
  fc
    .record({ offset: fc.nat(450), length: fc.nat(450) })
    .map(({ offset, length }) => ({ kind: 'zero' as const, offset, length })),
);

type Step =
  | { readonly op: 'commit'; readonly chunk: number; readonly update: ChunkUpdate }
  | { readonly op: 'discard'; readonly chunk: number; readonly update: ChunkUpdate }
  | { readonly op: 'read'; readonly chunk: number; readonly offset: number; readonly length: number }
  | { readonly op: 'relaxed-read'; readonly chunk: number; readonly update: ChunkUpdate }
  | { readonly op: 'sync' }
  | { readonly op: 'reopen' }
  | { readonly op: 'compact' };

const chunkArbitrary = fc.nat(chunkCount - 1);
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('commit' as const),
      chunk: chunkArbitrary,
      update: updateArbitrary,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('discard' as const),
      chunk: chunkArbitrary,
      update: updateArbitrary,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('read' as const),
      chunk: chunkArbitrary,
      offset: fc.nat(520),
      length: fc.nat(300),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('relaxed-read' as const),
      chunk: chunkArbitrary,
      update: updateArbitrary,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'compact' as const }) },
);

let dir: string;
let run = 0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), '3fs-chunk-model-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function modelAfter(model: Buffer | undefined, update: ChunkUpdate): Buffer | undefined {
  if (update.kind === 'zero') return zeroedModel(model, update.offset, update.length);
  return update.kind === 'remove' ? undefined : applyToModel(model ?? Buffer.alloc(0), update);
}

async function expectMatches(
  store: ChunkStore,
  chunkId: { inode: bigint; index: number },
  model: Buffer | undefined,
) {
  if (model === undefined) {
    expect(store.stat(chunkId)?.committed).toBeUndefined();
    await expect(store.read(chunkId, { offset: 0, length: 10, pending: false })).rejects.toSatisfy((error) =>
      hasCode(error, StorageCode.ChunkNotFound),
    );
    return;
  }
  const whole = await store.read(chunkId, { offset: 0, length: 1 << 20, pending: false });
  expect(whole.data).toEqual(model);
  expect(whole.checksum).toBe(crc32c(model));
  expect(store.stat(chunkId)?.committed).toMatchObject({ length: model.length, checksum: crc32c(model) });
}

async function runSteps(kind: ChunkStoreKind, steps: readonly Step[]): Promise<void> {
  const path = join(dir, `target-${run++}`);
  const open = () => openTestStore({ kind, path, compactMinBytes: 2048 });
  let store = await open();
  const models: Array<Buffer | undefined> = Array.from({ length: chunkCount }, () => undefined);
  const chunkIdOf = (chunk: number) => ({ inode: 0x42n, index: chunk });
  try {
    for (const step of steps) {
      switch (step.op) {
        case 'commit':
        case 'discard':
        case 'relaxed-read': {
          const chunkId = chunkIdOf(step.chunk);
          const version = (store.stat(chunkId)?.committed?.version ?? 0) + 1;
          const pending = await store.prepare(chunkId, step.update, { version, chainVersion: 1 });
          const next = modelAfter(models[step.chunk], step.update);
          expect(pending).toMatchObject({ version, removed: next === undefined });
          if (next !== undefined) expect(pending.checksum).toBe(crc32c(next));
          if (step.op === 'relaxed-read' && next !== undefined) {
            const relaxed = await store.read(chunkId, { offset: 0, length: 1 << 20, pending: true });
            expect(relaxed.data).toEqual(next);
            expect(relaxed.uncommitted).toBe(true);
          }
          // The committed version reads as before while the update is pending.
          await expectMatches(store, chunkId, models[step.chunk]);
          if (step.op === 'discard') {
            await store.discardPending(chunkId);
          } else {
            await store.commit(chunkId, version);
            models[step.chunk] = next;
          }
          expect(store.hasPending(chunkId)).toBe(false);
          break;
        }
        case 'read': {
          const model = models[step.chunk];
          const chunkId = chunkIdOf(step.chunk);
          if (model === undefined) {
            await expectMatches(store, chunkId, undefined);
            break;
          }
          const result = await store.read(chunkId, {
            offset: step.offset,
            length: step.length,
            pending: false,
          });
          const expected = model.subarray(
            Math.min(step.offset, model.length),
            Math.min(model.length, step.offset + step.length),
          );
          expect(result.data).toEqual(expected);
          expect(result.checksum).toBe(crc32c(expected));
          break;
        }
        case 'sync':
          await store.sync();
          break;
        case 'reopen':
          await store.close();
          store = await open();
          break;
        case 'compact':
          if (store instanceof NativeChunkStore) await store.compact();
          break;
      }
    }
    for (let chunk = 0; chunk < chunkCount; chunk++)
      await expectMatches(store, chunkIdOf(chunk), models[chunk]);
    await store.close();
    // Whatever the sequence, a reopened store holds the same committed chunks.
    store = await open();
    for (let chunk = 0; chunk < chunkCount; chunk++)
      await expectMatches(store, chunkIdOf(chunk), models[chunk]);
    expect(store.totals()).toEqual({
      chunkCount: models.filter((model) => model !== undefined).length,
      committedBytes: models.reduce((sum, model) => sum + (model?.length ?? 0), 0),
    });
  } finally {
    await store.close();
  }
}

describe.each(readPathKinds)('the %s chunk store against a byte-array model', (kind) => {
  it('matches the model over random sequences of updates, discards, reads, syncs and reopens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 30 }), (steps) =>
        runSteps(kind, steps),
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
