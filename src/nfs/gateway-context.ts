/**
 * What the protocol programs (MOUNT, NFSv3, NFSv4) share: the exports, the handle codec, the
 * namespace operations, the write verifier, metrics and the log; and the one way a call's file
 * handle becomes a caller (export, squashed credentials) and an inode.
 *
 * The write verifier is 8 random bytes chosen at start: a restarted gateway has another, so a
 * client that wrote UNSTABLE data and finds a new verifier at COMMIT (or in a later WRITE reply)
 * sends those writes again. It also changes when the gateway finds it lost buffered writes.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { InodeId } from '../client/index.js';
import type { Logger } from '../common/logger.js';
import type { Caller, ExportFs } from './export-fs.js';
import { mapCredentials, type Export, type ExportTable } from './exports.js';
import { HandleKind, type FileHandle, type HandleCodec } from './handles.js';
import type { NfsMetrics } from './nfs-metrics.js';
import { NfsStatus, nfsError } from './nfs-status.js';
import type { Credential } from './rpc-message.js';
import type { Peer } from './rpc-server.js';

/** The gateway's write verifier; see the file comment. */
export class WriteVerifier {
  private value = randomBytes(8);

  get bytes(): Buffer {
    return this.value;
  }

  /** A new value: writes acknowledged as UNSTABLE under the old one must be sent again. */
  rotate(): void {
    this.value = randomBytes(8);
  }
}

export interface GatewayContext {
  readonly exports: ExportTable;
  readonly handles: HandleCodec;
  readonly fs: ExportFs;
  readonly verifier: WriteVerifier;
  readonly metrics: NfsMetrics;
  readonly logger: Logger;
  /** The cluster's id, from which file system ids are derived. */
  readonly clusterId: string;
}

/** A call's caller and the inode its handle names. */
export interface ResolvedHandle {
  readonly caller: Caller;
  readonly ino: InodeId;
  readonly handle: FileHandle;
}

/**
 * The file system id of an export: the cluster's in the high half, the export's tag in the low
 * (tag 0: NFSv4's pseudo file system).
 */
export function fsidOf(clusterId: string, exportTag: number): bigint {
  const cluster = createHash('sha256').update(`3fs-nfs-fsid:${clusterId}`).digest().readUInt32BE(0);
  return (BigInt(cluster) << 32n) | BigInt(exportTag);
}

/** The caller of a call through `entry`, or ACCES when its credential flavor is not taken. */
export function callerOf(entry: Export, credential: Credential): Caller {
  const cred = mapCredentials(entry, credential);
  if (cred === undefined) throw nfsError(NfsStatus.Access, 'a credential flavor the gateway does not take');
  return { entry, cred };
}

/**
 * The export handle in `bytes`, checked: BADHANDLE when it is not one of ours (malformed or
 * forged) or names no export inode, STALE when its export is gone, ACCES when the export does not
 * allow the caller's address.
 */
export function resolveHandle(
  context: GatewayContext,
  bytes: Uint8Array,
  peer: Peer,
  credential: Credential,
): ResolvedHandle {
  const handle = context.handles.decode(bytes);
  if (handle === 'malformed' || handle === 'forged') {
    throw nfsError(NfsStatus.BadHandle, `a ${handle} file handle`);
  }
  if (handle.kind !== HandleKind.Export) throw nfsError(NfsStatus.BadHandle, 'not an export handle');
  const entry = context.exports.withTag(handle.exportTag);
  if (entry === undefined) throw nfsError(NfsStatus.Stale, 'a handle of an export no longer served');
  if (!context.exports.allows(entry, peer.address)) {
    throw nfsError(NfsStatus.Access, `export ${entry.path} does not allow ${peer.address}`);
  }
  return { caller: callerOf(entry, credential), ino: handle.ino, handle };
}

/** The handle of `ino` inside `entry`. */
export function exportHandle(context: GatewayContext, entry: Export, ino: InodeId): Buffer {
  return context.handles.encode({ kind: HandleKind.Export, exportTag: entry.tag, ino });
}
