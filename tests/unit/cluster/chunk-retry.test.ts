// Proves which chunk I/O failures are retried, on which replica, and that backoff grows within its
// bounds; a read fails at once only for what every replica would answer alike, never for one
// replica's trouble (a refused connection, a disk error, a bug there), for every status code.
import { describe, expect, it } from 'vitest';
import {
  decideAfterReadFailure,
  decideAfterUpdateFailure,
  retryDelayMs,
} from '../../../src/cluster/index.js';
import { FsError } from '../../../src/common/errors.js';
import {
  ClientCode,
  CommonCode,
  KvCode,
  MetaCode,
  MgmtdCode,
  MonitorCode,
  NfsCode,
  RpcCode,
  StorageCode,
  type StatusCode,
} from '../../../src/common/status-code.js';

const failure = (code: StatusCode) => new FsError(code, 'test');

/** The read failures every replica would answer alike: the request's own faults, the caller's. */
const readFinal: readonly StatusCode[] = [
  CommonCode.InvalidArgument,
  RpcCode.BadRequest,
  RpcCode.Cancelled,
  StorageCode.OffsetOutOfRange,
  StorageCode.PayloadTooLarge,
  ClientCode.OffsetTooLarge,
  ClientCode.Overloaded,
];

const everyCode: readonly StatusCode[] = [
  CommonCode,
  RpcCode,
  KvCode,
  MgmtdCode,
  MetaCode,
  StorageCode,
  ClientCode,
  MonitorCode,
  NfsCode,
].flatMap((table) => Object.values(table) as StatusCode[]);

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

  it("sends reads to another replica when one refuses this client's connection, fails a disk read or has a bug", () => {
    for (const code of [
      RpcCode.AuthFailed,
      CommonCode.IoError,
      CommonCode.Internal,
      RpcCode.BadResponse,
      RpcCode.MalformedFrame,
      RpcCode.UnknownMethod,
      StorageCode.ChainNotFound,
      StorageCode.DiskFailed,
    ]) {
      expect(decideAfterReadFailure(failure(code)), `code ${code}`).toBe('next-replica');
    }
    // A code of a newer version is a replica's too.
    expect(decideAfterReadFailure(new FsError(59_999 as StatusCode, 'unknown'))).toBe('next-replica');
  });

  it('fails a read at once only on a bad request, a caller that gave up, a full client queue or a bug', () => {
    for (const code of everyCode) {
      expect(decideAfterReadFailure(failure(code)), `code ${code}`).toBe(
        readFinal.includes(code) ? 'fail' : 'next-replica',
      );
    }
    expect(decideAfterReadFailure(new TypeError('a bug'))).toBe('fail');
    expect(decideAfterReadFailure(undefined)).toBe('fail');
  });

  it('still fails an update at once when the head refuses this client: no other replica takes it', () => {
    expect(decideAfterUpdateFailure(failure(RpcCode.AuthFailed))).toBe('fail');
  });

  it('backs off exponentially, jittered between half and the whole of a capped ceiling', () => {
    expect(retryDelayMs(1, 20, 1000, 0)).toBe(10);
    expect(retryDelayMs(1, 20, 1000, 1)).toBe(20);
    expect(retryDelayMs(4, 20, 1000, 1)).toBe(160);
    expect(retryDelayMs(30, 20, 1000, 0.5)).toBe(750);
  });
});
