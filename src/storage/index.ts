/** The storage service (DESIGN §7): chunk stores, CRAQ replication, and a small chain-aware client. */
export { StorageNode, type StorageNodeOptions } from './storage-node.js';
export { registerStorageMetrics, type StorageStats } from './storage-metrics.js';
export { storageConfigSchema, type StorageConfig } from './config.js';
export { FileChunkStore, type FileChunkStoreOptions } from './store/file-chunk-store.js';
export type { ChunkStore, ChunkUpdate, ChunkInfo, DiskUsage } from './store/chunk-store.js';
export type { FreeSpaceProbe } from './store/free-space.js';
export * from './protocol/index.js';
