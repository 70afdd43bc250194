// Proves storage_main's configuration: a minimal file gets the documented defaults (the native
// engine for new targets, a files store kept where one exists), sync_writes and its older spelling
// are read alike, and unknown keys, duplicate targets, oversize chunks and a heartbeat timeout too
// short for the interval are refused with the offending key named.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/common/config.js';
import { limits } from '../../../src/common/limits.js';
import { storageConfigSchema } from '../../../src/storage/index.js';
import { chunkEngineOf } from '../../../src/storage/storage-node.js';

const base = `
[node]
id = 3
listen = "127.0.0.1:0"
[cluster]
id = "test"
secret_file = "/etc/3fs/secret"
[mgmtd]
addresses = ["127.0.0.1:9000"]
`;

const parse = (text: string) => parseConfig(storageConfigSchema, text, 'storage.toml');

describe('the storage configuration', () => {
  it('fills in the defaults of a minimal file', () => {
    const config = parse(
      `${base}[storage]\ntargets = [{ id = 301, path = "/data/t301" }, { id = 302, path = "/data/t302" }]\n`,
    );
    expect(config.storage).toEqual({
      targets: [
        { id: 301, path: '/data/t301' },
        { id: 302, path: '/data/t302' },
      ],
      chunk_size_max_bytes: limits.storageChunkBytesMax,
      free_space_reserve_bytes: limits.storageFreeSpaceReserveBytesDefault,
      sync_writes: false,
      direct_writes: true,
      direct_reads: true,
      io_uring: true,
      chunk_lock_waiters_max: limits.storageChunkLockWaitersMax,
      recovery_bandwidth_bytes_per_s: limits.storageRecoveryBandwidthBytesPerSDefault,
      recovery_concurrency: limits.storageRecoveryConcurrencyDefault,
      disk_check_interval_ms: limits.storageDiskCheckIntervalMsDefault,
    });
    expect(config.mgmtd.heartbeat_timeout_ms).toBe(limits.heartbeatTimeoutMsDefault);
    expect(config.log.level).toBe('info');
  });

  it('uses the native engine for a new target and keeps the files store a target already holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), '3fs-engine-'));
    try {
      expect(await chunkEngineOf(join(dir, 'missing'), undefined)).toBe('native');
      writeFileSync(join(dir, 'chunks.db'), '');
      expect(await chunkEngineOf(dir, undefined)).toBe('files');
      expect(await chunkEngineOf(dir, 'native')).toBe('native');
      expect(await chunkEngineOf(join(dir, 'missing'), 'files')).toBe('files');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads sync_writes, and the older durability key as its other spelling', () => {
    const section = `${base}[storage]\ntargets = [{ id = 301, path = "/a" }]\n`;
    expect(parse(`${section}sync_writes = true\n`).storage.sync_writes).toBe(true);
    expect(parse(`${section}durability = "power-loss"\n`).storage.sync_writes).toBe(true);
    expect(parse(`${section}durability = "process-crash"\n`).storage.sync_writes).toBe(false);
    expect(parse(`${section}durability = "power-loss"\nsync_writes = true\n`).storage.sync_writes).toBe(true);
    expect(() => parse(`${section}durability = "power-loss"\nsync_writes = false\n`)).toThrow(
      /storage\.durability: contradicts sync_writes = false/,
    );
    expect(() => parse(`${section}sync_writes = "yes"\n`)).toThrow(/storage\.sync_writes/);
  });

  it('refuses duplicate targets and unknown keys, naming them', () => {
    expect(() =>
      parse(`${base}[storage]\ntargets = [{ id = 301, path = "/a" }, { id = 301, path = "/a" }]\n`),
    ).toThrow(
      /storage\.targets\.1\.id: target id 301 is listed twice[\s\S]*storage\.targets\.1\.path: path \/a is listed twice/,
    );
    expect(() => parse(`${base}[storage]\ntargets = [{ id = 301, path = "/a" }]\nfsync = false\n`)).toThrow(
      /storage\.fsync: unknown key/,
    );
    expect(() => parse(`${base}[storage]\ntargets = []\n`)).toThrow(/storage\.targets/);
    expect(() =>
      parse(`${base}[storage]\ntargets = [{ id = 301, path = "/a" }]\nchunk_engine = "rocksdb"\n`),
    ).toThrow(/storage\.chunk_engine/);
    expect(() =>
      parse(`${base}[storage]\ntargets = [{ id = 301, path = "/a" }]\nrecovery_concurrency = 0\n`),
    ).toThrow(/storage\.recovery_concurrency/);
  });

  it('refuses chunks over the protocol maximum and a heartbeat timeout under three intervals', () => {
    expect(() =>
      parse(
        `${base}[storage]\ntargets = [{ id = 1, path = "/a" }]\nchunk_size_max_bytes = ${limits.storageChunkBytesMax + 1}\n`,
      ),
    ).toThrow(/storage\.chunk_size_max_bytes/);
    expect(() =>
      parse(
        base.replace('[mgmtd]', '[mgmtd]\nheartbeat_interval_ms = 1000\nheartbeat_timeout_ms = 2000') +
          `[storage]\ntargets = [{ id = 1, path = "/a" }]\n`,
      ),
    ).toThrow(/mgmtd\.heartbeat_timeout_ms: must be at least three times/);
  });
});
