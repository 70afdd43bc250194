// Proves the meta service's cluster-wide locks on a real KV: flock and POSIX locks of different holders conflict as POSIX and flock(2) say and getLock names the holder; an owner's own ranges split and merge; a lock lives only while its client's lease does (a lapsed or replaced lease frees it, lazily or by the sweep, and never revives it); releases by owner and by client; the bounds answer TooManyLocks; bad requests get BadRequest.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import { MetaCode, RpcCode } from '../../../src/common/status-code.js';
import { prefixEnd } from '../../../src/kv/index.js';
import { sweepLapsedLocks } from '../../../src/meta/locks/lock-handlers.js';
import { lockKeys } from '../../../src/meta/locks/lock-store.js';
import {
  lockOffsetMax,
  metaMethods as m,
  type LockKind,
  type RequestOf,
} from '../../../src/meta/protocol/index.js';
import { expectCode, openHarness, type Harness } from './meta-harness.js';

let harness: Harness;
beforeEach(async () => {
  harness = await openHarness();
});
afterEach(async () => harness.close());

const ino = 42n;
const leaseMs = 2_000;
const whole = { start: 0n, end: lockOffsetMax };

type SetLock = RequestOf<typeof m.setLock>;

function holder(clientId: string, owner: bigint, instance = 'life-1') {
  return { clientId, instance, owner };
}

async function set(
  clientId: string,
  options: {
    owner?: bigint;
    kind?: LockKind;
    mode: SetLock['mode'];
    start?: bigint;
    end?: bigint;
    pid?: number;
    instance?: string;
  },
) {
  return harness.call(m.setLock, {
    ino,
    kind: options.kind ?? 'posix',
    holder: holder(clientId, options.owner ?? 1n, options.instance),
    mode: options.mode,
    range: { start: options.start ?? whole.start, end: options.end ?? whole.end },
    pid: options.pid ?? 100,
    leaseMs,
  });
}

async function conflictFor(clientId: string, mode: 'read' | 'write', start: bigint, end: bigint) {
  const { conflict } = await harness.call(m.getLock, {
    ino,
    kind: 'posix',
    holder: holder(clientId, 9n),
    mode,
    range: { start, end },
  });
  return conflict;
}

/** How many LOCK and LKCL records the KV holds. */
async function lockRecords(): Promise<{ locks: number; index: number }> {
  return harness.kv.read(async (tx) => {
    const lock = lockKeys.holders(ino, 'posix').subarray(0, 4);
    const index = lockKeys.clientLocks('a').subarray(0, 4);
    return {
      locks: (await tx.getRange(lock, prefixEnd(lock), { limit: 10_000 })).length,
      index: (await tx.getRange(index, prefixEnd(index), { limit: 10_000 })).length,
    };
  });
}

describe('flock', () => {
  it('lets one exclusive holder in and keeps others out until it unlocks; shared holders coexist', async () => {
    expect((await set('a', { kind: 'flock', mode: 'write', pid: 11 })).granted).toBe(true);
    const refused = await set('b', { kind: 'flock', mode: 'read' });
    expect(refused.granted).toBe(false);
    expect(refused.conflict).toMatchObject({ mode: 'write', clientId: 'a', pid: 11 });
    expect((await set('a', { kind: 'flock', mode: 'unlock' })).holds).toBe(false);
    expect((await set('b', { kind: 'flock', mode: 'read' })).granted).toBe(true);
    expect((await set('c', { kind: 'flock', mode: 'read' })).granted).toBe(true);
    expect((await set('a', { kind: 'flock', mode: 'write' })).granted).toBe(false);
  });

  it('drops the old lock of a conversion that conflicts, as flock(2) on Linux does', async () => {
    await set('a', { kind: 'flock', mode: 'read' });
    await set('b', { kind: 'flock', mode: 'read' });
    const upgrade = await set('a', { kind: 'flock', mode: 'write' });
    expect(upgrade.granted).toBe(false);
    expect(upgrade.holds).toBe(false);
    // a's shared lock went: b, the only holder left, may upgrade.
    expect((await set('b', { kind: 'flock', mode: 'write' })).granted).toBe(true);
  });

  it('is independent of POSIX locks on the same file', async () => {
    await set('a', { kind: 'flock', mode: 'write' });
    expect((await set('b', { kind: 'posix', mode: 'write' })).granted).toBe(true);
  });
});

