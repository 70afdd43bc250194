// Proves the sqlite engine's commit durability modes on a real database: under "interval" a commit is followed by an fdatasync of the WAL within the interval, concurrent sync() calls share one, close syncs what is left, nothing is synced while idle, the synced descriptor stays on the live WAL through checkpoints that restart and truncate it, "normal" syncs only on request and at close, and "full" (and sync() on it) never needs one.
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { KvCode } from '../../../src/common/status-code.js';
import {
  openSqliteKvEngine,
  type KvEngine,
  type KvSyncEvent,
  type SqliteSynchronous,
} from '../../../src/kv/index.js';

const k = (text: string): Buffer => Buffer.from(text, 'latin1');

let directory: string;
const engines: KvEngine[] = [];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), '3fs-kv-durability-'));
});

afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => {});
  await rm(directory, { recursive: true, force: true });
});

async function open(
  synchronous: SqliteSynchronous,
  commitIntervalMs = 60_000,
): Promise<{ engine: KvEngine; events: KvSyncEvent[]; path: string }> {
  const events: KvSyncEvent[] = [];
  const path = join(directory, 'kv.sqlite');
  const engine = await openSqliteKvEngine({
    path,
    synchronous,
    commitIntervalMs,
    logger: silentLogger(),
    syncObserver: { syncFinished: (event) => events.push(event) },
  });
  engines.push(engine);
  return { engine, events, path };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Paths this process holds open descriptors on (Linux /proc). */
function openPaths(): string[] {
  const paths: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      paths.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // Closed between the listing and the read.
    }
  }
  return paths;
}

describe('sqlite commit durability', () => {
  it('syncs the WAL within the commit interval after a commit, and not again while idle', async () => {
    const intervalMs = 100;
    const { engine, events } = await open('interval', intervalMs);
    await engine.transact(async (tx) => tx.set(k('a'), k('1')));
    const committedMs = performance.now();
    while (events.length === 0 && performance.now() - committedMs < 10 * intervalMs) await sleep(5);
    expect(events.map((event) => event.reason)).toEqual(['interval']);
    // The timer is armed at the commit: the sync starts within the interval (plus timer slack).
    expect(performance.now() - committedMs).toBeLessThan(intervalMs + 250);
    expect(events[0]?.engine).toBe('sqlite');
    await sleep(4 * intervalMs);
    expect(events).toHaveLength(1);
  });

  it('shares one fdatasync among concurrent sync() calls and answers at once when nothing is new', async () => {
    const { engine, events } = await open('interval');
    await engine.sync();
    expect(events).toHaveLength(0);
    await engine.transact(async (tx) => tx.set(k('a'), k('1')));
    await Promise.all(Array.from({ length: 20 }, () => engine.sync()));
    expect(events.map((event) => event.reason)).toEqual(['request']);
    await engine.sync();
    expect(events).toHaveLength(1);
  });

  it('syncs what was committed since the last sync when it closes, and refuses sync() after', async () => {
    const { engine, events } = await open('interval');
    await engine.transact(async (tx) => tx.set(k('a'), k('1')));
    await engine.close();
    expect(events.map((event) => event.reason)).toEqual(['close']);
    await expect(engine.sync()).rejects.toMatchObject({ code: KvCode.Closed });
  });

  it('closes without a sync when nothing was committed', async () => {
    const { engine, events } = await open('interval');
    await engine.read(async (tx) => tx.get(k('a')));
    await engine.close();
    expect(events).toHaveLength(0);
  });

  it('keeps syncing the live WAL while checkpoints restart and truncate it', async () => {
    const { engine, events, path } = await open('interval');
    const value = Buffer.alloc(50_000, 7);
    // Far past the autocheckpoint (1000 pages): the WAL is checkpointed and restarted many times.
    for (let round = 0; round < 40; round++) {
      await engine.transact(async (tx) => {
        for (let index = 0; index < 10; index++) tx.set(k(`r${round}-${index}`), value);
      });
      if (round % 10 === 9) await engine.sync();
    }
    expect(events.map((event) => event.reason)).toEqual(['request', 'request', 'request', 'request']);
    const walPaths = openPaths().filter((target) => target.startsWith(`${path}-wal`));
    expect(walPaths.length).toBeGreaterThan(0);
    expect(walPaths.every((target) => target === `${path}-wal`)).toBe(true);
    // 20 MB were committed: a WAL much smaller than that was restarted by checkpoints.
    expect(statSync(`${path}-wal`).size).toBeLessThan(10_000_000);
    const count = await engine.read(async (tx) => (await tx.getRange(k('r'), k('s'))).length);
    expect(count).toBe(400);
  });

  it('never syncs by itself under "normal", but does on request and at close', async () => {
    const { engine, events } = await open('normal', 50);
    await engine.transact(async (tx) => tx.set(k('a'), k('1')));
    await sleep(200);
    expect(events).toHaveLength(0);
    await engine.sync();
    await engine.transact(async (tx) => tx.set(k('b'), k('1')));
    await engine.close();
    expect(events.map((event) => event.reason)).toEqual(['request', 'close']);
  });

  it('needs no sync under "full": sync() answers at once, and closing releases every descriptor', async () => {
    const { engine, events, path } = await open('full', 50);
    await engine.transact(async (tx) => tx.set(k('a'), k('1')));
    await engine.sync();
    await sleep(150);
    await engine.close();
    expect(events).toHaveLength(0);
    // sqlite's own descriptors are closed too once the engine is.
    expect(openPaths().filter((target) => target.startsWith(path))).toEqual([]);
  });
});
