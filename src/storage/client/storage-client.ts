/**
 * A small chain-aware storage client: sends updates to the head of a chunk's chain and reads to
 * its serving replicas in turn, so reads spread over the chain. It refreshes routing info and
 * retries (bounded, with backoff) when the chain moved under it: a stale chain version, a target
 * that is no longer head or serving, a successor that failed. A read that meets a pending version
 * or corrupted data on one replica goes on to the next. The file-level client library (DESIGN §9)
 * builds on the same calls.
 *
 * A write that times out may have been applied; retrying it applies the same bytes again under a
 * new version, which leaves the chunk as one application would (every update kind is idempotent in
 * effect), so timeouts are retried too.
 */
import type { MgmtdClient } from '../../cluster/index.js';
import type { Clock } from '../../common/clock.js';
import { crc32c } from '../../common/crc32c.js';
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { seededRandom, type Random } from '../../common/random.js';
import {
  ClientCode,
  CommonCode,
  RpcCode,
  StorageCode,
  statusName,
  type StatusCode,
} from '../../common/status-code.js';
import { PublicState, type ChainInfo } from '../../mgmtd/protocol/index.js';
import type { RpcClient } from '../../rpc/index.js';
import { storageMethods, type ChunkId, type ChunkUpdateOp, type UpdateReply } from '../protocol/index.js';
import { RoutingView } from '../routing-view.js';

export interface StorageClientOptions {
  readonly rpc: RpcClient;
  readonly mgmtd: MgmtdClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random?: Random;
  /** Attempts of one operation (each after a routing refresh and a backoff). */
  readonly attemptsMax?: number;
}

/** Where a chunk lives and how large chunks of its file are. */
export interface ChunkAddress {
  readonly chainId: number;
  readonly chunkId: ChunkId;
  readonly chunkSizeBytes: number;
}

/** What a read returns: verified bytes, from which replica and which version. */
export interface ChunkReadReply {
  readonly data: Buffer;
  readonly version: number;
  readonly chunkLength: number;
  readonly targetId: number;
  readonly uncommitted: boolean;
}

const transientCodes: readonly StatusCode[] = [
  RpcCode.Timeout,
  RpcCode.ConnectionClosed,
  RpcCode.ConnectFailed,
  RpcCode.Overloaded,
  CommonCode.ShuttingDown,
  StorageCode.TargetNotFound,
  StorageCode.TargetNotServing,
  StorageCode.ChunkBusy,
  // The replica's disk failed; routing info soon shows it offline and another replica serves.
  StorageCode.DiskFailed,
];

/** Failures after which an update may succeed at the head of fresher routing info. */
const updateRetryCodes: ReadonlySet<number> = new Set<number>([
  ...transientCodes,
  StorageCode.ChainVersionMismatch,
  StorageCode.NotChainHead,
  StorageCode.ChainNotFound,
  StorageCode.ForwardFailed,
]);

/** Failures after which another replica may answer a read. */
const readNextReplicaCodes: ReadonlySet<number> = new Set<number>([
  ...transientCodes,
  StorageCode.ChunkNotCommitted,
  StorageCode.ChunkCorrupted,
  RpcCode.PayloadChecksumMismatch,
  StorageCode.ChecksumMismatch,
]);

const backoffMsInitial = 20;
const backoffMsMax = 500;

export class StorageClient {
  private readonly routing: RoutingView;
  private readonly random: Random;
  private readonly attemptsMax: number;
  private readCursor: number;
  /** Routing refreshes caused by failed attempts (for tests and diagnostics). */
  routingRefreshes = 0;

  constructor(private readonly options: StorageClientOptions) {
    this.routing = new RoutingView(() => options.mgmtd.refreshRoutingInfo());
    this.random = options.random ?? seededRandom(Math.floor(options.clock.nowMs()) % 0x7fff_ffff);
    this.attemptsMax = options.attemptsMax ?? limits.storageClientAttemptsMax;
    this.readCursor = this.random.nextInt(1 << 30);
    assert(Number.isInteger(this.attemptsMax) && this.attemptsMax >= 1, 'attemptsMax is a positive integer');
  }

