// Proves the foundationdb engine's own code on an in-memory stand-in of the binding (the conformance suite, the key prefix, retries through the binding's loop, error mapping) and its configuration and loading errors.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '../../../src/common/config.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode, KvCode, statusName } from '../../../src/common/status-code.js';
import { kvCodeOfFdbError } from '../../../src/kv/foundationdb-errors.js';
import {
  foundationDbSectionSchema,
  kvSectionSchema,
  openFoundationDbKvEngine,
  openKvEngine,
  type KvEngine,
} from '../../../src/kv/index.js';
import { defineKvConformance } from '../../kv-conformance/suite.js';
import { FakeFdbBinding } from './foundationdb-fake-binding.js';

let directory = '';
let files = 0;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), '3fs-fdb-stand-in-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** A fresh cluster file, so the stand-in opens a fresh, empty database. */
async function clusterFile(): Promise<string> {
  const path = join(directory, `fdb-${++files}.cluster`);
  await writeFile(path, 'test:test@127.0.0.1:4500\n');
  return path;
}

const binding = new FakeFdbBinding();

async function openOnStandIn(
  options: { keyPrefix?: string } = {},
): Promise<{ engine: KvEngine; path: string }> {
  const path = await clusterFile();
  const section = foundationDbSectionSchema.parse({
    cluster_file: path,
    ...(options.keyPrefix === undefined ? {} : { key_prefix: options.keyPrefix }),
  });
  const engine = await openFoundationDbKvEngine(section, { logger: silentLogger(), binding });
  return { engine, path };
}

async function errorOf(promise: Promise<unknown>): Promise<FsError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FsError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

defineKvConformance('foundationdb (in-memory stand-in binding)', async ({ clock }) => {
  const section = foundationDbSectionSchema.parse({ cluster_file: await clusterFile() });
  const engine = await openFoundationDbKvEngine(section, { logger: silentLogger(), clock, binding });
  return { engine, cleanup: () => engine.close() };
});

describe('foundationdb engine on a stand-in binding', () => {
  it('keeps every key under the configured prefix', async () => {
    const { engine, path } = await openOnStandIn({ keyPrefix: 'cluster-a/' });
    try {
      await engine.transact(async (tx) => tx.set(Buffer.from([0xff, 0x01]), Buffer.from('v')));
      const cluster = binding.clusters.get(path);
      const stored = [...(cluster?.states.get(cluster.version)?.keys() ?? [])];
      expect(stored).toEqual(['cluster-a/\u00ff\u0001']);
    } finally {
      await engine.close();
    }
  });

  it('selects the API version once and raises the key size limit by the longest prefix', async () => {
    const { engine } = await openOnStandIn();
    await engine.close();
    expect(binding.apiVersion).toBe(710);
    expect(binding.keySizeLimit).toBe(10_064);
  });

  it('lets FoundationDB retry an error a read met, even when the function turned it into another error', async () => {
    const { engine, path } = await openOnStandIn();
    try {
      const cluster = binding.clusters.get(path);
      cluster?.readFailures.push(1020);
      let runs = 0;
      await engine.transact(async (tx) => {
        runs++;
        try {
          await tx.get(Buffer.from('k'));
        } catch {
          throw new Error('the function hides the cause');
        }
        tx.set(Buffer.from('k'), Buffer.from('v'));
      });
      expect(runs).toBe(2);
      expect((await engine.read((tx) => tx.get(Buffer.from('k'))))?.toString()).toBe('v');
    } finally {
      await engine.close();
    }
  });

  it('reports a FoundationDB error it cannot retry as EngineFailure naming the code', async () => {
    const { engine, path } = await openOnStandIn();
    try {
      binding.clusters.get(path)?.readFailures.push(2000);
      const error = await errorOf(engine.read((tx) => tx.get(Buffer.from('k'))));
      expect(statusName(error.code)).toBe(statusName(KvCode.EngineFailure));
      expect(error.message).toContain('FoundationDB error 2000');
    } finally {
      await engine.close();
    }
  });

  it('gives up with RetriesExhausted when FoundationDB keeps asking for retries, within attemptsMax runs', async () => {
    const { engine, path } = await openOnStandIn();
    try {
      const cluster = binding.clusters.get(path);
      cluster?.readFailures.push(...Array.from({ length: 10 }, () => 1020));
      const runsBefore = cluster?.bodyRuns ?? 0;
      const error = await errorOf(engine.transact((tx) => tx.get(Buffer.from('k')), { attemptsMax: 3 }));
      expect(statusName(error.code)).toBe(statusName(KvCode.RetriesExhausted));
      expect((error.cause as FsError).code).toBe(KvCode.Conflict);
      expect((cluster?.bodyRuns ?? 0) - runsBefore).toBe(3);
    } finally {
      await engine.close();
    }
  });

  it('refuses a cluster file it cannot read, naming the key', async () => {
    const section = foundationDbSectionSchema.parse({ cluster_file: join(directory, 'absent.cluster') });
    const error = await errorOf(openFoundationDbKvEngine(section, { logger: silentLogger(), binding }));
    expect(error.code).toBe(CommonCode.ConfigInvalid);
    expect(error.message).toContain('kv.foundationdb.cluster_file');
  });

  it('refuses a second API version in the same process', async () => {
    const section = foundationDbSectionSchema.parse({ cluster_file: await clusterFile(), api_version: 700 });
    const error = await errorOf(openFoundationDbKvEngine(section, { logger: silentLogger(), binding }));
    expect(error.code).toBe(KvCode.EngineFailure);
    expect(error.message).toMatch(/API version 710 is already selected/);
  });
});

