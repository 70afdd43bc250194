// Proves open-file semantics over the write buffer and meta: reads see buffered writes, fsync and
// close report the length (and "wrote") to meta, fsync syncs the file's chains on storage once its
// writes are acknowledged, a storage failure surfaces on close while the session still closes and
// on every write handle open when it happened (one handle's close never takes it from another), a
// reader's close never takes a writer's error, and fallocate sends buffered writes before it punches
// a hole, checks the usable space before it extends, and extends under meta's truncate version.
import { describe, expect, it } from 'vitest';
import type { ChunkClient } from '../../../src/cluster/index.js';
import { FallocateFlag } from '../../../src/client/fallocate.js';
import { FileDataIo, fileRef } from '../../../src/client/file-data.js';
import { ByteBudget, Limiter } from '../../../src/client/limiter.js';
import type { MetaClient } from '../../../src/client/meta-client.js';
import { OpenFile } from '../../../src/client/open-file.js';
import { OpenInodes } from '../../../src/client/open-inodes.js';
import { SessionCloser } from '../../../src/client/session-closer.js';
import { systemClock } from '../../../src/common/clock.js';
import { FsError, hasCode } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { ClientCode, CommonCode, StorageCode } from '../../../src/common/status-code.js';
import type { FileInode } from '../../../src/meta/protocol/index.js';
import type { MethodDef } from '../../../src/rpc/index.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';

const chunkSize = 4096;
const layout = {
  chainTableId: 1,
  chainTableVersion: 1,
  chunkSizeBytes: chunkSize,
  stripeSize: 1,
  chains: [1],
  seed: 0,
};
const inode: FileInode = {
  type: 'file',
  ino: 77n,
  mode: 0o644,
  uid: 0,
  gid: 0,
  nlink: 1,
  atimeNs: 0n,
  mtimeNs: 0n,
  ctimeNs: 0n,
  length: 0n,
  truncateVersion: 3,
  layout,
};
const cred = { uid: 0, gid: 0, groups: [] };

function setUp() {
  const chunks = new Map<number, Buffer>();
  const storage = {
    fail: undefined as FsError | undefined,
    syncFail: undefined as FsError | undefined,
    /** The chains each sync named, and the chunk bytes acknowledged when it was asked. */
    syncs: [] as Array<{ chains: readonly number[]; bytes: number }>,
  };
  const chunkClient = {
    async syncChains(chainIds: readonly number[]) {
      storage.syncs.push({
        chains: chainIds,
        bytes: [...chunks.values()].reduce((sum, chunk) => sum + chunk.length, 0),
      });
      if (storage.syncFail !== undefined) throw storage.syncFail;
    },
    async write(target: { chunkId: ChunkId; offset: number; data: Buffer }) {
      if (storage.fail !== undefined) throw storage.fail;
      const old = chunks.get(target.chunkId.index) ?? Buffer.alloc(0);
      const next = Buffer.alloc(Math.max(old.length, target.offset + target.data.length));
      old.copy(next);
      target.data.copy(next, target.offset);
      chunks.set(target.chunkId.index, next);
      return { exists: true, version: 1, length: next.length, checksum: 0 };
    },
    async read(request: { chunkId: ChunkId; offset: number; length: number }) {
      return (chunks.get(request.chunkId.index) ?? Buffer.alloc(0)).subarray(
        request.offset,
        request.offset + request.length,
      );
    },
    async zero(target: { chunkId: ChunkId; offset: number; length: number }) {
      const old = chunks.get(target.chunkId.index);
      if (old !== undefined) {
        const next = Buffer.from(old);
        next.fill(
          0,
          Math.min(old.length, target.offset),
          Math.min(old.length, target.offset + target.length),
        );
        chunks.set(target.chunkId.index, next);
      }
      return { exists: old !== undefined, version: 1, length: old?.length ?? 0, checksum: 0 };
    },
    async remove(target: { chunkId: ChunkId }) {
      chunks.delete(target.chunkId.index);
      return { exists: false, version: 0, length: 0, checksum: 0 };
    },
  };
  const io = new FileDataIo({
    chunks: chunkClient as unknown as ChunkClient,
    limiter: new Limiter(4),
    requestConcurrency: 2,
  });
  const metaCalls: Array<{ method: string; request: Record<string, unknown> }> = [];
  /** What meta holds: a truncate by another client raises `truncateVersion`; `freeBytes` is statfs's. */
  const metaState = { truncateVersion: inode.truncateVersion, length: 0n, freeBytes: 1 << 30 };
  const meta = {
    async call(method: MethodDef<unknown, unknown>, request: Record<string, unknown>) {
      metaCalls.push({ method: method.name, request });
      if (method.name === 'Meta.statFs') {
        return { capacityBytes: 1 << 30, usedBytes: 0, freeBytes: metaState.freeBytes, inodesInUse: 1 };
      }
      // A length report is taken under the truncate version meta holds, as meta does.
      const report = request['length'] as { bytes: bigint; truncateVersion: number } | undefined;
      if (report?.truncateVersion === metaState.truncateVersion && report.bytes > metaState.length) {
        metaState.length = report.bytes;
      }
      const length = report === undefined ? 0n : metaState.length;
      return { inode: { ...inode, length, truncateVersion: metaState.truncateVersion } };
    },
  };
  const inodes = new OpenInodes({
    meta: meta as unknown as MetaClient,
    io,
    writeBudget: new ByteBudget(1 << 20),
    perFileBytesMax: 1 << 20,
    extentsMax: 16,
    logger: silentLogger(),
    closer: new SessionCloser({
      meta: meta as unknown as MetaClient,
      clock: systemClock,
      logger: silentLogger(),
      delayMs: 1,
    }),
  });
  const file = fileRef(inode.ino, layout);
  const handle = (writable: boolean) => {
    const record = inodes.open(file, inode);
    if (writable) record.reportCred = cred;
    return new OpenFile({
      record,
      inodes,
      io,
      cred,
      readable: true,
      writable,
      session: writable ? { clientId: 'c', sessionId: `s${metaCalls.length}` } : undefined,
      readAhead: undefined,
    });
  };
  return { handle, metaCalls, storage, inodes, metaState, chunks };
}

