// Proves that the postgres engine passes the KV conformance suite against a real PostgreSQL server, one fresh table per test.
import pg from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { openPostgresKvEngine, postgresSectionSchema } from '../../../src/kv/index.js';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';
import { defineKvConformance } from '../../kv-conformance/suite.js';

const availability = postgresAvailability();

describe.skipIf(!availability.available)(
  availability.available ? 'postgres engine' : `postgres engine (skipped: ${availability.reason})`,
  () => {
    let server: PostgresTestServer | undefined;
    let tables = 0;
    beforeAll(async () => {
      server = await startPostgresTestServer(availability);
    });
    afterAll(async () => {
      await server?.close();
    });

    defineKvConformance('postgres', async ({ clock }) => {
      const current = server;
      if (current === undefined) throw new Error('the test PostgreSQL server did not start');
      const table = `kv_conformance_${process.pid}_${++tables}`;
      const engine = await openPostgresKvEngine(postgresSectionSchema.parse({ url: current.url, table }), {
        logger: silentLogger(),
        clock,
      });
      return {
        engine,
        async cleanup() {
          await engine.close();
          const client = new pg.Client({ connectionString: current.url, connectionTimeoutMillis: 5_000 });
          await client.connect();
          try {
            await client.query(`DROP TABLE IF EXISTS "public"."${table}"`);
          } finally {
            await client.end();
          }
        },
      };
    });
  },
);
