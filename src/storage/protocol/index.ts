/** The storage protocol: chunk ids and RPC method definitions, shared with clients and meta. */
export * from './chunk-id.js';
export * as storageMethods from './methods.js';
export {
  chunkMetaSchema,
  chunkUpdateOpSchema,
  storageServiceId,
  updateReplySchema,
  type ChunkMetaRecord,
  type ChunkUpdateOp,
  type TargetCounters,
  type UpdateReply,
} from './methods.js';
