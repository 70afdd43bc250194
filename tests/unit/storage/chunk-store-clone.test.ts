// Proves that a clone update makes a chunk an exact copy of another chunk's committed version in
// both stores, that later writes to either side leave the other unchanged (appends into a shared
// partial block included), that a stale or absent source is handled as the update says, and that
// the native engine shares the source's slots (preparing a clone within the call, without a worker
// thread), frees a slot only when no chunk names it any more, and rebuilds those reference counts
// when it replays its metadata log.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { hasCode } from '../../../src/common/errors.js';
import { CommonCode, StorageCode } from '../../../src/common/status-code.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';
import type { ChunkStore, ChunkUpdate } from '../../../src/storage/store/chunk-store.js';
import { NativeChunkStore } from '../../../src/storage/store/native-chunk-store.js';
import {
  chunkStoreKinds,
  openTestStore,
  testBlockBytes,
  type ChunkStoreKind,
} from './helpers/chunk-store-kinds.js';

let dir: string;
let stores: ChunkStore[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), '3fs-chunk-clone-'));
  stores = [];
});
afterEach(async () => {
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(kind: ChunkStoreKind, options: { compactMinBytes?: number } = {}): Promise<ChunkStore> {
  const store = await openTestStore({ kind, path: join(dir, kind), ...options });
  stores.push(store);
  return store;
}

async function reopen(kind: ChunkStoreKind, store: ChunkStore): Promise<ChunkStore> {
  await store.close();
  stores = stores.filter((open) => open !== store);
  return open(kind);
}

async function apply(store: ChunkStore, chunkId: ChunkId, update: ChunkUpdate): Promise<void> {
  const version = (store.stat(chunkId)?.committed?.version ?? 0) + 1;
  await store.prepare(chunkId, update, { version, chainVersion: 1 });
  await store.commit(chunkId, version);
}

function cloneOf(store: ChunkStore, source: ChunkId): ChunkUpdate {
  return { kind: 'clone', source, sourceVersion: store.stat(source)?.committed?.version ?? 0 };
}

async function readAll(store: ChunkStore, chunkId: ChunkId): Promise<Buffer | undefined> {
  if (store.stat(chunkId)?.committed === undefined) return undefined;
  const result = await store.read(chunkId, { offset: 0, length: 1 << 20, pending: false });
  expect(result.checksum).toBe(crc32c(result.data));
  return result.data;
}

function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let at = 0; at < length; at++) bytes[at] = (at * 7 + seed) % 251;
  return bytes;
}

const source: ChunkId = { inode: 10n, index: 3 };
const clone: ChunkId = { inode: 11n, index: 3 };
/** Ten and a half blocks: the last block is partial, the case in-place appends would touch. */
const original = pattern(10 * testBlockBytes + testBlockBytes / 2, 1);

