// Proves the syncMetadata method: it answers once the creates committed before it are durable (one fdatasync of the sqlite WAL under "interval", shared by concurrent callers), needs none when nothing changed, refuses a malformed request, and fails while the engine is closed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import { KvCode, RpcCode } from '../../../src/common/status-code.js';
import { openSqliteKvEngine, type KvEngine, type KvSyncEvent } from '../../../src/kv/index.js';
import { MetaService } from '../../../src/meta/meta-service.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import { expectCode, root } from './meta-harness.js';

let directory: string;
let kv: KvEngine;
let service: MetaService;
let events: KvSyncEvent[];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), '3fs-meta-sync-'));
  events = [];
  kv = await openSqliteKvEngine({
    path: join(directory, 'kv.sqlite'),
    synchronous: 'interval',
    // Longer than any test: every sync seen here was asked for.
    commitIntervalMs: 60_000,
    logger: silentLogger(),
    syncObserver: { syncFinished: (event) => events.push(event) },
  });
  service = new MetaService({
    kv,
    clock: new ManualClock(),
    random: seededRandom(3),
    logger: silentLogger(),
    rootSquash: { enabled: false, uid: 65534, gid: 65534 },
    inodeIdBatch: 16,
    chainTables: () => ({ chainTableId: 1, chainTableVersion: 1, chains: [1, 2, 3, 4] }),
    capacity: () => ({ capacityBytes: 1000, usedBytes: 0, freeBytes: 1000 }),
  });
  await service.ensureRoot({ chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 2 });
});

afterEach(async () => {
  await kv.close().catch(() => {});
  await rm(directory, { recursive: true, force: true });
});

describe('syncMetadata', () => {
  it('makes the creates before it durable with one sync shared by concurrent callers', async () => {
    await kv.sync();
    events.length = 0;
    for (let index = 0; index < 5; index++) {
      await service.call(m.create, { cred: root, at: { path: `/f${index}` }, mode: 0o644, write: false });
    }
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => service.call(m.syncMetadata, { cred: root })),
    );
    expect(replies).toEqual(Array.from({ length: 8 }, () => ({})));
    expect(events.map((event) => event.reason)).toEqual(['request']);
  });

  it('needs no sync when nothing changed since the last one', async () => {
    await service.call(m.syncMetadata, { cred: root });
    events.length = 0;
    await service.call(m.stat, { cred: root, at: { path: '/' } });
    await service.call(m.syncMetadata, { cred: root });
    expect(events).toEqual([]);
  });

  it('refuses a request without credentials', async () => {
    await expectCode(service.call(m.syncMetadata, {}), RpcCode.BadRequest);
  });

  it('fails once the engine is closed', async () => {
    await kv.close();
    await expectCode(service.call(m.syncMetadata, { cred: root }), KvCode.Closed);
  });
});
