// Proves which failures are retried and that backoff grows exponentially within its bounds, with jitter.
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { seededRandom } from '../../../src/common/random.js';
import { CommonCode, RpcCode } from '../../../src/common/status-code.js';
import { backoffMs, isRetryable } from '../../../src/rpc/retry-policy.js';

describe('retry policy', () => {
  it('retries timeouts, lost connections, failed connects and overload only', () => {
    for (const code of [
      RpcCode.Timeout,
      RpcCode.ConnectionClosed,
      RpcCode.ConnectFailed,
      RpcCode.Overloaded,
    ]) {
      expect(isRetryable(new FsError(code, 'x'))).toBe(true);
    }
    for (const code of [RpcCode.AuthFailed, RpcCode.BadRequest, RpcCode.Cancelled, CommonCode.Internal]) {
      expect(isRetryable(new FsError(code, 'x'))).toBe(false);
    }
    expect(isRetryable(new Error('plain'))).toBe(false);
  });

  it('waits between half and all of an exponentially growing, capped delay', () => {
    const random = seededRandom(42);
    for (let retry = 0; retry < 40; retry++) {
      const ceiling = Math.min(limits.rpcRetryBackoffMsMax, limits.rpcRetryBackoffMsInitial * 2 ** retry);
      for (let sample = 0; sample < 20; sample++) {
        const delay = backoffMs(retry, random);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('spreads the delays of clients that failed together', () => {
    const random = seededRandom(7);
    const delays = new Set(Array.from({ length: 50 }, () => backoffMs(3, random)));
    expect(delays.size).toBeGreaterThan(10);
  });
});