describe('OpenFile', () => {
  it("lets another handle read this client's buffered writes, and counts them in the length", async () => {
    const { handle } = setUp();
    const writer = handle(true);
    const reader = handle(false);
    await writer.write(0n, Buffer.from('hello'));
    expect(reader.length()).toBe(5n);
    expect((await reader.read(0n, 100)).toString()).toBe('hello');
  });

  it('reports the length and "wrote" on fsync, under the truncate version it opened with, once', async () => {
    const { handle, metaCalls } = setUp();
    const writer = handle(true);
    await writer.write(0n, Buffer.alloc(5000, 1));
    await writer.fsync();
    // The report, then the metadata made durable.
    expect(metaCalls).toEqual([
      {
        method: 'Meta.sync',
        request: { cred, ino: 77n, length: { bytes: 5000n, truncateVersion: 3 }, wrote: true },
      },
      { method: 'Meta.syncMetadata', request: { cred } },
    ]);
    await writer.fsync();
    expect(metaCalls.map((call) => call.method)).toEqual([
      'Meta.sync',
      'Meta.syncMetadata',
      'Meta.syncMetadata',
    ]);
  });

  it("syncs the file's chains on storage after its writes were acknowledged, and fails with a sync's failure", async () => {
    const { handle, storage } = setUp();
    const writer = handle(true);
    await writer.write(0n, Buffer.alloc(5000, 1));
    await writer.fsync();
    expect(storage.syncs).toEqual([{ chains: layout.chains, bytes: 5000 }]);
    // A handle that wrote nothing syncs too: the data may be another writer's.
    const reader = handle(false);
    await reader.fsync();
    expect(storage.syncs).toHaveLength(2);
    storage.syncFail = new FsError(CommonCode.IoError, 'fdatasync failed');
    await expect(writer.fsync()).rejects.toMatchObject({ code: CommonCode.IoError });
  });

  it('tells meta the length on flush (close(2) through FUSE), and the session close repeats nothing', async () => {
    const { handle, metaCalls } = setUp();
    const writer = handle(true);
    await writer.write(0n, Buffer.alloc(10, 1));
    await writer.flush();
    await writer.close();
    expect(metaCalls.map((call) => [call.method, call.request['wrote']])).toEqual([
      ['Meta.sync', true],
      ['Meta.close', false],
    ]);
  });

  it('closes the session with the final length even when a buffered write failed, and reports the failure', async () => {
    const { handle, metaCalls, storage } = setUp();
    const writer = handle(true);
    await writer.write(0n, Buffer.alloc(100, 1));
    storage.fail = new FsError(StorageCode.NoSpace, 'full');
    await writer.write(100n, Buffer.alloc(chunkSize - 100, 2));
    await expect(writer.close()).rejects.toMatchObject({ code: StorageCode.NoSpace });
    expect(metaCalls.map((call) => call.method)).toEqual(['Meta.close']);
    await expect(writer.read(0n, 1)).rejects.toThrow(/closed/);
  });

  it('reports a failed background write to every write handle open when it happened, each once', async () => {
    const { handle, storage } = setUp();
    const first = handle(true);
    const second = handle(true);
    storage.fail = new FsError(StorageCode.NoSpace, 'full');
    await first.write(0n, Buffer.alloc(chunkSize, 1));
    // The other handle's close comes first: it reports the failure, and does not take it away.
    await expect(second.flush()).rejects.toMatchObject({ code: StorageCode.NoSpace });
    await expect(first.write(BigInt(chunkSize), Buffer.alloc(10))).rejects.toMatchObject({
      code: StorageCode.NoSpace,
    });
    await expect(first.flush()).rejects.toMatchObject({ code: StorageCode.NoSpace });
    storage.fail = undefined;
    // Each handle reported it once; a handle opened after it never sees it.
    const later = handle(true);
    await first.write(0n, Buffer.alloc(10, 2));
    await first.flush();
    await second.flush();
    await later.flush();
    await first.close();
    await second.close();
    await later.close();
  });

  it("never hands a writer's failure to a reader's close", async () => {
    const { handle, storage } = setUp();
    const writer = handle(true);
    const reader = handle(false);
    storage.fail = new FsError(StorageCode.NoSpace, 'full');
    await writer.write(0n, Buffer.alloc(chunkSize, 1));
    await reader.fsync();
    await reader.close();
    await expect(writer.flush()).rejects.toMatchObject({ code: StorageCode.NoSpace });
  });

  it('sends buffered writes before punching a hole, zeroes the range in storage, and sets the times in meta', async () => {
    const { handle, metaCalls, chunks } = setUp();
    const writer = handle(true);
    await writer.write(0n, Buffer.alloc(5000, 1));
    await writer.fallocate(FallocateFlag.punchHole | FallocateFlag.keepSize, 100n, 4000n);
    const expected = Buffer.alloc(5000, 1);
    expected.fill(0, 100, 4100);
    expect(Buffer.concat([chunks.get(0)!, chunks.get(1)!])).toEqual(expected);
    expect((await writer.read(0n, 10_000)).equals(expected)).toBe(true);
    expect(metaCalls.map((call) => [call.method, call.request['length'], call.request['wrote']])).toEqual([
      ['Meta.stat', undefined, undefined],
      ['Meta.sync', { bytes: 0n, truncateVersion: 3 }, true],
    ]);
    expect(writer.length()).toBe(5000n);
  });

  it('extends with mode 0 after checking the usable space, and refuses with NoSpace past it', async () => {
    const { handle, metaCalls, metaState } = setUp();
    const writer = handle(true);
    await writer.fallocate(0, 1000n, 9000n);
    expect(writer.length()).toBe(10_000n);
    expect(metaCalls.map((call) => call.method)).toEqual(['Meta.statFs', 'Meta.sync']);
    expect((await writer.read(0n, 20_000)).equals(Buffer.alloc(10_000))).toBe(true);
    metaState.freeBytes = 100;
    await expect(writer.fallocate(FallocateFlag.keepSize, 0n, 20_000n)).rejects.toSatisfy((error) =>
      hasCode(error, ClientCode.NoSpace),
    );
    await expect(writer.fallocate(FallocateFlag.collapseRange, 0n, 4096n)).rejects.toSatisfy((error) =>
      hasCode(error, CommonCode.NotImplemented),
    );
    await expect(handle(false).fallocate(0, 0n, 1n)).rejects.toSatisfy((error) =>
      hasCode(error, ClientCode.BadFileHandle),
    );
  });

  it('extends under the truncate version meta holds when another client truncated since the open', async () => {
    const { handle, metaCalls, metaState } = setUp();
    const writer = handle(true);
    metaState.truncateVersion = 4;
    await writer.fallocate(0, 0n, 8192n);
    expect(
      metaCalls.filter((call) => call.method === 'Meta.sync').map((call) => call.request['length']),
    ).toEqual([
      { bytes: 8192n, truncateVersion: 3 },
      { bytes: 8192n, truncateVersion: 4 },
    ]);
    expect(metaState.length).toBe(8192n);
    expect(writer.length()).toBe(8192n);
  });
});
