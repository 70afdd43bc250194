// An in-process meta service on a temporary sqlite KV, with helpers the meta unit tests share.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import { statusName, type StatusCode } from '../../../src/common/status-code.js';
import { openSqliteKvEngine, type KvEngine } from '../../../src/kv/index.js';
import type { ChainTableView } from '../../../src/meta/chain-picker.js';
import { checkInvariants } from '../../../src/meta/fsck/invariant-checker.js';
import { MetaService } from '../../../src/meta/meta-service.js';
import { metaMethods, type Credentials, type Inode } from '../../../src/meta/protocol/index.js';

export const root: Credentials = { uid: 0, gid: 0, groups: [] };
export const alice: Credentials = { uid: 1000, gid: 1000, groups: [] };
export const bob: Credentials = { uid: 1001, gid: 1001, groups: [2000] };
export const carol: Credentials = { uid: 1002, gid: 2000, groups: [] };

export interface Harness {
  service: MetaService;
  kv: KvEngine;
  clock: ManualClock;
  chainTables: Map<number, ChainTableView>;
  call: MetaService['call'];
  close(): Promise<void>;
}

/** Opens a meta service on a fresh database; chain table 1 has chains 1..8. */
export async function openHarness(
  options: { rootSquash?: boolean; stripeSize?: number } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), '3fs-meta-unit-'));
  const kv = await openSqliteKvEngine({
    path: join(dir, 'kv.sqlite'),
    synchronous: 'normal',
    logger: silentLogger(),
  });
  const clock = new ManualClock();
  const chainTables = new Map<number, ChainTableView>([
    [1, { chainTableId: 1, chainTableVersion: 1, chains: [1, 2, 3, 4, 5, 6, 7, 8] }],
  ]);
  const service = new MetaService({
    kv,
    clock,
    random: seededRandom(7),
    logger: silentLogger(),
    rootSquash: { enabled: options.rootSquash ?? false, uid: 65534, gid: 65534 },
    inodeIdBatch: 16,
    chainTables: (id) => chainTables.get(id),
    capacity: () => ({ capacityBytes: 1000, usedBytes: 250, freeBytes: 750 }),
  });
  await service.ensureRoot({ chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: options.stripeSize ?? 4 });
  return {
    service,
    kv,
    clock,
    chainTables,
    call: service.call.bind(service),
    async close() {
      await kv.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Expects `promise` to fail with status `code`. */
export async function expectCode(promise: Promise<unknown>, code: StatusCode): Promise<FsError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${statusName(code)}`).toBeInstanceOf(FsError);
  expect(statusName((caught as FsError).code), (caught as FsError).message).toBe(statusName(code));
  return caught as FsError;
}

/** Small wrappers over the methods for readable tests. */
export function fsOf(harness: Harness) {
  const { call } = harness;
  return {
    mkdir: async (path: string, cred: Credentials = root, mode = 0o755): Promise<Inode> =>
      (await call(metaMethods.mkdirs, { cred, at: { path }, mode })).inode,
    mkdirp: async (path: string, cred: Credentials = root, mode = 0o755): Promise<Inode> =>
      (await call(metaMethods.mkdirs, { cred, at: { path }, mode, recursive: true })).inode,
    create: async (path: string, cred: Credentials = root, mode = 0o644): Promise<Inode> =>
      (await call(metaMethods.create, { cred, at: { path }, mode, write: false, read: true })).inode,
    stat: async (path: string, cred: Credentials = root): Promise<Inode> =>
      (await call(metaMethods.stat, { cred, at: { path } })).inode,
    lstat: async (path: string, cred: Credentials = root): Promise<Inode> =>
      (await call(metaMethods.stat, { cred, at: { path }, followLast: false })).inode,
    symlink: async (path: string, target: string, cred: Credentials = root): Promise<Inode> =>
      (await call(metaMethods.symlink, { cred, at: { path }, target })).inode,
    unlink: (path: string, cred: Credentials = root) => call(metaMethods.unlink, { cred, at: { path } }),
    rmdir: (path: string, cred: Credentials = root) => call(metaMethods.rmdir, { cred, at: { path } }),
    rename: (source: string, target: string, cred: Credentials = root) =>
      call(metaMethods.rename, { cred, source: { path: source }, target: { path: target } }),
    link: (source: string, target: string, cred: Credentials = root) =>
      call(metaMethods.hardLink, { cred, source: { path: source }, target: { path: target } }),
    chmod: async (path: string, mode: number, cred: Credentials = root): Promise<Inode> =>
      (await call(metaMethods.setAttr, { cred, at: { path }, mode })).inode,
    chown: async (
      path: string,
      owner: { uid?: number; gid?: number },
      cred: Credentials = root,
    ): Promise<Inode> => (await call(metaMethods.setAttr, { cred, at: { path }, ...owner })).inode,
    list: async (path: string, cred: Credentials = root): Promise<string[]> =>
      (await call(metaMethods.readDir, { cred, at: { path }, limit: 1024 })).entries.map(
        (entry) => entry.name,
      ),
  };
}

/** Asserts that every namespace invariant holds. */
export async function expectConsistent(harness: Harness): Promise<void> {
  const report = await checkInvariants(harness.kv);
  expect(report.problems).toEqual([]);
}
