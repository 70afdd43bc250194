/**
 * Every operating error's numeric status code, in one table ranged per component.
 * Codes are stable: they cross the wire and reach operators' logs, so a code is never reused
 * or renumbered; new codes are appended inside their component's range.
 */

/** Success. */
export const Ok = 0;

/** Codes shared by every component: 100–999. */
export const CommonCode = {
  InvalidArgument: 100,
  ConfigInvalid: 101,
  Internal: 102,
  NotImplemented: 103,
  ShuttingDown: 104,
  IoError: 105,
  CorruptRecord: 106,
} as const;

/** RPC layer: 1000–1999. */
export const RpcCode = {
  Timeout: 1000,
  ConnectionClosed: 1001,
  ConnectFailed: 1002,
  FrameTooLarge: 1003,
  MalformedFrame: 1004,
  AuthFailed: 1005,
  BadRequest: 1006,
  UnknownMethod: 1007,
  Overloaded: 1008,
  PayloadChecksumMismatch: 1009,
  BadResponse: 1010,
  /** The caller aborted the call through its AbortSignal. */
  Cancelled: 1011,
} as const;

/** Transactional KV: 2000–2999. */
export const KvCode = {
  Conflict: 2000,
  TransactionTooOld: 2001,
  KeyTooLarge: 2002,
  ValueTooLarge: 2003,
  TransactionTooLarge: 2004,
  Unavailable: 2005,
  RetriesExhausted: 2006,
  TransactionFinished: 2007,
  Closed: 2008,
  EngineFailure: 2009,
  InvalidRange: 2010,
  EngineNotAvailable: 2011,
  /** The engine's queue of transactions waiting to start is full: back-pressure, not retried. */
  Overloaded: 2012,
  /** A range read without a limit (or with one over the maximum) would return too many pairs. */
  RangeTooLarge: 2013,
  /**
   * The connection to the engine broke while it committed, and whether the commit applied could
   * not be found out: the transaction may or may not have taken effect. Not retried automatically.
   */
  CommitUnknown: 2014,
  /** A metadata copy found the destination store holding data and was not told to overwrite it. */
  CopyTargetNotEmpty: 2015,
  /** A metadata copy's final comparison of source and destination found a difference. */
  CopyVerificationFailed: 2016,
} as const;

/** Cluster manager: 3000–3999. */
export const MgmtdCode = {
  NotPrimary: 3000,
  ClusterNotInitialized: 3001,
  ClusterAlreadyInitialized: 3002,
  ClusterIdMismatch: 3003,
  NodeNotFound: 3004,
  TargetNotFound: 3005,
  ChainTableInvalid: 3006,
  ChainTableExists: 3007,
  HeartbeatRejected: 3008,
  NotEnoughTargets: 3009,
  NodeTypeMismatch: 3010,
  /** The chain id is not a chain of the cluster. */
  ChainNotFound: 3011,
  /** rotate-lastsrv refused: a target of the chain serves or syncs, so the chain is not stuck. */
  ChainStillServes: 3012,
  /** rotate-lastsrv refused: the chain has no lastsrv target, or no other target to take its place. */
  NothingToRotate: 3013,
  /** rotate-lastsrv refused: the lastsrv target is alive and serves again by itself. */
  LastServingAlive: 3014,
  /** The chain's version is not the one the request expects: the chain changed since the caller read it. */
  ChainVersionMismatch: 3015,
  /** user-add refused: a user of that name exists already. */
  UserExists: 3016,
  /** No user of that name. */
  UserNotFound: 3017,
} as const;

/**
 * Metadata service: 4000–4999. Each meta code stands for exactly one POSIX meaning, named in its
 * comment, so the FUSE edge's toErrno maps them one to one.
 */
