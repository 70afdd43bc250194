/**
 * CRAQ writes on one storage process (DESIGN §7): the driver of replicator-core.ts. The core takes
 * every decision (chain version and role checks, locking, version numbers, settling, repairs,
 * whole-chunk sends, agreement checks) and asks for actions; this loop performs them with the
 * targets' chunk locks and stores, the forwarder (RPC) and the Clock, and feeds each outcome back.
 * It holds no state of its own beyond the handles of what is in flight: the callers waiting for
 * their replies, the locks held, recovery's copy callbacks and the settle timer.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { AssertionError, assert } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Release } from '../../common/permits.js';
import { formatChunkId, type UpdateReply } from '../protocol/index.js';
import type { RoutingCache } from '../../cluster/index.js';
import type { StorageTarget, TargetRegistry } from '../storage-target.js';
import type { Forwarder } from './forwarder.js';
import { ReplicatorCore } from './replicator-core.js';
import type {
  ChunkRoute,
  ClientUpdateRequest,
  ForwardedUpdateRequest,
  Outcome,
  ReplicatorAction,
  ReplicatorEvent,
  ReplicatorOutput,
  ReplicatorRequest,
  ReplicatorView,
} from './replicator-events.js';

export type {
  ChunkRoute,
  ClientUpdateRequest,
  ForwardedUpdateRequest,
  UpdateRequest,
} from './replicator-events.js';

export interface ReplicatorOptions {
  readonly targets: TargetRegistry;
  readonly routing: RoutingCache;
  readonly forwarder: Forwarder;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly chunkSizeMaxBytes: number;
  /** Between settling rounds (default limits.storageSettleIntervalMs). */
  readonly settleIntervalMs?: number;
  /** Time each hop keeps for itself before forwarding (default limits.storageForwardMarginMs). */
  readonly forwardMarginMs?: number;
  /** Deadline of a background settle or repair (default limits.storageWriteTimeoutMsDefault). */
  readonly backgroundTimeoutMs?: number;
  /**
   * Told of a broken invariant found by background settling. By default it is thrown where
   * nothing catches it, so the process dies loudly (service-runtime.ts) rather than go on.
   */
  readonly onBrokenInvariant?: (error: AssertionError) => void;
}

export class Replicator {
  private readonly logger: Logger;
  private readonly core: ReplicatorCore;
  private nextRequestId = 1;
  private readonly replies = new Map<number, (outcome: Outcome) => void>();
  private readonly copies = new Map<number, (target: StorageTarget) => Promise<unknown>>();
  private readonly locks = new Map<number, Release>();
  private settleTimer: TimerHandle | undefined;

  constructor(private readonly options: ReplicatorOptions) {
    this.logger = options.logger.child({ component: 'craq' });
    const { targets, routing, clock } = options;
    const view: ReplicatorView = {
      nowMs: () => clock.monotonicMs(),
      chain: (chainId) => routing.chain(chainId),
      addressOfTarget: (targetId) => routing.addressOfTarget(targetId),
      checkTarget: (targetId) => void targets.get(targetId),
      chunk: (targetId, chunkId) => targets.find(targetId)?.store.stat(chunkId),
    };
    this.core = new ReplicatorCore({
      view,
      logger: this.logger,
      chunkSizeMaxBytes: options.chunkSizeMaxBytes,
      ...(options.settleIntervalMs === undefined ? {} : { settleIntervalMs: options.settleIntervalMs }),
      ...(options.forwardMarginMs === undefined ? {} : { forwardMarginMs: options.forwardMarginMs }),
      ...(options.backgroundTimeoutMs === undefined
        ? {}
        : { backgroundTimeoutMs: options.backgroundTimeoutMs }),
    });
  }

  /**
   * A client's write at the head of the chain. `payloadCrc32c`: the CRC32C the RPC layer verified
   * the payload against, if any (spares summing it again).
   */
  async write(
    request: ClientUpdateRequest,
    payload: Buffer | undefined,
    payloadCrc32c?: number,
  ): Promise<UpdateReply> {
    const reply = await this.request<UpdateReply>({ kind: 'client-update', request, payload, payloadCrc32c });
    this.count(request.targetId, 'clientWrites', payload);
    return reply;
  }

  /** An update forwarded by the predecessor, numbered by the head (`payloadCrc32c` as in `write`). */
  async forwarded(
    request: ForwardedUpdateRequest,
    payload: Buffer | undefined,
    payloadCrc32c?: number,
  ): Promise<UpdateReply> {
    const reply = await this.request<UpdateReply>({
      kind: 'forwarded-update',
      request,
      payload,
      payloadCrc32c,
    });
    this.count(request.targetId, 'forwardedWrites', payload);
    return reply;
  }

  /**
   * Runs `work` holding the lock of the chunk on `targetId`, after settling an update left pending
   * there with `successorTargetId` (a syncing successor). Recovery copies a chunk inside `work`, so
   * no write of the chunk runs between the copy's read and its arrival at the successor.
   */
  async withSettledChunk<T>(
    route: ChunkRoute,
    successorTargetId: number,
    work: (target: StorageTarget) => Promise<T>,
  ): Promise<T> {
    return this.request<T>({ kind: 'copy', route, successorTargetId }, work);
  }

