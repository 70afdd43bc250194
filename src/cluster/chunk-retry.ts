/**
 * What a chunk operation does after a failure (DESIGN §7, §9). Pure, so the decisions are
 * unit-tested apart from sockets:
 *  - `next-replica`: a read tries another serving replica of the chain (this one is down, has the
 *    chunk mid-update, sent bad bytes, refused this client's connection, failed to read its disk);
 *  - `refresh`: the operation is tried again after fresh routing info and a backoff (the chain
 *    changed under it, the head moved, a target is down or busy);
 *  - `fail`: the failure is the answer (no space, bad input, a bug).
 *
 * Any replica can serve a read, so a read fails only for what every replica would answer alike
 * (the request itself is wrong, the caller gave up) or when no replica served it within the
 * deadline: one node's trouble never fails, or cuts short, a read the others can serve. (A failed
 * FUSE read is worse than an error: the kernel returns the bytes it already had as a short read(2),
 * which a reader taking a short read for the end of the file sees as a shorter file.)
 *
 * A write that timed out or lost its connection may have been applied; sending it again applies
 * the same bytes once more under a new chunk version, which leaves the chunk as one application
 * would, so such writes are retried too.
 */
import { FsError } from '../common/errors.js';
import { ClientCode, CommonCode, RpcCode, StorageCode, type StatusCode } from '../common/status-code.js';

export type RetryDecision = 'next-replica' | 'refresh' | 'fail';

/** The target is unreachable, going away or overloaded. */
const transientCodes: readonly StatusCode[] = [
  RpcCode.Timeout,
  RpcCode.ConnectionClosed,
  RpcCode.ConnectFailed,
  RpcCode.Overloaded,
  CommonCode.ShuttingDown,
  StorageCode.TargetNotFound,
  StorageCode.TargetNotServing,
  StorageCode.ChunkBusy,
  // The target's disk failed; mgmtd takes it out of the chain within a heartbeat or two.
  StorageCode.DiskFailed,
  ClientCode.NoServingReplica,
  ClientCode.RoutingUnavailable,
];

/** The chain moved on: the head, the members or their states differ from what was routed by. */
const chainChangedCodes: readonly StatusCode[] = [
  StorageCode.ChainVersionMismatch,
  StorageCode.NotChainHead,
  StorageCode.ChainNotFound,
  StorageCode.ForwardFailed,
];

/** Bytes that failed a checksum on the way: another attempt may get them right. */
const badBytesCodes: readonly StatusCode[] = [
  RpcCode.PayloadChecksumMismatch,
  StorageCode.ChecksumMismatch,
  StorageCode.PayloadLengthMismatch,
];

const updateRefresh: ReadonlySet<number> = new Set<number>([
  ...transientCodes,
  ...chainChangedCodes,
  ...badBytesCodes,
]);

/**
 * Read failures that no other replica would answer differently. Every other status code is one
 * replica's: down, mid-update, bad bytes, and also a refused connection (AuthFailed: that node
 * holds other cluster secrets than this client), a disk that failed a read (IoError, before the
 * target is marked failed), a bug or another version there (Internal, BadResponse, UnknownMethod).
 */
const readFinalCodes: ReadonlySet<number> = new Set<number>([
  CommonCode.InvalidArgument,
  RpcCode.BadRequest,
  RpcCode.Cancelled,
  StorageCode.OffsetOutOfRange,
  StorageCode.PayloadTooLarge,
  ClientCode.OffsetTooLarge,
  ClientCode.Overloaded,
]);

/** After a failed update (write, truncate, remove) sent to a chain's head. */
export function decideAfterUpdateFailure(error: unknown): RetryDecision {
  return error instanceof FsError && updateRefresh.has(error.code) ? 'refresh' : 'fail';
}

/**
 * After a failed read (or last-chunk query) at one replica: another replica for any status code
 * but the request's own faults; `fail` for those and for anything that is not an FsError (a bug).
 */
export function decideAfterReadFailure(error: unknown): RetryDecision {
  return error instanceof FsError && !readFinalCodes.has(error.code) ? 'next-replica' : 'fail';
}

/**
 * The wait before attempt `attempt` (1 for the first retry): exponential from `initialMs` up to
 * `maxMs`, jittered in [half, full] so clients that failed together do not return together.
 */
export function retryDelayMs(attempt: number, initialMs: number, maxMs: number, random01: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  return ceiling / 2 + random01 * (ceiling / 2);
}
