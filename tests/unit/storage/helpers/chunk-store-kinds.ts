/**
 * Opens either chunk store over a test directory with small blocks, so that the suites shared by
 * both stores (file-chunk-store.test.ts, chunk-store-model.test.ts, ...) run each case against the
 * TypeScript store and the native engine alike. The native engine must be built (`npm run build`):
 * a missing addon fails the native cases, it never skips them.
 */
import { silentLogger } from '../../../../src/common/logger.js';
import type { ChunkStore, DiskUsage } from '../../../../src/storage/store/chunk-store.js';
import { FileChunkStore, type CorruptionEvent } from '../../../../src/storage/store/file-chunk-store.js';
import { NativeChunkStore } from '../../../../src/storage/store/native-chunk-store.js';

export const chunkStoreKinds = ['files', 'native'] as const;
/**
 * The native engine with page-sized blocks, so that whole blocks are written around the page cache
 * (O_DIRECT, where the test directory's file system has it); its workloads are scaled up by
 * `workloadScaleOf` to span several blocks.
 */
export const nativeDirectKind = 'native-direct';
/**
 * The native engine with its io_uring read path turned off, so that small reads take the other
 * path (the page-cache attempt on the calling thread, then the engine's threads); the `native`
 * kind reads through the ring wherever the kernel has one.
 */
export const nativeThreadsKind = 'native-threads';
export type ChunkStoreKind =
  (typeof chunkStoreKinds)[number] | typeof nativeDirectKind | typeof nativeThreadsKind;
/** The kinds a suite about what reads return runs against: both read paths of the engine. */
export const readPathKinds: readonly ChunkStoreKind[] = [...chunkStoreKinds, nativeThreadsKind];

/** How much larger a kind's test workloads are than the small-block ones. */
export function workloadScaleOf(kind: ChunkStoreKind): number {
  return kind === nativeDirectKind ? 16 : 1;
}

/** Block size of the native-direct test store: one page, the O_DIRECT alignment. */
const directBlockBytes = 4096;

/** Block size of the test stores: small, so a few hundred bytes span several blocks. */
export const testBlockBytes = 64;
/** The native engine's smallest slot in tests: four size classes (16, 32, 64 bytes). */
export const testMinSlotBytes = 16;
/** The native engine's data files in tests: 64 blocks each, so a few chunks fill several files. */
export const testDataFileBytes = 64 * testBlockBytes;

export interface TestStoreOptions {
  readonly kind: ChunkStoreKind;
  readonly path: string;
  readonly targetId?: number;
  readonly durable?: boolean;
  readonly freeSpaceReserveBytes?: number;
  readonly free?: () => DiskUsage;
  readonly onCorruption?: (event: CorruptionEvent) => void;
  readonly compactMinBytes?: number;
}

export async function openTestStore(options: TestStoreOptions): Promise<ChunkStore> {
  const common = {
    targetId: options.targetId ?? 101,
    path: options.path,
    durable: options.durable ?? false,
    freeSpaceReserveBytes: options.freeSpaceReserveBytes ?? 0,
    logger: silentLogger(),
    blockBytes: testBlockBytes,
    ...(options.free === undefined
      ? {}
      : { freeSpace: { probe: async () => options.free?.() as DiskUsage } }),
    ...(options.onCorruption === undefined ? {} : { onCorruption: options.onCorruption }),
  };
  if (options.kind === 'files') return FileChunkStore.open(common);
  if (options.kind === nativeDirectKind) {
    return NativeChunkStore.open({
      ...common,
      blockBytes: directBlockBytes,
      minSlotBytes: directBlockBytes,
      dataFileBytes: 64 * directBlockBytes,
      growBytes: 16 * directBlockBytes,
      directWrites: true,
      ...(options.compactMinBytes === undefined ? {} : { compactMinBytes: options.compactMinBytes }),
    });
  }
  return NativeChunkStore.open({
    ...common,
    minSlotBytes: testMinSlotBytes,
    dataFileBytes: testDataFileBytes,
    growBytes: 16 * testBlockBytes,
    readRing: options.kind !== nativeThreadsKind,
    ...(options.compactMinBytes === undefined ? {} : { compactMinBytes: options.compactMinBytes }),
  });
}
