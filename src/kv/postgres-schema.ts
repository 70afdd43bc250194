/**
 * The PostgreSQL engine's table and every statement run against it. One row per key:
 *
 *   key            bytea  the whole key (up to 10,000 bytes)
 *   value          bytea
 *   key_head       bytea  generated: the key's first kvPostgresKeyHeadBytes bytes
 *   key_tail_hash  bytea  generated: sha256 of the key when it is longer than the head, else empty
 *   PRIMARY KEY (key_head, key_tail_hash)
 *
 * Why not `key bytea PRIMARY KEY`: a b-tree entry holds at most about 2,700 bytes, and the KV
 * accepts keys of 10,000. The head keeps the index small; the hash makes long keys unique.
 *
 * Order: bytea compares like memcmp with a proper prefix first, which is exactly the KV's key
 * order. Cutting keys to their head keeps that order weakly (a <= b implies head(a) <= head(b)),
 * so ordering by (key_head, key) is ordering by key: the index delivers rows by head and only keys
 * sharing a whole head get sorted among themselves (an incremental sort). A range [begin, end)
 * is bounded on the index by head(begin) <= key_head <= head(end) and then filtered on the key.
 *
 * Commit markers: every write transaction also inserts a random 16-byte id into the schema's
 * `threefs_kv_commit_markers` table, so that a client whose connection broke during COMMIT can
 * learn the outcome (see postgres-backend.ts). Markers are deleted in batches once their commits
 * are known, outside any SERIALIZABLE transaction, so they never add serialization conflicts.
 *
 * Statements are prepared once per connection under names that include the table, and the
 * session plans every execution with its actual parameters (plan_cache_mode=force_custom_plan):
 * a generic plan cannot know whether a range is small, and a wrong guess sorts a whole table.
 *
 * Round trips: node-postgres sends one statement at a time, so each costs one. A transaction's
 * first read goes out with its BEGIN as one simple query, its values written into the text as hex
 * literals (`decode('…', 'hex')`: nothing but hex digits and integers is ever inlined); and a
 * commit's point writes and its marker go in one statement (data-modifying CTEs), then COMMIT.
 */
import { createHash } from 'node:crypto';
import { assert } from '../common/errors.js';
import { limits } from '../common/limits.js';

/** The identifiers of one cluster's table; validated by the config schema, quoted here. */
export interface PostgresTableName {
  schema: string;
  table: string;
}

/** The statements of one table, as node-postgres query configs minus their values. */
export interface PostgresStatements {
  /** Create the schema and tables when absent; run inside a transaction holding createLockKey. */
  createSchema: string;
  createTable: string;
  /** The columns and types of an existing table, to refuse a foreign table of the same name. */
  describeTable: string;
  createMarkers: string;
  get: { name: string; text: string };
  rangeForward: { name: string; text: string };
  rangeReverse: { name: string; text: string };
  upsert: { name: string; text: string };
  deleteKeys: { name: string; text: string };
  deleteRange: { name: string; text: string };
  /** Inside a write transaction: records its marker. */
  insertMarker: { name: string; text: string };
  /**
   * Inside a write transaction, one statement: the marker ($1), the deletes of $2 when `remove`,
   * the upserts of $3/$4 (or $2/$3 without deletes) when `upsert`.
   */
  writeWithMarker: (shape: { remove: boolean; upsert: boolean }) => { name: string; text: string };
  /** The text of `get` with its key inlined, to follow a BEGIN in one simple query. */
  inlineGet: (key: Buffer) => string;
  /** The text of a range read with its bounds and limit inlined, likewise. */
  inlineRange: (begin: Buffer, end: Buffer, limit: number, reverse: boolean) => string;
  /** After a lost COMMIT: inserts the marker unless it exists (waiting for its transaction to end). */
  claimMarker: string;
  deleteMarkers: string;
  /** Deletes markers older than $1 seconds (those of processes that died before deleting theirs). */
  sweepMarkers: string;
}

/** The table of commit markers, one per schema. */
export const markerTable = 'threefs_kv_commit_markers';

/** An advisory-lock key shared by every process creating a KV table, so creations do not race. */
export const createLockKey = 0x3f5_4b56;

const head = (parameter: string): string =>
  `substring(${parameter} from 1 for ${limits.kvPostgresKeyHeadBytes})`;

