/**
 * The GC worker's view of storage: which chunks of a file a chain holds (Storage.dumpChunkMeta on
 * the chain's serving targets, from the file's first chunk id on), and removing or cutting one
 * chunk through the chain's head (Storage.write with a `remove` or `truncate` update), optionally
 * only if the chunk is still at the version the worker saw. Routing info comes from the meta
 * service's mgmtd client; failures that fresher routing info may cure are retried after a
 * refresh, a bounded number of times.
 */
import type { MgmtdClient } from '../../cluster/index.js';
import type { Clock } from '../../common/clock.js';
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { ClientCode, RpcCode, StorageCode } from '../../common/status-code.js';
import { PublicState, type ChainInfo, type RoutingInfo } from '../../mgmtd/protocol/index.js';
import type { RpcClient } from '../../rpc/index.js';
import { storageMethods, type ChunkId, type ChunkUpdateOp } from '../../storage/protocol/index.js';
import type { InodeId } from '../protocol/index.js';

/** A chunk of the file on one chain: its index, and the head's committed version and length (0: none). */
export interface FileChunk {
  readonly index: number;
  readonly version: number;
  readonly length: number;
}

/** Failures after which the same update may succeed with fresher routing info. */
const retryCodes: ReadonlySet<number> = new Set<number>([
  RpcCode.Timeout,
  RpcCode.ConnectFailed,
  RpcCode.ConnectionClosed,
  RpcCode.Overloaded,
  StorageCode.ChainVersionMismatch,
  StorageCode.NotChainHead,
  StorageCode.TargetNotServing,
  StorageCode.TargetNotFound,
  StorageCode.ForwardFailed,
  StorageCode.ChunkBusy,
  StorageCode.DiskFailed,
  ClientCode.NoServingReplica,
]);

const attemptsMax = limits.storageClientAttemptsMax;
const dumpPageChunks = 1_000;

export class StorageChunks {
  constructor(
    private readonly options: { rpc: RpcClient; mgmtd: MgmtdClient; clock: Clock; timeoutMs: number },
  ) {}

  /** Chunks of `ino` with index in [begin, end) held by any serving target of chain `chainId`. */
  async list(chainId: number, ino: InodeId, range: { begin: number; end: number }): Promise<FileChunk[]> {
    const { chain, routing } = await this.servingChain(chainId);
    const serving = chain.targets.filter((member) => member.publicState === PublicState.Serving);
    const found = new Map<number, FileChunk>();
    for (const [position, member] of serving.entries()) {
      const address = addressOf(routing, member.targetId);
      for (const chunk of await this.dump(address, member.targetId, ino, range)) {
        // The head's version is the one a conditional update is checked against; other replicas
        // add chunks the head lacks (committed at the tail while the head still had them pending).
        if (position === 0) found.set(chunk.index, chunk);
        else if (!found.has(chunk.index))
          found.set(chunk.index, { index: chunk.index, version: 0, length: chunk.length });
      }
    }
    return [...found.values()].sort((a, b) => a.index - b.index);
  }

  /**
   * The chunks of each of `inos` held by any serving target of chain `chainId`, by inode (inodes
   * with none are absent): one walk of each target's chunk ids over the inodes' span, stepping
   * over the chunks of inodes not asked for, rather than one walk per inode.
   */
  async listMany(chainId: number, inos: ReadonlySet<InodeId>): Promise<Map<InodeId, FileChunk[]>> {
    const found = new Map<InodeId, Map<number, FileChunk>>();
    if (inos.size === 0) return new Map();
    const { chain, routing } = await this.servingChain(chainId);
    const serving = chain.targets.filter((member) => member.publicState === PublicState.Serving);
    for (const [position, member] of serving.entries()) {
      const address = addressOf(routing, member.targetId);
      for (const chunk of await this.dumpMany(address, member.targetId, inos)) {
        const chunks = found.get(chunk.inode) ?? new Map<number, FileChunk>();
        found.set(chunk.inode, chunks);
        // As in list: the head's version counts; other replicas add chunks the head lacks.
        if (position === 0) chunks.set(chunk.index, chunk);
        else if (!chunks.has(chunk.index))
          chunks.set(chunk.index, { index: chunk.index, version: 0, length: chunk.length });
      }
    }
    return new Map(
      [...found].map(([ino, chunks]) => [ino, [...chunks.values()].sort((a, b) => a.index - b.index)]),
    );
  }

