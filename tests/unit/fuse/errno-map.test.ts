// Proves the one status-to-errno table at the FUSE edge: every meta code has its POSIX errno, machinery failures are EIO, and errors that are not status codes are left to the binding (errnos it carries, EIO for bugs).
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { AssertionError, FsError } from '../../../src/common/errors.js';
import {
  ClientCode,
  CommonCode,
  MetaCode,
  RpcCode,
  StorageCode,
  type StatusCode,
} from '../../../src/common/status-code.js';
import { errnoOfStatus, mappedCodes, toErrno } from '../../../src/fuse/errno-map.js';

const E = constants.errno;

describe('toErrno', () => {
  it('maps every meta code explicitly, each to the errno its comment names', () => {
    const mapped = mappedCodes();
    for (const code of Object.values(MetaCode)) expect(mapped.has(code)).toBe(true);
    expect(errnoOfStatus(MetaCode.NotFound)).toBe(E.ENOENT);
    expect(errnoOfStatus(MetaCode.Exists)).toBe(E.EEXIST);
    expect(errnoOfStatus(MetaCode.NotEmpty)).toBe(E.ENOTEMPTY);
    expect(errnoOfStatus(MetaCode.PermissionDenied)).toBe(E.EACCES);
    expect(errnoOfStatus(MetaCode.NotPermitted)).toBe(E.EPERM);
    expect(errnoOfStatus(MetaCode.IsDirectory)).toBe(E.EISDIR);
    expect(errnoOfStatus(MetaCode.NotDirectory)).toBe(E.ENOTDIR);
    expect(errnoOfStatus(MetaCode.NoAttribute)).toBe(E.ENODATA);
    expect(errnoOfStatus(MetaCode.TooManySymlinks)).toBe(E.ELOOP);
    expect(errnoOfStatus(MetaCode.NoChainTable)).toBe(E.EIO);
  });

  it('answers failures of the machinery behind the file system with EIO', () => {
    const machinery: StatusCode[] = [
      RpcCode.Timeout,
      RpcCode.ConnectFailed,
      StorageCode.ChainVersionMismatch,
      StorageCode.ChunkCorrupted,
      ClientCode.NoServingReplica,
      ClientCode.IoTimeout,
      ClientCode.MetaUnreachable,
      CommonCode.Internal,
    ];
    for (const code of machinery) expect(toErrno(new FsError(code, 'x'))).toBe(E.EIO);
  });

  it('maps the client and storage codes a program can act on', () => {
    expect(toErrno(new FsError(StorageCode.NoSpace, 'full'))).toBe(E.ENOSPC);
    expect(toErrno(new FsError(ClientCode.BadFileHandle, 'closed'))).toBe(E.EBADF);
    expect(toErrno(new FsError(ClientCode.OffsetTooLarge, 'far'))).toBe(E.EFBIG);
    expect(toErrno(new FsError(RpcCode.Cancelled, 'interrupted'))).toBe(E.EINTR);
    // Never ENOSYS, which the kernel would remember for the whole operation.
    expect(toErrno(new FsError(CommonCode.NotImplemented, 'later'))).toBe(E.EOPNOTSUPP);
  });

  it('leaves errors without a status code to the binding', () => {
    expect(toErrno(new AssertionError('broken'))).toBeUndefined();
    expect(toErrno(new TypeError('bug'))).toBeUndefined();
    expect(toErrno({ code: 'ENOENT' })).toBeUndefined();
  });

  it('answers an unknown code with EIO', () => {
    expect(toErrno(new FsError(9_999 as StatusCode, 'from a newer peer'))).toBe(E.EIO);
  });
});
