// Proves the shared retry loop: bounded attempts, exponential backoff with jitter, abort, and which errors are retried.
import { describe, expect, it } from 'vitest';
import { ManualClock, type Clock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom, type Random } from '../../../src/common/random.js';
import { CommonCode, KvCode } from '../../../src/common/status-code.js';
import {
  backoffDelayMs,
  isRetryableKvError,
  resolveAttemptsMax,
  retryTransaction,
} from '../../../src/kv/retry.js';

/** A clock whose sleeps end at once and are recorded. */
function recordingClock(): Clock & { sleeps: number[] } {
  const manual = new ManualClock();
  const sleeps: number[] = [];
  return {
    sleeps,
    nowMs: () => manual.nowMs(),
    monotonicMs: () => manual.monotonicMs(),
    setTimer: (delayMs, callback) => manual.setTimer(delayMs, callback),
    sleep: (delayMs) => {
      sleeps.push(delayMs);
      return Promise.resolve();
    },
  };
}

const fixedRandom = (value: number): Random => ({
  nextU32: () => Math.floor(value * 0x1_0000_0000),
  nextInt: (bound) => Math.floor(value * bound),
  nextFloat: () => value,
});

const options = (clock: Clock, attemptsMax = 5, signal?: AbortSignal) => ({
  attemptsMax,
  signal,
  clock,
  random: seededRandom(7),
  logger: silentLogger(),
});

describe('retryTransaction', () => {
  it('returns the first successful attempt without waiting', async () => {
    const clock = recordingClock();
    expect(await retryTransaction(async () => 'ok', options(clock))).toBe('ok');
    expect(clock.sleeps).toEqual([]);
  });

  it('retries conflicts, too-old transactions and unavailability, then succeeds', async () => {
    const clock = recordingClock();
    const failures = [KvCode.Conflict, KvCode.TransactionTooOld, KvCode.Unavailable];
    const result = await retryTransaction(async (attemptNumber) => {
      const code = failures[attemptNumber - 1];
      if (code !== undefined) throw new FsError(code, `failure ${attemptNumber}`);
      return attemptNumber;
    }, options(clock));
    expect(result).toBe(4);
    expect(clock.sleeps).toHaveLength(3);
  });

  it('gives up after attemptsMax with RetriesExhausted carrying the last error', async () => {
    const clock = recordingClock();
    let attempts = 0;
    const outcome = retryTransaction(
      async () => {
        attempts++;
        throw new FsError(KvCode.Conflict, `conflict ${attempts}`);
      },
      options(clock, 4),
    );
    const error = (await outcome.catch((caught: unknown) => caught)) as FsError;
    expect(error.code).toBe(KvCode.RetriesExhausted);
    expect(error.message).toMatch(/after 4 attempts.*conflict 4/);
    expect((error.cause as FsError).message).toBe('conflict 4');
    expect(attempts).toBe(4);
    // No pointless wait after the last attempt.
    expect(clock.sleeps).toHaveLength(3);
  });

  it('rethrows other errors at once, unchanged', async () => {
    const clock = recordingClock();
    const failure = new FsError(KvCode.KeyTooLarge, 'too large');
    await expect(retryTransaction(async () => Promise.reject(failure), options(clock))).rejects.toBe(failure);
    const plain = new TypeError('bug');
    await expect(retryTransaction(async () => Promise.reject(plain), options(clock))).rejects.toBe(plain);
    expect(clock.sleeps).toEqual([]);
  });

  it('stops with the signal’s reason when aborted during a backoff', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    let attempts = 0;
    const outcome = retryTransaction(
      async () => {
        attempts++;
        throw new FsError(KvCode.Conflict, 'conflict');
      },
      options(clock, 10, controller.signal),
    );
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('caller gave up'));
    await expect(outcome).rejects.toThrow('caller gave up');
    expect(attempts).toBe(1);
  });
});

describe('backoffDelayMs', () => {
  it('doubles from the initial backoff up to the maximum, keeping at least half of it', () => {
    for (let failed = 1; failed <= 20; failed++) {
      const ceilingMs = Math.min(
        limits.kvRetryBackoffMsMax,
        limits.kvRetryBackoffMsInitial * 2 ** (failed - 1),
      );
      expect(backoffDelayMs(failed, fixedRandom(0))).toBe(ceilingMs / 2);
      expect(backoffDelayMs(failed, fixedRandom(0.999_999))).toBeLessThanOrEqual(ceilingMs);
    }
    expect(backoffDelayMs(1_000, fixedRandom(0.999_999))).toBeLessThanOrEqual(limits.kvRetryBackoffMsMax);
  });
});

describe('resolveAttemptsMax and isRetryableKvError', () => {
  it('defaults attemptsMax and refuses nonsense', () => {
    expect(resolveAttemptsMax(undefined)).toBe(limits.kvTransactionAttemptsMax);
    expect(resolveAttemptsMax(1)).toBe(1);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => resolveAttemptsMax(bad)).toThrow(
        expect.objectContaining({ code: CommonCode.InvalidArgument }),
      );
    }
  });

  it('names exactly the retryable codes', () => {
    expect(isRetryableKvError(new FsError(KvCode.Conflict, ''))).toBe(true);
    expect(isRetryableKvError(new FsError(KvCode.TransactionTooOld, ''))).toBe(true);
    expect(isRetryableKvError(new FsError(KvCode.Unavailable, ''))).toBe(true);
    expect(isRetryableKvError(new FsError(KvCode.Overloaded, ''))).toBe(false);
    expect(isRetryableKvError(new FsError(KvCode.RetriesExhausted, ''))).toBe(false);
    expect(isRetryableKvError(new Error('plain'))).toBe(false);
  });
});
