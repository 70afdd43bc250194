/**
 * The one mapping from the system's status codes to the errno a FUSE request is answered with
 * (STYLE: "one toErrno at the FUSE edge"). Meta codes each stand for one POSIX error (see their
 * comments in common/status-code.ts) and map one to one. Everything else is a failure of the
 * machinery behind the file system (a storage chain that stayed unavailable through the client's
 * retries, an unreachable service, corrupted bytes): programs know such failures as EIO, the error
 * NFS and local disks report for them. Comments mark the mappings that are not obvious.
 */
import { constants } from 'node:os';
import { FsError } from '../common/errors.js';
import {
  ClientCode,
  CommonCode,
  KvCode,
  MetaCode,
  RpcCode,
  StorageCode,
  isKnownStatus,
} from '../common/status-code.js';

const E = constants.errno;

/** Status codes whose errno is not EIO. Codes absent here (and unknown codes) answer EIO. */
const errnoByCode = new Map<number, number>([
  [CommonCode.InvalidArgument, E.EINVAL],
  // A feature this build lacks: EOPNOTSUPP rather than ENOSYS, which the kernel would remember
  // for the whole operation (flush, fsync, xattrs) and never ask again.
  [CommonCode.NotImplemented, E.EOPNOTSUPP],

  [MetaCode.NotFound, E.ENOENT],
  [MetaCode.Exists, E.EEXIST],
  [MetaCode.NotDirectory, E.ENOTDIR],
  [MetaCode.IsDirectory, E.EISDIR],
  [MetaCode.NotEmpty, E.ENOTEMPTY],
  [MetaCode.PermissionDenied, E.EACCES],
  [MetaCode.NameTooLong, E.ENAMETOOLONG],
  [MetaCode.NotPermitted, E.EPERM],
  [MetaCode.InvalidArgument, E.EINVAL],
  [MetaCode.TooManySymlinks, E.ELOOP],
  [MetaCode.NoAttribute, E.ENODATA],
  [MetaCode.TooManyLinks, E.EMLINK],
  [MetaCode.Busy, E.EBUSY],
  [MetaCode.NotSupported, E.EOPNOTSUPP],
  [MetaCode.ValueTooLarge, E.E2BIG],
  [MetaCode.NoSpace, E.ENOSPC],
  [MetaCode.FileTooLarge, E.EFBIG],
  // No chain table yet: the cluster has no storage to put a file on. EIO, as its comment says;
  // ENOSPC would send people looking for a full disk.
  [MetaCode.NoChainTable, E.EIO],
  // A recursive removal too large for one transaction: E2BIG, "argument list too long".
  [MetaCode.OperationTooLarge, E.E2BIG],
  [MetaCode.TooManyOpenFiles, E.ENFILE],
  [MetaCode.TooManyLocks, E.ENOLCK],
  [MetaCode.QuotaExceeded, E.EDQUOT],
  // A move between trees of different directory quotas: EXDEV, so `mv` copies and removes.
  [MetaCode.CrossQuota, E.EXDEV],

  // A full target: the write did not happen anywhere in the chain.
  [StorageCode.NoSpace, E.ENOSPC],

  [ClientCode.BadFileHandle, E.EBADF],
  // The daemon's table of open files is shared by every process: the system-wide ENFILE, not
  // the per-process EMFILE.
  [ClientCode.TooManyOpenFiles, E.ENFILE],
  [ClientCode.OffsetTooLarge, E.EFBIG],
  [ClientCode.NoSpace, E.ENOSPC],
  [ClientCode.LockConflict, E.EAGAIN],
  // A blocking lock request that waited its whole bound ([fuse] lock_wait_max_ms): fcntl's
  // F_SETLKW names EDEADLK for a wait that would never end; flock answers EWOULDBLOCK instead
  // (fuse/locks.ts), since flock(2) has no EDEADLK.
  [ClientCode.LockWaitTimedOut, E.EDEADLK],
  [ClientCode.LockWaitInterrupted, E.EINTR],

  // The caller gave up (the kernel interrupted the request).
  [RpcCode.Cancelled, E.EINTR],
  // Meta refuses keys and values the KV cannot hold before it tries; if one slips through, the
  // name or value was too long for the store.
  [KvCode.KeyTooLarge, E.ENAMETOOLONG],
  [KvCode.ValueTooLarge, E.E2BIG],
]);

/** The errno of a status code: its entry above, EIO for every other code. */
export function errnoOfStatus(code: number): number {
  return errnoByCode.get(code) ?? E.EIO;
}

/**
 * The errno for a handler's error: from its status code for an FsError; undefined for anything
 * else, which the binding answers with the errno it carries or, for a bug (an AssertionError, a
 * TypeError), with EIO after logging it.
 */
export function toErrno(error: unknown): number | undefined {
  if (!(error instanceof FsError)) return undefined;
  return errnoOfStatus(isKnownStatus(error.code) ? error.code : -1);
}

/** The codes mapped to something other than EIO (tests check every meta code is among them). */
export function mappedCodes(): ReadonlySet<number> {
  return new Set(errnoByCode.keys());
}
