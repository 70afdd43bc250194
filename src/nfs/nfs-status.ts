/**
 * NFS status codes (nfsstat3 of RFC 1813 and nfsstat4 of RFC 7530, which share their numbers where
 * both have a code) and the one mapping from the system's status codes to them (STYLE: one
 * mapping at the edge, as errno-map.ts is for FUSE). Meta's codes each stand for one POSIX error
 * and map to the NFS code for that error. A failure of the machinery behind the namespace that may
 * pass (a service restarting, a full queue, a timeout) answers JUKEBOX (NFS4ERR_DELAY): the client
 * waits and sends the call again rather than failing the application. Anything else is IO.
 */
import { FsError } from '../common/errors.js';
import { ClientCode, CommonCode, KvCode, MetaCode, RpcCode, StorageCode } from '../common/status-code.js';

/** Status codes of both versions; numbers are the protocols'. */
export const NfsStatus = {
  Ok: 0,
  Perm: 1,
  NoEnt: 2,
  Io: 5,
  NxIo: 6,
  Access: 13,
  Exist: 17,
  XDev: 18,
  NotDir: 20,
  IsDir: 21,
  Inval: 22,
  FBig: 27,
  NoSpc: 28,
  RoFs: 30,
  MLink: 31,
  NameTooLong: 63,
  NotEmpty: 66,
  DQuot: 69,
  Stale: 70,
  BadHandle: 10001,
  NotSync: 10002,
  BadCookie: 10003,
  NotSupp: 10004,
  TooSmall: 10005,
  ServerFault: 10006,
  BadType: 10007,
  /** NFS3ERR_JUKEBOX, NFS4ERR_DELAY: try again later. */
  Jukebox: 10008,
  // NFSv4 only.
  Same: 10009,
  Denied: 10010,
  Expired: 10011,
  Locked: 10012,
  Grace: 10013,
  FhExpired: 10014,
  ShareDenied: 10015,
  WrongSec: 10016,
  ClidInUse: 10017,
  Resource: 10018,
  Moved: 10019,
  NoFileHandle: 10020,
  MinorVersMismatch: 10021,
  StaleClientId: 10022,
  StaleStateId: 10023,
  OldStateId: 10024,
  BadStateId: 10025,
  BadSeqId: 10026,
  NotSame: 10027,
  LockRange: 10028,
  Symlink: 10029,
  RestoreFh: 10030,
  LeaseMoved: 10031,
  AttrNotSupp: 10032,
  NoGrace: 10033,
  ReclaimBad: 10034,
  ReclaimConflict: 10035,
  BadXdr: 10036,
  LocksHeld: 10037,
  OpenMode: 10038,
  BadOwner: 10039,
  BadChar: 10040,
  BadName: 10041,
  BadRange: 10042,
  LockNotSupp: 10043,
  OpIllegal: 10044,
  Deadlock: 10045,
  FileOpen: 10046,
  AdminRevoked: 10047,
  CbPathDown: 10048,
} as const;
export type NfsStatus = (typeof NfsStatus)[keyof typeof NfsStatus];

const statusNames = new Map<number, string>(Object.entries(NfsStatus).map(([name, value]) => [value, name]));

/** A stable name for metrics and logs ("NoEnt", "Stale"). */
export function nfsStatusName(status: number): string {
  return statusNames.get(status) ?? `Unknown(${status})`;
}

/** An NFS-level failure a handler answers with, as FUSE handlers throw fuseError. */
export class NfsStatusError extends Error {
  constructor(
    readonly status: NfsStatus,
    message: string,
  ) {
    super(message);
    this.name = `NfsStatusError(${nfsStatusName(status)})`;
  }
}

/** Throws an NfsStatusError. */
export function nfsError(status: NfsStatus, message: string): NfsStatusError {
  return new NfsStatusError(status, message);
}

const statusByCode = new Map<number, NfsStatus>([
  [CommonCode.InvalidArgument, NfsStatus.Inval],
  [CommonCode.NotImplemented, NfsStatus.NotSupp],
  [CommonCode.ShuttingDown, NfsStatus.Jukebox],

  [MetaCode.NotFound, NfsStatus.NoEnt],
  [MetaCode.Exists, NfsStatus.Exist],
  [MetaCode.NotDirectory, NfsStatus.NotDir],
  [MetaCode.IsDirectory, NfsStatus.IsDir],
  [MetaCode.NotEmpty, NfsStatus.NotEmpty],
  [MetaCode.PermissionDenied, NfsStatus.Access],
  [MetaCode.NameTooLong, NfsStatus.NameTooLong],
  [MetaCode.NotPermitted, NfsStatus.Perm],
  [MetaCode.InvalidArgument, NfsStatus.Inval],
  // The gateway never has meta follow a path; a loop can only be in a name it was given.
  [MetaCode.TooManySymlinks, NfsStatus.Inval],
  [MetaCode.TooManyLinks, NfsStatus.MLink],
  // EBUSY (renaming over a directory in use, and the like): NFS has no such code; the operation
  // is refused as knfsd refuses it.
  [MetaCode.Busy, NfsStatus.Access],
  [MetaCode.NotSupported, NfsStatus.NotSupp],
  [MetaCode.NoSpace, NfsStatus.NoSpc],
  [MetaCode.FileTooLarge, NfsStatus.FBig],
  [MetaCode.TooManyOpenFiles, NfsStatus.Jukebox],
  [MetaCode.QuotaExceeded, NfsStatus.DQuot],
  [MetaCode.CrossQuota, NfsStatus.XDev],
  [StorageCode.NoSpace, NfsStatus.NoSpc],
  [ClientCode.OffsetTooLarge, NfsStatus.FBig],
  [ClientCode.TooManyOpenFiles, NfsStatus.Jukebox],
  [ClientCode.Overloaded, NfsStatus.Jukebox],
  [ClientCode.IoTimeout, NfsStatus.Jukebox],
  [ClientCode.RoutingUnavailable, NfsStatus.Jukebox],
  [ClientCode.NoServingReplica, NfsStatus.Jukebox],
  [ClientCode.MetaUnreachable, NfsStatus.Jukebox],

  [RpcCode.Timeout, NfsStatus.Jukebox],
  [RpcCode.ConnectFailed, NfsStatus.Jukebox],
  [RpcCode.ConnectionClosed, NfsStatus.Jukebox],
  [RpcCode.Overloaded, NfsStatus.Jukebox],
  [KvCode.Conflict, NfsStatus.Jukebox],
  [KvCode.Unavailable, NfsStatus.Jukebox],
  [KvCode.Overloaded, NfsStatus.Jukebox],
]);

/**
 * The NFS status for a handler's error: its own for an NfsStatusError, the table's for an FsError
 * (IO for codes not in it); undefined for anything else, which is a bug the caller logs and
 * answers SERVERFAULT (NFSv4) or IO (NFSv3).
 */
export function nfsStatusOf(error: unknown): NfsStatus | undefined {
  if (error instanceof NfsStatusError) return error.status;
  if (error instanceof FsError) return statusByCode.get(error.code) ?? NfsStatus.Io;
  return undefined;
}
