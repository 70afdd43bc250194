/**
 * Opening the `postgres` engine from its `[kv.postgres]` section: the connection pool (sessions
 * set up with the statement timeout, the idle-in-transaction timeout and per-execution planning),
 * the table created on first use, and the postgres backend under the generic transaction layer.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { systemClock, type Clock } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { seededRandom, type Random } from '../common/random.js';
import { CommonCode, KvCode } from '../common/status-code.js';
import { BackedKvEngine } from './backed-engine.js';
import type { KvEngine } from './kv.js';
import { PostgresBackend } from './postgres-backend.js';
import { postgresTarget, type PostgresSection } from './postgres-config.js';
import { isConnectionBroken, postgresFailure } from './postgres-errors.js';
import {
  createLockKey,
  expectedColumns,
  expectedMarkerColumns,
  markerTable,
  postgresStatements,
  type PostgresStatements,
} from './postgres-schema.js';

export interface PostgresKvRuntime {
  logger: Logger;
  clock?: Clock;
  /** Jitter of backoffs; seeded from the clock and the process id when absent. */
  random?: Random;
}

/** PostgreSQL 13 brought pg_current_xact_id and pg_xact_status, which resolve a commit cut off midway. */
const serverVersionNumMin = 130_000;

/** The server and credentials a section names, files read. */
interface ConnectionSettings {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string | undefined;
  ssl: false | { rejectUnauthorized: boolean; ca?: string; servername?: string };
}

/** Opens the postgres engine a `[kv.postgres]` section names, creating its schema and table when absent. */
export async function openPostgresKvEngine(
  section: PostgresSection,
  runtime: PostgresKvRuntime,
): Promise<KvEngine> {
  const clock = runtime.clock ?? systemClock;
  const random = runtime.random ?? seededRandom((clock.nowMs() ^ process.pid) >>> 0);
  const connection = await connectionSettings(section);
  const location = `${connection.host}:${connection.port}/${connection.database} ${section.schema}.${section.table}`;
  const logger = runtime.logger.child({ component: 'kv', engine: 'postgres', location });
  const pool = new pg.Pool({
    ...connection,
    max: section.pool_size,
    connectionTimeoutMillis: section.connect_timeout_ms,
    idleTimeoutMillis: limits.kvPostgresIdleConnectionMs,
    statement_timeout: section.statement_timeout_ms,
    idle_in_transaction_session_timeout: limits.kvPostgresIdleInTransactionMs,
    // A server that stops answering without closing the connection fails the query here.
    query_timeout: section.statement_timeout_ms + section.connect_timeout_ms,
    keepAlive: true,
    application_name: '3fs-kv',
    // A generic plan cannot tell a small range from a whole table (see postgres-schema.ts).
    options: '-c plan_cache_mode=force_custom_plan',
  });
  // Idle connections that break (a server restart) are dropped by the pool; without a listener
  // the 'error' event would crash the process.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle postgres connection lost'));
  const statements = postgresStatements({ schema: section.schema, table: section.table });
  try {
    await prepareTable(pool, section, statements);
  } catch (error) {
    await pool.end().catch(() => {});
    throw postgresFailure(error, `prepare ${location}`);
  }
  logger.info({ poolSize: section.pool_size }, 'postgres kv opened');
  const backend = new PostgresBackend({ pool, statements, location, clock, random, logger });
  return new BackedKvEngine(backend, { clock, random, logger });
}

/** Checks the server's version and creates the schema and tables when absent, one process at a time. */
async function prepareTable(
  pool: pg.Pool,
  section: PostgresSection,
  statements: PostgresStatements,
): Promise<void> {
  const client = await pool.connect();
  let failure: unknown;
  try {
    const version = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    const versionNum = Number(version.rows[0]?.server_version_num);
    if (!(versionNum >= serverVersionNumMin)) {
      throw new FsError(
        KvCode.EngineFailure,
        `the postgres engine needs PostgreSQL 13 or later; the server is ${versionNum}`,
      );
    }
    await client.query('BEGIN');
    // Existence is checked first, so that a role without CREATE rights can use a table made for it.
    await client.query('SELECT pg_advisory_xact_lock($1)', [createLockKey]);
    const schema = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [section.schema]);
    if (schema.rowCount === 0) await client.query(statements.createSchema);
    const qualified = `"${section.schema}"."${section.table}"`;
    const table = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
      qualified,
    ]);
    if (table.rows[0]?.present !== true) await client.query(statements.createTable);
    await checkColumns(client, statements, { schema: section.schema, table: section.table }, expectedColumns);
    const markers = await client.query<{ present: boolean }>(
      'SELECT to_regclass($1) IS NOT NULL AS present',
      [`"${section.schema}"."${markerTable}"`],
    );
    if (markers.rows[0]?.present !== true) await client.query(statements.createMarkers);
    await checkColumns(
      client,
      statements,
      { schema: section.schema, table: markerTable },
      expectedMarkerColumns,
    );
    await client.query('COMMIT');
    // Markers left by processes that died before deleting theirs; no outcome is resolved that late.
    await client.query(statements.sweepMarkers, [limits.kvPostgresMarkerRetentionMs / 1_000]);
  } catch (error) {
    failure = error;
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release(failure !== undefined && isConnectionBroken(failure) ? toError(failure) : undefined);
  }
}

/** Refuses an existing table of the right name but the wrong shape (someone else's table). */
async function checkColumns(
  client: pg.PoolClient,
  statements: PostgresStatements,
  name: { schema: string; table: string },
  expectedColumns: ReadonlyArray<readonly [name: string, type: string]>,
): Promise<void> {
  const columns = await client.query<{ column_name: string; data_type: string }>(statements.describeTable, [
    name.schema,
    name.table,
  ]);
  const found = columns.rows.map((row) => `${row.column_name} ${row.data_type}`);
  const expected = expectedColumns.map(([column, type]) => `${column} ${type}`);
  if (found.join(',') !== expected.join(',')) {
    throw new FsError(
      KvCode.EngineFailure,
      `table "${name.schema}"."${name.table}" exists but is not a 3fs KV table: it has (${found.join(', ')}), expected (${expected.join(', ')}); choose another [kv.postgres] schema or table`,
    );
  }
}

async function connectionSettings(section: PostgresSection): Promise<ConnectionSettings> {
  const { host, port, user, database } = postgresTarget(section);
  const password =
    section.password_file === undefined
      ? undefined
      : await readSecret(section.password_file, 'password_file');
  let ssl: ConnectionSettings['ssl'] = false;
  if (section.ssl === 'require') ssl = { rejectUnauthorized: false };
  if (section.ssl === 'verify-full') {
    ssl = { rejectUnauthorized: true, servername: host };
    if (section.ssl_ca_file !== undefined) ssl.ca = await readSecret(section.ssl_ca_file, 'ssl_ca_file');
  }
  return { host, port, user, database, password, ssl };
}

/** The content of a file named by the configuration, without surrounding whitespace. */
async function readSecret(path: string, key: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      `kv.postgres.${key}: cannot read ${path}: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
  if (text === '') throw new FsError(CommonCode.ConfigInvalid, `kv.postgres.${key}: ${path} is empty`);
  return text;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(describeError(value));
}
