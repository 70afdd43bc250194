// Proves sqlite-specific behaviour: waiting for another connection's write lock, the bounded queue, group commit and reopening.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { KvCode } from '../../../src/common/status-code.js';
import { openSqliteKvEngine, u64BigEndian, type KvEngine } from '../../../src/kv/index.js';

const k = (text: string): Buffer => Buffer.from(text, 'latin1');

let directory: string;
const engines: KvEngine[] = [];

async function open(): Promise<KvEngine> {
  const engine = await openSqliteKvEngine({ path: join(directory, 'kv.sqlite'), logger: silentLogger() });
  engines.push(engine);
  return engine;
}

/** A transaction that holds the writer (and the database's write lock) until `release` is called. */
function holdWriter(engine: KvEngine): { release: () => void; done: Promise<void>; entered: Promise<void> } {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let entered: () => void = () => {};
  const hasEntered = new Promise<void>((resolve) => (entered = resolve));
  const done = engine.transact(async (tx) => {
    tx.set(k('holder'), k('1'));
    entered();
    await held;
  });
  return { release, done, entered: hasEntered };
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), '3fs-kv-sqlite-'));
});

afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  await rm(directory, { recursive: true, force: true });
});

describe('sqlite engine', () => {
  it('waits for another connection’s write lock and proceeds once it is released', async () => {
    const first = await open();
    const second = await open();
    const holder = holdWriter(first);
    await holder.entered;
    const waiting = second.transact(async (tx) => tx.set(k('second'), k('1')));
    setTimeout(holder.release, 100);
    await Promise.all([holder.done, waiting]);
    const keys = await second.read(async (tx) =>
      (await tx.getRange(k(''), k('z'))).map((pair) => pair.key.toString()),
    );
    expect(keys).toEqual(['holder', 'second']);
  });

  it('gives up on a lock held too long with a retryable Conflict', async () => {
    const first = await open();
    const second = await open();
    const holder = holdWriter(first);
    await holder.entered;
    const startMs = performance.now();
    const error = (await second
      .transact(async (tx) => tx.set(k('second'), k('1')), { attemptsMax: 1 })
      .catch((caught: unknown) => caught)) as FsError;
    expect(error.code).toBe(KvCode.RetriesExhausted);
    expect((error.cause as FsError).code).toBe(KvCode.Conflict);
    expect((error.cause as FsError).message).toMatch(/locked by another process/);
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(limits.kvSqliteLockWaitMsMax - 50);
    holder.release();
    await holder.done;
  });

  it('a reader is not blocked by another connection’s open write transaction', async () => {
    const first = await open();
    const second = await open();
    await second.transact(async (tx) => tx.set(k('a'), k('committed')));
    const holder = holdWriter(first);
    await holder.entered;
    const value = await second.read((tx) => tx.get(k('a')));
    expect(value?.toString()).toBe('committed');
    expect(await second.read((tx) => tx.get(k('holder')))).toBeUndefined();
    holder.release();
    await holder.done;
  });

  it('refuses transactions beyond the queue bound with Overloaded', async () => {
    const engine = await open();
    const holder = holdWriter(engine);
    await holder.entered;
    const queued = Array.from({ length: limits.kvTransactionsQueuedMax + 1 }, () =>
      engine
        .transact(async (tx) => tx.set(k('queued'), k('1')))
        .then(
          () => 'committed',
          (error: unknown) => ((error as FsError).code === KvCode.Overloaded ? 'overloaded' : 'other'),
        ),
    );
    holder.release();
    const outcomes = await Promise.all(queued);
    expect(outcomes.filter((outcome) => outcome === 'overloaded')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'committed')).toHaveLength(
      limits.kvTransactionsQueuedMax,
    );
    await holder.done;
  });

  it('queued transactions share commits and each sees the ones before it', async () => {
    const engine = await open();
    const holder = holdWriter(engine);
    await holder.entered;
    const seen = Array.from({ length: 50 }, () =>
      engine.transact(async (tx) => {
        const value = await tx.get(k('counter'));
        const next = (value === undefined ? 0n : value.readBigUInt64BE()) + 1n;
        tx.set(k('counter'), u64BigEndian(next));
        return next;
      }),
    );
    holder.release();
    const results = await Promise.all(seen);
    expect(results).toEqual(Array.from({ length: 50 }, (_, index) => BigInt(index + 1)));
    await holder.done;
  });

  it('keeps committed data across close and reopen', async () => {
    const engine = await open();
    await engine.transact(async (tx) => tx.set(k('durable'), k('yes')));
    await engine.close();
    const reopened = await open();
    expect((await reopened.read((tx) => tx.get(k('durable'))))?.toString()).toBe('yes');
  });

  it('reports an unusable path as an engine failure', async () => {
    const error = (await openSqliteKvEngine({
      path: join(directory, 'missing', 'dir', 'kv.sqlite'),
      logger: silentLogger(),
    }).catch((caught: unknown) => caught)) as FsError;
    expect(error.code).toBe(KvCode.EngineFailure);
    expect(error.message).toContain('missing');
  });
});
