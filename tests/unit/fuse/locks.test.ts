// Proves the FUSE edge of cluster-wide locks: kernel ranges (length 0 to the end of the file) convert both ways and bad ones answer EINVAL; F_GETLK answers the holder or F_UNLCK; a flock wait that reaches its bound answers EWOULDBLOCK while fcntl's answers EDEADLK; and the last release of an open file drops the locks of owners that locked only through it (OFD locks), not those of owners still locking through another open file.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/common/clock.js';
import { parseConfig } from '../../../src/common/config.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { ClientCode } from '../../../src/common/status-code.js';
import { LockClient } from '../../../src/client/lock-client.js';
import { fuseConfigSchema } from '../../../src/fuse/config.js';
import { errnoOfStatus } from '../../../src/fuse/errno-map.js';
import { LockOwnerFiles } from '../../../src/fuse/lock-owner-files.js';
import { FuseLocks, byteRangeOf, kernelRangeOf } from '../../../src/fuse/locks.js';
import { Errno, FuseErrnoError, LockType, type RequestContext } from '../../../src/fuse/lowlevel/index.js';
import { lockOffsetMax } from '../../../src/meta/protocol/index.js';
import { expectCode, openHarness, type Harness } from '../meta/meta-harness.js';

const context: RequestContext = { uid: 0, gid: 0, pid: 321, umask: 0o22, groups: () => [] };
const ino = 9n;

describe('[fuse] lock settings', () => {
  const minimal =
    '[node]\nid = 200\n[cluster]\nid = "t"\nsecret_file = "/s"\n[mgmtd]\naddresses = ["127.0.0.1:1"]\n';

  it('default to a 15 s lease and a one-hour wait, and refuse leases out of bounds', () => {
    const config = parseConfig(fuseConfigSchema, minimal, 'fuse.toml');
    expect(config.fuse.lock_lease_ms).toBe(limits.fuseLockLeaseMsDefault);
    expect(config.fuse.lock_wait_max_ms).toBe(limits.fuseLockWaitMsMaxDefault);
    const custom = parseConfig(
      fuseConfigSchema,
      `${minimal}[fuse]\nlock_lease_ms = 2000\nlock_wait_max_ms = 0\n`,
      'f',
    );
    expect(config.fuse.lock_lease_ms === 15_000 && custom.fuse.lock_lease_ms === 2_000).toBe(true);
    expect(() => parseConfig(fuseConfigSchema, `${minimal}[fuse]\nlock_lease_ms = 10\n`, 'f')).toThrow(
      /lock_lease_ms/,
    );
  });
});

describe('kernel ranges', () => {
  it('convert both ways, length 0 running to the end of the file', () => {
    expect(byteRangeOf({ start: 10n, length: 5n })).toEqual({ start: 10n, end: 14n });
    expect(byteRangeOf({ start: 10n, length: 0n })).toEqual({ start: 10n, end: lockOffsetMax });
    expect(kernelRangeOf({ start: 10n, end: 14n })).toEqual({ start: 10n, length: 5n });
    expect(kernelRangeOf({ start: 10n, end: lockOffsetMax })).toEqual({ start: 10n, length: 0n });
  });

  it('answer EINVAL beyond the largest offset', () => {
    expect(() => byteRangeOf({ start: lockOffsetMax, length: 2n })).toThrow(FuseErrnoError);
    expect(() => byteRangeOf({ start: -1n, length: 1n })).toThrow(FuseErrnoError);
  });
});

describe('owners by open file', () => {
  it('names at a last release the owners that locked only through that open file', () => {
    const files = new LockOwnerFiles(2);
    expect(files.add(1n, 100n)).toBe(true);
    expect(files.add(1n, 200n)).toBe(true);
    expect(files.add(1n, 300n)).toBe(false);
    expect(files.add(2n, 200n)).toBe(true);
    expect(files.released(1n)).toEqual([100n]);
    expect(files.released(1n)).toEqual([]);
    expect(files.released(2n)).toEqual([200n]);
    expect(files.size).toBe(0);
  });
});

