// Proves the engine-to-engine metadata copy (sqlite to postgres and back, sqlite to sqlite): every pair arrives in bounded batches and is verified, a non-empty destination is refused unless forced, a source that changes midway and a copy onto itself are refused, and `admin copy-metadata` drives it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminProgram } from '../../../src/admin/admin-cli.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode, KvCode, statusName } from '../../../src/common/status-code.js';
import {
  copyKvData,
  copyKvStores,
  kvSectionSchema,
  openKvEngine,
  type KeyValue,
  type KvEngine,
  type KvSection,
} from '../../../src/kv/index.js';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';

const availability = postgresAvailability();

const allEnd = Buffer.alloc(10_001, 0xff);
/** Small batches, so that a few hundred pairs take many of them. */
const smallBatches = { batchPairsMax: 40, batchBytesMax: 400_000 };

let directory = '';
let server: PostgresTestServer | undefined;
let tables = 0;
const opened: KvEngine[] = [];

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), '3fs-kv-copy-'));
  if (availability.available) server = await startPostgresTestServer(availability);
});
afterAll(async () => {
  for (const engine of opened.splice(0)) await engine.close();
  await server?.close();
  await rm(directory, { recursive: true, force: true });
});

let files = 0;
function sqliteSection(): KvSection {
  return kvSectionSchema.parse({
    engine: 'sqlite',
    sqlite: { path: join(directory, `copy-${++files}.sqlite`) },
  });
}

function postgresSection(): KvSection {
  if (server === undefined) throw new Error('no PostgreSQL server');
  return kvSectionSchema.parse({
    engine: 'postgres',
    postgres: { url: server.url, table: `kv_copy_${++tables}` },
  });
}

async function open(section: KvSection): Promise<KvEngine> {
  const engine = await openKvEngine(section, { logger: silentLogger() });
  opened.push(engine);
  return engine;
}

/** A few hundred pairs with the awkward ones: empty, 0x00 and 0xff keys, a 10,000-byte key, 100 kB values. */
function sampleData(): KeyValue[] {
  const pairs: KeyValue[] = [
    { key: Buffer.alloc(0), value: Buffer.from('empty key') },
    { key: Buffer.from([0x00]), value: Buffer.alloc(0) },
    { key: Buffer.from([0xff, 0xff]), value: Buffer.from('high') },
    { key: Buffer.alloc(10_000, 0x7a), value: Buffer.from('long key') },
  ];
  for (let index = 0; index < 300; index++) {
    pairs.push({
      key: Buffer.from(`dent/${index.toString().padStart(4, '0')}`),
      value: Buffer.from(`inode ${index}`),
    });
  }
  for (let index = 0; index < 12; index++) {
    pairs.push({ key: Buffer.from(`big/${index}`), value: Buffer.alloc(100_000, index) });
  }
  return pairs;
}

async function fill(engine: KvEngine, pairs: readonly KeyValue[]): Promise<void> {
  for (let start = 0; start < pairs.length; start += 20) {
    await engine.transact(async (tx) => {
      for (const pair of pairs.slice(start, start + 20)) tx.set(pair.key, pair.value);
    });
  }
}

