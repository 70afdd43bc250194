/**
 * The one mapping of FoundationDB error codes onto KV status codes (codes from FoundationDB's
 * error_definitions.h). Within a transaction, FoundationDB's own loop retries what it can; this
 * mapping names what escaped it.
 */
import { FsError } from '../common/errors.js';
import { KvCode, type StatusCode } from '../common/status-code.js';

/** FoundationDB error codes the engine distinguishes. */
export const FdbErrorCode = {
  TransactionTooOld: 1007,
  FutureVersion: 1009,
  NotCommitted: 1020,
  CommitUnknownResult: 1021,
  TransactionCancelled: 1025,
  TransactionTimedOut: 1031,
  ProcessBehind: 1037,
  DatabaseLocked: 1038,
  ClusterVersionChanged: 1039,
  ProxyMemoryLimitExceeded: 1042,
  BatchTransactionThrottled: 1051,
  TagThrottled: 1213,
  TransactionTooLarge: 2101,
  KeyTooLarge: 2102,
  ValueTooLarge: 2103,
} as const;

const codeMap: ReadonlyMap<number, StatusCode> = new Map<number, StatusCode>([
  [FdbErrorCode.NotCommitted, KvCode.Conflict],
  [FdbErrorCode.TransactionTooOld, KvCode.TransactionTooOld],
  [FdbErrorCode.FutureVersion, KvCode.Unavailable],
  [FdbErrorCode.TransactionTimedOut, KvCode.Unavailable],
  [FdbErrorCode.ProcessBehind, KvCode.Unavailable],
  [FdbErrorCode.DatabaseLocked, KvCode.Unavailable],
  [FdbErrorCode.ClusterVersionChanged, KvCode.Unavailable],
  [FdbErrorCode.ProxyMemoryLimitExceeded, KvCode.Unavailable],
  [FdbErrorCode.BatchTransactionThrottled, KvCode.Unavailable],
  [FdbErrorCode.TagThrottled, KvCode.Unavailable],
  // FoundationDB's loop retries a commit whose result is unknown, as every FoundationDB layer
  // does; it escapes only at the retry limit, and then the outcome really is unknown.
  [FdbErrorCode.CommitUnknownResult, KvCode.CommitUnknown],
  [FdbErrorCode.TransactionCancelled, KvCode.Closed],
  [FdbErrorCode.TransactionTooLarge, KvCode.TransactionTooLarge],
  [FdbErrorCode.KeyTooLarge, KvCode.KeyTooLarge],
  [FdbErrorCode.ValueTooLarge, KvCode.ValueTooLarge],
]);

/** The KV status code of a FoundationDB error code; EngineFailure for the rest. */
export function kvCodeOfFdbError(fdbCode: number): StatusCode {
  return codeMap.get(fdbCode) ?? KvCode.EngineFailure;
}

/** An FsError for a FoundationDB error met while doing `action`. */
export function foundationDbFailure(error: { code: number; message: string }, action: string): FsError {
  return new FsError(
    kvCodeOfFdbError(error.code),
    `foundationdb failed to ${action}: ${error.message} (FoundationDB error ${error.code})`,
    { cause: error },
  );
}