  /**
   * Applies `op` to the chunk through the head of its chain. With `expectedVersion`, answers
   * 'changed' (and changes nothing) when the chunk is no longer at that version.
   */
  async update(options: {
    chainId: number;
    chunkId: ChunkId;
    chunkSizeBytes: number;
    op: ChunkUpdateOp;
    expectedVersion?: number;
  }): Promise<'done' | 'changed'> {
    let lastError: unknown;
    for (let attempt = 0; attempt < attemptsMax; attempt++) {
      if (attempt > 0) {
        await this.options.mgmtd.refreshRoutingInfo().catch(() => undefined);
        await this.options.clock.sleep(Math.min(1_000, 50 * 2 ** attempt));
      }
      try {
        const { chain, routing } = await this.servingChain(options.chainId);
        const head = chain.targets[0];
        if (head?.publicState !== PublicState.Serving) {
          throw new FsError(ClientCode.NoServingReplica, `chain ${options.chainId} has no serving head`);
        }
        await this.options.rpc.call(
          addressOf(routing, head.targetId),
          storageMethods.write,
          {
            targetId: head.targetId,
            chainId: chain.chainId,
            chainVersion: chain.chainVersion,
            chunkId: options.chunkId,
            chunkSizeBytes: options.chunkSizeBytes,
            op: options.op,
            timeoutMs: this.options.timeoutMs,
            ...(options.expectedVersion === undefined ? {} : { expectedVersion: options.expectedVersion }),
          },
          { timeoutMs: this.options.timeoutMs + 1_000, retries: 0 },
        );
        return 'done';
      } catch (error) {
        if (error instanceof FsError && error.code === StorageCode.ChunkVersionMismatch) {
          if (options.expectedVersion !== undefined) return 'changed';
        }
        if (!(error instanceof FsError) || !retryCodes.has(error.code)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  private async dump(
    address: string,
    targetId: number,
    ino: InodeId,
    range: { begin: number; end: number },
  ): Promise<FileChunk[]> {
    const chunks: FileChunk[] = [];
    // The page starts after the chunk id just before (ino, begin).
    let after: ChunkId | null =
      range.begin > 0 ? { inode: ino, index: range.begin - 1 } : { inode: ino - 1n, index: 0xffff_ffff };
    for (;;) {
      const page: {
        chunks: Array<{ chunkId: ChunkId; version: number; length: number }>;
        next: ChunkId | null;
      } = await this.options.rpc.call(
        address,
        storageMethods.dumpChunkMeta,
        { targetId, after, limit: dumpPageChunks },
        { timeoutMs: this.options.timeoutMs },
      );
      for (const chunk of page.chunks) {
        if (chunk.chunkId.inode !== ino || chunk.chunkId.index >= range.end) return chunks;
        chunks.push({ index: chunk.chunkId.index, version: chunk.version, length: chunk.length });
      }
      if (page.next === null) return chunks;
      after = page.next;
    }
  }

  /** Chunks of any of `inos` on one target, in chunk id order. */
  private async dumpMany(
    address: string,
    targetId: number,
    inos: ReadonlySet<InodeId>,
  ): Promise<Array<FileChunk & { inode: InodeId }>> {
    const sorted = [...inos].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const first = sorted[0] ?? 0n;
    const last = sorted[sorted.length - 1] ?? 0n;
    const chunks: Array<FileChunk & { inode: InodeId }> = [];
    let after: ChunkId | null = first > 0n ? { inode: first - 1n, index: 0xffff_ffff } : null;
    for (;;) {
      const page: {
        chunks: Array<{ chunkId: ChunkId; version: number; length: number }>;
        next: ChunkId | null;
      } = await this.options.rpc.call(
        address,
        storageMethods.dumpChunkMeta,
        { targetId, after, limit: dumpPageChunks },
        { timeoutMs: this.options.timeoutMs },
      );
      let lastSkipped: InodeId | undefined;
      for (const chunk of page.chunks) {
        const { inode, index } = chunk.chunkId;
        if (inode > last) return chunks;
        lastSkipped = inos.has(inode) ? undefined : inode;
        if (lastSkipped === undefined)
          chunks.push({ inode, index, version: chunk.version, length: chunk.length });
      }
      if (page.next === null) return chunks;
      // A page ending inside a live file's chunks: the next one starts after all of them.
      after = lastSkipped === undefined ? page.next : { inode: lastSkipped, index: 0xffff_ffff };
    }
  }

  /** The chain in fresh routing info; NoServingReplica when none of its targets serves. */
  private async servingChain(chainId: number): Promise<{ chain: ChainInfo; routing: RoutingInfo }> {
    const routing = this.options.mgmtd.cachedRoutingInfo() ?? (await this.options.mgmtd.refreshRoutingInfo());
    const chain = routing.chains.find((candidate) => candidate.chainId === chainId);
    if (chain === undefined)
      throw new FsError(StorageCode.ChainNotFound, `chain ${chainId} is not in the routing info`);
    if (!chain.targets.some((member) => member.publicState === PublicState.Serving)) {
      throw new FsError(ClientCode.NoServingReplica, `chain ${chainId} has no serving target`);
    }
    return { chain, routing };
  }
}

function addressOf(routing: RoutingInfo, targetId: number): string {
  const target = routing.targets.find((candidate) => candidate.targetId === targetId);
  const node = routing.nodes.find((candidate) => candidate.nodeId === target?.nodeId);
  if (node === undefined)
    throw new FsError(ClientCode.RoutingUnavailable, `no address for target ${targetId}`);
  return node.address;
}
