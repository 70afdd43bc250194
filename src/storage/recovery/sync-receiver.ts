/**
 * The syncing target's side of recovery (DESIGN §7): `Storage.syncWrite` makes one chunk equal to
 * the predecessor's committed version (sync-plan.ts decides how), and `Storage.syncDone` marks the
 * target up to date once the predecessor has been through every chunk, after making what it
 * committed durable: once serving, the target may be the only replica left, and the copies it got
 * include writes whose fsync was acknowledged long ago. Both are accepted only from
 * the target's predecessor, while routing info shows the target syncing under the request's chain
 * version; a chunk is changed holding its lock, so it never interleaves with a forwarded write.
 */
import type { Clock } from '../../common/clock.js';
import { FsError, assert } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { StorageCode } from '../../common/status-code.js';
import type { CallContext, MethodDef, RpcHandlers } from '../../rpc/index.js';
import { ChunkOperation, type ChunkOperationMetrics } from '../chunk-operation-metrics.js';
import { toChunkUpdate } from '../craq/update-validation.js';
import { nextUpdateVersion } from '../craq/update-version.js';
import { formatChunkId, storageMethods, type UpdateReply } from '../protocol/index.js';
import type { RoutingCache } from '../../cluster/index.js';
import type { StorageTarget, TargetRegistry } from '../storage-target.js';
import type { ChunkVersionInfo } from '../store/chunk-store.js';
import { decideSyncApply, planSyncReceive, type SyncApply } from './sync-plan.js';

type RequestOf<M> = M extends MethodDef<infer Req, unknown> ? Req : never;
type SyncWriteRequest = RequestOf<typeof storageMethods.syncWrite>;
type SyncDoneRequest = RequestOf<typeof storageMethods.syncDone>;

export interface SyncReceiverOptions {
  readonly targets: TargetRegistry;
  readonly routing: RoutingCache;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly chunkSizeMaxBytes: number;
  /** Errors and latencies of the copies received. */
  readonly chunkMetrics: ChunkOperationMetrics;
  /** False while the process rejoins the cluster or after it fenced itself. */
  readonly serving: () => boolean;
  /** Called when the predecessor reports recovery complete: the target reports up-to-date. */
  readonly onSyncDone: (targetId: number) => void;
}

function toReply(info: ChunkVersionInfo | undefined): UpdateReply {
  return info === undefined
    ? { exists: false, version: 0, length: 0, checksum: 0 }
    : { exists: true, version: info.version, length: info.length, checksum: info.checksum };
}

export class SyncReceiver {
  private readonly logger: Logger;

  constructor(private readonly options: SyncReceiverOptions) {
    this.logger = options.logger.child({ component: 'recovery' });
  }

  register(server: RpcHandlers): void {
    const metrics = this.options.chunkMetrics;
    server.handle(storageMethods.syncWrite, (request, context) =>
      metrics.observe(
        ChunkOperation.Recover,
        request.targetId,
        metrics.startMs(),
        this.syncWrite(request, context),
      ),
    );
    server.handle(storageMethods.syncDone, (request) => this.syncDone(request));
  }

  private async syncWrite(request: SyncWriteRequest, context: CallContext): Promise<UpdateReply> {
    const target = this.begin(request);
    const { state } = request;
    const update = state.exists
      ? toChunkUpdate({
          op: { kind: 'replace', length: state.length, checksum: state.checksum },
          payload: context.payload,
          payloadCrc32c: context.payloadCrc32c,
          chunkSizeBytes: request.chunkSizeBytes,
          chunkSizeMaxBytes: this.options.chunkSizeMaxBytes,
        })
      : toChunkUpdate({
          op: { kind: 'remove' },
          payload: context.payload,
          chunkSizeBytes: request.chunkSizeBytes,
          chunkSizeMaxBytes: this.options.chunkSizeMaxBytes,
        });
    await this.checkPlan(request);
    const deadlineMs = this.options.clock.monotonicMs() + request.timeoutMs;
    const release = await target.locks.acquire(formatChunkId(request.chunkId), deadlineMs);
    try {
      // Re-checked under the lock: the chain may have moved on, and a copy that waited past its
      // deadline may have been given up and sent again by the predecessor since.
      await this.checkPlan(request);
      if (this.options.clock.monotonicMs() > deadlineMs) {
        throw new FsError(
          StorageCode.ChunkBusy,
          `sync of chunk ${formatChunkId(request.chunkId)} waited past its deadline`,
        );
      }
      const info = target.store.stat(request.chunkId);
      const decision = decideSyncApply({
        committed: info?.committed,
        hasPending: info?.pending !== undefined,
        incoming: state,
      });
      const result = await this.apply(target, request, decision, update);
      if (decision !== 'skip') {
        target.counters.forwardedWrites += 1;
        target.counters.bytesWritten += context.payload?.length ?? 0;
        target.recovered.chunks += 1;
        target.recovered.bytes += context.payload?.length ?? 0;
      }
      return toReply(result);
    } finally {
      release();
    }
  }

