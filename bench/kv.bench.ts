// KV transactions per second on the embedded sqlite engine (and on postgres, where its server is
// installed), beside the raw local disk doing the same durable work: one small read-modify-write
// per transaction against one append (+ fdatasync) per record.
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsError } from '../src/common/errors.js';
import { silentLogger } from '../src/common/logger.js';
import { KvCode } from '../src/common/status-code.js';
import {
  openPostgresKvEngine,
  openSqliteKvEngine,
  postgresSectionSchema,
  u64BigEndian,
  type KvEngine,
  type SqliteSynchronous,
} from '../src/kv/index.js';
import { postgresAvailability, startPostgresTestServer } from '../tests/helpers/postgres-server.js';
import { reportRatio } from './report.js';

const measureMs = 2_500;
const counterKey = Buffer.from('bench/counter');
const recordValueBytes = 100;
/** Bytes one transaction writes: the counter and one record, keys included. */
const transactionBytes = counterKey.length + 8 + 'bench/record/'.length + 8 + recordValueBytes;

/** One transaction: read the counter, write it back plus one, and write a record keyed by it. */
async function readModifyWrite(engine: KvEngine): Promise<void> {
  await engine.transact(async (tx) => {
    const value = await tx.get(counterKey);
    const next = (value === undefined ? 0n : value.readBigUInt64BE()) + 1n;
    tx.set(counterKey, u64BigEndian(next));
    tx.set(
      Buffer.concat([Buffer.from('bench/record/'), u64BigEndian(next)]),
      Buffer.alloc(recordValueBytes, 1),
    );
  });
}

/** Transactions per second with `clients` concurrent clients, each running one transaction at a time. */
async function kvRate(path: string, synchronous: SqliteSynchronous, clients: number): Promise<number> {
  const engine = await openSqliteKvEngine({ path, synchronous, logger: silentLogger() });
  try {
    return (await engineRate(engine, clients)).rate;
  } finally {
    await engine.close();
  }
}

/**
 * Transactions per second of `engine`, and how many gave up (an engine with optimistic
 * concurrency may exhaust its retries when every client updates the same counter).
 */
async function engineRate(engine: KvEngine, clients: number): Promise<{ rate: number; gaveUp: number }> {
  await readModifyWrite(engine);
  let done = 0;
  let gaveUp = 0;
  const startMs = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() - startMs < measureMs) {
        try {
          await readModifyWrite(engine);
          done++;
        } catch (error) {
          if (!(error instanceof FsError) || error.code !== KvCode.RetriesExhausted) throw error;
          gaveUp++;
        }
      }
    }),
  );
  return { rate: done / ((performance.now() - startMs) / 1_000), gaveUp };
}

/**
 * The same transactions on the postgres engine, against a throwaway local server (fsync off, so
 * beside buffered appends), when PostgreSQL's server is installed. SERIALIZABLE makes concurrent
 * clients of one counter conflict and retry, where sqlite queues them.
 */
async function postgresCases(buffered: number): Promise<void> {
  const availability = postgresAvailability();
  if (!availability.available) {
    console.log(`postgres rmw tx: skipped (${availability.reason})`);
    return;
  }
  const server = await startPostgresTestServer(availability);
  try {
    for (const clients of [1, 8]) {
      const section = postgresSectionSchema.parse({ url: server.url, table: `bench_${clients}` });
      const engine = await openPostgresKvEngine(section, { logger: silentLogger() });
      try {
        const { rate, gaveUp } = await engineRate(engine, clients);
        reportRatio({
          workload: `postgres rmw tx (fsync off), ${clients} client${clients > 1 ? 's' : ''}${gaveUp > 0 ? `, ${gaveUp} gave up` : ''}`,
          unit: 'tx/s',
          ours: rate,
          baselineName: 'append',
          baseline: buffered,
        });
      } finally {
        await engine.close();
      }
    }
  } finally {
    await server.close();
  }
}

/** Appends of one transaction's bytes per second, each followed by fdatasync when `durable`. */
function diskRate(path: string, durable: boolean): number {
  const descriptor = openSync(path, 'a');
  const record = Buffer.alloc(transactionBytes, 2);
  try {
    let done = 0;
    const startMs = performance.now();
    while (performance.now() - startMs < measureMs) {
      writeSync(descriptor, record);
      if (durable) fdatasyncSync(descriptor);
      done++;
    }
    return done / ((performance.now() - startMs) / 1_000);
  } finally {
    closeSync(descriptor);
  }
}

export async function run(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), '3fs-kv-bench-'));
  try {
    const synced = diskRate(join(directory, 'synced.log'), true);
    const buffered = diskRate(join(directory, 'buffered.log'), false);
    const cases: Array<{
      synchronous: SqliteSynchronous;
      clients: number;
      baselineName: string;
      baseline: number;
    }> = [
      { synchronous: 'full', clients: 1, baselineName: 'append+fdatasync', baseline: synced },
      { synchronous: 'full', clients: 16, baselineName: 'append+fdatasync', baseline: synced },
      { synchronous: 'normal', clients: 1, baselineName: 'append', baseline: buffered },
      { synchronous: 'normal', clients: 16, baselineName: 'append', baseline: buffered },
    ];
    for (const [index, benchCase] of cases.entries()) {
      const ours = await kvRate(
        join(directory, `kv-${index}.sqlite`),
        benchCase.synchronous,
        benchCase.clients,
      );
      reportRatio({
        workload: `sqlite rmw tx, synchronous=${benchCase.synchronous}, ${benchCase.clients} client${benchCase.clients > 1 ? 's' : ''}`,
        unit: 'tx/s',
        ours,
        baselineName: benchCase.baselineName,
        baseline: benchCase.baseline,
      });
    }
    await postgresCases(buffered);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
