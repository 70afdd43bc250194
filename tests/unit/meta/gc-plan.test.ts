// Proves the GC worker's decisions and claims: a truncation waits while the file has writers, cuts
// from the truncate point when the file is untouched since and only past the current length when
// it was written since, and is dropped for a removed file; chunk cuts remove whole chunks past the
// cut point and shorten the one across it; and claims let one meta service at a time work on an
// entry until the claim expires or is released.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { openSqliteKvEngine } from '../../../src/kv/index.js';
import { holdsClaim, releaseClaim, tryClaim } from '../../../src/meta/gc/gc-claims.js';
import {
  chunkIndexRange,
  planChunkCut,
  planTruncation,
  sameFileState,
} from '../../../src/meta/gc/gc-plan.js';
import type { FileInode, PendingTruncation } from '../../../src/meta/protocol/index.js';

const layout = {
  chainTableId: 1,
  chainTableVersion: 1,
  chunkSizeBytes: 4096,
  stripeSize: 1,
  chains: [1],
  seed: 0,
};

function file(changes: Partial<FileInode> = {}): FileInode {
  return {
    type: 'file',
    ino: 42n,
    mode: 0o644,
    uid: 0,
    gid: 0,
    nlink: 1,
    atimeNs: 1n,
    mtimeNs: 100n,
    ctimeNs: 100n,
    length: 1000n,
    truncateVersion: 3,
    layout,
    ...changes,
  };
}

const record: PendingTruncation = {
  ino: 42n,
  layout,
  fromBytes: 1000n,
  toBytes: 20_000n,
  truncateVersion: 3,
  requestedAtNs: 100n,
};

describe('planning a truncation', () => {
  it('cuts from the truncate point when the file is untouched since the truncate', () => {
    expect(planTruncation({ record, inode: file(), writeSessions: 0 })).toMatchObject({
      action: 'cut',
      fromBytes: 1000n,
      toBytes: 20_000n,
    });
  });

  it('cuts only past the current length when the file was written or truncated again since', () => {
    const written = file({ length: 9_000n, mtimeNs: 200n });
    expect(planTruncation({ record, inode: written, writeSessions: 0 })).toMatchObject({ fromBytes: 9_000n });
    const extended = file({ length: 5_000n, truncateVersion: 4, mtimeNs: 150n });
    expect(planTruncation({ record, inode: extended, writeSessions: 0 })).toMatchObject({
      fromBytes: 5_000n,
    });
  });

  it('waits while the file has write sessions, and drops the record of a removed file', () => {
    expect(planTruncation({ record, inode: file(), writeSessions: 1 }).action).toBe('defer');
    expect(planTruncation({ record, inode: undefined, writeSessions: 0 }).action).toBe('drop');
  });

  it('notices any change of the file between planning and cutting', () => {
    expect(sameFileState(file(), file())).toBe(true);
    expect(sameFileState(file(), file({ length: 1001n }))).toBe(false);
    expect(sameFileState(file(), file({ mtimeNs: 101n }))).toBe(false);
    expect(sameFileState(file(), file({ truncateVersion: 4 }))).toBe(false);
    expect(sameFileState(file(), undefined)).toBe(false);
  });
});

describe('cutting chunks', () => {
  it('covers the chunks the byte range touches', () => {
    expect(chunkIndexRange({ fromBytes: 1000n, toBytes: 20_000n, chunkSizeBytes: 4096 })).toEqual({
      begin: 0,
      end: 5,
    });
    expect(chunkIndexRange({ fromBytes: 4096n, toBytes: 8192n, chunkSizeBytes: 4096 })).toEqual({
      begin: 1,
      end: 2,
    });
    expect(chunkIndexRange({ fromBytes: 10n, toBytes: 10n, chunkSizeBytes: 4096 })).toEqual({
      begin: 0,
      end: 0,
    });
  });

  it('removes chunks past the cut, shortens the one across it, leaves shorter ones', () => {
    const cut = (index: number, length: number) =>
      planChunkCut({ index, length, chunkSizeBytes: 4096, cutFromBytes: 5000n });
    expect(cut(0, 4096)).toBeUndefined();
    expect(cut(1, 4096)).toEqual({ kind: 'truncate', length: 904 });
    expect(cut(1, 900)).toBeUndefined();
    expect(cut(2, 4096)).toEqual({ kind: 'remove' });
  });
});

describe('claims on queue entries', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('lets one owner work on an entry until it releases it or the claim expires', async () => {
    const dir = mkdtempSync(join(tmpdir(), '3fs-gc-claims-'));
    dirs.push(dir);
    const kv = await openSqliteKvEngine({ path: join(dir, 'kv.db'), logger: silentLogger() });
    try {
      const claim = (owner: number, nowMs: number) =>
        kv.transact((tx) => tryClaim(tx, { kind: 'file', ino: 7n, owner, nowMs, claimMs: 1_000 }));
      expect(await claim(1, 0)).toBe(true);
      expect(await claim(2, 500)).toBe(false);
      // Another queue's entry of the same inode is a separate claim.
      expect(
        await kv.transact((tx) =>
          tryClaim(tx, { kind: 'truncation', ino: 7n, owner: 2, nowMs: 500, claimMs: 1_000 }),
        ),
      ).toBe(true);
      expect(await claim(2, 1_001)).toBe(true);
      expect(await kv.read((tx) => holdsClaim(tx, { kind: 'file', ino: 7n, owner: 1 }))).toBe(false);
      await kv.transact((tx) => releaseClaim(tx, { kind: 'file', ino: 7n, owner: 1 }));
      expect(await kv.read((tx) => holdsClaim(tx, { kind: 'file', ino: 7n, owner: 2 }))).toBe(true);
      await kv.transact((tx) => releaseClaim(tx, { kind: 'file', ino: 7n, owner: 2 }));
      expect(await claim(1, 1_100)).toBe(true);
    } finally {
      await kv.close();
    }
  });
});
