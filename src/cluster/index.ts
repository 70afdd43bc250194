/**
 * The cluster link, below every service and client (DESIGN §3, §7, §9): talk with mgmtd (the
 * client with failover between mgmtd addresses, heartbeats, the token directory), the routing
 * cache, and chain-aware chunk I/O (`ChunkClient`: head or replica choice, chain-version refresh,
 * retries and deadlines), written once and used by the file client, the meta service's GC worker,
 * admin and the tests.
 */
export { MgmtdClient } from './mgmtd-client.js';
export { HeartbeatLoop, type HeartbeatLoopOptions } from './heartbeat-loop.js';
export { RoutingCache, type RoutingSource } from './routing-cache.js';
export { tokenDirectoryFromMgmtd } from './token-directory-client.js';
export {
  ChunkClient,
  readGroups,
  regionHash,
  type ChunkClientOptions,
  type ChunkTarget,
} from './chunk-client.js';
export type { ListedChunk } from './chunk-listing.js';
export {
  decideAfterReadFailure,
  decideAfterUpdateFailure,
  retryDelayMs,
  type RetryDecision,
} from './chunk-retry.js';
