// Proves inode id allocation: batches from one counter in the KV, never the same id twice across
// allocators sharing the KV, retried operations take the same ids, unused ids are handed out again.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { openSqliteKvEngine, type KvEngine } from '../../../src/kv/index.js';
import { InodeIdAllocator, firstAllocatedInodeId } from '../../../src/meta/store/inode-alloc.js';

let dir: string;
let kv: KvEngine;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), '3fs-meta-alloc-'));
  kv = await openSqliteKvEngine({
    path: join(dir, 'kv.sqlite'),
    synchronous: 'normal',
    logger: silentLogger(),
  });
});
afterEach(async () => {
  await kv.close();
  await rm(dir, { recursive: true, force: true });
});

async function takeAll(allocator: InodeIdAllocator, count: number): Promise<bigint[]> {
  const reservation = await allocator.reserve(count);
  const ids = Array.from({ length: count }, () => reservation.take());
  allocator.release(reservation);
  return ids;
}

describe('inode id allocation', () => {
  it('starts above the fixed ids and hands out distinct ids across allocators on one KV', async () => {
    const first = new InodeIdAllocator(kv, 8);
    const second = new InodeIdAllocator(kv, 8);
    const ids = await Promise.all([
      ...Array.from({ length: 20 }, () => takeAll(first, 3)),
      ...Array.from({ length: 20 }, () => takeAll(second, 2)),
    ]);
    const flat = ids.flat();
    expect(new Set(flat).size).toBe(flat.length);
    expect(flat.every((id) => id >= firstAllocatedInodeId)).toBe(true);
  });

  it('lets a retried attempt take the same ids and gives unused ones back', async () => {
    const allocator = new InodeIdAllocator(kv, 4);
    const reservation = await allocator.reserve(2);
    const firstTry = reservation.take();
    reservation.rewind();
    expect(reservation.take()).toBe(firstTry);
    allocator.release(reservation);
    const next = await allocator.reserve(1);
    const reused = next.take();
    expect(reused).not.toBe(firstTry);
    expect(reused).toBe(firstTry + 1n);
  });

  it('refuses to hand out more ids than were reserved', async () => {
    const allocator = new InodeIdAllocator(kv, 4);
    const reservation = await allocator.reserve(1);
    reservation.take();
    expect(() => reservation.take()).toThrow(/at most the 1 ids/);
  });
});