describe('POSIX byte ranges', () => {
  it('conflict where they overlap with a write lock, and getLock names the holder', async () => {
    expect((await set('a', { mode: 'write', start: 0n, end: 99n, pid: 7 })).granted).toBe(true);
    expect((await set('b', { mode: 'read', start: 100n, end: 199n })).granted).toBe(true);
    expect((await set('b', { mode: 'read', start: 50n, end: 59n })).granted).toBe(false);
    expect(await conflictFor('b', 'read', 90n, 109n)).toEqual({
      mode: 'write',
      start: 0n,
      end: 99n,
      pid: 7,
      clientId: 'a',
    });
    // Read locks of two holders share bytes; a write lock does not.
    expect((await set('c', { mode: 'read', start: 150n, end: 160n })).granted).toBe(true);
    expect((await conflictFor('c', 'write', 150n, 150n))?.clientId).toBe('b');
    expect(await conflictFor('c', 'read', 150n, 150n)).toBeNull();
    // Another owner of the same client is another holder too.
    expect((await set('a', { owner: 2n, mode: 'read', start: 0n, end: 0n })).granted).toBe(false);
  });

  it('split where an owner locks part of its own range in the other mode or unlocks it', async () => {
    await set('a', { mode: 'write', start: 0n, end: 99n, pid: 7 });
    await set('a', { mode: 'read', start: 40n, end: 59n, pid: 8 });
    expect((await set('b', { mode: 'read', start: 40n, end: 59n })).granted).toBe(true);
    expect(await conflictFor('c', 'write', 45n, 45n)).toMatchObject({ start: 40n, end: 59n, pid: 8 });
    expect(await conflictFor('c', 'read', 30n, 70n)).toMatchObject({ mode: 'write', start: 0n, end: 39n });
    expect(await conflictFor('c', 'read', 60n, 70n)).toMatchObject({ mode: 'write', start: 60n, end: 99n });
    // Unlocking the middle of what is left leaves both ends.
    await set('a', { mode: 'unlock', start: 10n, end: 19n });
    expect(await conflictFor('c', 'read', 10n, 19n)).toBeNull();
    expect(await conflictFor('c', 'read', 9n, 9n)).toMatchObject({ start: 0n, end: 9n });
    expect(await conflictFor('c', 'read', 20n, 20n)).toMatchObject({ start: 20n, end: 39n });
  });

  it('refuse a conflicting request without changing the requester’s locks', async () => {
    await set('a', { mode: 'read', start: 0n, end: 9n });
    await set('b', { mode: 'read', start: 0n, end: 9n });
    expect((await set('a', { mode: 'write', start: 0n, end: 9n })).granted).toBe(false);
    // a still holds its read lock.
    expect(await conflictFor('c', 'write', 0n, 0n)).toMatchObject({ mode: 'read' });
    expect((await set('b', { mode: 'unlock' })).granted).toBe(true);
    expect((await conflictFor('c', 'write', 0n, 0n))?.clientId).toBe('a');
  });
});

describe('leases', () => {
  it('free the locks of a client whose lease lapsed, removing them on the next lock of the file', async () => {
    await set('a', { mode: 'write' });
    expect((await set('b', { mode: 'write' })).granted).toBe(false);
    harness.clock.advance(leaseMs + 1);
    expect(await conflictFor('b', 'write', 0n, 0n)).toBeNull();
    expect(await lockRecords()).toEqual({ locks: 1, index: 1 });
    expect((await set('b', { mode: 'write' })).granted).toBe(true);
    // a's record went with b's lock; only b's is left.
    expect((await lockRecords()).locks).toBe(1);
  });

  it('stay alive while renewed, and a lapsed one is not renewed nor are its locks revived', async () => {
    const first = await set('a', { mode: 'write', start: 0n, end: 9n });
    const renew = () => harness.call(m.renewLockLease, { clientId: 'a', instance: 'life-1', leaseMs });
    for (let round = 0; round < 4; round++) {
      harness.clock.advance(leaseMs / 2);
      expect((await renew()).epoch).toBe(first.epoch);
    }
    expect((await set('b', { mode: 'write', start: 0n, end: 9n })).granted).toBe(false);
    harness.clock.advance(leaseMs + 1);
    expect((await renew()).epoch).toBeNull();
    // A lock of another range starts a new epoch; the old range stays free.
    const second = await set('a', { mode: 'write', start: 20n, end: 29n });
    expect(second.epoch).toBeGreaterThan(first.epoch ?? 0);
    expect((await set('b', { mode: 'write', start: 0n, end: 9n })).granted).toBe(true);
  });

  it('end the locks of an earlier life of a client id at the new life’s first lock', async () => {
    await set('a', { mode: 'write', start: 0n, end: 9n, instance: 'life-1' });
    expect((await set('b', { mode: 'write', start: 0n, end: 9n })).granted).toBe(false);
    await set('a', { owner: 5n, mode: 'read', start: 50n, end: 59n, instance: 'life-2' });
    expect((await set('b', { mode: 'write', start: 0n, end: 9n })).granted).toBe(true);
    expect(
      (await harness.call(m.renewLockLease, { clientId: 'a', instance: 'life-1', leaseMs })).epoch,
    ).toBeNull();
  });

  it('are swept with their locks once lapsed, and their records go after the keep time', async () => {
    await set('a', { mode: 'write', start: 0n, end: 9n });
    await set('a', { owner: 2n, kind: 'flock', mode: 'read' });
    const parts = { kv: harness.kv, clock: harness.clock };
    expect(await sweepLapsedLocks(parts)).toBe(0);
    harness.clock.advance(leaseMs + 1);
    expect(await sweepLapsedLocks(parts)).toBe(2);
    expect(await lockRecords()).toEqual({ locks: 0, index: 0 });
    const leaseRecord = () => harness.kv.read((tx) => tx.get(lockKeys.lease('a')));
    expect(await leaseRecord()).toBeDefined();
    harness.clock.advance(limits.metaLockLeaseKeepMs);
    await sweepLapsedLocks(parts);
    expect(await leaseRecord()).toBeUndefined();
  });
});