describe.each(chunkStoreKinds)('a clone in the %s store', (kind) => {
  it('copies the committed version: same bytes, length and checksum, the source unchanged', async () => {
    const store = await open(kind);
    await apply(store, source, { kind: 'replace', data: original });
    await apply(store, clone, cloneOf(store, source));
    expect(await readAll(store, clone)).toEqual(original);
    expect(await readAll(store, source)).toEqual(original);
    expect(store.stat(clone)?.committed?.checksum).toBe(crc32c(original));
    expect(store.stat(clone)?.committed?.length).toBe(original.length);
  });

  it('lets both sides diverge under overwrites and appends, each leaving the other unchanged', async () => {
    const store = await open(kind);
    await apply(store, source, { kind: 'replace', data: original });
    await apply(store, clone, cloneOf(store, source));
    const cloneBytes = Buffer.from(original);
    const sourceBytes = Buffer.from(original);
    const steps: Array<{ chunk: ChunkId; model: Buffer; offset: number; data: Buffer }> = [
      { chunk: clone, model: cloneBytes, offset: 100, data: Buffer.from('clone side') },
      { chunk: source, model: sourceBytes, offset: 3 * testBlockBytes, data: Buffer.from('source side') },
      // Appends into the shared partial last block, from both sides in turn.
      { chunk: clone, model: cloneBytes, offset: original.length, data: Buffer.from('clone tail') },
      { chunk: source, model: sourceBytes, offset: original.length, data: Buffer.from('SOURCE TAIL!') },
    ];
    let models = { clone: cloneBytes, source: sourceBytes };
    for (const step of steps) {
      await apply(store, step.chunk, { kind: 'write', offset: step.offset, data: step.data });
      const side = step.chunk === clone ? 'clone' : 'source';
      const before = models[side];
      const after = Buffer.alloc(Math.max(before.length, step.offset + step.data.length));
      before.copy(after);
      step.data.copy(after, step.offset);
      models = { ...models, [side]: after };
      expect(await readAll(store, clone)).toEqual(models.clone);
      expect(await readAll(store, source)).toEqual(models.source);
    }
  });

  it('keeps the clone whole after the source is removed, and the source after the clone is', async () => {
    const store = await open(kind);
    await apply(store, source, { kind: 'replace', data: original });
    await apply(store, clone, cloneOf(store, source));
    await apply(store, source, { kind: 'remove' });
    expect(await readAll(store, clone)).toEqual(original);
    await apply(store, clone, { kind: 'write', offset: original.length, data: Buffer.from('more') });
    expect(await readAll(store, clone)).toEqual(Buffer.concat([original, Buffer.from('more')]));
    const again: ChunkId = { inode: 12n, index: 3 };
    await apply(store, again, cloneOf(store, clone));
    await apply(store, again, { kind: 'remove' });
    expect(await readAll(store, clone)).toEqual(Buffer.concat([original, Buffer.from('more')]));
  });

  it('replaces what the destination held, and survives a restart', async () => {
    let store = await open(kind);
    await apply(store, source, { kind: 'replace', data: original });
    await apply(store, clone, { kind: 'replace', data: pattern(5 * testBlockBytes, 9) });
    await apply(store, clone, cloneOf(store, source));
    expect(await readAll(store, clone)).toEqual(original);
    store = await reopen(kind, store);
    expect(await readAll(store, clone)).toEqual(original);
    expect(await readAll(store, source)).toEqual(original);
  });

  it('removes the destination when the source is absent at version 0', async () => {
    const store = await open(kind);
    await apply(store, clone, { kind: 'replace', data: original });
    await apply(store, clone, { kind: 'clone', source, sourceVersion: 0 });
    expect(store.stat(clone)).toBeUndefined();
  });

  it('refuses a source at another version than expected, and a chunk cloned onto itself', async () => {
    const store = await open(kind);
    await apply(store, source, { kind: 'replace', data: original });
    await apply(store, clone, { kind: 'replace', data: Buffer.from('kept') });
    const stale = store.prepare(
      clone,
      { kind: 'clone', source, sourceVersion: 7 },
      { version: 2, chainVersion: 1 },
    );
    await expect(stale).rejects.toSatisfy((error) => hasCode(error, StorageCode.ChunkVersionMismatch));
    const absent = store.prepare(
      clone,
      { kind: 'clone', source: { inode: 99n, index: 0 }, sourceVersion: 1 },
      { version: 2, chainVersion: 1 },
    );
    await expect(absent).rejects.toSatisfy((error) => hasCode(error, StorageCode.ChunkVersionMismatch));
    const onto = store.prepare(source, cloneOf(store, source), { version: 2, chainVersion: 1 });
    await expect(onto).rejects.toSatisfy((error) => hasCode(error, CommonCode.InvalidArgument));
    expect(await readAll(store, clone)).toEqual(Buffer.from('kept'));
    expect(store.stat(clone)?.pending).toBeUndefined();
  });
});