/** Whether the real binding loads here (it needs FoundationDB's client library). */
const bindingLoads = await import('foundationdb' as string).then(
  () => true,
  () => false,
);

describe('foundationdb engine without its binding', () => {
  it.skipIf(bindingLoads)('fails with EngineNotAvailable, saying what to install', async () => {
    const error = await errorOf(
      openKvEngine(
        {
          engine: 'foundationdb',
          foundationdb: foundationDbSectionSchema.parse({ cluster_file: await clusterFile() }),
        },
        { logger: silentLogger() },
      ),
    );
    expect(statusName(error.code)).toBe(statusName(KvCode.EngineNotAvailable));
    expect(error.message).toContain('libfdb_c');
    expect(error.message).toContain('npm install');
  });
});

describe('[kv.foundationdb] configuration', () => {
  const fileSchema = z.strictObject({ kv: kvSectionSchema });
  const parse = (text: string) => parseConfig(fileSchema, text, 'test.toml').kv;
  const messageOf = (text: string): string => {
    try {
      parse(text);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('expected the configuration to be refused');
  };

  it('needs no section at all and defaults to the host cluster file and the "3fs/" prefix', () => {
    expect(parse('[kv]\nengine = "foundationdb"\n')).toEqual({
      engine: 'foundationdb',
      foundationdb: {
        cluster_file: '/etc/foundationdb/fdb.cluster',
        key_prefix: '3fs/',
        api_version: 710,
        transaction_timeout_ms: 15_000,
      },
    });
  });

  it('refuses unknown keys, an empty or too long prefix, and an API version beyond the binding', () => {
    expect(messageOf('[kv]\nengine = "foundationdb"\n[kv.foundationdb]\nprefix = "a"\n')).toContain(
      'kv.foundationdb.prefix: unknown key',
    );
    expect(messageOf('[kv]\nengine = "foundationdb"\n[kv.foundationdb]\nkey_prefix = ""\n')).toContain(
      'kv.foundationdb.key_prefix',
    );
    expect(
      messageOf(`[kv]\nengine = "foundationdb"\n[kv.foundationdb]\nkey_prefix = "${'p'.repeat(65)}"\n`),
    ).toContain('kv.foundationdb.key_prefix');
    expect(messageOf('[kv]\nengine = "foundationdb"\n[kv.foundationdb]\napi_version = 730\n')).toContain(
      'kv.foundationdb.api_version',
    );
  });
});

describe('FoundationDB error codes', () => {
  it('maps conflicts, age, availability, sizes and unknown commits onto KV codes', () => {
    expect(kvCodeOfFdbError(1020)).toBe(KvCode.Conflict);
    expect(kvCodeOfFdbError(1007)).toBe(KvCode.TransactionTooOld);
    expect(kvCodeOfFdbError(1031)).toBe(KvCode.Unavailable);
    expect(kvCodeOfFdbError(2102)).toBe(KvCode.KeyTooLarge);
    expect(kvCodeOfFdbError(2103)).toBe(KvCode.ValueTooLarge);
    expect(kvCodeOfFdbError(2101)).toBe(KvCode.TransactionTooLarge);
    expect(kvCodeOfFdbError(1021)).toBe(KvCode.CommitUnknown);
    expect(kvCodeOfFdbError(4100)).toBe(KvCode.EngineFailure);
  });
});
