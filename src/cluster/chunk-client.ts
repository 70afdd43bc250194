/**
 * Chunk I/O against the storage services (DESIGN §7, §9): updates go to the head of the chunk's
 * chain under the chain version of the client's routing info; reads go to any serving replica,
 * spread over the hosts holding them (see `replicaOrder`), and move on to the next replica when one
 * is down, has the chunk mid-update or sends bad bytes. Failures that fresher routing info may
 * cure (chain version mismatch, a moved head, a dead target) are retried after a refresh and a
 * backoff, until the operation's deadline or attempt bound (chunk-retry.ts decides which failures
 * those are). An fsync asks every serving and syncing replica of the file's chains to make what it
 * committed durable, under the same rules.
 *
 * Payloads are checked end to end: writes carry the CRC32C every target verifies, and read replies
 * are verified here against the checksum the replica computed from its stored data; a reply that
 * fails it is reported (`onReadChecksumFailure`, for metrics) and the next replica is read.
 */
import type { Clock } from '../common/clock.js';
import { splitAddress } from '../common/config.js';
import { crc32c } from '../common/crc32c.js';
import { FsError, assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import {
  ClientCode,
  CommonCode,
  RpcCode,
  StorageCode,
  isKnownStatus,
  statusName,
} from '../common/status-code.js';
import { PublicState, type ChainInfo } from '../mgmtd/protocol/index.js';
import type { RpcCaller } from '../rpc/index.js';
import {
  storageMethods,
  type ChunkId,
  type ChunkUpdateOp,
  type TargetSyncResult,
  type UpdateReply,
  updateResultError,
} from '../storage/protocol/index.js';
import {
  dumpChunksOfInodes,
  dumpFileChunks,
  mergeReplicaChunks,
  sortedChunks,
  type DumpPage,
  type ListedChunk,
} from './chunk-listing.js';
import { decideAfterReadFailure, decideAfterUpdateFailure, retryDelayMs } from './chunk-retry.js';
import type { RoutingCache } from './routing-cache.js';

export interface ChunkClientOptions {
  rpc: RpcCaller;
  routing: RoutingCache;
  clock: Clock;
  logger: Logger;
  random: Random;
  /** Deadline of one RPC attempt. */
  chunkTimeoutMs?: number;
  /** How long one operation keeps retrying. */
  ioDeadlineMs?: number;
  attemptsMax?: number;
  /** Told of each read reply from `targetId` whose bytes fail their checksum (metrics). */
  onReadChecksumFailure?: (targetId: number) => void;
}

/** Where an update goes. */
export interface ChunkTarget {
  readonly chainId: number;
  readonly chunkId: ChunkId;
  readonly chunkSizeBytes: number;
  /**
   * Apply the update only while the chunk is at this committed version; otherwise it fails with
   * ChunkVersionMismatch and changes nothing (the GC worker cuts only chunks it saw).
   */
  readonly expectedVersion?: number;
}

/** Chunk metadata entries asked for per page when listing a replica's chunks. */
const dumpPageChunks = 1_000;

/** How long a replica that failed is asked last. */
const replicaPenaltyMs = 2_000;

/**
 * A well-mixed non-negative 31-bit hash of a chunk and a region of it: every client reads a region
 * (limits.clientReadRegionBytes) from the same replica first, and neighbouring regions and chunks
 * land on different hosts.
 */
export function regionHash(chunkId: ChunkId, region: number): number {
  let hash =
    Number(BigInt.asUintN(32, chunkId.inode)) ^ Math.imul(Number(chunkId.inode >> 32n) | 0, 0x27d4eb2d);
  hash = Math.imul(hash ^ chunkId.index, 0x9e3779b1);
  hash = Math.imul(hash ^ (hash >>> 16) ^ region, 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 1;
}

/**
 * The chain's serving replicas by the host of their storage node (a replica whose address is
 * unknown is a host of its own): hosts ordered by their replica nearest the tail, each host's
 * replicas tail first. A read of region hash h tries group h % groups.length first.
 */
export function readGroups(
  chain: ChainInfo,
  addressOfTarget: (targetId: number) => string | undefined,
): number[][] {
  const hosts = new Map<string, number[]>();
  for (let index = chain.targets.length - 1; index >= 0; index--) {
    const member = chain.targets[index] as ChainInfo['targets'][number];
    if (member.publicState !== PublicState.Serving) continue;
    const address = addressOfTarget(member.targetId);
    const host = address === undefined ? `target ${member.targetId}` : `host ${splitAddress(address).host}`;
    const group = hosts.get(host);
    if (group === undefined) hosts.set(host, [member.targetId]);
    else group.push(member.targetId);
  }
  return [...hosts.values()];
}

export class ChunkClient {
  private readonly chunkTimeoutMs: number;
  private readonly ioDeadlineMs: number;
  private readonly attemptsMax: number;
  private readCursor: number;
  private readonly penalties = new Map<number, number>();
  /** Serving replicas of a chain grouped by host (see `hostGroups`), per routing info's chain. */
  private readonly groupsByChain = new WeakMap<ChainInfo, number[][]>();
  /** Attempts that followed a failure (diagnostics and tests). */
  retries = 0;

  constructor(private readonly options: ChunkClientOptions) {
    this.chunkTimeoutMs = options.chunkTimeoutMs ?? limits.clientChunkTimeoutMsDefault;
    this.ioDeadlineMs = options.ioDeadlineMs ?? limits.clientIoDeadlineMsDefault;
    this.attemptsMax = options.attemptsMax ?? limits.clientIoAttemptsMax;
    this.readCursor = options.random.nextInt(1 << 30);
    assert(this.chunkTimeoutMs > 0 && this.ioDeadlineMs > 0, 'chunk deadlines are positive');
    assert(Number.isInteger(this.attemptsMax) && this.attemptsMax >= 1, 'chunk attempts are at least one');
  }

  /** Writes `data` at `offset` of the chunk. */
  write(target: ChunkTarget & { offset: number; data: Buffer }): Promise<UpdateReply> {
    const op: ChunkUpdateOp = {
      kind: 'write',
      offset: target.offset,
      length: target.data.length,
      checksum: crc32c(target.data),
    };
    return this.update(target, op, target.data);
  }

  /** Makes `data` the whole chunk on every replica (a repair writes a chunk whole this way). */
  replace(target: ChunkTarget & { data: Buffer }): Promise<UpdateReply> {
    const op: ChunkUpdateOp = { kind: 'replace', length: target.data.length, checksum: crc32c(target.data) };
    return this.update(target, op, target.data);
  }

  /** Sets the chunk's length (cutting it, or extending it with zeros). */
  truncate(target: ChunkTarget & { length: number }): Promise<UpdateReply> {
    return this.update(target, { kind: 'truncate', length: target.length }, undefined);
  }

  /**
   * Makes [offset, offset + length) of the chunk read as zeros on every replica, freeing the whole
   * blocks in it; never creates or lengthens the chunk (a range reaching its end cuts it there).
   */
  zero(target: ChunkTarget & { offset: number; length: number }): Promise<UpdateReply> {
    return this.update(target, { kind: 'zero', offset: target.offset, length: target.length }, undefined);
  }

  /**
   * Makes the chunk a copy of chunk `source` (of another file with the same layout, so on the same
   * chain) on every replica: the native engine shares the source's blocks until either side writes
   * them. A source that does not exist makes the chunk absent too.
   */
  clone(target: ChunkTarget & { source: ChunkId }): Promise<UpdateReply> {
    return this.update(target, { kind: 'clone', source: target.source }, undefined);
  }

  /**
   * Clones chunks `indexes` of file `source` into the same chunks of file `inode` on chain
   * `chainId` in one message to its head (at most storageUpdateBatchMax), each as `clone` would.
   * One attempt: the result of each chunk (its reply, or the FsError it failed with) in order, for
   * the caller to clone the failed ones again through `clone`, with its retries; a failure of the
   * whole message (routing, transport) is thrown, and then any chunk may or may not be cloned.
   */
  async cloneBatch(request: {
    chainId: number;
    source: bigint;
    inode: bigint;
    indexes: readonly number[];
    chunkSizeBytes: number;
  }): Promise<Array<UpdateReply | FsError>> {
    assert(
      request.indexes.length >= 1 && request.indexes.length <= limits.storageUpdateBatchMax,
      'a clone batch holds 1 to storageUpdateBatchMax chunks',
    );
    const timeoutMs = this.chunkTimeoutMs;
    const chain = await this.options.routing.requireChain(request.chainId);
    const head = chain.targets[0];
    if (head === undefined || head.publicState !== PublicState.Serving) {
      throw new FsError(ClientCode.NoServingReplica, `chain ${chain.chainId} has no serving head`);
    }
    const reply = await this.options.rpc.call(
      this.addressOf(head.targetId),
      storageMethods.cloneChunks,
      {
        targetId: head.targetId,
        chainId: chain.chainId,
        chainVersion: chain.chainVersion,
        source: request.source,
        inode: request.inode,
        indexes: [...request.indexes],
        chunkSizeBytes: request.chunkSizeBytes,
        // The head keeps a margin of this for its forwards; our own deadline is a little later.
        timeoutMs,
      },
      { timeoutMs: timeoutMs + 1_000, retries: 0 },
    );
    if (reply.results.length !== request.indexes.length) {
      throw new FsError(
        RpcCode.BadResponse,
        `a batch of ${request.indexes.length} clones got ${reply.results.length} results`,
      );
    }
    return reply.results.map((result) => (result.ok ? result.reply : updateResultError(result)));
  }

  /** Deletes the chunk on every replica; a chunk that does not exist is fine. */
  remove(target: ChunkTarget): Promise<UpdateReply> {
    return this.update(target, { kind: 'remove' }, undefined);
  }

  /**
   * Reads [offset, offset + length) of the chunk's committed version from a serving replica. The
   * result is shorter when the chunk ends first, and empty when the chunk does not exist (a hole).
   */
  async read(request: {
    chainId: number;
    chunkId: ChunkId;
    offset: number;
    length: number;
  }): Promise<Buffer> {
    const region = regionHash(request.chunkId, Math.floor(request.offset / limits.clientReadRegionBytes));
    return this.withReplicas(request.chainId, 'read', region, async (targetId, timeoutMs) => {
      try {
        return await this.readReplica(targetId, request, timeoutMs);
      } catch (error) {
        if (error instanceof FsError && error.code === StorageCode.ChunkNotFound) return Buffer.alloc(0);
        if (isChecksumFailure(error)) this.options.onReadChecksumFailure?.(targetId);
        throw error;
      }
    });
  }

  /**
   * The chunks of `inode` with index in [begin, end) that any serving replica of the chain holds
   * (see chunk-listing.ts), in index order. One attempt: a failure is thrown.
   */
  async listChunks(
    chainId: number,
    inode: bigint,
    range: { begin: number; end: number },
  ): Promise<ListedChunk[]> {
    const found = new Map<number, ListedChunk>();
    for (const [position, targetId] of (await this.servingInChainOrder(chainId)).entries()) {
      mergeReplicaChunks(found, await dumpFileChunks(this.dumpPage(targetId), inode, range), position === 0);
    }
    return sortedChunks(found);
  }

  /**
   * The chunks of each of `inodes` that any serving replica of the chain holds, by inode (inodes
   * with none are absent): one walk of each replica's chunk ids over the inodes' span. One
   * attempt: a failure is thrown.
   */
  async listChunksOfInodes(
    chainId: number,
    inodes: ReadonlySet<bigint>,
  ): Promise<Map<bigint, ListedChunk[]>> {
    const found = new Map<bigint, Map<number, ListedChunk>>();
    if (inodes.size === 0) return new Map();
    for (const [position, targetId] of (await this.servingInChainOrder(chainId)).entries()) {
      const byInode = new Map<bigint, ListedChunk[]>();
      for (const chunk of await dumpChunksOfInodes(this.dumpPage(targetId), inodes)) {
        const list = byInode.get(chunk.inode) ?? [];
        list.push(chunk);
        byInode.set(chunk.inode, list);
      }
      for (const [inode, chunks] of byInode) {
        const merged = found.get(inode) ?? new Map<number, ListedChunk>();
        found.set(inode, merged);
        mergeReplicaChunks(merged, chunks, position === 0);
      }
    }
    return new Map([...found].map(([inode, chunks]) => [inode, sortedChunks(chunks)]));
  }

  /** The chain's serving replicas in chain order; NoServingReplica when none serves. */
  private async servingInChainOrder(chainId: number): Promise<number[]> {
    const chain = await this.options.routing.requireChain(chainId);
    const serving = chain.targets
      .filter((member) => member.publicState === PublicState.Serving)
      .map((member) => member.targetId);
    if (serving.length === 0) {
      throw new FsError(ClientCode.NoServingReplica, `chain ${chainId} has no serving replica`);
    }
    return serving;
  }

  /** Pages of target `targetId`'s chunk metadata. */
  private dumpPage(targetId: number): DumpPage {
    const address = this.addressOf(targetId);
    return (after) =>
      this.options.rpc.call(
        address,
        storageMethods.dumpChunkMeta,
        { targetId, after, limit: dumpPageChunks },
        { timeoutMs: this.chunkTimeoutMs },
      );
  }

  /** The last committed chunk of `inode` on `chainId` from chunk `beginIndex` on. */
  async queryLastChunk(request: { chainId: number; inode: bigint; beginIndex: number }) {
    return this.withReplicas(request.chainId, 'queryLastChunk', undefined, (targetId, timeoutMs) =>
      this.options.rpc.call(
        this.addressOf(targetId),
        storageMethods.queryLastChunk,
        {
          targetId,
          inode: request.inode,
          beginIndex: request.beginIndex,
          endIndex: 0x1_0000_0000,
        },
        { timeoutMs, retries: 0 },
      ),
    );
  }

  /**
   * Makes what every writable replica of `chainIds` committed durable (fsync): the serving ones and
   * the syncing ones too, since a syncing replica holds the acknowledged writes and may serve alone
   * after the others fail. One `Storage.syncTargets` per storage node, all in parallel. A replica
   * that cannot sync now (down, moved, busy) is tried again after fresh routing info, within the
   * I/O deadline; one that left the writable replicas meanwhile is no longer waited for (recovery
   * refills it from one that synced). Fails with the first failure that retrying cannot cure (a
   * disk error).
   */
  async syncChains(chainIds: readonly number[]): Promise<void> {
    const deadline = this.options.clock.monotonicMs() + this.ioDeadlineMs;
    const synced = new Set<number>();
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      if (attempt > 0 && !(await this.pause(attempt, deadline, lastError))) break;
      try {
        const pending = await this.writableTargets(chainIds, synced);
        if (pending.length === 0) return;
        lastError = await this.syncTargets(
          pending,
          synced,
          this.attemptTimeout(deadline, limits.storageSyncTimeoutMs),
        );
        if (lastError === undefined) return;
      } catch (error) {
        lastError = error;
      }
      if (decideAfterUpdateFailure(lastError) === 'fail') throw lastError;
    }
    throw this.exhausted('sync', lastError);
  }

  /**
   * The serving and syncing targets of the chains not yet in `synced`; NoServingReplica for a chain
   * with no serving one.
   */
  private async writableTargets(chainIds: readonly number[], synced: ReadonlySet<number>): Promise<number[]> {
    const targets = new Set<number>();
    for (const chainId of new Set(chainIds)) {
      const chain = await this.options.routing.requireChain(chainId);
      if (!chain.targets.some((member) => member.publicState === PublicState.Serving)) {
        throw new FsError(ClientCode.NoServingReplica, `chain ${chain.chainId} has no serving replica`);
      }
      for (const { targetId, publicState } of chain.targets) {
        const writable = publicState === PublicState.Serving || publicState === PublicState.Syncing;
        if (writable && !synced.has(targetId)) targets.add(targetId);
      }
    }
    return [...targets];
  }

  /**
   * Asks each node of `targetIds` to sync them, adding those that synced to `synced`; resolves with
   * the first failure (undefined when every target synced).
   */
  private async syncTargets(
    targetIds: readonly number[],
    synced: Set<number>,
    timeoutMs: number,
  ): Promise<unknown> {
    const byAddress = new Map<string, number[]>();
    for (const targetId of targetIds) {
      const address = this.addressOf(targetId);
      const group = byAddress.get(address) ?? [];
      group.push(targetId);
      byAddress.set(address, group);
    }
    const failures = await Promise.all(
      [...byAddress].map(async ([address, group]): Promise<unknown> => {
        try {
          const reply = await this.options.rpc.call(
            address,
            storageMethods.syncTargets,
            { targetIds: group },
            { timeoutMs, retries: 0 },
          );
          let failure: FsError | undefined;
          for (const result of reply.targets) {
            if (result.code === 0) synced.add(result.targetId);
            else failure ??= syncFailure(result);
          }
          const missing = group.find((targetId) => !synced.has(targetId));
          return (
            failure ??
            (missing === undefined
              ? undefined
              : new FsError(RpcCode.BadResponse, `no answer for target ${missing}`))
          );
        } catch (error) {
          return error;
        }
      }),
    );
    return failures.find((failure) => failure !== undefined);
  }

  private async update(
    target: ChunkTarget,
    op: ChunkUpdateOp,
    payload: Buffer | undefined,
  ): Promise<UpdateReply> {
    const deadline = this.options.clock.monotonicMs() + this.ioDeadlineMs;
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      if (attempt > 0 && !(await this.pause(attempt, deadline, lastError))) break;
      const timeoutMs = this.attemptTimeout(deadline);
      try {
        const chain = await this.options.routing.requireChain(target.chainId);
        const head = chain.targets[0];
        if (head === undefined || head.publicState !== PublicState.Serving) {
          throw new FsError(ClientCode.NoServingReplica, `chain ${chain.chainId} has no serving head`);
        }
        return await this.options.rpc.call(
          this.addressOf(head.targetId),
          storageMethods.write,
          {
            targetId: head.targetId,
            chainId: chain.chainId,
            chainVersion: chain.chainVersion,
            chunkId: target.chunkId,
            chunkSizeBytes: target.chunkSizeBytes,
            op,
            // The head keeps a margin of this for its forwards; our own deadline is a little later.
            timeoutMs,
            ...(target.expectedVersion === undefined ? {} : { expectedVersion: target.expectedVersion }),
          },
          {
            timeoutMs: timeoutMs + 1_000,
            retries: 0,
            // The op's checksum was summed over these bytes: the frame reuses it.
            ...(payload === undefined ? {} : { payload, payloadCrc32c: checksumOf(op) }),
          },
        );
      } catch (error) {
        if (decideAfterUpdateFailure(error) === 'fail') throw error;
        lastError = error;
      }
    }
    throw this.exhausted(`chunk ${op.kind}`, lastError);
  }

  /**
   * Runs `call` on the chain's serving replicas in turn, with retries, until one answers: starting
   * with the one `region` (a hash) picks, or at a rotating position without one.
   */
  private async withReplicas<T>(
    chainId: number,
    what: string,
    region: number | undefined,
    call: (targetId: number, timeoutMs: number) => Promise<T>,
  ): Promise<T> {
    const deadline = this.options.clock.monotonicMs() + this.ioDeadlineMs;
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      if (attempt > 0 && !(await this.pause(attempt, deadline, lastError))) break;
      let replicas: number[];
      try {
        replicas = this.replicaOrder(await this.options.routing.requireChain(chainId), region);
      } catch (error) {
        if (decideAfterReadFailure(error) === 'fail') throw error;
        lastError = error;
        continue;
      }
      for (const targetId of replicas) {
        try {
          return await call(targetId, this.attemptTimeout(deadline));
        } catch (error) {
          if (decideAfterReadFailure(error) === 'fail') throw error;
          lastError = error;
          this.penalize(targetId, error);
        }
      }
    }
    throw this.exhausted(what, lastError);
  }

  /**
   * Serving replicas of the chain in the order a read tries them, recently failed ones last. Reads
   * spread over hosts: `region` (or a rotating position) picks the host tried first. Replicas on
   * one host share its CPUs, memory and often its disk, so spreading reads between them adds no
   * bandwidth, while every process a stream of reads keeps waking costs CPU (on one host with three
   * replicas, a third fewer 4 KiB reads per second than sending them all to one). So on a host the
   * replica nearest the chain's tail goes first (CRAQ's tail always holds the committed version),
   * then that host's others, tail first, then the other hosts' replicas.
   */
  private replicaOrder(chain: ChainInfo, region: number | undefined): number[] {
    const groups = this.hostGroups(chain);
    if (groups.length === 0) {
      throw new FsError(ClientCode.NoServingReplica, `chain ${chain.chainId} has no serving replica`);
    }
    const start = (region ?? this.readCursor++) % groups.length;
    const rotated = [...groups.slice(start), ...groups.slice(0, start)].flat();
    const now = this.options.clock.monotonicMs();
    const healthy = rotated.filter((targetId) => (this.penalties.get(targetId) ?? 0) <= now);
    const penalized = rotated.filter((targetId) => (this.penalties.get(targetId) ?? 0) > now);
    return [...healthy, ...penalized];
  }

  /** readGroups of the chain, kept per chain object, which a routing refresh replaces. */
  private hostGroups(chain: ChainInfo): number[][] {
    const known = this.groupsByChain.get(chain);
    if (known !== undefined) return known;
    const groups = readGroups(chain, (targetId) => this.options.routing.addressOfTarget(targetId));
    this.groupsByChain.set(chain, groups);
    return groups;
  }

  private penalize(targetId: number, error: unknown): void {
    // A chunk mid-update says nothing about the replica's health.
    if (error instanceof FsError && error.code === StorageCode.ChunkNotCommitted) return;
    this.penalties.set(targetId, this.options.clock.monotonicMs() + replicaPenaltyMs);
  }

  private async readReplica(
    targetId: number,
    request: { chunkId: ChunkId; offset: number; length: number },
    timeoutMs: number,
  ): Promise<Buffer> {
    const { response, payload, payloadCrc32c } = await this.options.rpc.callWithPayload(
      this.addressOf(targetId),
      storageMethods.read,
      {
        targetId,
        chunkId: request.chunkId,
        offset: request.offset,
        length: request.length,
        relaxed: false,
      },
      { timeoutMs, retries: 0 },
    );
    const data = payload ?? Buffer.alloc(0);
    // The RPC layer checked the bytes against payloadCrc32c, so comparing it with the checksum the
    // replica announces checks them against that too, without summing them again.
    const checksum = payload === undefined ? 0 : payloadCrc32c;
    if (data.length !== response.length || data.length > request.length || checksum !== response.checksum) {
      throw new FsError(
        StorageCode.ChecksumMismatch,
        `target ${targetId} sent bytes that fail their checksum`,
      );
    }
    return data;
  }

  private addressOf(targetId: number): string {
    const address = this.options.routing.addressOfTarget(targetId);
    if (address === undefined) {
      throw new FsError(ClientCode.RoutingUnavailable, `routing info has no address for target ${targetId}`);
    }
    return address;
  }

  private attemptTimeout(deadline: number, timeoutMs = this.chunkTimeoutMs): number {
    const remaining = Math.ceil(deadline - this.options.clock.monotonicMs());
    return Math.max(1, Math.min(timeoutMs, remaining));
  }

  /** Refreshes routing info and backs off; false when the deadline leaves no room for another attempt. */
  private async pause(attempt: number, deadline: number, lastError: unknown): Promise<boolean> {
    this.retries += 1;
    this.options.logger.debug(
      { attempt, code: lastError instanceof FsError ? statusName(lastError.code) : undefined },
      'chunk operation failed; refreshing routing info before retrying',
    );
    await this.options.routing.refresh().catch(() => undefined);
    const delayMs = retryDelayMs(
      attempt,
      limits.clientRetryBackoffMsInitial,
      limits.clientRetryBackoffMsMax,
      this.options.random.nextFloat(),
    );
    if (this.options.clock.monotonicMs() + delayMs >= deadline) return false;
    await this.options.clock.sleep(delayMs);
    return true;
  }

  private exhausted(what: string, lastError: unknown): FsError {
    const detail = lastError instanceof FsError ? `${statusName(lastError.code)}: ${lastError.message}` : '';
    return new FsError(
      ClientCode.IoTimeout,
      `${what}: no attempt succeeded within its deadline (${detail})`,
      {
        cause: lastError,
      },
    );
  }
}

/** The CRC32C an update op announces for its payload; undefined for ops without one. */
function checksumOf(op: ChunkUpdateOp): number | undefined {
  return op.kind === 'write' || op.kind === 'replace' ? op.checksum : undefined;
}

/**
 * True for a read reply whose bytes fail a checksum here: the RPC layer's check of the payload
 * against the frame's CRC32C, or ours of that CRC32C against the checksum the replica announced.
 */
function isChecksumFailure(error: unknown): boolean {
  return (
    error instanceof FsError &&
    (error.code === RpcCode.PayloadChecksumMismatch || error.code === StorageCode.ChecksumMismatch)
  );
}

/** A target's refusal to sync as an FsError, under its own status code when the code is known. */
function syncFailure(result: TargetSyncResult): FsError {
  const message = result.message ?? `target ${result.targetId} did not sync`;
  return isKnownStatus(result.code)
    ? new FsError(result.code, message)
    : new FsError(CommonCode.Internal, `${message} (status ${result.code})`);
}