describe('a clone in the native engine', () => {
  const blocks = Math.ceil(original.length / testBlockBytes);

  async function openNative(options: { compactMinBytes?: number } = {}): Promise<NativeChunkStore> {
    const store = await open('native', options);
    if (!(store instanceof NativeChunkStore)) throw new Error('not the native store');
    return store;
  }

  it('shares every slot and frees a slot only when no chunk names it any more', async () => {
    const store = await openNative();
    await apply(store, source, { kind: 'replace', data: original });
    expect(store.engineStats().usedSlots).toBe(blocks);
    await apply(store, clone, cloneOf(store, source));
    expect(store.engineStats()).toMatchObject({ usedSlots: blocks, sharedSlots: blocks });
    // One overwritten block of the clone: one new slot, one slot no longer shared.
    await apply(store, clone, { kind: 'write', offset: 0, data: Buffer.from('x') });
    expect(store.engineStats()).toMatchObject({ usedSlots: blocks + 1, sharedSlots: blocks - 1 });
    // Removing the source frees only its block the clone does not name.
    await apply(store, source, { kind: 'remove' });
    expect(store.engineStats()).toMatchObject({ usedSlots: blocks, sharedSlots: 0 });
    await apply(store, clone, { kind: 'remove' });
    expect(store.engineStats()).toMatchObject({ usedSlots: 0, sharedSlots: 0 });
  });

  it('has the pending clone in place when the prepare call returns: it takes no worker thread', async () => {
    const store = await openNative();
    await apply(store, source, { kind: 'replace', data: original });
    const prepared = store.prepare(clone, cloneOf(store, source), { version: 1, chainVersion: 1 });
    expect(store.stat(clone)?.pending?.version).toBe(1);
    expect(store.engineStats().sharedSlots).toBe(blocks);
    await prepared;
    await store.commit(clone, 1);
    expect(await readAll(store, clone)).toEqual(original);
  });

  it('gives back the references of a pending clone that is discarded', async () => {
    const store = await openNative();
    await apply(store, source, { kind: 'replace', data: original });
    await store.prepare(clone, cloneOf(store, source), { version: 1, chainVersion: 1 });
    expect(store.engineStats().sharedSlots).toBe(blocks);
    await store.discardPending(clone);
    expect(store.engineStats()).toMatchObject({ usedSlots: blocks, sharedSlots: 0 });
    await apply(store, source, { kind: 'remove' });
    expect(store.engineStats().usedSlots).toBe(0);
  });

  it('keeps a pending clone whole while its source is replaced and removed meanwhile', async () => {
    const store = await openNative();
    await apply(store, source, { kind: 'replace', data: original });
    await store.prepare(clone, cloneOf(store, source), { version: 1, chainVersion: 1 });
    await apply(store, source, { kind: 'replace', data: pattern(3 * testBlockBytes, 5) });
    await apply(store, source, { kind: 'remove' });
    await store.commit(clone, 1);
    expect(await readAll(store, clone)).toEqual(original);
    expect(store.engineStats()).toMatchObject({ usedSlots: blocks, sharedSlots: 0 });
  });

  it('rebuilds the reference counts from its log at restart, before and after a compaction', async () => {
    let store = await openNative({ compactMinBytes: 1 << 30 });
    await apply(store, source, { kind: 'replace', data: original });
    await apply(store, clone, cloneOf(store, source));
    await apply(store, clone, { kind: 'write', offset: testBlockBytes, data: Buffer.from('y') });
    const expected = { usedSlots: blocks + 1, sharedSlots: blocks - 1 };
    expect(store.engineStats()).toMatchObject(expected);
    for (const compact of [false, true]) {
      if (compact) await store.compact();
      await store.close();
      stores = stores.filter((open) => open !== store);
      store = await openNative({ compactMinBytes: 1 << 30 });
      expect(store.engineStats()).toMatchObject(expected);
    }
    await apply(store, source, { kind: 'remove' });
    expect(store.engineStats()).toMatchObject({ usedSlots: blocks, sharedSlots: 0 });
    const cloneBytes = Buffer.from(original);
    cloneBytes.write('y', testBlockBytes);
    expect(await readAll(store, clone)).toEqual(cloneBytes);
    await apply(store, clone, { kind: 'remove' });
    expect(store.engineStats().usedSlots).toBe(0);
  });
});