describe('FuseLocks on a meta service', () => {
  let harness: Harness;
  const clients: LockClient[] = [];
  beforeEach(async () => {
    harness = await openHarness();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    await harness.close();
  });

  function fuseLocks(clientId: string, waitMsMax = 60_000): FuseLocks {
    const client = new LockClient({
      meta: { call: (method, request) => harness.service.call(method, request) },
      clientId,
      clock: systemClock,
      logger: silentLogger(),
      leaseMs: 5_000,
      waitMsMax,
    });
    clients.push(client);
    return new FuseLocks(client, silentLogger());
  }

  const lock = (type: LockType, start: bigint, length: bigint, pid = 0) => ({ type, start, length, pid });

  it('answers F_GETLK with the holder, or F_UNLCK with the asked range', async () => {
    const a = fuseLocks('a');
    const b = fuseLocks('b');
    const request = { ino, fh: 1n, owner: 5n, wait: false, signal: undefined };
    await a.setlk(context, { ...request, lock: lock(LockType.Write, 100n, 0n, 77) });
    expect(await b.getlk(context, { ino, fh: 2n, owner: 6n, lock: lock(LockType.Read, 0n, 200n) })).toEqual(
      lock(LockType.Write, 100n, 0n, 77),
    );
    expect(await b.getlk(context, { ino, fh: 2n, owner: 6n, lock: lock(LockType.Write, 0n, 100n) })).toEqual(
      lock(LockType.Unlock, 0n, 100n),
    );
    await expect(
      b.getlk(context, { ino, fh: 2n, owner: 6n, lock: lock(LockType.Unlock, 0n, 1n) }),
    ).rejects.toMatchObject({ errno: Errno.EINVAL });
  });

  it('answers a flock wait that reached its bound with EWOULDBLOCK, and an fcntl one with EDEADLK', async () => {
    const a = fuseLocks('a');
    const b = fuseLocks('b', 50);
    await a.flock(context, {
      ino,
      fh: 1n,
      owner: 5n,
      operation: 'exclusive',
      wait: false,
      signal: undefined,
    });
    await a.setlk(context, {
      ino,
      fh: 1n,
      owner: 6n,
      lock: lock(LockType.Write, 0n, 0n),
      wait: false,
      signal: undefined,
    });
    const flock = await expectCode(
      b.flock(context, { ino, fh: 2n, owner: 7n, operation: 'shared', wait: true, signal: undefined }),
      ClientCode.LockConflict,
    );
    expect(errnoOfStatus(flock.code)).toBe(Errno.EWOULDBLOCK);
    const fcntl = await expectCode(
      b.setlk(context, {
        ino,
        fh: 2n,
        owner: 8n,
        lock: lock(LockType.Read, 0n, 1n),
        wait: true,
        signal: undefined,
      }),
      ClientCode.LockWaitTimedOut,
    );
    expect(errnoOfStatus(fcntl.code)).toBe(Errno.EDEADLK);
  });

  it('drops at an open file’s last release the locks of owners that locked only through it', async () => {
    const a = fuseLocks('a');
    const b = fuseLocks('b');
    const setlk = (fh: bigint, owner: bigint, start: bigint) =>
      a.setlk(context, {
        ino,
        fh,
        owner,
        lock: lock(LockType.Write, start, 1n),
        wait: false,
        signal: undefined,
      });
    // An OFD lock (owner 50, the open file 1 itself) and a process's lock through files 1 and 2.
    await setlk(1n, 50n, 0n);
    await setlk(1n, 60n, 10n);
    await setlk(2n, 60n, 20n);
    await a.release(ino, { fh: 1n, lockOwner: 0n, flockRelease: false });
    const probe = (start: bigint) =>
      b.getlk(context, { ino, fh: 3n, owner: 70n, lock: lock(LockType.Write, start, 1n) });
    expect((await probe(0n)).type).toBe(LockType.Unlock);
    expect((await probe(10n)).type).toBe(LockType.Write);
    expect((await probe(20n)).type).toBe(LockType.Write);
  });
});
