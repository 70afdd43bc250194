// Proves open-file semantics over the write buffer and meta: reads see buffered writes, fsync and
// close report the length (and "wrote") to meta, fsync syncs the file's chains on storage once its
// writes are acknowledged, a storage failure surfaces on close while the session still closes, and
// a reader's close never takes a writer's error.
import { describe, expect, it } from 'vitest';
import type { ChunkClient } from '../../../src/client/chunk-client.js';
import { FileDataIo, fileRef } from '../../../src/client/file-data.js';
import { ByteBudget, Limiter } from '../../../src/client/limiter.js';
import type { MetaClient } from '../../../src/client/meta-client.js';
import { OpenFile } from '../../../src/client/open-file.js';
import { OpenInodes } from '../../../src/client/open-inodes.js';
import { SessionCloser } from '../../../src/client/session-closer.js';
import { systemClock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode, StorageCode } from '../../../src/common/status-code.js';
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
  };
  const io = new FileDataIo({
    chunks: chunkClient as unknown as ChunkClient,
    limiter: new Limiter(4),
    requestConcurrency: 2,
  });
  const metaCalls: Array<{ method: string; request: Record<string, unknown> }> = [];
  const meta = {
    async call(method: MethodDef<unknown, unknown>, request: Record<string, unknown>) {
      metaCalls.push({ method: method.name, request });
      const length = (request['length'] as { bytes: bigint } | undefined)?.bytes ?? 0n;
      return { inode: { ...inode, length } };
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
  return { handle, metaCalls, storage, inodes };
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
});
