/**
 * The kv component's public face: the transactional KV interface, the `[kv]` configuration
 * section and openKvEngine, key helpers, and the sqlite engine for tests and tools. Other
 * components import from here only.
 */
export type {
  KeyValue,
  KvEngine,
  KvReadTransaction,
  KvSnapshotReader,
  KvTransaction,
  RangeOptions,
  TransactOptions,
} from './kv.js';
export { kvSectionSchema, openKvEngine, sqliteSectionSchema, type KvSection } from './config.js';
export {
  asciiKey,
  compareKeys,
  concatKey,
  formatKey,
  hasPrefix,
  keyAfter,
  prefixEnd,
  readU32BigEndian,
  readU64BigEndian,
  readU64LittleEndian,
  u32BigEndian,
  u64BigEndian,
  u64LittleEndian,
} from './keys.js';
export { isRetryableKvError } from './retry.js';
export { openSqliteKvEngine, type SqliteKvOptions } from './sqlite-engine.js';
export type { SqliteSynchronous } from './sqlite-connection.js';