/** The SQL of one table. */
export function postgresStatements(name: PostgresTableName): PostgresStatements {
  const qualified = `"${name.schema}"."${name.table}"`;
  const markers = `"${name.schema}"."${markerTable}"`;
  // Statement names are cut at 63 bytes by the server; a digest keeps them short and distinct.
  const digest = createHash('sha256').update(qualified).digest('hex').slice(0, 16);
  const prefix = `threefs_kv_${digest}`;
  const rangeWhere = (begin: string, end: string): string =>
    `key_head >= ${head(begin)} AND key_head <= ${head(end)} AND key >= ${begin} AND key < ${end}`;
  const getText = (key: string): string =>
    `SELECT value FROM ${qualified} WHERE key_head = ${head(key)} AND key = ${key}`;
  const rangeText = (begin: string, end: string, limit: string, reverse: boolean): string =>
    `SELECT key, value FROM ${qualified} WHERE ${rangeWhere(begin, end)} ` +
    `ORDER BY ${reverse ? 'key_head DESC, key DESC' : 'key_head, key'} LIMIT ${limit}`;
  const upsertText = (keys: string, values: string): string =>
    `INSERT INTO ${qualified} (key, value) SELECT k, v FROM unnest(${keys}::bytea[], ${values}::bytea[]) AS u(k, v) ` +
    'ON CONFLICT (key_head, key_tail_hash) DO UPDATE SET value = EXCLUDED.value';
  const deleteText = (keys: string): string =>
    `DELETE FROM ${qualified} AS t USING unnest(${keys}::bytea[]) AS d(k) ` +
    `WHERE t.key_head = ${head('d.k')} AND t.key = d.k`;
  const insertMarkerText = (id: string): string => `INSERT INTO ${markers} (id) VALUES (${id})`;
  const writeWithMarker = (shape: { remove: boolean; upsert: boolean }): { name: string; text: string } => {
    const ctes = [`marker AS (${insertMarkerText('$1')})`];
    if (shape.remove && shape.upsert) ctes.push(`removed AS (${deleteText('$2')})`);
    const main = shape.upsert
      ? upsertText(shape.remove ? '$3' : '$2', shape.remove ? '$4' : '$3')
      : shape.remove
        ? deleteText('$2')
        : 'SELECT 1';
    const name = `${prefix}_write_${shape.remove ? 'd' : ''}${shape.upsert ? 'u' : ''}m`;
    return { name, text: `WITH ${ctes.join(', ')} ${main}` };
  };
  const writeShapes = new Map(
    [false, true].flatMap((remove) =>
      [false, true].map((upsert) => [`${remove}/${upsert}`, writeWithMarker({ remove, upsert })] as const),
    ),
  );
  return {
    createSchema: `CREATE SCHEMA IF NOT EXISTS "${name.schema}"`,
    createTable:
      `CREATE TABLE IF NOT EXISTS ${qualified} (` +
      'key bytea NOT NULL, ' +
      'value bytea NOT NULL, ' +
      `key_head bytea GENERATED ALWAYS AS (${head('key')}) STORED, ` +
      `key_tail_hash bytea GENERATED ALWAYS AS (CASE WHEN length(key) > ${limits.kvPostgresKeyHeadBytes} ` +
      `THEN sha256(key) ELSE '\\x'::bytea END) STORED, ` +
      'PRIMARY KEY (key_head, key_tail_hash))',
    describeTable:
      'SELECT column_name, data_type FROM information_schema.columns ' +
      'WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
    get: { name: `${prefix}_get`, text: getText('$1::bytea') },
    rangeForward: { name: `${prefix}_range_forward`, text: rangeText('$1::bytea', '$2::bytea', '$3', false) },
    rangeReverse: { name: `${prefix}_range_reverse`, text: rangeText('$1::bytea', '$2::bytea', '$3', true) },
    upsert: { name: `${prefix}_upsert`, text: upsertText('$1', '$2') },
    deleteKeys: { name: `${prefix}_delete_keys`, text: deleteText('$1') },
    deleteRange: {
      name: `${prefix}_delete_range`,
      text: `DELETE FROM ${qualified} WHERE ${rangeWhere('$1::bytea', '$2::bytea')}`,
    },
    createMarkers: `CREATE TABLE IF NOT EXISTS ${markers} (id bytea PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())`,
    insertMarker: { name: `${prefix}_insert_marker`, text: insertMarkerText('$1') },
    writeWithMarker: (shape) => {
      const statement = writeShapes.get(`${shape.remove}/${shape.upsert}`);
      assert(statement !== undefined, 'every write shape has a statement');
      return statement;
    },
    inlineGet: (key) => getText(hexLiteral(key)),
    inlineRange: (begin, end, limit, reverse) => {
      assert(Number.isSafeInteger(limit) && limit >= 1, 'a range limit is a positive integer');
      return rangeText(hexLiteral(begin), hexLiteral(end), String(limit), reverse);
    },
    claimMarker: `INSERT INTO ${markers} (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`,
    deleteMarkers: `DELETE FROM ${markers} WHERE id = ANY($1::bytea[])`,
    sweepMarkers: `DELETE FROM ${markers} WHERE created_at < now() - make_interval(secs => $1)`,
  };
}

/** The columns a KV table must have, in order, as information_schema names their types. */
export const expectedColumns: ReadonlyArray<readonly [name: string, type: string]> = [
  ['key', 'bytea'],
  ['value', 'bytea'],
  ['key_head', 'bytea'],
  ['key_tail_hash', 'bytea'],
];

/** The columns of the commit marker table. */
export const expectedMarkerColumns: ReadonlyArray<readonly [name: string, type: string]> = [
  ['id', 'bytea'],
  ['created_at', 'timestamp with time zone'],
];

/** Bytes as an SQL expression of type bytea: only hex digits go into the text. */
function hexLiteral(bytes: Buffer): string {
  return `decode('${bytes.toString('hex')}', 'hex')`;
}