  /** Starts settling, every settle interval, the chunks failed updates left pending. */
  startSettling(): void {
    this.dispatch({ kind: 'start-settling' });
  }

  /** Stops background settling (a round in progress finishes the chunk it is at). */
  stopSettling(): void {
    this.dispatch({ kind: 'stop-settling' });
  }

  /** Chunks with a pending update waiting to be settled (for tests and diagnostics). */
  unsettledCount(): number {
    return this.core.unsettledCount();
  }

  /** Chunks whose successors may hold a version this process failed to write (tests, diagnostics). */
  successorAheadCount(): number {
    return this.core.successorAheadCount();
  }

  private request<T>(
    request: ReplicatorRequest,
    work?: (target: StorageTarget) => Promise<unknown>,
  ): Promise<T> {
    const requestId = this.nextRequestId++;
    return new Promise<T>((resolve, reject) => {
      this.replies.set(requestId, (outcome) => {
        if (outcome.ok) resolve(outcome.value as T);
        else reject(outcome.error);
      });
      if (work !== undefined) this.copies.set(requestId, work);
      this.dispatch({ kind: 'request', requestId, request });
    });
  }

  private count(
    targetId: number,
    counter: 'clientWrites' | 'forwardedWrites',
    payload: Buffer | undefined,
  ): void {
    const target = this.options.targets.find(targetId);
    if (target === undefined) return;
    target.counters[counter] += 1;
    target.counters.bytesWritten += payload?.length ?? 0;
  }

  private dispatch(event: ReplicatorEvent): void {
    for (const output of this.core.handle(event)) this.perform(output);
  }

  private perform({ id, action }: ReplicatorOutput): void {
    switch (action.kind) {
      case 'reply': {
        const reply = this.replies.get(action.requestId);
        assert(reply !== undefined, `request ${action.requestId} waits for its reply`);
        this.replies.delete(action.requestId);
        this.copies.delete(action.requestId);
        reply(action.outcome);
        return;
      }
      case 'unlock': {
        const release = this.locks.get(action.lockId as number);
        assert(release !== undefined, `lock ${String(action.lockId)} is held`);
        this.locks.delete(action.lockId as number);
        release();
        return;
      }
      case 'set-timer':
        this.settleTimer?.cancel();
        this.settleTimer = this.options.clock.setTimer(action.delayMs, () => {
          this.settleTimer = undefined;
          this.dispatch({ kind: 'timer-fired' });
        });
        return;
      case 'cancel-timer':
        this.settleTimer?.cancel();
        this.settleTimer = undefined;
        return;
      case 'broken-invariant':
        this.brokenInvariant(action.error);
        return;
      default:
        this.start(id, action).then(
          (value) => this.dispatch({ kind: 'done', actionId: id, outcome: { ok: true, value } }),
          (error: unknown) => this.dispatch({ kind: 'done', actionId: id, outcome: { ok: false, error } }),
        );
    }
  }

  /** Starts an action that ends with an outcome for the core. */
  private async start(id: number, action: ReplicatorAction): Promise<unknown> {
    const { targets } = this.options;
    switch (action.kind) {
      case 'lock': {
        const release = await this.target(action.targetId).locks.acquire(
          formatChunkId(action.chunkId),
          action.deadlineMs,
        );
        this.locks.set(id, release);
        return id;
      }
      case 'refresh-routing':
        return this.options.routing.refresh();
      case 'prepare':
        return this.target(action.targetId).store.prepare(action.chunkId, action.update, {
          version: action.version,
          chainVersion: action.chainVersion,
        });
      case 'commit':
        return this.target(action.targetId).store.commit(action.chunkId, action.version);
      case 'read': {
        const { data, checksum } = await this.target(action.targetId).store.read(action.chunkId, {
          offset: 0,
          length: action.length,
          pending: action.pending,
        });
        return { data, checksum };
      }
      case 'forward':
        return this.options.forwarder.forward(action);
      case 'copy': {
        const work = this.copies.get(action.requestId);
        assert(work !== undefined, `copy ${action.requestId} has its work`);
        return work(targets.get(action.targetId));
      }
      default:
        throw new AssertionError(`the core asked for ${action.kind}, which ends without an outcome`);
    }
  }

  /** A target of this process, whatever its disk's state (an update in progress goes on with it). */
  private target(targetId: number): StorageTarget {
    const target = this.options.targets.find(targetId);
    assert(target !== undefined, `target ${targetId} is served here`);
    return target;
  }

  private brokenInvariant(error: AssertionError): void {
    this.logger.fatal({ err: error }, 'replication broke an invariant: this is a bug');
    if (this.options.onBrokenInvariant !== undefined) {
      this.options.onBrokenInvariant(error);
      return;
    }
    // Nothing catches this: the process dies on the unhandled rejection.
    void Promise.reject(error);
  }
}
