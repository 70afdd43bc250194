// Proves the WAL syncer's rules on a manual clock with an injected sync: a commit is followed by one sync within the interval, nothing is synced while idle, concurrent sync() callers share one sync and never wait for one that started before their call, syncs never overlap, close syncs what is left, and a failed sync fails the syncer for good.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { KvCode, statusName } from '../../../src/common/status-code.js';
import { WalSyncer, type WalSyncEvent } from '../../../src/kv/sqlite-wal-sync.js';

const intervalMs = 1_000;

/** A sync function whose calls a test finishes one by one, counting overlaps. */
class ControlledSync {
  readonly pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  calls = 0;
  running = 0;
  runningMax = 0;

  readonly sync = (): Promise<void> => {
    this.calls += 1;
    this.running += 1;
    this.runningMax = Math.max(this.runningMax, this.running);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({
        resolve: () => {
          this.running -= 1;
          resolve();
        },
        reject: (error) => {
          this.running -= 1;
          reject(error);
        },
      });
    });
  };

  /** Finishes the oldest running call, then lets the syncer's continuations run. */
  async finish(error?: Error): Promise<void> {
    const next = this.pending.shift();
    expect(next, 'a sync is running').toBeDefined();
    if (error === undefined) next?.resolve();
    else next?.reject(error);
    await settle();
  }
}

/** Lets every promise continuation that is ready run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 10; round++) await Promise.resolve();
}

function setup(options: { intervalMs?: number | undefined } = {}) {
  const clock = new ManualClock();
  const sync = new ControlledSync();
  const events: WalSyncEvent[] = [];
  const failures: FsError[] = [];
  const syncer = new WalSyncer({
    syncFile: sync.sync,
    intervalMs: 'intervalMs' in options ? options.intervalMs : intervalMs,
    clock,
    walName: 'test.db-wal',
    onSynced: (event) => events.push(event),
    onFailed: (error) => failures.push(error),
  });
  return { clock, sync, events, failures, syncer };
}

/** Resolves to "pending", "ok" or the status name `promise` failed with, without waiting for it. */
async function state(promise: Promise<void>): Promise<string> {
  let outcome = 'pending';
  promise.then(
    () => (outcome = 'ok'),
    (error: unknown) => (outcome = error instanceof FsError ? statusName(error.code) : String(error)),
  );
  await settle();
  return outcome;
}

