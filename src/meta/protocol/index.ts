/**
 * The meta protocol: data types, RPC method definitions and the pure layout math, shared with
 * every caller (client library, FUSE daemon, admin CLI).
 */
export * from './types.js';
export * from './acl-codec.js';
export * from './layout.js';
export * from './locks.js';
export * from './s3-keys.js';
export * from './trash.js';
export * from './quota.js';
export * as metaMethods from './methods.js';
export {
  changeItemSchema,
  gcEntrySchema,
  lengthReportSchema,
  metaServiceId,
  pendingTruncationSchema,
  timeSpecSchema,
  type ChangeItem,
  type GcEntry,
  type LengthReport,
  type PendingTruncation,
  type RequestOf,
  type ResponseOf,
  type TimeSpec,
} from './methods.js';
