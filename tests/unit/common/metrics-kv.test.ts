// Proves the KV observer, through kv's observed engine, counts transactions by kind, their retries
// after conflicts (also those that failed before the function ran: another process held sqlite's
// write lock too long), and final failures by status code, and counts and times the engine's
// syncs of its WAL by reason, on the real sqlite engine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { MetricsRegistry, kvMetricsObserver } from '../../../src/common/metrics/index.js';
import { limits } from '../../../src/common/limits.js';
import { KvCode, MetaCode } from '../../../src/common/status-code.js';
import { observeKvEngine, openSqliteKvEngine, type KvEngine } from '../../../src/kv/index.js';

describe('kv metrics observer', () => {
  let dir: string;
  let engine: KvEngine;
  let registry: MetricsRegistry;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), '3fs-kv-metrics-'));
    registry = new MetricsRegistry({ node: '1', node_type: 'mgmtd' });
    const sqlite = await openSqliteKvEngine({ path: join(dir, 'kv.db'), logger: silentLogger() });
    engine = observeKvEngine(sqlite, kvMetricsObserver(registry));
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts reads, writes, retries and failures', async () => {
    await engine.transact(async (tx) => tx.set(Buffer.from('a'), Buffer.from('1')));
    let attempts = 0;
    await engine.transact(async (tx) => {
      attempts += 1;
      if (attempts < 3) throw new FsError(KvCode.Conflict, 'conflict');
      tx.set(Buffer.from('b'), Buffer.from('2'));
    });
    expect(await engine.read(async (tx) => (await tx.get(Buffer.from('b')))?.toString())).toBe('2');
    await expect(
      engine.transact(async () => {
        throw new FsError(MetaCode.NotFound, 'gone');
      }),
    ).rejects.toThrow(/gone/);

    const text = await registry.text();
    const labels = 'node="1",node_type="mgmtd"';
    expect(text).toContain(`threefs_kv_transactions_total{engine="sqlite",kind="write",${labels}} 3`);
    expect(text).toContain(`threefs_kv_transactions_total{engine="sqlite",kind="read",${labels}} 1`);
    expect(text).toContain(`threefs_kv_transaction_retries_total{engine="sqlite",kind="write",${labels}} 2`);
    expect(text).toContain(
      `threefs_kv_transaction_errors_total{engine="sqlite",kind="write",code="Meta.NotFound",${labels}} 1`,
    );
    expect(text).toContain(`threefs_kv_transactions_running{engine="sqlite",${labels}} 0`);
  });

  it('counts a retry after another process held the write lock longer than a writer waits', async () => {
    const other = new Database(join(dir, 'kv.db'));
    try {
      other.pragma('busy_timeout = 10000');
      other.exec('BEGIN IMMEDIATE');
      let runs = 0;
      const written = engine.transact(async (tx) => {
        runs += 1;
        tx.set(Buffer.from('c'), Buffer.from('3'));
      });
      await new Promise((resolve) => setTimeout(resolve, limits.kvSqliteLockWaitMsMax + 300));
      other.exec('COMMIT');
      await written;
      // The function ran once: the attempt that gave up waiting for the lock never started it.
      expect(runs).toBe(1);
    } finally {
      other.close();
    }
    const text = await registry.text();
    expect(text).toMatch(/threefs_kv_transaction_retries_total\{engine="sqlite",kind="write",[^}]*\} [1-9]/);
  });

  it('counts and times the syncs the engine reports, by reason', async () => {
    const observer = kvMetricsObserver(registry);
    const synced = await openSqliteKvEngine({
      path: join(dir, 'synced.db'),
      synchronous: 'interval',
      commitIntervalMs: 60_000,
      logger: silentLogger(),
      syncObserver: observer,
    });
    const observed = observeKvEngine(synced, observer);
    await observed.transact(async (tx) => tx.set(Buffer.from('a'), Buffer.from('1')));
    await observed.sync();
    await observed.transact(async (tx) => tx.set(Buffer.from('b'), Buffer.from('2')));
    await observed.close();
    const text = await registry.text();
    const labels = 'node="1",node_type="mgmtd"';
    expect(text).toContain(`threefs_kv_syncs_total{engine="sqlite",reason="request",${labels}} 1`);
    expect(text).toContain(`threefs_kv_syncs_total{engine="sqlite",reason="close",${labels}} 1`);
    expect(text).toContain(`threefs_kv_sync_duration_seconds_count{${labels},engine="sqlite"} 2`);
  });
});