  /** Carries a decision out on the target's store; returns the committed version afterwards. */
  private async apply(
    target: StorageTarget,
    request: SyncWriteRequest,
    decision: SyncApply,
    update: ReturnType<typeof toChunkUpdate>,
  ): Promise<ChunkVersionInfo | undefined> {
    const { store } = target;
    const { chunkId, chainVersion, state } = request;
    switch (decision) {
      case 'skip':
        return store.stat(chunkId)?.committed;
      case 'discard-pending':
        await store.discardPending(chunkId);
        return undefined;
      case 'remove':
      case 'reset-and-replace': {
        const committed = store.stat(chunkId)?.committed;
        assert(committed !== undefined, 'a chunk to remove or reset exists');
        const version = nextUpdateVersion(committed.version);
        await store.prepare(chunkId, { kind: 'remove' }, { version, chainVersion });
        await store.commit(chunkId, version);
        if (decision === 'remove') return undefined;
        break;
      }
      case 'replace':
        break;
    }
    assert(state.exists, 'only an existing chunk is replaced');
    await store.prepare(chunkId, update, { version: state.version, chainVersion });
    const committed = await store.commit(chunkId, state.version);
    assert(committed?.checksum === state.checksum, 'a synced chunk carries the checksum it was sent with');
    return committed;
  }

  private async syncDone(request: SyncDoneRequest): Promise<Record<string, never>> {
    const target = this.begin(request);
    await this.checkPlan(request);
    await target.syncs.request();
    // Re-checked after the wait: the chain may have moved on while the store synced.
    await this.checkPlan(request);
    this.logger.info(
      {
        targetId: request.targetId,
        chainId: request.chainId,
        chainVersion: request.chainVersion,
        fromTargetId: request.fromTargetId,
      },
      'recovery done: the target is up to date',
    );
    this.options.onSyncDone(request.targetId);
    return {};
  }

  private begin(request: { targetId: number }): StorageTarget {
    if (!this.options.serving()) {
      throw new FsError(
        StorageCode.TargetNotServing,
        'this storage process is not serving (rejoining the cluster, fenced or stopping)',
      );
    }
    return this.options.targets.get(request.targetId);
  }

  /** Checks the request against routing info, refreshed once when the request knows a newer chain. */
  private async checkPlan(request: {
    targetId: number;
    chainId: number;
    chainVersion: number;
    fromTargetId: number;
  }): Promise<void> {
    const { routing } = this.options;
    const attempt = () =>
      planSyncReceive({
        chain: routing.chain(request.chainId),
        chainId: request.chainId,
        chainVersion: request.chainVersion,
        targetId: request.targetId,
        fromTargetId: request.fromTargetId,
      });
    let result = attempt();
    const known = routing.chain(request.chainId);
    if (!result.ok && (known === undefined || request.chainVersion > known.chainVersion)) {
      await routing
        .refresh()
        .catch((error: unknown) =>
          this.logger.warn(
            { err: error },
            'cannot refresh routing info; judging the sync by the routing info held',
          ),
        );
      result = attempt();
    }
    if (!result.ok) throw new FsError(result.code, result.message);
  }
}