async function readAll(engine: KvEngine): Promise<string[]> {
  const pairs: string[] = [];
  let cursor = Buffer.alloc(0);
  for (;;) {
    const page = await engine.read((tx) => tx.getRange(cursor, allEnd, { limit: 50 }));
    for (const pair of page) pairs.push(`${pair.key.toString('hex')}=${pair.value.toString('hex')}`);
    const last = page[page.length - 1];
    if (page.length < 50 || last === undefined) return pairs;
    cursor = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

async function codeOf(promise: Promise<unknown>): Promise<FsError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FsError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('copyKvData', () => {
  it('copies every pair from sqlite to sqlite in bounded batches and verifies the result', async () => {
    const source = await open(sqliteSection());
    const destination = await open(sqliteSection());
    const data = sampleData();
    await fill(source, data);
    const progress: number[] = [];
    const report = await copyKvData(source, destination, {
      ...smallBatches,
      onProgress: ({ pairs }) => progress.push(pairs),
    });
    expect(report.pairs).toBe(data.length);
    expect(report.clearedDestination).toBe(false);
    expect(report.checksum).toMatch(/^[0-9a-f]{64}$/);
    // 316 pairs at most 40 per batch, and the 100 kB values at most 4 per 400 kB batch.
    expect(progress.length).toBeGreaterThanOrEqual(Math.ceil(data.length / 40));
    expect(await readAll(destination)).toEqual(await readAll(source));
  });

  it('refuses a destination holding data and leaves it alone, and replaces it when forced', async () => {
    const source = await open(sqliteSection());
    const destination = await open(sqliteSection());
    await fill(source, sampleData());
    await destination.transact(async (tx) => tx.set(Buffer.from('stale'), Buffer.from('left over')));
    const refused = await codeOf(copyKvData(source, destination, smallBatches));
    expect(statusName(refused.code)).toBe(statusName(KvCode.CopyTargetNotEmpty));
    expect(refused.message).toContain('--force');
    expect(await readAll(destination)).toEqual([
      `${Buffer.from('stale').toString('hex')}=${Buffer.from('left over').toString('hex')}`,
    ]);
    const report = await copyKvData(source, destination, { ...smallBatches, force: true });
    expect(report.clearedDestination).toBe(true);
    expect(await readAll(destination)).toEqual(await readAll(source));
  });

  it('notices a source written to during the copy and fails verification', async () => {
    const source = await open(sqliteSection());
    const destination = await open(sqliteSection());
    await fill(source, sampleData());
    let wrote = false;
    const error = await codeOf(
      copyKvData(source, destination, {
        ...smallBatches,
        onProgress: () => {
          if (wrote) return;
          wrote = true;
          // A service still running: it changes a key the copy has already passed.
          void source.transact(async (tx) => tx.set(Buffer.alloc(0), Buffer.from('changed')));
        },
      }),
    );
    expect(statusName(error.code)).toBe(statusName(KvCode.CopyVerificationFailed));
    expect(error.message).toContain('the source changed during the copy');
  });

  it('refuses to copy a store onto itself', async () => {
    const section = sqliteSection();
    await open(section);
    const error = await codeOf(copyKvStores(section, section, { logger: silentLogger(), force: true }));
    expect(error.code).toBe(CommonCode.InvalidArgument);
    expect(error.message).toContain('the same store');
  });
});

describe.skipIf(!availability.available)(
  availability.available
    ? 'copying between sqlite and postgres'
    : `copying between sqlite and postgres (skipped: ${availability.reason})`,
  () => {
    it('moves a cluster from sqlite to postgres and back with identical pairs and checksums', async () => {
      const sqlite = await open(sqliteSection());
      const postgres = await open(postgresSection());
      const back = await open(sqliteSection());
      await fill(sqlite, sampleData());
      const there = await copyKvData(sqlite, postgres, smallBatches);
      const again = await copyKvData(postgres, back, smallBatches);
      expect(again.checksum).toBe(there.checksum);
      expect(await readAll(postgres)).toEqual(await readAll(sqlite));
      expect(await readAll(back)).toEqual(await readAll(sqlite));
    });

    it('admin copy-metadata copies between two service configs and refuses to overwrite without --force', async () => {
      const sourceSection = sqliteSection();
      const source = await open(sourceSection);
      await fill(source, sampleData());
      await source.close();
      if (sourceSection.engine !== 'sqlite' || server === undefined) throw new Error('unexpected sections');
      const fromConfig = join(directory, 'meta-sqlite.toml');
      const toConfig = join(directory, 'meta-postgres.toml');
      const table = `kv_admin_${++tables}`;
      await writeFile(
        fromConfig,
        `[node]\nid = 2\n[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "${sourceSection.sqlite.path}"\n`,
      );
      await writeFile(
        toConfig,
        `[kv]\nengine = "postgres"\n[kv.postgres]\nurl = "${server.url}"\ntable = "${table}"\n`,
      );
      const run = async (extra: string[]): Promise<string> => {
        let output = '';
        const program = buildAdminProgram((text) => (output += text));
        await program.parseAsync([
          'node',
          'admin',
          'copy-metadata',
          '--from-config',
          fromConfig,
          '--to-config',
          toConfig,
          ...extra,
        ]);
        return output;
      };
      const output = await run([]);
      expect(output).toMatch(
        /^copied 316 pairs .* from sqlite .* to postgres .*; verified: sha256 [0-9a-f]{64}\n$/,
      );
      const refused = await codeOf(run([]));
      expect(statusName(refused.code)).toBe(statusName(KvCode.CopyTargetNotEmpty));
      expect(await run(['--force'])).toContain('(destination cleared first)');

      const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 5_000 });
      await client.connect();
      try {
        const count = await client.query<{ pairs: string }>(
          `SELECT count(*) AS pairs FROM "public"."${table}"`,
        );
        expect(Number(count.rows[0]?.pairs)).toBe(316);
      } finally {
        await client.end();
      }
    });
  },
);
