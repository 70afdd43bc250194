/**
 * The retry loop every engine shares: a transaction attempt that fails with a retryable error
 * (a conflict, a transaction too old, an engine briefly unavailable) runs again after an
 * exponential backoff with jitter, at most `attemptsMax` times in all. Waiting honours the
 * caller's AbortSignal; the attempt itself is bounded by the transaction age limit instead.
 */
import type { Clock } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import { CommonCode, KvCode, statusName } from '../common/status-code.js';

const retryableCodes: ReadonlySet<number> = new Set([
  KvCode.Conflict,
  KvCode.TransactionTooOld,
  KvCode.Unavailable,
]);

/** True for errors after which running the transaction function again may succeed. */
export function isRetryableKvError(error: unknown): error is FsError {
  return error instanceof FsError && retryableCodes.has(error.code);
}

/**
 * The wait before attempt `failedAttempts + 1`: doubling from kvRetryBackoffMsInitial up to
 * kvRetryBackoffMsMax, of which a random half is dropped ("equal jitter") so that clients that
 * collided once do not collide again in lockstep.
 */
export function backoffDelayMs(failedAttempts: number, random: Random): number {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 30);
  const ceilingMs = Math.min(limits.kvRetryBackoffMsMax, limits.kvRetryBackoffMsInitial * 2 ** exponent);
  return ceilingMs / 2 + random.nextFloat() * (ceilingMs / 2);
}

export interface RetryOptions {
  attemptsMax: number;
  signal: AbortSignal | undefined;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Told of each retryable failure that another attempt follows. */
  onRetry?: ((error: FsError) => void) | undefined;
}

/** Checks a caller's attemptsMax, or returns the default. */
export function resolveAttemptsMax(attemptsMax: number | undefined): number {
  if (attemptsMax === undefined) return limits.kvTransactionAttemptsMax;
  if (!Number.isSafeInteger(attemptsMax) || attemptsMax < 1) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `attemptsMax must be a positive integer, got ${attemptsMax}`,
    );
  }
  return attemptsMax;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error (rethrown as is), or has
 * failed `attemptsMax` times with retryable errors (KvCode.RetriesExhausted, the last error as
 * its cause). An aborted signal rejects with the signal's reason before the next attempt.
 */
export async function retryTransaction<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  let lastError: FsError | undefined;
  for (let attemptNumber = 1; attemptNumber <= options.attemptsMax; attemptNumber++) {
    options.signal?.throwIfAborted();
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (!isRetryableKvError(error)) throw error;
      lastError = error;
      options.logger.debug(
        { attemptNumber, code: statusName(error.code), reason: error.message },
        'kv retry',
      );
    }
    if (attemptNumber < options.attemptsMax) {
      if (lastError !== undefined) options.onRetry?.(lastError);
      await options.clock.sleep(backoffDelayMs(attemptNumber, options.random), options.signal);
    }
  }
  throw new FsError(
    KvCode.RetriesExhausted,
    `transaction gave up after ${options.attemptsMax} attempts; last error: ${describeError(lastError)}`,
    { cause: lastError },
  );
}
