// Proves each chunk store (the TypeScript store and the native engine, case by case) keeps
// committed and pending versions apart, applies partial, unaligned and appending writes, truncates,
// zeroed ranges (whose whole blocks are freed) and removes, survives a crash between prepare and
// commit, detects a flipped byte on read (and never returns it), and refuses writes on a full disk
// before writing anything.
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { hasCode } from '../../../src/common/errors.js';
import { CommonCode, StorageCode } from '../../../src/common/status-code.js';
import { formatChunkId, type ChunkId } from '../../../src/storage/protocol/index.js';
import type { ChunkStore, ChunkUpdate, DiskUsage } from '../../../src/storage/store/chunk-store.js';
import type { CorruptionEvent } from '../../../src/storage/store/file-chunk-store.js';
import { NativeChunkStore } from '../../../src/storage/store/native-chunk-store.js';
import { openTestStore, readPathKinds, type ChunkStoreKind } from './helpers/chunk-store-kinds.js';
import { zeroedModel } from './helpers/crash-workload.js';

const blockBytes = 64;
const chunk: ChunkId = { inode: 0x1234n, index: 7 };

let dir: string;
let stores: ChunkStore[];
let free: DiskUsage;
let corruptions: CorruptionEvent[];
let kind: ChunkStoreKind;

async function openStore(path = join(dir, 'target')): Promise<ChunkStore> {
  const store = await openTestStore({
    kind,
    path,
    freeSpaceReserveBytes: 1_000,
    free: () => free,
    onCorruption: (event) => corruptions.push(event),
  });
  stores.push(store);
  return store;
}

/** Prepares and commits one update, as the tail of a chain does. */
async function apply(store: ChunkStore, update: ChunkUpdate, chunkId = chunk): Promise<void> {
  const version = (store.stat(chunkId)?.committed?.version ?? 0) + 1;
  await store.prepare(chunkId, update, { version, chainVersion: 1 });
  await store.commit(chunkId, version);
}

async function readAll(store: ChunkStore, chunkId = chunk): Promise<Buffer> {
  return (await store.read(chunkId, { offset: 0, length: 1 << 20, pending: false })).data;
}

function dataFiles(): string[] {
  const root = join(dir, 'target', 'data');
  return readdirSync(root).flatMap((sub) =>
    readdirSync(join(root, sub)).map((name) => join(root, sub, name)),
  );
}

/**
 * What holds chunk bytes: data files of the TypeScript store, used slots of the native engine (a
 * fresh engine hands out slots front to back, so the first blocks of the first chunk sit at the
 * start of the block-sized class's first file).
 */
function dataUnits(store: ChunkStore): number {
  return store instanceof NativeChunkStore ? store.engineStats().usedSlots : dataFiles().length;
}

/** Flips the byte at `offset` of the first chunk written into a fresh store (blocks 0-2 only). */
function flipByte(offset: number): void {
  const file =
    kind === 'files' ? dataFiles()[0] : join(dir, 'target', 'chunk-engine', 'data', `${blockBytes}-0.dat`);
  if (file === undefined) throw new Error('no data file');
  const bytes = readFileSync(file);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
  writeFileSync(file, bytes);
}

