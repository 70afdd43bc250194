/**
 * The client library (DESIGN §9): the meta client with failover, buffered and read-ahead file I/O.
 * `FsClient` is the entry point for programs. The cluster link it builds on (mgmtd, routing, chunk
 * I/O on chains) lives in src/cluster/ and is re-exported here for programs that use the library.
 */
export {
  ChunkClient,
  HeartbeatLoop,
  MgmtdClient,
  RoutingCache,
  tokenDirectoryFromMgmtd,
  type HeartbeatLoopOptions,
} from '../cluster/index.js';
export { clientAuthentication, readTokenFile, rpcAuthentication } from './token-file.js';
export {
  FsClient,
  type AttributeChanges,
  type FsClientOptions,
  type LayoutChanges,
  type OpenOptions,
  type SpecialFile,
} from './fs-client.js';
export { OpenFile } from './open-file.js';
// For FsClientOptions.replyPayloadPool: reads land in reused buffers a program hands back.
export { PayloadPool, releasePayload } from '../rpc/index.js';
export { readReplyPool } from './reply-pool.js';
export { LockClient, type LockChange, type LockClientOptions } from './lock-client.js';
export { FallocateFlag } from './fallocate.js';
export { defaultTuning, resolveTuning, type ClientTuning } from './client-tuning.js';
export { fuseClientId, processCredentials } from './identity.js';
export { MetaClient } from './meta-client.js';
export type {
  Credentials,
  DeviceInode,
  DeviceNumber,
  DirectoryEntry,
  DirectoryInode,
  FileInode,
  FileLayout,
  Inode,
  InodeId,
  PathAt,
  PipeInode,
  SpecialInode,
  SymlinkInode,
  TimeSpec,
} from '../meta/protocol/index.js';
