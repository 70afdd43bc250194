/**
 * What a chunk operation does after a failure (DESIGN §7, §9). Pure, so the decisions are
 * unit-tested apart from sockets:
 *  - `next-replica`: a read tries another serving replica of the chain (this one is down, has the
 *    chunk mid-update, or sent bad bytes);
 *  - `refresh`: the operation is tried again after fresh routing info and a backoff (the chain
 *    changed under it, the head moved, a target is down or busy);
 *  - `fail`: the failure is the answer (no space, bad input, a bug).
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

const readNextReplica: ReadonlySet<number> = new Set<number>([
  ...transientCodes,
  ...badBytesCodes,
  StorageCode.ChunkNotCommitted,
  StorageCode.ChunkCorrupted,
]);

/** After a failed update (write, truncate, remove) sent to a chain's head. */
export function decideAfterUpdateFailure(error: unknown): RetryDecision {
  return error instanceof FsError && updateRefresh.has(error.code) ? 'refresh' : 'fail';
}

/** After a failed read (or last-chunk query) at one replica. */
export function decideAfterReadFailure(error: unknown): RetryDecision {
  return error instanceof FsError && readNextReplica.has(error.code) ? 'next-replica' : 'fail';
}

/**
 * The wait before attempt `attempt` (1 for the first retry): exponential from `initialMs` up to
 * `maxMs`, jittered in [half, full] so clients that failed together do not return together.
 */
export function retryDelayMs(attempt: number, initialMs: number, maxMs: number, random01: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  return ceiling / 2 + random01 * (ceiling / 2);
}