describe('releases', () => {
  it('release one owner’s locks of a kind, then all of a client’s and its lease', async () => {
    await set('a', { owner: 1n, mode: 'write', start: 0n, end: 9n });
    await set('a', { owner: 2n, mode: 'write', start: 20n, end: 29n });
    await set('a', { owner: 3n, kind: 'flock', mode: 'write' });
    const byOwner = (owner: bigint, kind: LockKind) =>
      harness.call(m.releaseLocks, { clientId: 'a', release: { scope: 'owner', ino, kind, owner } });
    expect(await byOwner(1n, 'posix')).toEqual({ released: 1, holds: true });
    expect(await byOwner(1n, 'posix')).toEqual({ released: 0, holds: true });
    expect(await byOwner(2n, 'posix')).toEqual({ released: 1, holds: true });
    expect((await set('b', { mode: 'write' })).granted).toBe(true);
    expect(await harness.call(m.releaseLocks, { clientId: 'a', release: { scope: 'client' } })).toEqual({
      released: 1,
      holds: false,
    });
    expect((await set('b', { kind: 'flock', mode: 'write' })).granted).toBe(true);
    expect(
      (await harness.call(m.renewLockLease, { clientId: 'a', instance: 'life-1', leaseMs })).epoch,
    ).toBeNull();
  });
});

describe('bounds and bad input', () => {
  it('answers TooManyLocks beyond the ranges one owner may hold', async () => {
    const max = limits.metaLockRangesPerHolderMax;
    for (let index = 0; index < max; index++) {
      const start = BigInt(index * 2);
      await set('a', { mode: 'read', start, end: start });
    }
    await expectCode(
      set('a', { mode: 'read', start: BigInt(max * 2), end: BigInt(max * 2) }),
      MetaCode.TooManyLocks,
    );
    // Merging two neighbours needs no new range.
    expect((await set('a', { mode: 'read', start: 1n, end: 1n })).granted).toBe(true);
  }, 60_000);

  it('refuses malformed requests with BadRequest', async () => {
    const good: SetLock = {
      ino,
      kind: 'posix',
      holder: holder('a', 1n),
      mode: 'write',
      range: { start: 0n, end: 9n },
      pid: 1,
      leaseMs,
    };
    const cases: unknown[] = [
      { ...good, range: { start: 10n, end: 9n } },
      { ...good, range: { start: -1n, end: 9n } },
      { ...good, range: { start: 0n, end: lockOffsetMax + 1n } },
      { ...good, kind: 'mandatory' },
      { ...good, mode: 'exclusive' },
      { ...good, holder: holder('a b', 1n) },
      { ...good, holder: holder('a', -1n) },
      { ...good, holder: { ...holder('a', 1n), instance: '' } },
      { ...good, leaseMs: 10 },
      { ...good, pid: -5 },
      { ...good, extra: true },
    ];
    for (const request of cases) await expectCode(harness.call(m.setLock, request), RpcCode.BadRequest);
    await expectCode(
      harness.call(m.releaseLocks, { clientId: 'a', release: { scope: 'owner', ino } }),
      RpcCode.BadRequest,
    );
    await expectCode(
      harness.call(m.renewLockLease, { clientId: 'a', instance: 'x', leaseMs: 10 ** 9 }),
      RpcCode.BadRequest,
    );
    // And the service keeps serving.
    expect((await harness.call(m.setLock, good)).granted).toBe(true);
  });
});
