/**
 * When a failed call may be tried again and how long to wait first. Pure, so it is unit-tested
 * apart from sockets. Only idempotent methods are ever retried (the client checks that); the codes
 * here are the failures after which the request may not have run, or may be run again harmlessly.
 */
import { FsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Random } from '../common/random.js';
import { RpcCode, type StatusCode } from '../common/status-code.js';

const retryableCodes: ReadonlySet<StatusCode> = new Set<StatusCode>([
  RpcCode.Timeout,
  RpcCode.ConnectionClosed,
  RpcCode.ConnectFailed,
  RpcCode.Overloaded,
]);

/** True for failures worth another attempt of an idempotent call. */
export function isRetryable(error: unknown): boolean {
  return error instanceof FsError && retryableCodes.has(error.code);
}

/**
 * The wait before retry number `retry` (0 for the first retry): exponential from
 * rpcRetryBackoffMsInitial up to rpcRetryBackoffMsMax, with jitter in [half, full] of that value so
 * that clients which failed together do not come back together.
 */
export function backoffMs(retry: number, random: Random): number {
  const exponent = Math.min(retry, 30);
  const ceiling = Math.min(limits.rpcRetryBackoffMsMax, limits.rpcRetryBackoffMsInitial * 2 ** exponent);
  return Math.round(ceiling / 2 + random.nextFloat() * (ceiling / 2));
}