const text = (value: string): Buffer => Buffer.from(value);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), '3fs-chunk-store-'));
  stores = [];
  corruptions = [];
  free = { capacityBytes: 1 << 30, usedBytes: 0, freeBytes: 1 << 30 };
});
afterEach(async () => {
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(readPathKinds)('the %s chunk store', (storeKind) => {
  beforeEach(() => {
    kind = storeKind;
  });

  it('keeps the committed version readable while a pending version exists', async () => {
    const store = await openStore();
    await apply(store, { kind: 'write', offset: 0, data: text('hello') });
    await store.prepare(
      chunk,
      { kind: 'write', offset: 0, data: text('J') },
      { version: 2, chainVersion: 3 },
    );
    expect(store.stat(chunk)).toMatchObject({
      committed: { version: 1, length: 5, checksum: crc32c(text('hello')) },
      pending: { version: 2, chainVersion: 3, length: 5, removed: false },
    });
    expect((await readAll(store)).toString()).toBe('hello');
    const relaxed = await store.read(chunk, { offset: 0, length: 100, pending: true });
    expect(relaxed.data.toString()).toBe('Jello');
    expect(relaxed.uncommitted).toBe(true);
    await store.commit(chunk, 2);
    expect((await readAll(store)).toString()).toBe('Jello');
    expect(store.stat(chunk)?.pending).toBeUndefined();
  });

  it('applies partial and unaligned writes and reads across block boundaries', async () => {
    const store = await openStore();
    const model = Buffer.alloc(300);
    const writes: Array<[number, number]> = [
      [0, 300],
      [63, 2],
      [1, 130],
      [200, 100],
      [299, 1],
    ];
    for (const [offset, length] of writes) {
      const data = Buffer.alloc(length, (offset + length) % 251);
      data.copy(model, offset);
      await apply(store, { kind: 'write', offset, data });
    }
    expect(await readAll(store)).toEqual(model);
    for (const [offset, length] of [
      [0, 1],
      [63, 2],
      [64, 64],
      [100, 150],
      [290, 50],
      [300, 10],
    ] as const) {
      const { data } = await store.read(chunk, { offset, length, pending: false });
      expect(data).toEqual(model.subarray(offset, Math.min(300, offset + length)));
    }
    expect(store.stat(chunk)?.committed?.checksum).toBe(crc32c(model));
  });

  it('appends in place without copying the chunk, and fills a gap with zeros', async () => {
    const store = await openStore();
    await apply(store, { kind: 'write', offset: 0, data: text('abc') });
    await apply(store, { kind: 'write', offset: 3, data: text('def') });
    await apply(store, { kind: 'write', offset: 10, data: text('xyz') });
    // Appends reuse the data file (or the block's slot): still one unit on disk.
    expect(dataUnits(store)).toBe(1);
    if (kind === 'files') expect(dataFiles()[0]).toMatch(new RegExp(`${formatChunkId(chunk)}\\.1$`));
    const expected = Buffer.concat([text('abcdef'), Buffer.alloc(4), text('xyz')]);
    expect(await readAll(store)).toEqual(expected);
    expect(store.stat(chunk)?.committed).toMatchObject({
      version: 3,
      length: 13,
      checksum: crc32c(expected),
    });
    // An overwrite of committed bytes writes a new generation (block) and drops the old one at commit.
    await apply(store, { kind: 'write', offset: 1, data: text('B') });
    expect(dataUnits(store)).toBe(1);
    if (kind === 'files') expect(dataFiles()[0]).toMatch(/\.2$/);
  });

  it('truncates down and up, replaces and removes', async () => {
    const store = await openStore();
    await apply(store, { kind: 'write', offset: 0, data: Buffer.alloc(200, 9) });
    await apply(store, { kind: 'truncate', length: 70 });
    expect(await readAll(store)).toEqual(Buffer.alloc(70, 9));
    await apply(store, { kind: 'truncate', length: 100 });
    expect(await readAll(store)).toEqual(Buffer.concat([Buffer.alloc(70, 9), Buffer.alloc(30)]));
    expect(store.stat(chunk)?.committed?.checksum).toBe(crc32c(await readAll(store)));
    await apply(store, { kind: 'replace', data: text('new') });
    expect((await readAll(store)).toString()).toBe('new');
    await apply(store, { kind: 'remove' });
    expect(store.stat(chunk)).toBeUndefined();
    await expect(readAll(store)).rejects.toSatisfy((error) => hasCode(error, StorageCode.ChunkNotFound));
    expect(dataUnits(store)).toBe(0);
    expect(store.totals()).toEqual({ chunkCount: 0, committedBytes: 0 });
  });

  it('zeroes a range inside a chunk at its length, frees the whole blocks in it, and fills them again on a write', async () => {
    const store = await openStore();
    const model = Buffer.alloc(10 * blockBytes);
    for (let at = 0; at < model.length; at++) model[at] = 1 + (at % 250);
    await apply(store, { kind: 'replace', data: Buffer.from(model) });
    // Blocks 2-5 lie wholly in [100, 400); blocks 1 and 6 only partly.
    await apply(store, { kind: 'zero', offset: 100, length: 300 });
    model.fill(0, 100, 400);
    expect(await readAll(store)).toEqual(model);
    expect(store.stat(chunk)?.committed).toMatchObject({ version: 2, length: 640, checksum: crc32c(model) });
    if (store instanceof NativeChunkStore) expect(store.engineStats().usedSlots).toBe(6);
    for (const [offset, length] of [
      [150, 50],
      [90, 40],
      [380, 100],
      [0, 640],
    ] as const) {
      const { data, checksum } = await store.read(chunk, { offset, length, pending: false });
      expect(data).toEqual(model.subarray(offset, offset + length));
      expect(checksum).toBe(crc32c(data));
    }
    await apply(store, { kind: 'write', offset: 200, data: text('in the hole') });
    model.write('in the hole', 200);
    expect(await readAll(store)).toEqual(model);
    if (store instanceof NativeChunkStore) expect(store.engineStats().usedSlots).toBe(7);
    // A cut inside a freed block leaves it the (shorter) last block; extending reads zeros after it.
    await apply(store, { kind: 'truncate', length: 300 });
    await apply(store, { kind: 'truncate', length: 700 });
    const cut = Buffer.concat([model.subarray(0, 300), Buffer.alloc(400)]);
    expect(await readAll(store)).toEqual(cut);
    await store.close();
    stores.pop();
    const reopened = await openStore();
    expect(await readAll(reopened)).toEqual(cut);
    expect(reopened.stat(chunk)?.committed).toMatchObject({ length: 700, checksum: crc32c(cut) });
    if (reopened instanceof NativeChunkStore) {
      await reopened.compact();
      await reopened.close();
      stores.pop();
      expect(await readAll(await openStore())).toEqual(cut);
    }
    expect(corruptions).toHaveLength(0);
  });

  it('never creates or lengthens a chunk by zeroing: a range reaching the end cuts it, one over all of it removes it', async () => {
    const store = await openStore();
    const pending = await store.prepare(
      chunk,
      { kind: 'zero', offset: 0, length: 100 },
      { version: 1, chainVersion: 1 },
    );
    expect(pending.removed).toBe(true);
    await store.commit(chunk, 1);
    expect(store.stat(chunk)).toBeUndefined();
    await apply(store, { kind: 'write', offset: 0, data: text('abcdefgh') });
    await apply(store, { kind: 'zero', offset: 20, length: 5 });
    expect(store.stat(chunk)?.committed).toMatchObject({ version: 2, length: 8 });
    expect((await readAll(store)).toString()).toBe('abcdefgh');
    await apply(store, { kind: 'zero', offset: 5, length: 100 });
    expect((await readAll(store)).toString()).toBe('abcde');
    await apply(store, { kind: 'zero', offset: 0, length: 5 });
    expect(store.stat(chunk)).toBeUndefined();
    expect(dataUnits(store)).toBe(0);
    await expect(
      store.prepare(
        chunk,
        { kind: 'zero', offset: 10, length: 64 * 1024 * 1024 },
        { version: 1, chainVersion: 1 },
      ),
    ).rejects.toSatisfy((error) => hasCode(error, StorageCode.OffsetOutOfRange));
  });

  it('keeps the committed bytes whole when the process dies with a zeroed range pending', async () => {
    const path = join(dir, 'target');
    const store = await openStore(path);
    const model = Buffer.alloc(5 * blockBytes, 7);
    await apply(store, { kind: 'replace', data: model });
    await store.prepare(chunk, { kind: 'zero', offset: 10, length: 200 }, { version: 2, chainVersion: 1 });
    expect((await store.read(chunk, { offset: 0, length: 1000, pending: true })).data).toEqual(
      Buffer.concat([Buffer.alloc(10, 7), Buffer.alloc(200), Buffer.alloc(110, 7)]),
    );
    // No close: the process dies with the update pending.
    stores.pop();
    const reopened = await openStore(path);
    expect(await readAll(reopened)).toEqual(model);
    expect(reopened.stat(chunk)?.pending).toBeUndefined();
    expect(dataUnits(reopened)).toBe(kind === 'files' ? 1 : 5);
    await store.close();
  });

  it('reads a chunk removed and written again from its new data file, not a handle kept from the old one', async () => {
    const store = await openStore();
    await apply(store, { kind: 'replace', data: text('first bytes') });
    expect((await readAll(store)).toString()).toBe('first bytes');
    await apply(store, { kind: 'remove' });
    // The chunk starts over at the same data file name (a write creates it in place, a replace
    // anew); the old file's handle must not be reused.
    await apply(store, { kind: 'write', offset: 0, data: text('second!') });
    expect((await readAll(store)).toString()).toBe('second!');
    await apply(store, { kind: 'remove' });
    await apply(store, { kind: 'replace', data: text('third bytes') });
    expect((await readAll(store)).toString()).toBe('third bytes');
    await apply(store, { kind: 'remove' });
    await apply(store, { kind: 'replace', data: text('second!') });
    expect((await readAll(store)).toString()).toBe('second!');
    expect(corruptions).toHaveLength(0);
  });

  it('detects a flipped byte on read, reports it, and never returns the bytes', async () => {
    const store = await openStore();
    await apply(store, { kind: 'write', offset: 0, data: Buffer.alloc(200, 1) });
    flipByte(150);
    // A read of an untouched block still succeeds; one covering the damaged block fails.
    expect((await store.read(chunk, { offset: 0, length: 64, pending: false })).data).toEqual(
      Buffer.alloc(64, 1),
    );
    await expect(store.read(chunk, { offset: 140, length: 20, pending: false })).rejects.toSatisfy((error) =>
      hasCode(error, StorageCode.ChunkCorrupted),
    );
    expect(corruptions).toHaveLength(1);
    expect(corruptions[0]).toMatchObject({ version: 1, detail: 'block 2 fails its CRC32C' });
    // An update that must copy the damaged bytes refuses rather than spread them.
    await expect(
      store.prepare(chunk, { kind: 'write', offset: 130, data: text('x') }, { version: 2, chainVersion: 1 }),
    ).rejects.toSatisfy((error) => hasCode(error, StorageCode.ChunkCorrupted));
    expect(store.stat(chunk)?.pending).toBeUndefined();
  });

  it('refuses a write on a full disk before writing, and keeps the committed version', async () => {
    const store = await openStore();
    await apply(store, { kind: 'write', offset: 0, data: text('kept') });
    free = { capacityBytes: 1 << 30, usedBytes: 1 << 30, freeBytes: 1_500 };
    await expect(
      store.prepare(
        chunk,
        { kind: 'write', offset: 4, data: Buffer.alloc(600) },
        { version: 2, chainVersion: 1 },
      ),
    ).rejects.toSatisfy((error) => hasCode(error, StorageCode.NoSpace));
    expect(store.stat(chunk)?.pending).toBeUndefined();
    expect((await readAll(store)).toString()).toBe('kept');
    // A shrink writes nothing and needs no space.
    await apply(store, { kind: 'truncate', length: 2 });
    expect((await readAll(store)).toString()).toBe('ke');
  });

  it('leaves the old committed version after a crash between prepare and commit', async () => {
    const path = join(dir, 'target');
    const store = await openStore(path);
    const other: ChunkId = { inode: 0x1234n, index: 8 };
    await apply(store, { kind: 'write', offset: 0, data: text('old') });
    await apply(store, { kind: 'write', offset: 0, data: text('base') }, other);
    await store.prepare(
      chunk,
      { kind: 'write', offset: 0, data: text('NEW!') },
      { version: 2, chainVersion: 1 },
    );
    await store.prepare(
      other,
      { kind: 'write', offset: 4, data: text('+tail') },
      { version: 2, chainVersion: 1 },
    );
    expect(dataUnits(store)).toBe(3);
    // No close: the process dies with both updates pending.
    stores.pop();
    const reopened = await openStore(path);
    expect((await readAll(reopened)).toString()).toBe('old');
    expect((await readAll(reopened, other)).toString()).toBe('base');
    expect(reopened.stat(chunk)?.pending).toBeUndefined();
    // The orphan generation (block) written for the overwrite is collected; the appended one stays.
    expect(dataUnits(reopened)).toBe(2);
    await store.close();
  });

  it('answers the last chunk of a file with its length and totals', async () => {
    const store = await openStore();
    for (const index of [0, 1, 2]) {
      await apply(store, { kind: 'write', offset: 0, data: Buffer.alloc(10 + index) }, { inode: 5n, index });
    }
    await apply(store, { kind: 'write', offset: 0, data: Buffer.alloc(99) }, { inode: 6n, index: 0 });
    expect(store.lastChunk({ inode: 5n, beginIndex: 0, endIndex: 2 ** 32 })).toEqual({
      last: { index: 2, version: 1, length: 12 },
      chunkCount: 3,
      totalBytes: 33,
      uncommittedCount: 0,
    });
    expect(store.lastChunk({ inode: 5n, beginIndex: 0, endIndex: 2 }).last?.index).toBe(1);
    expect(store.lastChunk({ inode: 7n, beginIndex: 0, endIndex: 2 ** 32 }).last).toBeUndefined();
    await store.prepare(
      { inode: 5n, index: 2 },
      { kind: 'truncate', length: 1 },
      { version: 2, chainVersion: 1 },
    );
    expect(store.lastChunk({ inode: 5n, beginIndex: 0, endIndex: 2 ** 32 }).uncommittedCount).toBe(1);
    expect(store.list({ after: undefined, limit: 10 }).map((info) => info.chunkId.index)).toEqual([
      0, 1, 2, 0,
    ]);
    expect(store.list({ after: { inode: 5n, index: 1 }, limit: 1 })[0]?.pending?.version).toBe(2);
  });

  it('lists chunks that exist only as a pending version in order among the committed ones, page by page', async () => {
    const store = await openStore();
    for (const index of [0, 2, 4]) {
      await apply(store, { kind: 'write', offset: 0, data: text('c') }, { inode: 9n, index });
    }
    for (const index of [1, 5]) {
      await store.prepare(
        { inode: 9n, index },
        { kind: 'write', offset: 0, data: text('p') },
        { version: 1, chainVersion: 1 },
      );
    }
    const describe = (infos: ReturnType<ChunkStore['list']>) =>
      infos.map((info) => `${info.chunkId.index}${info.committed === undefined ? 'p' : 'c'}`);
    expect(describe(store.list({ after: undefined, limit: 10 }))).toEqual(['0c', '1p', '2c', '4c', '5p']);
    // Pages of two: each page ends where the next begins, and nothing is listed twice or skipped.
    const first = store.list({ after: undefined, limit: 2 });
    expect(describe(first)).toEqual(['0c', '1p']);
    const second = store.list({ after: first[1]?.chunkId, limit: 2 });
    expect(describe(second)).toEqual(['2c', '4c']);
    expect(describe(store.list({ after: second[1]?.chunkId, limit: 2 }))).toEqual(['5p']);
    await store.commit({ inode: 9n, index: 1 }, 1);
    expect(describe(store.list({ after: undefined, limit: 10 }))).toEqual(['0c', '1c', '2c', '4c', '5p']);
  });

  it('syncs what it committed without durability, and finds it again after a reopen', async () => {
    const path = join(dir, 'target');
    const store = await openStore(path);
    await apply(store, { kind: 'write', offset: 0, data: Buffer.alloc(150, 7) });
    await apply(store, { kind: 'write', offset: 10, data: text('synced') });
    await store.sync();
    await store.close();
    await expect(store.sync()).rejects.toSatisfy((error) => hasCode(error, StorageCode.TargetNotServing));
    const reopened = await openStore(path);
    const expected = Buffer.alloc(150, 7);
    text('synced').copy(expected, 10);
    expect(await readAll(reopened)).toEqual(expected);
  });

  it('refuses a target directory that the other chunk store created', async () => {
    const store = await openStore(join(dir, 'target'));
    await apply(store, { kind: 'write', offset: 0, data: text('mine') });
    await store.close();
    const other = kind === 'files' ? 'native' : 'files';
    await expect(openTestStore({ kind: other, path: join(dir, 'target') })).rejects.toSatisfy((error) =>
      hasCode(error, CommonCode.ConfigInvalid),
    );
  });

  it('refuses to open a directory that belongs to another target', async () => {
    const store = await openStore();
    await store.close();
    await expect(openTestStore({ kind, path: join(dir, 'target'), targetId: 999 })).rejects.toThrow(
      /belongs to target 101/,
    );
  });

  // Only the files store keeps a chunk as a file of the file system, whose holes can be seen.
  const filesStoreOnly = storeKind === 'files' ? it : () => undefined;
  filesStoreOnly('leaves a zeroed range a hole of the file system', async () => {
    const store = await openStore();
    const kib = 1024;
    await apply(store, { kind: 'replace', data: Buffer.alloc(256 * kib, 5) });
    await apply(store, { kind: 'zero', offset: 64 * kib, length: 128 * kib });
    const [file] = dataFiles();
    if (file === undefined) throw new Error('no data file');
    expect(statSync(file).size).toBe(256 * kib);
    // 512-byte units; the file system may round the written 128 KiB up to its own blocks.
    expect(statSync(file).blocks * 512).toBeLessThanOrEqual(128 * kib + 16 * kib);
    const expected = Buffer.alloc(256 * kib, 5);
    expected.fill(0, 64 * kib, 192 * kib);
    expect(await readAll(store)).toEqual(expected);
  });

  it('matches a byte-array model over random update sequences', async () => {
    const update = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        offset: fc.nat(400),
        data: fc.uint8Array({ maxLength: 150 }),
      }),
      fc.record({ kind: fc.constant('replace' as const), data: fc.uint8Array({ maxLength: 300 }) }),
      fc.record({ kind: fc.constant('truncate' as const), length: fc.nat(500) }),
      fc.record({ kind: fc.constant('remove' as const) }),
      fc.record({ kind: fc.constant('zero' as const), offset: fc.nat(450), length: fc.nat(450) }),
    );
    const store = await openStore();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(update, { maxLength: 12 }), async (updates) => {
        // Each run takes a chunk of its own in the one store.
        const chunkId: ChunkId = { inode: 99n, index: run++ };
        let model: Buffer | undefined;
        for (const raw of updates) {
          const next: ChunkUpdate =
            raw.kind === 'write' || raw.kind === 'replace' ? { ...raw, data: Buffer.from(raw.data) } : raw;
          await apply(store, next, chunkId);
          model = applyToModel(model, next);
        }
        if (model === undefined) {
          expect(store.stat(chunkId)).toBeUndefined();
        } else {
          expect(await readAll(store, chunkId)).toEqual(model);
          expect(store.stat(chunkId)?.committed).toMatchObject({
            length: model.length,
            checksum: crc32c(model),
          });
        }
      }),
      { numRuns: 60 },
    );
  });
});

function applyToModel(model: Buffer | undefined, update: ChunkUpdate): Buffer | undefined {
  const base = model ?? Buffer.alloc(0);
  switch (update.kind) {
    case 'write': {
      const next = Buffer.alloc(Math.max(base.length, update.offset + update.data.length));
      base.copy(next);
      update.data.copy(next, update.offset);
      return next;
    }
    case 'replace':
      return Buffer.from(update.data);
    case 'truncate': {
      const next = Buffer.alloc(update.length);
      base.copy(next, 0, 0, Math.min(base.length, update.length));
      return next;
    }
    case 'remove':
      return undefined;
    case 'zero':
      return zeroedModel(model, update.offset, update.length);
    case 'clone':
      throw new Error('the model has no other chunk to clone');
  }
}