  /** Writes `data` at `offset` of the chunk. */
  write(address: ChunkAddress & { offset: number; data: Buffer; timeoutMs?: number }): Promise<UpdateReply> {
    const op: ChunkUpdateOp = {
      kind: 'write',
      offset: address.offset,
      length: address.data.length,
      checksum: crc32c(address.data),
    };
    return this.update(address, op, address.data, address.timeoutMs);
  }

  /** Makes `data` the whole chunk. */
  replace(address: ChunkAddress & { data: Buffer; timeoutMs?: number }): Promise<UpdateReply> {
    const op: ChunkUpdateOp = {
      kind: 'replace',
      length: address.data.length,
      checksum: crc32c(address.data),
    };
    return this.update(address, op, address.data, address.timeoutMs);
  }

  /** Sets the chunk's length, cutting it or extending it with zeros. */
  truncate(address: ChunkAddress & { length: number; timeoutMs?: number }): Promise<UpdateReply> {
    return this.update(address, { kind: 'truncate', length: address.length }, undefined, address.timeoutMs);
  }

  /** Deletes the chunk from every replica (a chunk that does not exist is fine). */
  remove(address: ChunkAddress & { timeoutMs?: number }): Promise<UpdateReply> {
    return this.update(address, { kind: 'remove' }, undefined, address.timeoutMs);
  }

