// KV transactions per second on the embedded sqlite engine, beside the raw local disk doing the same
// durable work: one small read-modify-write per transaction against one append (+ fdatasync) per record.
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logger.js';
import { openSqliteKvEngine, u64BigEndian, type KvEngine, type SqliteSynchronous } from '../src/kv/index.js';
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
    await readModifyWrite(engine);
    let done = 0;
    const startMs = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() - startMs < measureMs) {
          await readModifyWrite(engine);
          done++;
        }
      }),
    );
    return done / ((performance.now() - startMs) / 1_000);
  } finally {
    await engine.close();
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
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
