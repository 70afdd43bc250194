/**
 * The RPC face of a storage process: registers every method of the storage protocol and maps
 * each onto the replicator (writes) or a target's chunk store (reads, queries, dumps, scrubs, syncs).
 * Reads and last-chunk queries are answered only by targets that are serving in this process's
 * routing info; dumps and scrubs by any target, since recovery reads returning targets.
 */
import { FsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { StorageCode } from '../common/status-code.js';
import type { CallContext, MethodDef, RpcHandlers } from '../rpc/index.js';
import { ChunkOperation, type ChunkOperationMetrics } from './chunk-operation-metrics.js';
import { PublicState } from '../mgmtd/protocol/index.js';
import {
  formatChunkId,
  storageMethods,
  type ChunkId,
  type ChunkMetaRecord,
  type TargetSyncResult,
  type UpdateResult,
} from './protocol/index.js';
import { isReadable } from './craq/forward-plan.js';
import type { Replicator } from './craq/replicator.js';
import { checkReadRange } from './craq/update-validation.js';
import type { RoutingCache } from '../cluster/index.js';
import type { StorageTarget, TargetRegistry } from './storage-target.js';

type RequestOf<M> = M extends MethodDef<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends MethodDef<unknown, infer Res> ? Res : never;
type ReadRequest = RequestOf<typeof storageMethods.read>;
type ReadResponse = ResponseOf<typeof storageMethods.read>;
type WriteRequest = RequestOf<typeof storageMethods.write>;
type ForwardRequest = RequestOf<typeof storageMethods.forward>;
type UpdateResponse = ResponseOf<typeof storageMethods.write>;
type PageRequest = RequestOf<typeof storageMethods.dumpChunkMeta>;
type CloneChunksRequest = RequestOf<typeof storageMethods.cloneChunks>;
type ForwardBatchRequest = RequestOf<typeof storageMethods.forwardBatch>;
type BatchResponse = ResponseOf<typeof storageMethods.forwardBatch>;

/**
 * The results of a batch's updates, once every one has ended (a batch answers for all of them).
 * An operating error is that update's result; anything else is a bug and fails the whole batch.
 */
async function batchResults(updates: Array<Promise<UpdateResponse>>): Promise<BatchResponse> {
  const settled = await Promise.allSettled(updates);
  const results: UpdateResult[] = settled.map((outcome) => {
    if (outcome.status === 'fulfilled') return { ok: true, reply: outcome.value };
    const error: unknown = outcome.reason;
    if (!(error instanceof FsError)) throw error;
    return { ok: false, code: error.code, message: error.message.slice(0, batchMessageCharsMax) };
  });
  return { results };
}

/** A failed update's message in a batch reply is cut to this (the schema's bound). */
const batchMessageCharsMax = 4096;

export interface StorageServiceOptions {
  readonly nodeId: number;
  readonly targets: TargetRegistry;
  readonly routing: RoutingCache;
  readonly replicator: Replicator;
  readonly chunkSizeMaxBytes: number;
  readonly logger: Logger;
  /** Errors and latencies of reads and writes. */
  readonly chunkMetrics: ChunkOperationMetrics;
  /** False while the process rejoins the cluster or after it fenced itself: no reads or writes then. */
  readonly serving: () => boolean;
}

export class StorageService {
  constructor(private readonly options: StorageServiceOptions) {}

  /** Registers the storage methods on `server`. */
  register(server: RpcHandlers): void {
    const metrics = this.options.chunkMetrics;
    // The start time is taken before the operation's promise is made (arguments run left to right).
    // Users' tokens read, write and sync chunks; the admin's may inspect, scrub and repair (fsck
    // forwards a repaired chunk down the chain); replication between targets is for nodes only.
    server.handle(
      storageMethods.write,
      (request, context) =>
        metrics.observe(
          ChunkOperation.Write,
          request.targetId,
          metrics.startMs(),
          this.write(request, context),
        ),
      'user',
    );
    server.handle(
      storageMethods.forward,
      (request, context) =>
        metrics.observe(
          ChunkOperation.Write,
          request.targetId,
          metrics.startMs(),
          this.forward(request, context),
        ),
      'admin',
    );
    // A batch counts as one operation in the metrics: its updates are the same as those sent alone.
    server.handle(
      storageMethods.cloneChunks,
      (request, context) =>
        metrics.observe(
          ChunkOperation.Write,
          request.targetId,
          metrics.startMs(),
          this.cloneChunks(request, context),
        ),
      'user',
    );
    server.handle(
      storageMethods.forwardBatch,
      async (request, context) => this.forwardBatch(request, context),
      'admin',
    );
    server.handle(
      storageMethods.read,
      (request, context) =>
        metrics.observe(
          ChunkOperation.Read,
          request.targetId,
          metrics.startMs(),
          this.read(request, context),
        ),
      'user',
    );
    server.handle(
      storageMethods.queryLastChunk,
      async (request) => {
        const summary = this.readableTarget(request.targetId).store.lastChunk(request);
        return { ...summary, last: summary.last ?? null };
      },
      'user',
    );
    server.handle(storageMethods.dumpChunkMeta, async (request) => this.dumpChunkMeta(request), 'admin');
    server.handle(storageMethods.scrubChunks, (request) => this.scrubChunks(request), 'admin');
    // fsync of a client: what its chains' replicas committed becomes durable.
    server.handle(storageMethods.syncTargets, (request) => this.syncTargets(request.targetIds), 'user');
    server.handle(
      storageMethods.listTargets,
      async () => ({
        nodeId: this.options.nodeId,
        targets: this.options.targets.all().map((target) => this.describeTarget(target)),
      }),
      'admin',
    );
  }

  private async write(request: WriteRequest, context: CallContext): Promise<UpdateResponse> {
    this.checkServing();
    return this.options.replicator.write(request, context.payload, context.payloadCrc32c);
  }

  private async forward(request: ForwardRequest, context: CallContext): Promise<UpdateResponse> {
    this.checkServing();
    return this.options.replicator.forwarded(request, context.payload, context.payloadCrc32c);
  }

  /** Each chunk of the batch cloned as a `write` of a `clone` op would clone it; a result each. */
  private async cloneChunks(request: CloneChunksRequest, context: CallContext): Promise<BatchResponse> {
    this.checkServing();
    if (context.payload !== undefined && context.payload.length > 0) {
      throw new FsError(StorageCode.PayloadLengthMismatch, 'a clone batch carries no payload');
    }
    const { indexes, source, inode, ...route } = request;
    return batchResults(
      indexes.map((index) =>
        this.options.replicator.write(
          {
            ...route,
            chunkId: { inode, index },
            op: { kind: 'clone', source: { inode: source, index } },
          },
          undefined,
        ),
      ),
    );
  }

  /** Each forwarded update of the batch applied as a `forward` of it alone would be; a result each. */
  private async forwardBatch(request: ForwardBatchRequest, context: CallContext): Promise<BatchResponse> {
    this.checkServing();
    if (context.payload !== undefined && context.payload.length > 0) {
      throw new FsError(StorageCode.PayloadLengthMismatch, 'a forwarded batch carries no payload');
    }
    return batchResults(
      request.updates.map((update) => this.options.replicator.forwarded(update, undefined)),
    );
  }

  private async read(request: ReadRequest, context: CallContext): Promise<ReadResponse> {
    const target = this.readableTarget(request.targetId);
    checkReadRange(request, this.options.chunkSizeMaxBytes);
    if (!request.relaxed && target.store.hasPending(request.chunkId)) {
      throw new FsError(
        StorageCode.ChunkNotCommitted,
        `chunk ${formatChunkId(request.chunkId)} has an update in flight on target ${target.targetId}`,
      );
    }
    const result = await target.store.read(request.chunkId, {
      offset: request.offset,
      length: request.length,
      pending: request.relaxed,
      // Read into a reused buffer the server lets go of once the reply is written.
      into: context.replyBuffer(request.length),
    });
    target.counters.reads += 1;
    target.counters.bytesRead += result.data.length;
    // The store verified these bytes and summed them in doing so: the frame reuses that CRC32C.
    context.setReplyPayload(result.data, result.checksum);
    return {
      version: result.info.version,
      chunkLength: result.info.length,
      length: result.data.length,
      checksum: result.checksum,
      uncommitted: result.uncommitted,
    };
  }

  /** Syncs each named target, answering each on its own (a bad target id fails only its entry). */
  private async syncTargets(targetIds: readonly number[]): Promise<{ targets: TargetSyncResult[] }> {
    const metrics = this.options.chunkMetrics;
    const targets = await Promise.all(
      [...new Set(targetIds)].map(async (targetId): Promise<TargetSyncResult> => {
        try {
          await metrics.observe(ChunkOperation.Sync, targetId, metrics.startMs(), this.syncTarget(targetId));
          return { targetId, code: 0 };
        } catch (error) {
          if (!(error instanceof FsError)) throw error;
          return { targetId, code: error.code, message: error.message.slice(0, 1024) };
        }
      }),
    );
    return { targets };
  }

  /**
   * A target that holds acknowledged writes (serving, or syncing: it takes writes during recovery)
   * syncs its store, sharing a sync running or about to run.
   */
  private async syncTarget(targetId: number): Promise<void> {
    this.checkServing();
    const target = this.options.targets.get(targetId);
    const state = this.options.routing.publicState(targetId);
    if (state !== PublicState.Serving && state !== PublicState.Syncing) {
      throw new FsError(
        StorageCode.TargetNotServing,
        `target ${targetId} is ${state ?? 'unknown to routing info'}, neither serving nor syncing: nothing to sync`,
      );
    }
    await target.syncs.request();
  }

  private dumpChunkMeta(request: PageRequest): { chunks: ChunkMetaRecord[]; next: ChunkId | null } {
    const target = this.options.targets.get(request.targetId);
    const page = target.store.list({ after: request.after ?? undefined, limit: request.limit });
    const chunks = page.flatMap((info): ChunkMetaRecord[] =>
      info.committed === undefined
        ? []
        : [
            {
              chunkId: info.chunkId,
              version: info.committed.version,
              chainVersion: info.committed.chainVersion,
              length: info.committed.length,
              checksum: info.committed.checksum,
              ...(info.pending === undefined ? {} : { pendingVersion: info.pending.version }),
            },
          ],
    );
    return { chunks, next: nextCursor(page, request.limit) };
  }

  private async scrubChunks(request: PageRequest) {
    const target = this.options.targets.get(request.targetId);
    const page = target.store.list({ after: request.after ?? undefined, limit: request.limit });
    const chunks = [];
    for (const info of page) {
      if (info.committed === undefined) continue;
      chunks.push({ chunkId: info.chunkId, ...(await this.scrubOne(target, info.chunkId)) });
    }
    return { chunks, next: nextCursor(page, request.limit) };
  }

  private describeTarget(target: StorageTarget) {
    const routed = this.options.routing.target(target.targetId);
    const totals = target.store.totals();
    return {
      targetId: target.targetId,
      path: target.path,
      localState: target.localState,
      ...(routed === undefined ? {} : { publicState: routed.publicState }),
      chainId: routed?.chainId ?? 0,
      chunkCount: totals.chunkCount,
      committedBytes: totals.committedBytes,
      usedBytes: target.usage.usedBytes,
      capacityBytes: target.usage.capacityBytes,
      counters: { ...target.counters },
    };
  }

  private checkServing(): void {
    if (!this.options.serving()) {
      throw new FsError(
        StorageCode.TargetNotServing,
        `storage node ${this.options.nodeId} is not serving (rejoining the cluster, fenced or stopping)`,
      );
    }
  }

  private readableTarget(targetId: number): StorageTarget {
    this.checkServing();
    const target = this.options.targets.get(targetId);
    const state = this.options.routing.publicState(targetId);
    if (!isReadable(state)) {
      throw new FsError(
        StorageCode.TargetNotServing,
        `target ${targetId} is ${state ?? 'unknown to routing info'}, not serving; read another replica`,
      );
    }
    return target;
  }

  /** Reads a committed chunk whole and reports whether its bytes match their checksums. */
  private async scrubOne(
    target: StorageTarget,
    chunkId: ChunkId,
  ): Promise<{ version: number; length: number; checksum: number; intact: boolean }> {
    const committed = target.store.stat(chunkId)?.committed;
    if (committed === undefined) return { version: 0, length: 0, checksum: 0, intact: true };
    try {
      const result = await target.store.read(chunkId, {
        offset: 0,
        length: committed.length,
        pending: false,
      });
      return {
        version: result.info.version,
        length: result.info.length,
        checksum: result.info.checksum,
        intact: true,
      };
    } catch (error) {
      if (!(error instanceof FsError) || error.code !== StorageCode.ChunkCorrupted) throw error;
      return {
        version: committed.version,
        length: committed.length,
        checksum: committed.checksum,
        intact: false,
      };
    }
  }
}

/** The cursor after a full page, or null when the page was the last. */
function nextCursor(page: ReadonlyArray<{ chunkId: ChunkId }>, limit: number): ChunkId | null {
  const last = page[page.length - 1];
  return page.length < limit || last === undefined ? null : last.chunkId;
}
