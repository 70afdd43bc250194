/** The storage protocol: chunk ids and RPC method definitions, shared with clients and meta. */
export * from './chunk-id.js';
export * as storageMethods from './methods.js';
export { updateResultError } from './update-result.js';
export {
  chunkMetaSchema,
  chunkUpdateOpSchema,
  recoveryProgressSchema,
  storageServiceId,
  syncChunkStateSchema,
  updateReplySchema,
  updateResultSchema,
  type ChunkMetaRecord,
  type ChunkUpdateOp,
  type RecoveryPhase,
  type RecoveryProgress,
  type SyncChunkState,
  type TargetCounters,
  type TargetSyncResult,
  type UpdateReply,
  type UpdateResult,
} from './methods.js';
