// Proves which chunk I/O failures are retried, on which replica, and that backoff grows within its bounds.
import { describe, expect, it } from 'vitest';
import {
  decideAfterReadFailure,
  decideAfterUpdateFailure,
  retryDelayMs,
} from '../../../src/client/chunk-retry.js';
import { FsError } from '../../../src/common/errors.js';
import {
  ClientCode,
  CommonCode,
  RpcCode,
  StorageCode,
  type StatusCode,
} from '../../../src/common/status-code.js';

const failure = (code: StatusCode) => new FsError(code, 'test');

describe('chunk retry decisions', () => {
  it('retries updates with fresh routing info when the chain moved or a target is down', () => {
    for (const code of [
      StorageCode.ChainVersionMismatch,
      StorageCode.NotChainHead,
      StorageCode.ForwardFailed,
      StorageCode.TargetNotServing,
      StorageCode.ChunkBusy,
      RpcCode.Timeout,
      RpcCode.ConnectFailed,
      RpcCode.ConnectionClosed,
      ClientCode.NoServingReplica,
    ]) {
      expect(decideAfterUpdateFailure(failure(code))).toBe('refresh');
    }
  });

  it('fails updates at once on a full disk, bad input or a bug', () => {
    for (const code of [
      StorageCode.NoSpace,
      StorageCode.OffsetOutOfRange,
      StorageCode.PayloadTooLarge,
      CommonCode.Internal,
    ]) {
      expect(decideAfterUpdateFailure(failure(code))).toBe('fail');
    }
    expect(decideAfterUpdateFailure(new Error('not an FsError'))).toBe('fail');
  });

  it('sends reads to another replica when one is down, mid-update or corrupted', () => {
    for (const code of [
      StorageCode.ChunkNotCommitted,
      StorageCode.ChunkCorrupted,
      StorageCode.ChecksumMismatch,
      RpcCode.PayloadChecksumMismatch,
      RpcCode.ConnectFailed,
      StorageCode.TargetNotServing,
    ]) {
      expect(decideAfterReadFailure(failure(code))).toBe('next-replica');
    }
    expect(decideAfterReadFailure(failure(StorageCode.OffsetOutOfRange))).toBe('fail');
  });

  it('backs off exponentially, jittered between half and the whole of a capped ceiling', () => {
    expect(retryDelayMs(1, 20, 1000, 0)).toBe(10);
    expect(retryDelayMs(1, 20, 1000, 1)).toBe(20);
    expect(retryDelayMs(4, 20, 1000, 1)).toBe(160);
    expect(retryDelayMs(30, 20, 1000, 0.5)).toBe(750);
  });
});
