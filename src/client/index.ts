/**
 * The client library (DESIGN §9): routing cache, meta client with failover, chunk I/O on chains,
 * buffered and read-ahead file I/O. `FsClient` is the entry point for programs; `MgmtdClient` and
 * `HeartbeatLoop` serve every service's talk with mgmtd.
 */
export { MgmtdClient } from './mgmtd-client.js';
export { tokenDirectoryFromMgmtd } from './token-directory-client.js';
export { clientAuthentication, readTokenFile, rpcAuthentication } from './token-file.js';
export { HeartbeatLoop, type HeartbeatLoopOptions } from './heartbeat-loop.js';
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
export { RoutingCache } from './routing-cache.js';
export { MetaClient } from './meta-client.js';
export { ChunkClient } from './chunk-client.js';
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
