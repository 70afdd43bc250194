// Helpers of the recovery tests: writers that keep a model of what each chunk must hold, and a
// comparison of every replica of every chain (metadata and bytes) against each other and the model.
import { expect } from 'vitest';
import type { ChunkClient } from '../../../src/cluster/index.js';
import { crc32c } from '../../../src/common/crc32c.js';
import type { RoutingInfo } from '../../../src/mgmtd/index.js';
import {
  formatChunkId,
  storageMethods,
  type ChunkId,
  type ChunkMetaRecord,
} from '../../../src/storage/index.js';
import { eventually } from '../helpers/processes.js';
import type { StorageCluster } from '../helpers/storage-cluster.js';

/** A deterministic byte pattern for a seed. */
export function pattern(length: number, seed: number): Buffer {
  const data = Buffer.alloc(Math.ceil(length / 4) * 4);
  for (let index = 0; index < data.length; index += 4) {
    data.writeUInt32LE((seed * 2_654_435_761 + index * 40_503) >>> 0, index);
  }
  return data.subarray(0, length);
}

/** What one writer knows of its chunk: the last acknowledged content, and contents that may have landed since. */
export interface ChunkModel {
  readonly chainId: number;
  readonly chunkId: ChunkId;
  acked: Buffer | undefined;
  /** Contents of writes that failed after the last acknowledged one: each may or may not have applied. */
  unknown: Buffer[];
  ackedWrites: number;
  /** Acknowledged writes while `countDuring()` was true. */
  ackedDuring: number;
}

/**
 * Writes to one chunk until `stop()`: appends, overwrites in the middle and whole replaces. After
 * a write fails, the next one is a replace, so the chunk's content is known again once it is acked.
 */
export async function writeChunk(options: {
  client: ChunkClient;
  model: ChunkModel;
  chunkSizeBytes: number;
  stop: () => boolean;
  countDuring: () => boolean;
  seedBase: number;
}): Promise<void> {
  const { client, model, chunkSizeBytes } = options;
  const address = { chainId: model.chainId, chunkId: model.chunkId, chunkSizeBytes };
  for (let step = 0; !options.stop(); step++) {
    const seed = options.seedBase + step;
    const base = model.unknown.length === 0 ? model.acked : undefined;
    let next: Buffer;
    let write: Promise<unknown>;
    if (base === undefined || base.length > chunkSizeBytes / 2 || step % 7 === 6) {
      next = pattern(16 * 1024 + (seed % 5) * 4099, seed);
      write = client.replace({ ...address, data: next });
    } else if (step % 3 === 1 && base.length > 0) {
      const offset = Math.floor(base.length / 3);
      const data = pattern(10_000, seed);
      next = Buffer.from(base);
      data.copy(next, offset, 0, Math.min(data.length, next.length - offset));
      next = Buffer.concat([next, data.subarray(Math.min(data.length, next.length - offset))]);
      write = client.write({ ...address, offset, data });
    } else {
      const data = pattern(24 * 1024 + (seed % 3), seed);
      next = Buffer.concat([base, data]);
      write = client.write({ ...address, offset: base.length, data });
    }
    try {
      await write;
      model.acked = next;
      model.unknown = [];
      model.ackedWrites += 1;
      if (options.countDuring()) model.ackedDuring += 1;
    } catch {
      model.unknown.push(next);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Every committed chunk of `targetId`, through dumpChunkMeta pages. */
export async function dumpAll(cluster: StorageCluster, targetId: number): Promise<ChunkMetaRecord[]> {
  const chunks: ChunkMetaRecord[] = [];
  let after: ChunkId | null = null;
  for (let page = 0; page < 1_000; page++) {
    const reply: { chunks: ChunkMetaRecord[]; next: ChunkId | null } = await cluster.rpc.call(
      cluster.addressOf(targetId),
      storageMethods.dumpChunkMeta,
      { targetId, after, limit: 1_000 },
    );
    chunks.push(...reply.chunks);
    if (reply.next === null) return chunks;
    after = reply.next;
  }
  throw new Error(`target ${targetId} lists more than a million chunks`);
}

/**
 * Checks that every replica of every chain holds the same chunks (version, length, CRC32C, nothing
 * pending) and the same bytes, and that each modelled chunk holds its last acknowledged content or
 * the content of a write whose outcome is unknown. Returns the number of chunks compared.
 */
export async function expectReplicasIdentical(
  cluster: StorageCluster,
  routing: RoutingInfo,
  models: readonly ChunkModel[],
): Promise<number> {
  let compared = 0;
  // Each storage service answers reads by its own routing info, which may lag mgmtd's a little.
  await eventually(
    async () => {
      for (const handle of cluster.storage.values()) {
        const listed = await cluster.rpc.call(handle.address, storageMethods.listTargets, {});
        if (!listed.targets.every((target) => target.publicState === 'serving')) return undefined;
      }
      return true;
    },
    10_000,
    'every storage service seeing its targets serving',
  );
  for (const chain of routing.chains) {
    const dumps = await Promise.all(chain.targets.map(({ targetId }) => dumpAll(cluster, targetId)));
    const describe = (chunks: ChunkMetaRecord[]) =>
      chunks.map(
        (chunk) => `${formatChunkId(chunk.chunkId)} v${chunk.version} ${chunk.length}B crc ${chunk.checksum}`,
      );
    const first = dumps[0] ?? [];
    for (const [index, dump] of dumps.entries()) {
      expect(
        describe(dump),
        `chain ${chain.chainId}: target ${chain.targets[index]?.targetId} matches the head`,
      ).toEqual(describe(first));
      expect(dump.every((chunk) => chunk.pendingVersion === undefined)).toBe(true);
    }
    for (const chunk of first) {
      const model = models.find(
        (candidate) =>
          candidate.chainId === chain.chainId &&
          candidate.chunkId.inode === chunk.chunkId.inode &&
          candidate.chunkId.index === chunk.chunkId.index,
      );
      const copies = await Promise.all(
        chain.targets.map(({ targetId }) =>
          cluster.rpc.callWithPayload(cluster.addressOf(targetId), storageMethods.read, {
            targetId,
            chunkId: chunk.chunkId,
            offset: 0,
            length: chunk.length,
            relaxed: false,
          }),
        ),
      );
      for (const copy of copies) {
        const data = copy.payload ?? Buffer.alloc(0);
        expect(crc32c(data)).toBe(chunk.checksum);
        expect(data.length).toBe(chunk.length);
      }
      if (model !== undefined) {
        const allowed = [model.acked, ...model.unknown].flatMap((content) =>
          content === undefined ? [] : [crc32c(content)],
        );
        expect(
          allowed,
          `chunk ${formatChunkId(chunk.chunkId)} holds an acknowledged or possible content`,
        ).toContain(chunk.checksum);
      }
      compared += 1;
    }
    for (const model of models.filter(
      (candidate) => candidate.chainId === chain.chainId && candidate.acked !== undefined,
    )) {
      expect(
        first.some(
          (chunk) =>
            chunk.chunkId.inode === model.chunkId.inode && chunk.chunkId.index === model.chunkId.index,
        ),
        `acknowledged chunk ${formatChunkId(model.chunkId)} exists`,
      ).toBe(true);
    }
  }
  return compared;
}
