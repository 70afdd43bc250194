/**
 * The kv component's public face: the transactional KV interface, the `[kv]` configuration
 * section and openKvEngine, key helpers, the engines (sqlite, postgres, foundationdb) for tests
 * and tools, and the engine-to-engine copy. Other components import from here only.
 */
export type {
  KeyValue,
  KvEngine,
  KvReadTransaction,
  KvSnapshotReader,
  KvSyncEvent,
  KvSyncObserver,
  KvTransaction,
  RangeOptions,
  TransactOptions,
} from './kv.js';
export {
  kvSectionSchema,
  kvSectionSchemaFor,
  openKvEngine,
  sqliteSectionSchema,
  type KvSection,
} from './config.js';
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
export { postgresSectionSchema, type PostgresSection } from './postgres-config.js';
export { openPostgresKvEngine, type PostgresKvRuntime } from './postgres-engine.js';
export { foundationDbSectionSchema, type FoundationDbSection } from './foundationdb-config.js';
export { openFoundationDbKvEngine, type FoundationDbKvRuntime } from './foundationdb-engine.js';
export {
  copyKvData,
  copyKvStores,
  describeKvStore,
  kvStoresOverlap,
  type CopyOptions,
  type CopyReport,
  type StoreCopyReport,
} from './copy.js';
export { observeKvEngine, type KvObserver, type KvTransactionEvent } from './observed-engine.js';