export const MetaCode = {
  /** ENOENT: no such file or directory (also an inode id that no longer exists). */
  NotFound: 4000,
  /** EEXIST: the name exists already (O_EXCL, mkdir, link, symlink, rename with no-replace). */
  Exists: 4001,
  /** ENOTDIR: a path component, or a directory operation's object, is not a directory. */
  NotDirectory: 4002,
  /** EISDIR: a file operation (unlink, open for writing, truncate) met a directory. */
  IsDirectory: 4003,
  /** ENOTEMPTY: the directory to remove or replace holds entries. */
  NotEmpty: 4004,
  /** EACCES: the permission bits refuse the caller (search, read or write). */
  PermissionDenied: 4005,
  /** ENAMETOOLONG: a name over metaNameBytesMax or a path over metaPathBytesMax. */
  NameTooLong: 4006,
  /** EPERM: the caller may not do this at all (not the owner, sticky directory, chown, link a directory). */
  NotPermitted: 4007,
  /** EINVAL: a request that is well-formed but makes no sense (bad name, "." as a rename source, a directory moved under itself). */
  InvalidArgument: 4008,
  /** ELOOP: more symbolic links while resolving a path than metaSymlinkDepthMax, or O_NOFOLLOW met a link. */
  TooManySymlinks: 4009,
  /** ENODATA: the extended attribute does not exist. */
  NoAttribute: 4010,
  /** EMLINK: the inode already has the maximum number of hard links. */
  TooManyLinks: 4011,
  /** EBUSY: the root directory cannot be removed or renamed. */
  Busy: 4012,
  /** EOPNOTSUPP: an unsupported extended-attribute namespace or rename flag. */
  NotSupported: 4013,
  /** E2BIG: an extended-attribute value over metaXattrValueBytesMax. */
  ValueTooLarge: 4014,
  /** ENOSPC: a per-inode bound (extended attributes) is reached. */
  NoSpace: 4015,
  /** EFBIG: a length beyond metaFileLengthBytesMax. */
  FileTooLarge: 4016,
  /** EIO: no chain table to place a new file's chunks on (the cluster has no storage yet). */
  NoChainTable: 4017,
  /** E2BIG: a recursive removal covering more inodes than one transaction may change. */
  OperationTooLarge: 4018,
  /** ENFILE: the file already has metaSessionsPerInodeMax write sessions open. */
  TooManyOpenFiles: 4019,
  /** ENOLCK: a lock would exceed the bounds on one file's locks (metaLockHoldersPerInodeMax and the like). */
  TooManyLocks: 4030,
  /** EDQUOT: a directory quota's limit (hard, or soft past its grace period) refuses the change. */
  QuotaExceeded: 4050,
  /** EXDEV: a rename or link between directory trees counted by different quotas that cannot move its usage. */
  CrossQuota: 4051,
} as const;

/** Storage service: 5000–5999. */
export const StorageCode = {
  /** The request's chain version differs from the target's routing info: refresh and retry. */
  ChainVersionMismatch: 5000,
  /** The chunk has a pending version; read another replica, retry, or ask for a relaxed read. */
  ChunkNotCommitted: 5001,
  /** A payload does not match the CRC32C its request carries. */
  ChecksumMismatch: 5002,
  /** The target's disk is full (free space below the reserve); nothing was written. */
  NoSpace: 5003,
  /** The target id is not served by this storage process. */
  TargetNotFound: 5004,
  /** A forwarded update does not apply to the successor's committed version; the chunk is sent whole. */
  ChunkVersionMismatch: 5005,
  /** Chunk data on disk fails its checksum: corruption, never returned as data. */
  ChunkCorrupted: 5006,
  /** The chunk does not exist on this target. */
  ChunkNotFound: 5007,
  /** A client write reached a target that is not the head of its chain. */
  NotChainHead: 5008,
  /** The target is not in a state that serves this request (reads need serving, writes serving or syncing). */
  TargetNotServing: 5009,
  /** Too many writes wait for the chunk's lock, or the wait outlasted the request's deadline. */
  ChunkBusy: 5010,
  /** The range lies beyond the chunk size. */
  OffsetOutOfRange: 5011,
  /** The payload or the chunk size exceeds what the target accepts. */
  PayloadTooLarge: 5012,
  /** The chain is unknown, or this target is not a member of it. */
  ChainNotFound: 5013,
  /** The successor in the chain could not be reached or failed; the write is not committed. */
  ForwardFailed: 5014,
  /** The payload's length differs from the length the request announces. */
  PayloadLengthMismatch: 5015,
  /** The target's disk failed (I/O errors, or its directory is gone); it serves nothing until repaired. */
  DiskFailed: 5016,
} as const;