describe('WAL syncer', () => {
  it('syncs a commit once the interval has passed, and not before', async () => {
    const { clock, sync, events, syncer } = setup();
    syncer.noteCommit();
    clock.advance(intervalMs - 1);
    expect(sync.calls).toBe(0);
    clock.advance(1);
    expect(sync.calls).toBe(1);
    await sync.finish();
    expect(events.map((event) => event.reason)).toEqual(['interval']);
  });

  it('syncs many commits of one interval with one sync', async () => {
    const { clock, sync, syncer } = setup();
    for (let commit = 0; commit < 100; commit++) {
      syncer.noteCommit();
      clock.advance(5);
    }
    clock.advance(intervalMs);
    expect(sync.calls).toBe(1);
    await sync.finish();
    clock.advance(10 * intervalMs);
    expect(sync.calls).toBe(1);
  });

  it('never syncs while nothing is committed', async () => {
    const { clock, sync, syncer } = setup();
    clock.advance(10 * intervalMs);
    expect(sync.calls).toBe(0);
    await syncer.sync();
    expect(sync.calls).toBe(0);
    await syncer.close();
    expect(sync.calls).toBe(0);
  });

  it('syncs a commit made while a sync runs within the next interval, after the running sync', async () => {
    const { clock, sync, syncer } = setup();
    syncer.noteCommit();
    clock.advance(intervalMs);
    expect(sync.calls).toBe(1);
    syncer.noteCommit();
    clock.advance(intervalMs);
    // The second sync waits for the first: syncs never overlap.
    expect(sync.calls).toBe(1);
    await sync.finish();
    expect(sync.calls).toBe(2);
    await sync.finish();
    expect(sync.runningMax).toBe(1);
  });

  it('lets concurrent sync() callers share one sync', async () => {
    const { sync, events, syncer } = setup();
    syncer.noteCommit();
    const callers = Array.from({ length: 10 }, () => syncer.sync());
    expect(sync.calls).toBe(1);
    expect(await state(Promise.all(callers).then(() => undefined))).toBe('pending');
    await sync.finish();
    expect(await state(Promise.all(callers).then(() => undefined))).toBe('ok');
    expect(events.map((event) => event.reason)).toEqual(['request']);
  });

  it('makes a caller whose commit came after the running sync began wait for the next, shared one', async () => {
    const { sync, syncer } = setup();
    syncer.noteCommit();
    const first = syncer.sync();
    syncer.noteCommit();
    const later = [syncer.sync(), syncer.sync(), syncer.sync()];
    expect(sync.calls).toBe(1);
    await sync.finish();
    expect(await state(first)).toBe('ok');
    expect(await state(later[0] as Promise<void>)).toBe('pending');
    expect(sync.calls).toBe(2);
    await sync.finish();
    expect(await state(Promise.all(later).then(() => undefined))).toBe('ok');
    expect(sync.calls).toBe(2);
    expect(sync.runningMax).toBe(1);
  });

  it('answers sync() at once when the last sync covered every commit', async () => {
    const { sync, syncer } = setup();
    syncer.noteCommit();
    const first = syncer.sync();
    await sync.finish();
    await first;
    expect(await state(syncer.sync())).toBe('ok');
    expect(sync.calls).toBe(1);
  });

  it('skips the interval sync when a requested sync already covered the commits', async () => {
    const { clock, sync, syncer } = setup();
    syncer.noteCommit();
    const requested = syncer.sync();
    await sync.finish();
    await requested;
    clock.advance(intervalMs);
    expect(sync.calls).toBe(1);
  });

  it('syncs only on request and at close without an interval (synchronous = "normal")', async () => {
    const { clock, sync, events, syncer } = setup({ intervalMs: undefined });
    syncer.noteCommit();
    clock.advance(60 * intervalMs);
    expect(sync.calls).toBe(0);
    const closing = syncer.close();
    await settle();
    expect(sync.calls).toBe(1);
    await sync.finish();
    await closing;
    expect(events.map((event) => event.reason)).toEqual(['close']);
  });

  it('closes with a final sync after waiting for the running one, and stops the timer', async () => {
    const { clock, sync, events, syncer } = setup();
    syncer.noteCommit();
    clock.advance(intervalMs);
    syncer.noteCommit();
    const closing = syncer.close();
    clock.advance(10 * intervalMs);
    expect(sync.calls).toBe(1);
    await sync.finish();
    expect(sync.calls).toBe(2);
    await sync.finish();
    await closing;
    expect(events.map((event) => event.reason)).toEqual(['interval', 'close']);
    expect(sync.runningMax).toBe(1);
    expect(await state(syncer.sync())).toBe(statusName(KvCode.Closed));
  });

  it('fails for good when a sync fails: every later sync and the close answer EngineFailure', async () => {
    const { sync, failures, syncer } = setup();
    syncer.noteCommit();
    const first = syncer.sync();
    await sync.finish(new Error('EIO: i/o error, fdatasync'));
    expect(await state(first)).toBe(statusName(KvCode.EngineFailure));
    expect(syncer.failed?.code).toBe(KvCode.EngineFailure);
    expect(syncer.failed?.message).toContain('test.db-wal');
    syncer.noteCommit();
    expect(await state(syncer.sync())).toBe(statusName(KvCode.EngineFailure));
    // Retrying could only report success for pages the kernel may have dropped.
    expect(sync.calls).toBe(1);
    expect(failures).toHaveLength(1);
    expect(await state(syncer.close())).toBe(statusName(KvCode.EngineFailure));
  });

  it('refuses an interval that is not a positive whole number of milliseconds', () => {
    for (const bad of [0, -5, 1.5]) expect(() => setup({ intervalMs: bad })).toThrow(/commit interval/);
  });
});
