// Proves that restarting the PostgreSQL server under load (a clean fast shutdown, then a crash) makes operations either succeed or fail with a clear retryable error, that the engine reconnects by itself, and that no acknowledged write is lost or half-applied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { KvCode, statusName } from '../../../src/common/status-code.js';
import {
  isRetryableKvError,
  openPostgresKvEngine,
  postgresSectionSchema,
  prefixEnd,
  u64BigEndian,
  type KvEngine,
} from '../../../src/kv/index.js';
import {
  postgresAvailability,
  postgresRestartSkipped,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';

const availability = postgresAvailability();
const skipReason = !availability.available
  ? availability.reason
  : postgresRestartSkipped(availability)
    ? 'THREEFS_TEST_POSTGRES_URL names a server this test may not restart'
    : undefined;

const workers = 4;
/** How long the load runs between and around the restarts. */
const loadPhaseMs = 800;
/** How long the server stays down each time. */
const downtimeMs = 700;

const counterKey = (worker: number): Buffer => Buffer.from(`counter/${worker}`);
const logPrefix = (worker: number): Buffer => Buffer.from(`log/${worker}/`);
const logKey = (worker: number, sequence: bigint): Buffer =>
  Buffer.concat([logPrefix(worker), u64BigEndian(sequence)]);

/** What one worker saw: the sequence numbers acknowledged, and the errors of the rest. */
interface WorkerOutcome {
  acknowledged: bigint[];
  failures: FsError[];
  unexpected: unknown[];
}

/**
 * Increments the worker's counter and writes a log key named by the new value, in one
 * transaction, until told to stop: after a consistent run the counter equals the number of log
 * keys and every acknowledged value has its key.
 */
async function runWorker(engine: KvEngine, worker: number, running: () => boolean): Promise<WorkerOutcome> {
  const outcome: WorkerOutcome = { acknowledged: [], failures: [], unexpected: [] };
  while (running()) {
    try {
      const sequence = await engine.transact(async (tx) => {
        const value = await tx.get(counterKey(worker));
        const next = (value === undefined ? 0n : value.readBigUInt64BE()) + 1n;
        tx.set(counterKey(worker), u64BigEndian(next));
        tx.set(logKey(worker, next), Buffer.from('x'));
        return next;
      });
      outcome.acknowledged.push(sequence);
    } catch (error) {
      if (error instanceof FsError) outcome.failures.push(error);
      else outcome.unexpected.push(error);
    }
  }
  return outcome;
}

/** Reads every worker's counter and log in one transaction; they must agree at every moment. */
async function checkSnapshot(engine: KvEngine): Promise<Array<{ counter: bigint; logs: bigint[] }>> {
  return engine.read(async (tx) => {
    const views: Array<{ counter: bigint; logs: bigint[] }> = [];
    for (let worker = 0; worker < workers; worker++) {
      const counter = (await tx.get(counterKey(worker)))?.readBigUInt64BE() ?? 0n;
      const logs = (await tx.getRange(logPrefix(worker), prefixEnd(logPrefix(worker)))).map((pair) =>
        pair.key.readBigUInt64BE(logPrefix(worker).length),
      );
      views.push({ counter, logs });
    }
    return views;
  });
}

/** A failure is acceptable when it says the operation may be retried, or gave up retrying. */
function isClearRetryableFailure(error: unknown): boolean {
  if (isRetryableKvError(error)) return true;
  return (
    error instanceof FsError && error.code === KvCode.RetriesExhausted && isRetryableKvError(error.cause)
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? 'postgres engine across server restarts'
    : `postgres engine across server restarts (skipped: ${skipReason})`,
  () => {
    let server: PostgresTestServer | undefined;
    let engine: KvEngine | undefined;
    beforeAll(async () => {
      server = await startPostgresTestServer(availability);
      engine = await openPostgresKvEngine(
        postgresSectionSchema.parse({ url: server.url, table: 'kv_restart', connect_timeout_ms: 1_000 }),
        { logger: silentLogger() },
      );
    });
    afterAll(async () => {
      await engine?.close();
      await server?.close();
    });

    it('keeps every acknowledged write and stays consistent while the server restarts twice', async () => {
      const kv = engine as KvEngine;
      const postgres = server as PostgresTestServer;
      let running = true;
      const snapshotErrors: unknown[] = [];
      let snapshotsChecked = 0;
      const checker = (async () => {
        while (running) {
          try {
            for (const view of await checkSnapshot(kv)) {
              if (BigInt(view.logs.length) !== view.counter) {
                snapshotErrors.push(new Error(`counter ${view.counter} beside ${view.logs.length} log keys`));
              }
            }
            snapshotsChecked++;
          } catch (error) {
            if (!isClearRetryableFailure(error)) snapshotErrors.push(error);
          }
          await sleep(20);
        }
      })();
      const load = Array.from({ length: workers }, (_, worker) => runWorker(kv, worker, () => running));

      await sleep(loadPhaseMs);
      await postgres.stop('fast');
      await sleep(downtimeMs);
      await postgres.start();
      await sleep(loadPhaseMs);
      await postgres.stop('immediate');
      await sleep(downtimeMs);
      await postgres.start();
      await sleep(loadPhaseMs);
      running = false;
      const outcomes = await Promise.all(load);
      await checker;

      // Operations either succeeded or failed with a clear, retryable error.
      for (const outcome of outcomes) {
        expect(outcome.unexpected).toEqual([]);
        for (const failure of outcome.failures) {
          expect(isClearRetryableFailure(failure), `${statusName(failure.code)}: ${failure.message}`).toBe(
            true,
          );
        }
      }
      expect(snapshotErrors).toEqual([]);
      expect(snapshotsChecked).toBeGreaterThan(0);

      // The engine reconnected by itself: a new transaction works on the same engine.
      await kv.transact(async (tx) => tx.set(Buffer.from('after'), Buffer.from('restarts')));

      // Nothing acknowledged was lost, nothing unacknowledged was applied, nothing half-applied.
      const final = await checkSnapshot(kv);
      for (let worker = 0; worker < workers; worker++) {
        const outcome = outcomes[worker] as WorkerOutcome;
        const view = final[worker] as { counter: bigint; logs: bigint[] };
        const expected = outcome.acknowledged.map((_, index) => BigInt(index + 1));
        expect(outcome.acknowledged).toEqual(expected);
        expect(view.counter).toBe(BigInt(outcome.acknowledged.length));
        expect(view.logs).toEqual(expected);
        // Work went on after the last restart.
        expect(outcome.acknowledged.length).toBeGreaterThan(0);
      }
    });
  },
);