/** Client library: 6000–6999. */
export const ClientCode = {
  RoutingUnavailable: 6000,
  NoServingReplica: 6001,
  MgmtdUnreachable: 6002,
  /** EBADF: the file handle is closed, or was not opened for the access the call needs. */
  BadFileHandle: 6003,
  /** ENFILE: the client's table of open files or directories is full. */
  TooManyOpenFiles: 6004,
  /** No meta service of the routing info answered (all unreachable, or none registered). */
  MetaUnreachable: 6005,
  /** EFBIG: an offset past what the file's layout can address (chunk index beyond u32). */
  OffsetTooLarge: 6006,
  /** A file I/O was still being retried (replicas down, chain changing) when its deadline passed. */
  IoTimeout: 6007,
  /** The client's queue of chunk I/Os or of writes waiting for buffer space is full: a runaway caller. */
  Overloaded: 6008,
  /** EAGAIN (EWOULDBLOCK): another holder's lock conflicts and the caller would not wait. */
  LockConflict: 6030,
  /** EDEADLK: a blocking lock request waited its whole bound (possibly a deadlock across clients). */
  LockWaitTimedOut: 6031,
  /** EINTR: a blocking lock request was interrupted (a signal to the waiting process). */
  LockWaitInterrupted: 6032,
  /** ENOSPC: fallocate promised more bytes than the file system's usable space has free. */
  NoSpace: 6040,
} as const;

/** Monitor collector: 7000–7999. */
export const MonitorCode = {
  /** A metric snapshot came from a process of another cluster. */
  ClusterIdMismatch: 7000,
} as const;

/** NFS gateway: 8000–8999. */
export const NfsCode = {
  /** An ONC RPC message or its XDR arguments were truncated or malformed. */
  MalformedXdr: 8000,
  /** A record (the RPC message in record marking) exceeds the gateway's bound. */
  RecordTooLarge: 8001,
} as const;

type ValueOf<T> = T[keyof T];

/** Any status code of the system. */
export type StatusCode =
  | typeof Ok
  | ValueOf<typeof CommonCode>
  | ValueOf<typeof RpcCode>
  | ValueOf<typeof KvCode>
  | ValueOf<typeof MgmtdCode>
  | ValueOf<typeof MetaCode>
  | ValueOf<typeof StorageCode>
  | ValueOf<typeof ClientCode>
  | ValueOf<typeof MonitorCode>
  | ValueOf<typeof NfsCode>;

const tables = {
  Common: CommonCode,
  Rpc: RpcCode,
  Kv: KvCode,
  Mgmtd: MgmtdCode,
  Meta: MetaCode,
  Storage: StorageCode,
  Client: ClientCode,
  Monitor: MonitorCode,
  Nfs: NfsCode,
} as const;

const names = new Map<number, string>([[Ok, 'Ok']]);
for (const [component, table] of Object.entries(tables)) {
  for (const [name, code] of Object.entries(table)) {
    if (names.has(code)) throw new Error(`status code ${code} is defined twice`);
    names.set(code, `${component}.${name}`);
  }
}

/** A stable, human-readable name such as `Rpc.Timeout`, or `Unknown(1234)` for a foreign code. */
export function statusName(code: number): string {
  return names.get(code) ?? `Unknown(${code})`;
}

/** True when the number is a code this build knows. */
export function isKnownStatus(code: number): code is StatusCode {
  return names.has(code);
}
