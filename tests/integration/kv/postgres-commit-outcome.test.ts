// Proves that a postgres commit whose connection breaks during COMMIT is resolved, never guessed: a commit the server completed is reported as done (and not run again), one the server did not complete is retried and applied once.
import { createServer, Socket, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import {
  openPostgresKvEngine,
  postgresSectionSchema,
  u64BigEndian,
  type KvEngine,
} from '../../../src/kv/index.js';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';

const availability = postgresAvailability();
const skipReason = availability.available ? undefined : availability.reason;

const table = 'kv_commit_outcome';
/** The key whose write makes the next COMMIT pause in a deferred trigger (see installSlowCommit). */
const slowKey = Buffer.from('slow');
const waitDeadlineMs = 10_000;

/** A TCP relay between the engine and the server whose connections a test can cut at once. */
interface Relay {
  port: number;
  cut(): void;
  close(): Promise<void>;
}

async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.connect(target.port, target.host, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    cut() {
      for (const socket of [...sockets]) socket.destroy();
    },
    async close() {
      for (const socket of [...sockets]) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A deferred constraint trigger runs at COMMIT: the first commit after `armSlowCommit` that wrote
 * the slow key sleeps there, so a test can break its connection while the server commits.
 */
async function installSlowCommit(admin: pg.Client): Promise<void> {
  await admin.query('CREATE SEQUENCE IF NOT EXISTS slow_commit_once');
  await admin.query(`CREATE OR REPLACE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.key = '\\x${slowKey.toString('hex')}'::bytea AND nextval('slow_commit_once') = 1 THEN
        PERFORM pg_sleep(1.5);
      END IF;
      RETURN NULL;
    END $$`);
  await admin.query(
    `CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE ON "public"."${table}" ` +
      'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()',
  );
}

async function armSlowCommit(admin: pg.Client): Promise<void> {
  await admin.query("SELECT setval('slow_commit_once', 1, false)");
}

/** The process id of the engine's session once it sleeps inside COMMIT. */
async function sessionSleepingInCommit(admin: pg.Client): Promise<number> {
  const deadline = Date.now() + waitDeadlineMs;
  while (Date.now() < deadline) {
    const result = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = '3fs-kv' AND query = 'COMMIT' AND wait_event = 'PgSleep'",
    );
    const pid = result.rows[0]?.pid;
    if (pid !== undefined) return pid;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no engine session paused in COMMIT within ${waitDeadlineMs} ms`);
}

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? 'postgres commit outcome after a broken connection'
    : `postgres commit outcome after a broken connection (skipped: ${skipReason})`,
  () => {
    let server: PostgresTestServer | undefined;
    let relay: Relay | undefined;
    let engine: KvEngine | undefined;
    let admin: pg.Client | undefined;
    beforeAll(async () => {
      server = await startPostgresTestServer(availability);
      relay = await startRelay(server);
      engine = await openPostgresKvEngine(
        postgresSectionSchema.parse({
          host: '127.0.0.1',
          port: relay.port,
          user: server.user,
          database: server.database,
          table,
          connect_timeout_ms: 2_000,
        }),
        { logger: silentLogger() },
      );
      admin = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 5_000 });
      await admin.connect();
      await installSlowCommit(admin);
    });
    afterAll(async () => {
      await admin?.end();
      await engine?.close();
      await relay?.close();
      await server?.close();
    });

    it('reports a commit the server completed after the connection broke as done, without running it again', async () => {
      const kv = engine as KvEngine;
      await armSlowCommit(admin as pg.Client);
      let runs = 0;
      const outcome = kv.transact(async (tx) => {
        runs++;
        tx.set(slowKey, Buffer.from('committed once'));
      });
      await sessionSleepingInCommit(admin as pg.Client);
      // The server has COMMIT in hand and finishes it; only the way back is gone.
      relay?.cut();
      await outcome;
      expect(runs).toBe(1);
      expect((await kv.read((tx) => tx.get(slowKey)))?.toString()).toBe('committed once');
    });

    it('retries a commit whose server session died during COMMIT, applying it exactly once', async () => {
      const kv = engine as KvEngine;
      const counter = Buffer.from('counter');
      await armSlowCommit(admin as pg.Client);
      let runs = 0;
      const outcome = kv.transact(async (tx) => {
        runs++;
        const value = (await tx.get(counter))?.readBigUInt64BE() ?? 0n;
        tx.set(counter, u64BigEndian(value + 1n));
        tx.set(slowKey, Buffer.from(`attempt ${runs}`));
      });
      const pid = await sessionSleepingInCommit(admin as pg.Client);
      await (admin as pg.Client).query('SELECT pg_terminate_backend($1)', [pid]);
      await outcome;
      expect(runs).toBe(2);
      const [stored, slow] = await kv.read((tx) => Promise.all([tx.get(counter), tx.get(slowKey)]));
      expect(stored?.readBigUInt64BE()).toBe(1n);
      expect(slow?.toString()).toBe('attempt 2');
    });
  },
);