  /** Reads [offset, offset + length) of the chunk's committed version from a serving replica. */
  async read(request: {
    chainId: number;
    chunkId: ChunkId;
    offset: number;
    length: number;
    relaxed?: boolean;
    timeoutMs?: number;
  }): Promise<ChunkReadReply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      if (attempt > 0) await this.pause(attempt, lastError);
      const replicas = await this.servingReplicas(request.chainId);
      const start = this.readCursor++;
      for (let step = 0; step < replicas.length; step++) {
        const targetId = replicas[(start + step) % replicas.length] as number;
        try {
          return await this.readReplica(targetId, request);
        } catch (error) {
          if (!(error instanceof FsError) || !readNextReplicaCodes.has(error.code)) throw error;
          lastError = error;
        }
      }
    }
    throw this.exhausted('read', lastError);
  }

  /** The last committed chunk of `inode` on a serving replica of `chainId`, with totals. */
  async queryLastChunk(request: { chainId: number; inode: bigint; beginIndex?: number; endIndex?: number }) {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      if (attempt > 0) await this.pause(attempt, lastError);
      const replicas = await this.servingReplicas(request.chainId);
      const targetId = replicas[this.readCursor++ % replicas.length] as number;
      try {
        return await this.options.rpc.call(this.addressOf(targetId), storageMethods.queryLastChunk, {
          targetId,
          inode: request.inode,
          beginIndex: request.beginIndex ?? 0,
          endIndex: request.endIndex ?? 0x1_0000_0000,
        });
      } catch (error) {
        if (!(error instanceof FsError) || !readNextReplicaCodes.has(error.code)) throw error;
        lastError = error;
      }
    }
    throw this.exhausted('queryLastChunk', lastError);
  }

  /** The chain as this client's routing info shows it, fetched first when unknown. */
  async chain(chainId: number): Promise<ChainInfo> {
    if (this.routing.chain(chainId) === undefined) await this.routing.refresh();
    const chain = this.routing.chain(chainId);
    if (chain === undefined)
      throw new FsError(StorageCode.ChainNotFound, `chain ${chainId} is not in the routing info`);
    return chain;
  }

  /** The address of the node serving `targetId`. */
  addressOf(targetId: number): string {
    const address = this.routing.addressOfTarget(targetId);
    if (address === undefined)
      throw new FsError(ClientCode.RoutingUnavailable, `no address for target ${targetId}`);
    return address;
  }

  private async update(
    address: ChunkAddress,
    op: ChunkUpdateOp,
    payload: Buffer | undefined,
    timeoutMs: number = limits.storageWriteTimeoutMsDefault,
  ): Promise<UpdateReply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      if (attempt > 0) await this.pause(attempt, lastError);
      const chain = await this.chain(address.chainId);
      const head = chain.targets[0];
      if (head === undefined || head.publicState !== PublicState.Serving) {
        lastError = new FsError(ClientCode.NoServingReplica, `chain ${chain.chainId} has no serving head`);
        continue;
      }
      try {
        return await this.options.rpc.call(
          this.addressOf(head.targetId),
          storageMethods.write,
          {
            targetId: head.targetId,
            chainId: chain.chainId,
            chainVersion: chain.chainVersion,
            chunkId: address.chunkId,
            chunkSizeBytes: address.chunkSizeBytes,
            op,
            timeoutMs,
          },
          {
            timeoutMs: timeoutMs + 1_000,
            retries: 0,
            // The op's checksum was summed over these bytes just before: the frame reuses it.
            ...(payload === undefined ? {} : { payload, payloadCrc32c: checksumOf(op) }),
          },
        );
      } catch (error) {
        if (!(error instanceof FsError) || !updateRetryCodes.has(error.code)) throw error;
        lastError = error;
      }
    }
    throw this.exhausted(`${op.kind}`, lastError);
  }

  private async readReplica(
    targetId: number,
    request: { chunkId: ChunkId; offset: number; length: number; relaxed?: boolean; timeoutMs?: number },
  ): Promise<ChunkReadReply> {
    const { response, payload, payloadCrc32c } = await this.options.rpc.callWithPayload(
      this.addressOf(targetId),
      storageMethods.read,
      {
        targetId,
        chunkId: request.chunkId,
        offset: request.offset,
        length: request.length,
        relaxed: request.relaxed ?? false,
      },
      { retries: 0, ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }) },
    );
    const data = payload ?? Buffer.alloc(0);
    // The RPC layer checked the bytes against payloadCrc32c, so comparing it with the checksum the
    // replica announces checks them against that too, without summing them again.
    const checksum = payload === undefined ? 0 : payloadCrc32c;
    if (data.length !== response.length || checksum !== response.checksum) {
      throw new FsError(
        StorageCode.ChecksumMismatch,
        `target ${targetId} sent bytes that fail their checksum`,
      );
    }
    return {
      data,
      version: response.version,
      chunkLength: response.chunkLength,
      targetId,
      uncommitted: response.uncommitted,
    };
  }

  private async servingReplicas(chainId: number): Promise<number[]> {
    const chain = await this.chain(chainId);
    const serving = chain.targets.filter((member) => member.publicState === PublicState.Serving);
    if (serving.length === 0) {
      throw new FsError(ClientCode.NoServingReplica, `chain ${chainId} has no serving replica`);
    }
    return serving.map((member) => member.targetId);
  }

  /** Refreshes routing info and waits before the next attempt (exponential backoff with jitter). */
  private async pause(attempt: number, lastError: unknown): Promise<void> {
    this.routingRefreshes += 1;
    this.options.logger.debug(
      { attempt, code: lastError instanceof FsError ? statusName(lastError.code) : undefined },
      'storage call failed; refreshing routing info before retrying',
    );
    await this.routing.refresh().catch(() => undefined);
    const ceiling = Math.min(backoffMsMax, backoffMsInitial * 2 ** (attempt - 1));
    await this.options.clock.sleep(ceiling / 2 + this.random.nextFloat() * (ceiling / 2));
  }

  private exhausted(what: string, lastError: unknown): unknown {
    if (lastError instanceof FsError) return lastError;
    return new FsError(ClientCode.NoServingReplica, `${what}: no attempt succeeded`, { cause: lastError });
  }
}

/** The CRC32C an update op announces for its payload; undefined for ops without one. */
function checksumOf(op: ChunkUpdateOp): number | undefined {
  return op.kind === 'write' || op.kind === 'replace' ? op.checksum : undefined;
}
