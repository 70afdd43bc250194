// Proves each chunk store answers bad input with a storage status code and leaves its chunks
// whole: chunk ids outside (u64, u32), offsets and lengths past the chunk size, payloads larger
// than a chunk or failing the checksum they must have, use after close, and a disk that fills up
// for real (a 4 MiB tmpfs) midway.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { hasCode } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { StorageCode, type StatusCode } from '../../../src/common/status-code.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';
import type { ChunkStore, ChunkUpdate } from '../../../src/storage/store/chunk-store.js';
import { FileChunkStore } from '../../../src/storage/store/file-chunk-store.js';
import { chunkEngineAddon, toFsError } from '../../../src/storage/store/native-chunk-engine.js';
import { NativeChunkStore } from '../../../src/storage/store/native-chunk-store.js';
import { openTestStore, readPathKinds, type ChunkStoreKind } from './helpers/chunk-store-kinds.js';

const chunk: ChunkId = { inode: 9n, index: 1 };
const max = limits.storageChunkBytesMax;

let dir: string;
let stores: ChunkStore[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), '3fs-chunk-bad-input-'));
  stores = [];
});
afterEach(async () => {
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(kind: ChunkStoreKind): Promise<ChunkStore> {
  const store = await openTestStore({ kind, path: join(dir, 'target') });
  stores.push(store);
  return store;
}

function failsWith(code: StatusCode): (error: unknown) => boolean {
  return (error) => hasCode(error, code);
}

async function apply(store: ChunkStore, update: ChunkUpdate, chunkId = chunk): Promise<void> {
  const version = (store.stat(chunkId)?.committed?.version ?? 0) + 1;
  await store.prepare(chunkId, update, { version, chainVersion: 1 });
  await store.commit(chunkId, version);
}

describe.each(readPathKinds)('the %s chunk store given bad input', (kind) => {
  it('refuses chunk ids outside (u64 inode, u32 index)', async () => {
    const store = await open(kind);
    const badIds: ChunkId[] = [
      { inode: -1n, index: 0 },
      { inode: 1n << 64n, index: 0 },
      { inode: 1n, index: -1 },
      { inode: 1n, index: 2 ** 32 },
      { inode: 1n, index: 1.5 },
    ];
    for (const chunkId of badIds) {
      expect(() => store.stat(chunkId)).toThrow(
        expect.objectContaining({ code: StorageCode.OffsetOutOfRange }),
      );
      await expect(
        store.prepare(
          chunkId,
          { kind: 'write', offset: 0, data: Buffer.from('x') },
          { version: 1, chainVersion: 1 },
        ),
      ).rejects.toSatisfy(failsWith(StorageCode.OffsetOutOfRange));
      await expect(store.read(chunkId, { offset: 0, length: 1, pending: false })).rejects.toSatisfy(
        failsWith(StorageCode.OffsetOutOfRange),
      );
    }
  });

  it('refuses offsets and lengths past the chunk size and keeps the chunk as it was', async () => {
    const store = await open(kind);
    await apply(store, { kind: 'write', offset: 0, data: Buffer.from('intact') });
    const options = { version: 2, chainVersion: 1 };
    const refusals: Array<[ChunkUpdate, StatusCode]> = [
      [{ kind: 'write', offset: max, data: Buffer.from('x') }, StorageCode.OffsetOutOfRange],
      [{ kind: 'write', offset: max - 1, data: Buffer.from('xy') }, StorageCode.OffsetOutOfRange],
      [{ kind: 'write', offset: -1, data: Buffer.from('x') }, StorageCode.OffsetOutOfRange],
      [{ kind: 'write', offset: 0.5, data: Buffer.from('x') }, StorageCode.OffsetOutOfRange],
      [{ kind: 'write', offset: 0, data: Buffer.alloc(max + 1) }, StorageCode.PayloadTooLarge],
      [{ kind: 'replace', data: Buffer.alloc(max + 1) }, StorageCode.PayloadTooLarge],
      [{ kind: 'truncate', length: max + 1 }, StorageCode.OffsetOutOfRange],
      [{ kind: 'truncate', length: -5 }, StorageCode.OffsetOutOfRange],
      [{ kind: 'zero', offset: 1, length: max }, StorageCode.OffsetOutOfRange],
      [{ kind: 'zero', offset: -1, length: 2 }, StorageCode.OffsetOutOfRange],
      [{ kind: 'zero', offset: 0, length: 1.5 }, StorageCode.OffsetOutOfRange],
      [
        { kind: 'write', offset: 0, data: 'not a buffer' as unknown as Buffer },
        StorageCode.PayloadLengthMismatch,
      ],
    ];
    for (const [update, code] of refusals) {
      await expect(store.prepare(chunk, update, options)).rejects.toSatisfy(failsWith(code));
    }
    await expect(store.read(chunk, { offset: max + 1, length: 1, pending: false })).rejects.toSatisfy(
      failsWith(StorageCode.OffsetOutOfRange),
    );
    await expect(store.read(chunk, { offset: 0, length: -1, pending: false })).rejects.toSatisfy(
      failsWith(StorageCode.OffsetOutOfRange),
    );
    expect(store.stat(chunk)).toMatchObject({ committed: { version: 1, length: 6 }, pending: undefined });
    expect((await store.read(chunk, { offset: 0, length: 100, pending: false })).data.toString()).toBe(
      'intact',
    );
  });

  it('refuses a payload that fails the checksum it must have, whole blocks or pieces, and keeps the chunk', async () => {
    const store = await open(kind);
    const block = 64 * 1024;
    const before = randomBytes(5 * block + 1000);
    await apply(store, { kind: 'write', offset: 0, data: before });
    // Each payload is damaged after its checksum was taken: a byte inside a whole block, in an
    // edge piece, in a replace, and in a write that extends the chunk.
    const damaged = (data: Buffer, at: number): { data: Buffer; checkAgainst: number } => {
      const checkAgainst = crc32c(data);
      const copy = Buffer.from(data);
      copy[at] = (copy[at] ?? 0) ^ 0x10;
      return { data: copy, checkAgainst };
    };
    const updates: ChunkUpdate[] = [
      { kind: 'write', offset: block, ...damaged(randomBytes(2 * block), block + 7) },
      { kind: 'write', offset: 100, ...damaged(randomBytes(3 * block), 5) },
      { kind: 'write', offset: 100, ...damaged(randomBytes(3 * block), 3 * block - 1) },
      { kind: 'replace', ...damaged(randomBytes(4 * block + 10), 2 * block + 3) },
      { kind: 'write', offset: 5 * block + 1000, ...damaged(randomBytes(block), block - 1) },
    ];
    for (const update of updates) {
      await expect(store.prepare(chunk, update, { version: 2, chainVersion: 1 })).rejects.toSatisfy(
        failsWith(StorageCode.ChecksumMismatch),
      );
      expect(store.stat(chunk)).toMatchObject({ committed: { version: 1, length: before.length } });
      expect(store.stat(chunk)?.pending).toBeUndefined();
    }
    const read = await store.read(chunk, { offset: 0, length: before.length, pending: false });
    expect(read.data.equals(before)).toBe(true);
    // The same payloads undamaged go through.
    const good = randomBytes(3 * block);
    await apply(store, { kind: 'write', offset: 100, data: good, checkAgainst: crc32c(good) });
    const after = Buffer.from(before);
    good.copy(after, 100);
    const reread = await store.read(chunk, { offset: 0, length: after.length, pending: false });
    expect(reread.data.equals(after)).toBe(true);
  });

  it('answers TargetNotServing once closed', async () => {
    const store = await open(kind);
    await apply(store, { kind: 'write', offset: 0, data: Buffer.from('before') });
    await store.close();
    await expect(
      store.prepare(
        chunk,
        { kind: 'write', offset: 0, data: Buffer.from('x') },
        { version: 2, chainVersion: 1 },
      ),
    ).rejects.toSatisfy(failsWith(StorageCode.TargetNotServing));
    await expect(store.commit(chunk, 2)).rejects.toSatisfy(failsWith(StorageCode.TargetNotServing));
    await expect(store.read(chunk, { offset: 0, length: 1, pending: false })).rejects.toSatisfy(
      failsWith(StorageCode.TargetNotServing),
    );
    await expect(store.sync()).rejects.toSatisfy(failsWith(StorageCode.TargetNotServing));
    expect(() => store.stat(chunk)).toThrow(expect.objectContaining({ code: StorageCode.TargetNotServing }));
    await store.close();
  });

  it('fills a real disk: NoSpace, nothing torn, and room again once chunks are removed', async () => {
    const mountpoint = join(dir, 'tmpfs');
    mkdirSync(mountpoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountpoint]);
    const blockBytes = 64 * 1024;
    let store: ChunkStore | undefined;
    try {
      const common = {
        targetId: 7,
        path: join(mountpoint, 'target'),
        durable: true,
        // The reserve is off and the probe says there is room: the disk itself must say ENOSPC.
        freeSpaceReserveBytes: 0,
        freeSpace: { probe: async () => ({ capacityBytes: 2 ** 40, usedBytes: 0, freeBytes: 2 ** 40 }) },
        logger: silentLogger(),
        blockBytes,
      };
      store =
        kind === 'files'
          ? await FileChunkStore.open(common)
          : await NativeChunkStore.open({ ...common, dataFileBytes: 1 << 20, growBytes: 4 * blockBytes });
      const written: ChunkId[] = [];
      let refused: unknown;
      for (let index = 0; index < 64 && refused === undefined; index++) {
        const chunkId = { inode: 3n, index };
        const data = Buffer.alloc(200 * 1024, index + 1);
        try {
          await store.prepare(chunkId, { kind: 'replace', data }, { version: 1, chainVersion: 1 });
          await store.commit(chunkId, 1);
          written.push(chunkId);
        } catch (error) {
          refused = error;
          await store.discardPending(chunkId);
        }
      }
      expect(refused, String(refused)).toSatisfy(failsWith(StorageCode.NoSpace));
      expect(written.length).toBeGreaterThan(3);
      // An overwrite of a chunk that exists fails too, and leaves it whole.
      const first = written[0] as ChunkId;
      await expect(
        (async () => {
          for (let attempt = 0; attempt < 8; attempt++) {
            await store.prepare(
              first,
              { kind: 'replace', data: Buffer.alloc(200 * 1024, 0xee) },
              {
                version: 2,
                chainVersion: 1,
              },
            );
            await store.discardPending(first);
          }
        })(),
      ).rejects.toSatisfy(failsWith(StorageCode.NoSpace));
      await store.discardPending(first);
      for (const [position, chunkId] of written.entries()) {
        const { data } = await store.read(chunkId, { offset: 0, length: 1 << 20, pending: false });
        // Buffer.equals: a deep toEqual over 200 KiB takes seconds.
        expect(data.equals(Buffer.alloc(200 * 1024, position + 1)), `chunk ${position}`).toBe(true);
      }
      // Removing chunks makes room for new ones.
      for (const chunkId of written.slice(0, 3)) await apply(store, { kind: 'remove' }, chunkId);
      await apply(store, { kind: 'replace', data: Buffer.alloc(200 * 1024, 0x5a) }, { inode: 4n, index: 0 });
      const again = await store.read({ inode: 4n, index: 0 }, { offset: 0, length: 1 << 20, pending: false });
      expect(again.data.equals(Buffer.alloc(200 * 1024, 0x5a))).toBe(true);
    } finally {
      await store?.close();
      execFileSync('umount', ['-l', mountpoint]);
    }
  });
});

describe('the native chunk engine given bad input', () => {
  it('refuses a payload whose length differs from the length announced, and arguments of the wrong type', async () => {
    const store = await open('native');
    await apply(store, { kind: 'write', offset: 0, data: Buffer.from('kept') });
    await store.close();
    const engine = await chunkEngineAddon().open({
      directory: join(dir, 'target', 'chunk-engine'),
      targetId: 101,
      blockBytes: 64,
      minSlotBytes: 16,
      dataFileBytes: 4096,
      growBytes: 1024,
      chunkBytesMax: max,
      compactMinBytes: 1 << 20,
      durable: false,
    });
    try {
      const key = Buffer.alloc(12);
      key.writeBigUInt64BE(chunk.inode, 0);
      key.writeUInt32BE(chunk.index, 8);
      const refusal = async (promise: () => Promise<unknown>) => {
        try {
          await promise();
        } catch (error) {
          return toFsError(error, 'test');
        }
        return undefined;
      };
      expect(await refusal(() => engine.prepare(key, 0, 0, 10, Buffer.from('short'), 2, 1))).toSatisfy(
        failsWith(StorageCode.PayloadLengthMismatch),
      );
      expect(await refusal(() => engine.prepare(key, 1, 0, 99, Buffer.from('short'), 2, 1))).toSatisfy(
        failsWith(StorageCode.PayloadLengthMismatch),
      );
      expect(await refusal(() => engine.prepare(Buffer.alloc(3), 0, 0, 1, Buffer.from('x'), 2, 1))).toSatisfy(
        (error) => hasCode(error, 100),
      );
      expect(await refusal(() => engine.prepare(key, 7 as 0, 0, 1, Buffer.from('x'), 2, 1))).toSatisfy(
        failsWith(StorageCode.OffsetOutOfRange),
      );
      expect(await refusal(() => engine.read(key, Number.NaN, 1, false))).toSatisfy(
        failsWith(StorageCode.OffsetOutOfRange),
      );
      expect(await refusal(() => engine.commit(key, 5))).toSatisfy(failsWith(StorageCode.ChunkNotFound));
      expect(() => engine.stat('not a key' as unknown as Buffer)).toThrow(
        expect.objectContaining({ engineCode: 'invalid' }),
      );
      expect((await engine.read(key, 0, 10, false)).data?.toString()).toBe('kept');
    } finally {
      await engine.close();
    }
    const closed = await (async () => {
      try {
        await engine.read(Buffer.alloc(12), 0, 1, false);
      } catch (error) {
        return toFsError(error, 'test');
      }
      return undefined;
    })();
    expect(closed).toSatisfy(failsWith(StorageCode.TargetNotServing));
  });
});
