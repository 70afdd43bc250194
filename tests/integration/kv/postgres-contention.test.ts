// Proves that transactions on the PostgreSQL engine that keep refusing each other still all
// commit: each of many concurrent transactions reads a range the others write into (PostgreSQL's
// serializable isolation refuses all but one of such a round), and the engine runs a transaction
// alone once it has met kvConflictsBeforeExclusive conflicts, so none runs out of attempts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { statusName } from '../../../src/common/status-code.js';
import { openPostgresKvEngine, postgresSectionSchema, type KvEngine } from '../../../src/kv/index.js';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';

const availability = postgresAvailability();
const transactions = 16;
/** Attempts of each transaction: its conflicts before it runs alone, then room to spare. */
const attemptsMax = 4;

describe.skipIf(!availability.available)(
  'the postgres engine under transactions that refuse each other',
  () => {
    let server: PostgresTestServer;
    let engine: KvEngine;

    beforeAll(async () => {
      server = await startPostgresTestServer(availability);
      engine = await openPostgresKvEngine(
        postgresSectionSchema.parse({ url: server.url, table: 'kv_contention' }),
        { logger: silentLogger() },
      );
    }, 60_000);

    afterAll(async () => {
      await engine?.close();
      await server?.close();
    });

    it('runs a transaction alone early enough for this test', () => {
      expect(limits.kvConflictsBeforeExclusive).toBeLessThan(attemptsMax - 1);
    });

    it(`commits all of ${transactions} concurrent read-then-insert transactions on one range within ${attemptsMax} attempts`, async () => {
      const begin = Buffer.from('row/');
      const end = Buffer.from('row0');
      const attempts: number[] = [];
      const outcomes = await Promise.all(
        Array.from({ length: transactions }, async (_, index) => {
          let attempt = 0;
          try {
            await engine.transact(
              async (tx) => {
                attempt += 1;
                // Read the whole range, then add to it: a write skew with every other transaction.
                const seen = await tx.getRange(begin, end, { limit: 1_000 });
                tx.set(
                  Buffer.from(`row/${String(index).padStart(2, '0')}`),
                  Buffer.from(String(seen.length)),
                );
              },
              { attemptsMax },
            );
            attempts.push(attempt);
            return 'ok';
          } catch (error) {
            if (!(error instanceof FsError)) throw error;
            return `transaction ${index}: ${statusName(error.code)} after ${attempt} attempts`;
          }
        }),
      );
      expect(outcomes.filter((outcome) => outcome !== 'ok')).toEqual([]);
      // The rows say each transaction saw the ones committed before it: 0, 1, ... in commit order.
      const rows = await engine.read((tx) => tx.getRange(begin, end, { limit: 1_000 }));
      expect(rows.map((row) => Number(row.value.toString())).sort((a, b) => a - b)).toEqual(
        Array.from({ length: transactions }, (_, index) => index),
      );
      // The round really was contended: some transaction needed more than one attempt.
      expect(Math.max(...attempts)).toBeGreaterThan(1);
    }, 60_000);
  },
);
