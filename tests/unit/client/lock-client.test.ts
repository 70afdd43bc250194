// Proves the client side of cluster-wide locks against a real meta service: a blocking request waits until the holder lets go, a non-blocking one fails at once, a wait ends with LockWaitInterrupted when its signal aborts and LockWaitTimedOut at its bound; a close of a file without locks costs no call; the lease is renewed while locks are held, a lost lease is noticed, a failed release is tried again, and close releases everything.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { ClientCode } from '../../../src/common/status-code.js';
import { LockClient, type LockChange, type MetaCaller } from '../../../src/client/lock-client.js';
import { lockOffsetMax } from '../../../src/meta/protocol/index.js';
import type { MethodDef } from '../../../src/rpc/index.js';
import { expectCode, openHarness, type Harness } from '../meta/meta-harness.js';

let harness: Harness;
const clients: LockClient[] = [];
beforeEach(async () => {
  harness = await openHarness();
});
afterEach(async () => {
  // Stops their renewals before the service goes.
  for (const client of clients.splice(0)) await client.close();
  await harness.close();
});

const ino = 7n;
const leaseMs = 3_000;

/** The meta service in process, counting calls by method and failing them while `down`. */
class CountingMeta implements MetaCaller {
  readonly calls: string[] = [];
  down = false;

  async call<Req, Res>(method: MethodDef<Req, Res>, request: Req): Promise<Res> {
    this.calls.push(method.name);
    if (this.down) throw new FsError(ClientCode.MetaUnreachable, 'meta is down in this test');
    return harness.service.call(method, request);
  }
}

function lockClient(
  clientId: string,
  options: { clock?: Clock; meta?: MetaCaller; waitMsMax?: number } = {},
) {
  const client = new LockClient({
    meta: options.meta ?? new CountingMeta(),
    clientId,
    clock: options.clock ?? systemClock,
    logger: silentLogger(),
    leaseMs,
    waitMsMax: options.waitMsMax ?? 60_000,
  });
  clients.push(client);
  return client;
}

function exclusive(overrides: Partial<LockChange> = {}): LockChange {
  return {
    kind: 'posix',
    owner: 1n,
    mode: 'write',
    range: { start: 0n, end: lockOffsetMax },
    pid: 10,
    wait: false,
    ...overrides,
  };
}

/** Lets promise callbacks run (the manual clock fires timers synchronously). */
async function settle(): Promise<void> {
  for (let round = 0; round < 20; round++) await new Promise((resolve) => setImmediate(resolve));
}

describe('waiting', () => {
  it('waits until the holder releases, then takes the lock', async () => {
    const a = lockClient('a');
    const b = lockClient('b');
    await a.set(ino, exclusive());
    const started = performance.now();
    const waiting = b.set(ino, exclusive({ wait: true }));
    setTimeout(() => void a.release(ino, 'posix', 1n), 150);
    await waiting;
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(b.heldFiles()).toEqual([ino]);
    expect(a.heldFiles()).toEqual([]);
  });

  it('fails at once with LockConflict when it would not wait', async () => {
    await lockClient('a').set(ino, exclusive());
    await expectCode(lockClient('b').set(ino, exclusive({ mode: 'read' })), ClientCode.LockConflict);
  });

  it('ends with LockWaitInterrupted when its signal aborts, and LockWaitTimedOut at its bound', async () => {
    await lockClient('a').set(ino, exclusive());
    const controller = new AbortController();
    const interrupted = lockClient('b').set(ino, exclusive({ wait: true, signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('signal')), 50);
    await expectCode(interrupted, ClientCode.LockWaitInterrupted);
    const started = performance.now();
    await expectCode(
      lockClient('c', { waitMsMax: 300 }).set(ino, exclusive({ wait: true })),
      ClientCode.LockWaitTimedOut,
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });
});

describe('releases and the lease', () => {
  it('calls meta on a close only for files it holds locks on', async () => {
    const meta = new CountingMeta();
    const a = lockClient('a', { meta });
    await a.release(ino, 'posix', 1n);
    expect(meta.calls).toEqual([]);
    await a.set(ino, exclusive());
    await a.release(ino + 1n, 'posix', 1n);
    await a.release(ino, 'posix', 2n);
    expect(a.heldFiles()).toEqual([ino]);
    await a.release(ino, 'posix', 1n);
    expect(a.heldFiles()).toEqual([]);
    expect(meta.calls).toEqual(['Meta.setLock', 'Meta.releaseLocks', 'Meta.releaseLocks']);
  });

  it('renews its lease while it holds locks, and forgets them once the lease was lost', async () => {
    const meta = new CountingMeta();
    const a = lockClient('a', { meta, clock: harness.clock });
    await a.set(ino, exclusive());
    for (let round = 0; round < 9; round++) {
      harness.clock.advance(leaseMs / 3);
      await settle();
    }
    expect(meta.calls.filter((name) => name === 'Meta.renewLockLease').length).toBeGreaterThanOrEqual(8);
    await expectCode(lockClient('b').set(ino, exclusive()), ClientCode.LockConflict);
    // Cut off from meta longer than the lease: the lock lapses for everyone else.
    meta.down = true;
    for (let round = 0; round < 4; round++) {
      harness.clock.advance(leaseMs / 3);
      await settle();
    }
    await lockClient('b').set(ino, exclusive({ owner: 5n, mode: 'read', range: { start: 0n, end: 0n } }));
    meta.down = false;
    harness.clock.advance(leaseMs / 3);
    await settle();
    expect(a.heldFiles()).toEqual([]);
  });

  it('tries a failed release again with the renewals', async () => {
    const meta = new CountingMeta();
    const a = lockClient('a', { meta, clock: harness.clock });
    await a.set(ino, exclusive());
    meta.down = true;
    await a.release(ino, 'posix', 1n);
    meta.down = false;
    await expectCode(lockClient('b').set(ino, exclusive()), ClientCode.LockConflict);
    harness.clock.advance(leaseMs / 3);
    await settle();
    await lockClient('b').set(ino, exclusive());
    expect(a.heldFiles()).toEqual([]);
  });

  it('releases every lock of the client at close', async () => {
    const a = lockClient('a');
    await a.set(ino, exclusive());
    await a.set(ino + 1n, exclusive({ kind: 'flock', owner: 9n }));
    await a.close();
    const b = lockClient('b');
    await b.set(ino, exclusive());
    await b.set(ino + 1n, exclusive({ kind: 'flock', owner: 9n }));
    await expectCode(a.set(ino, exclusive()), ClientCode.BadFileHandle);
  });
});
