/**
 * CRAQ writes on one storage process (DESIGN §7). A client write enters at the head: its chain
 * version is checked against the latest routing info, the chunk's lock is taken, the pending
 * version is built, the update goes to the successor, and each target commits on the way back
 * once its successor has committed (the tail commits first). A write is acknowledged only after
 * every writable replica has committed it.
 *
 * A failed forward leaves the head's pending version in place (a successor may have committed it
 * before the answer was lost). The next write of that chunk first settles it: the head sends the
 * pending version whole to its successor (which acknowledges at once if it has it already) and
 * commits it, and only then applies the new update. So replicas never commit different bytes
 * under the same version. A chunk left pending that no later write touches is settled the same way
 * in the background (`startSettling`), so replicas converge without further writes.
 *
 * Recovery copies a chunk to a syncing successor through `withSettledChunk`: it holds the chunk's
 * lock, so no write of that chunk interleaves with the copy (DESIGN §7).
 *
 * A target writes its pending version and forwards the update at the same time, so a write costs
 * about one disk write plus the hops rather than one disk write per replica; it commits only once
 * both are done (the successor having committed first), so the commit order is unchanged. The
 * price is one more failure case: the local write fails after the successor applied the update, so
 * the successor holds a version this target lacks. This target then remembers the version
 * (`successorAhead`), and its next write of the chunk is numbered above it and sent down the chain
 * as the whole chunk, which replaces whatever a successor holds: no two replicas ever commit
 * different bytes under the same version. When no write comes, the head repairs the chunk in the
 * background (`startSettling`): it sends what it committed, whole, numbered above the successor's
 * version (the write that failed here was never acknowledged), so replicas converge. Should the set
 * of such chunks be full, updates write locally before forwarding, as settling does.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { FsError, assert, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { StorageCode } from '../../common/status-code.js';
import { PublicState } from '../../mgmtd/protocol/index.js';
import { formatChunkId, type ChunkId, type ChunkUpdateOp, type UpdateReply } from '../protocol/index.js';
import type { RoutingView } from '../routing-view.js';
import type { ChunkUpdate, ChunkVersionInfo, PendingVersionInfo } from '../store/chunk-store.js';
import type { StorageTarget, TargetRegistry } from '../storage-target.js';
import { planWrite, type Successor, type WriteEntry, type WritePlan } from './forward-plan.js';
import type { Forwarder, WireUpdate } from './forwarder.js';
import { decideForwardedUpdate, isWholeChunkUpdate, nextUpdateVersion } from './update-version.js';
import { toChunkUpdate } from './update-validation.js';

/** Which chunk of which chain on which target, routed by which chain version, with how much time. */
export interface ChunkRoute {
  readonly targetId: number;
  readonly chainId: number;
  readonly chainVersion: number;
  readonly chunkId: ChunkId;
  readonly chunkSizeBytes: number;
  readonly timeoutMs: number;
}

/** The fields every update request carries. */
export interface UpdateRequest extends ChunkRoute {
  readonly op: ChunkUpdateOp;
}

/** A client's update; `expectedVersion` makes it conditional on the chunk's committed version. */
export interface ClientUpdateRequest extends UpdateRequest {
  readonly expectedVersion?: number | undefined;
}

/** An update passed on by a predecessor. */
export interface ForwardedUpdateRequest extends UpdateRequest {
  readonly updateVersion: number;
  readonly fromTargetId: number;
}

export interface ReplicatorOptions {
  readonly targets: TargetRegistry;
  readonly routing: RoutingView;
  readonly forwarder: Forwarder;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly chunkSizeMaxBytes: number;
}

/** One update on its way through this target. */
interface Step {
  readonly target: StorageTarget;
  readonly request: ChunkRoute;
  readonly deadlineMs: number;
}

/** A chunk a failed update left pending on one of this process's targets. */
interface UnsettledChunk {
  readonly targetId: number;
  readonly chainId: number;
  readonly chunkId: ChunkId;
  readonly chunkSizeBytes: number;
}

function toReply(info: ChunkVersionInfo | undefined): UpdateReply {
  return info === undefined
    ? { exists: false, version: 0, length: 0, checksum: 0 }
    : { exists: true, version: info.version, length: info.length, checksum: info.checksum };
}

export class Replicator {
  private readonly logger: Logger;
  private readonly unsettled = new Map<string, UnsettledChunk>();
  /** Per target and chunk: a version a successor may hold that this target failed to write. */
  private readonly successorAhead = new Map<string, AheadChunk>();
  private settleTimer: TimerHandle | undefined;
  private settling = false;

  constructor(private readonly options: ReplicatorOptions) {
    this.logger = options.logger.child({ component: 'craq' });
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
    const step = this.begin(request);
    const update = this.checkUpdate(request, payload, payloadCrc32c);
    const entry: WriteEntry = { kind: 'client' };
    await this.plan(request, entry);
    const release = await step.target.locks.acquire(formatChunkId(request.chunkId), step.deadlineMs);
    try {
      // Re-planned after each wait: the chain may have changed meanwhile.
      await this.settlePending(step, await this.plan(request, entry));
      const plan = await this.plan(request, entry);
      const committedVersion = step.target.store.stat(request.chunkId)?.committed?.version ?? 0;
      checkExpectedVersion(request, committedVersion);
      const ahead = this.successorAheadVersion(step, committedVersion);
      // Numbered past a version a successor may hold (see the file comment).
      const version = nextUpdateVersion(Math.max(committedVersion, ahead ?? 0));
      const reply = await this.applyAndForward(step, {
        op: request.op,
        update,
        payload,
        version,
        plan: ahead === undefined ? plan : wholeChunkPlan(plan),
      });
      step.target.counters.clientWrites += 1;
      step.target.counters.bytesWritten += payload?.length ?? 0;
      return reply;
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      release();
    }
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
    const step = this.begin(route);
    const release = await step.target.locks.acquire(formatChunkId(route.chunkId), step.deadlineMs);
    try {
      await this.settlePending(step, { successor: { targetId: successorTargetId, fullChunk: true } });
      return await work(step.target);
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      release();
    }
  }

  /** An update forwarded by the predecessor, numbered by the head (`payloadCrc32c` as in `write`). */
  async forwarded(
    request: ForwardedUpdateRequest,
    payload: Buffer | undefined,
    payloadCrc32c?: number,
  ): Promise<UpdateReply> {
    const step = this.begin(request);
    const update = this.checkUpdate(request, payload, payloadCrc32c);
    const entry: WriteEntry = { kind: 'forward', fromTargetId: request.fromTargetId };
    await this.plan(request, entry);
    const release = await step.target.locks.acquire(formatChunkId(request.chunkId), step.deadlineMs);
    try {
      const plan = await this.plan(request, entry);
      const committed = step.target.store.stat(request.chunkId)?.committed;
      const decision = decideForwardedUpdate({
        committedVersion: committed?.version ?? 0,
        updateVersion: request.updateVersion,
        wholeChunk: isWholeChunkUpdate(request.op),
        staleCopy:
          committed !== undefined &&
          committed.chainVersion < request.chainVersion &&
          this.isSyncing(request.chainId, request.targetId),
      });
      if (decision === 'already-committed') return toReply(committed);
      if (decision === 'missing-base') {
        throw new FsError(
          StorageCode.ChunkVersionMismatch,
          `chunk ${formatChunkId(request.chunkId)} is at version ${committed?.version ?? 0} on target ${step.target.targetId}; update ${request.updateVersion} needs version ${request.updateVersion - 1}`,
        );
      }
      if (decision === 'replace-stale') await this.dropStaleCopy(step, request.chainVersion);
      const ahead = this.successorAheadVersion(step, committed?.version ?? 0);
      const reply = await this.applyAndForward(step, {
        op: request.op,
        update,
        payload,
        version: request.updateVersion,
        plan: ahead === undefined ? plan : wholeChunkPlan(plan),
      });
      step.target.counters.forwardedWrites += 1;
      step.target.counters.bytesWritten += payload?.length ?? 0;
      return reply;
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      release();
    }
  }

  /** True when routing info shows `targetId` syncing in chain `chainId`. */
  private isSyncing(chainId: number, targetId: number): boolean {
    const member = this.options.routing
      .chain(chainId)
      ?.targets.find((candidate) => candidate.targetId === targetId);
    return member?.publicState === PublicState.Syncing;
  }

  /** Removes a syncing target's stale copy, so a whole chunk numbered at or below it can follow. */
  private async dropStaleCopy(step: Step, chainVersion: number): Promise<void> {
    const { target, request } = step;
    const committed = target.store.stat(request.chunkId)?.committed;
    assert(committed !== undefined, 'a stale copy to drop exists');
    const version = nextUpdateVersion(committed.version);
    await target.store.prepare(request.chunkId, { kind: 'remove' }, { version, chainVersion });
    await target.store.commit(request.chunkId, version);
  }

  /** Starts settling, every storageSettleIntervalMs, the chunks failed updates left pending. */
  startSettling(): void {
    if (this.settleTimer !== undefined) return;
    this.scheduleSettling();
  }

  /** Stops background settling (a round in progress finishes on its own). */
  stopSettling(): void {
    this.settleTimer?.cancel();
    this.settleTimer = undefined;
    this.settling = false;
  }

  /** Chunks with a pending update waiting to be settled (for tests and diagnostics). */
  unsettledCount(): number {
    return this.unsettled.size;
  }

  /** Chunks whose successors may hold a version this process failed to write (tests, diagnostics). */
  successorAheadCount(): number {
    return this.successorAhead.size;
  }

  private begin(request: ChunkRoute): Step {
    return {
      target: this.options.targets.get(request.targetId),
      request,
      deadlineMs: this.options.clock.monotonicMs() + request.timeoutMs,
    };
  }

  private checkUpdate(
    request: UpdateRequest,
    payload: Buffer | undefined,
    payloadCrc32c: number | undefined,
  ): ChunkUpdate {
    return toChunkUpdate({
      op: request.op,
      payload,
      payloadCrc32c,
      chunkSizeBytes: request.chunkSizeBytes,
      chunkSizeMaxBytes: this.options.chunkSizeMaxBytes,
    });
  }

  /**
   * Plans the write from routing info. When the request may know a newer chain than this
   * process (a higher version, or a chain it has not seen), routing info is refreshed once first.
   */
  private async plan(request: ChunkRoute, entry: WriteEntry): Promise<WritePlan> {
    const { routing } = this.options;
    const attempt = () =>
      planWrite({
        chain: routing.chain(request.chainId),
        chainId: request.chainId,
        chainVersion: request.chainVersion,
        targetId: request.targetId,
        entry,
      });
    let result = attempt();
    const known = routing.chain(request.chainId);
    if (!result.ok && (known === undefined || request.chainVersion > known.chainVersion)) {
      await routing
        .refresh()
        .catch((error: unknown) =>
          this.logger.warn(
            { err: error },
            'cannot refresh routing info; judging the request by the routing info held',
          ),
        );
      result = attempt();
    }
    if (!result.ok) throw new FsError(result.code, result.message);
    return result.plan;
  }

  /**
   * Builds the pending version while passing the update on, and commits once both are done (the
   * successor having committed). See the file comment for a local failure after a forward.
   */
  private async applyAndForward(
    step: Step,
    work: {
      op: ChunkUpdateOp;
      update: ChunkUpdate;
      payload: Buffer | undefined;
      version: number;
      plan: WritePlan;
    },
  ): Promise<UpdateReply> {
    const { target, request } = step;
    const { successor } = work.plan;
    const prepare = (): Promise<PendingVersionInfo> =>
      target.store.prepare(request.chunkId, work.update, {
        version: work.version,
        chainVersion: request.chainVersion,
      });
    const forward = (localReady: Promise<unknown>): Promise<UpdateReply> | undefined =>
      successor === undefined
        ? undefined
        : this.forwardTo(step, successor, {
            version: work.version,
            update: { op: work.op, payload: work.payload },
            localReady,
          });
    let pending: PendingVersionInfo;
    let reply: UpdateReply | undefined;
    if (successor === undefined || this.successorAhead.size >= limits.storageSuccessorAheadChunksMax) {
      pending = await prepare();
      reply = await forward(Promise.resolve());
    } else {
      const prepared = prepare();
      const forwarded = forward(prepared);
      // Both settle before anything else happens: the chunk's lock is held until the forward is over.
      const [local, remote] = await Promise.allSettled([prepared, forwarded]);
      if (local.status === 'rejected') {
        this.rememberSuccessorAhead(step, work.version);
        throw local.reason;
      }
      if (remote.status === 'rejected') throw remote.reason;
      pending = local.value;
      reply = remote.value;
    }
    if (reply !== undefined) this.checkAgreement(step, pending, reply, work.version);
    const committed = await target.store.commit(request.chunkId, work.version);
    this.successorAhead.delete(chunkKey(step));
    return toReply(committed);
  }

  /**
   * The version a successor may hold above `committedVersion` (this target failed to write it), or
   * undefined; an entry the committed version has caught up with is forgotten.
   */
  private successorAheadVersion(step: Step, committedVersion: number): number | undefined {
    const key = chunkKey(step);
    const ahead = this.successorAhead.get(key);
    if (ahead === undefined) return undefined;
    if (ahead.version > committedVersion) return ahead.version;
    this.successorAhead.delete(key);
    return undefined;
  }

  private rememberSuccessorAhead(step: Step, version: number): void {
    const key = chunkKey(step);
    const { request } = step;
    this.successorAhead.set(key, {
      targetId: step.target.targetId,
      chainId: request.chainId,
      chunkId: request.chunkId,
      chunkSizeBytes: request.chunkSizeBytes,
      version: Math.max(version, this.successorAhead.get(key)?.version ?? 0),
    });
    this.logger.warn(
      { targetId: step.target.targetId, chunkId: formatChunkId(step.request.chunkId), version },
      'a local write failed while its update went on down the chain; the next write sends the whole chunk',
    );
  }

  /** Finishes an update that a failed write left pending here (see the file comment). */
  private async settlePending(step: Step, plan: WritePlan): Promise<void> {
    const { target, request } = step;
    const pending = target.store.stat(request.chunkId)?.pending;
    if (pending === undefined) return;
    this.logger.info(
      { targetId: target.targetId, chunkId: formatChunkId(request.chunkId), version: pending.version },
      'settling an update left pending by a failed write',
    );
    if (plan.successor !== undefined) {
      const update = await this.wholeChunk(target, request.chunkId);
      const reply = await this.forwardTo(step, plan.successor, {
        version: pending.version,
        update,
        localReady: Promise.resolve(),
      });
      this.checkAgreement(step, pending, reply, pending.version);
    }
    await target.store.commit(request.chunkId, pending.version);
  }

  /**
   * Sends the update to `successor`. `localReady` settles once this target's pending version is
   * written; a whole-chunk send (the successor syncing, or lacking the update's base) waits for it.
   */
  private async forwardTo(
    step: Step,
    successor: Successor,
    work: { version: number; update: WireUpdate; localReady: Promise<unknown> },
  ): Promise<UpdateReply> {
    const { target, request } = step;
    const address = this.options.routing.addressOfTarget(successor.targetId);
    if (address === undefined) {
      throw new FsError(
        StorageCode.ForwardFailed,
        `routing info has no address for target ${successor.targetId}`,
      );
    }
    const timeoutMs = Math.floor(
      step.deadlineMs - this.options.clock.monotonicMs() - limits.storageForwardMarginMs,
    );
    if (timeoutMs < 1) {
      throw new FsError(StorageCode.ForwardFailed, `no time left to forward to target ${successor.targetId}`);
    }
    return this.options.forwarder.forward({
      request: {
        chainId: request.chainId,
        chainVersion: request.chainVersion,
        chunkId: request.chunkId,
        chunkSizeBytes: request.chunkSizeBytes,
        updateVersion: work.version,
        fromTargetId: target.targetId,
      },
      successor,
      address,
      update: work.update,
      wholeChunk: async () => {
        await work.localReady;
        return this.wholeChunk(target, request.chunkId);
      },
      timeoutMs,
    });
  }

  /** The pending version as a whole-chunk update: a replace with its bytes, or a remove. */
  private async wholeChunk(target: StorageTarget, chunkId: ChunkId): Promise<WireUpdate> {
    const pending = target.store.stat(chunkId)?.pending;
    assert(pending !== undefined, 'a whole-chunk forward sends a pending version');
    if (pending.removed) return { op: { kind: 'remove' }, payload: undefined };
    const { data, checksum } = await target.store.read(chunkId, {
      offset: 0,
      length: pending.length,
      pending: true,
    });
    return { op: { kind: 'replace', length: data.length, checksum }, payload: data };
  }

  /** Remembers a chunk a failed update left pending on this target, to settle it later. */
  private rememberIfPending(step: Step): void {
    const { target, request } = step;
    if (!target.store.hasPending(request.chunkId)) return;
    const key = `${target.targetId}/${formatChunkId(request.chunkId)}`;
    if (!this.unsettled.has(key) && this.unsettled.size >= limits.storageUnsettledChunksMax) {
      this.logger.warn({ key }, 'too many unsettled chunks; this one waits for its next write');
      return;
    }
    this.unsettled.set(key, {
      targetId: target.targetId,
      chainId: request.chainId,
      chunkId: request.chunkId,
      chunkSizeBytes: request.chunkSizeBytes,
    });
  }

  private scheduleSettling(): void {
    this.settling = true;
    this.settleTimer = this.options.clock.setTimer(limits.storageSettleIntervalMs, () => {
      void this.settleRound().finally(() => {
        if (this.settling) this.scheduleSettling();
      });
    });
  }

  /**
   * One round: each remembered chunk still pending on a target that heads its chain is settled
   * as the next write would settle it. Chunks whose pending update is gone are forgotten; on other
   * targets the chain's head settles them (its own pending update reaches them whole).
   */
  private async settleRound(): Promise<void> {
    for (const [key, chunk] of [...this.unsettled]) {
      if (!this.settling) return;
      let target: StorageTarget;
      try {
        target = this.options.targets.get(chunk.targetId);
      } catch {
        this.unsettled.delete(key);
        continue;
      }
      if (!target.store.hasPending(chunk.chunkId)) {
        this.unsettled.delete(key);
        continue;
      }
      const chain = this.options.routing.chain(chunk.chainId);
      if (chain === undefined) continue;
      const route: ChunkRoute = {
        targetId: chunk.targetId,
        chainId: chunk.chainId,
        chainVersion: chain.chainVersion,
        chunkId: chunk.chunkId,
        chunkSizeBytes: chunk.chunkSizeBytes,
        timeoutMs: limits.storageWriteTimeoutMsDefault,
      };
      await this.settleOne(route).catch((error: unknown) =>
        this.logger.debug({ err: error, key }, `settling a pending update failed: ${describeError(error)}`),
      );
    }
    for (const [key, ahead] of [...this.successorAhead]) {
      if (!this.settling) return;
      const chain = this.options.routing.chain(ahead.chainId);
      if (chain === undefined) continue;
      const route: ChunkRoute = {
        targetId: ahead.targetId,
        chainId: ahead.chainId,
        chainVersion: chain.chainVersion,
        chunkId: ahead.chunkId,
        chunkSizeBytes: ahead.chunkSizeBytes,
        timeoutMs: limits.storageWriteTimeoutMsDefault,
      };
      await this.repairAhead(route).catch((error: unknown) =>
        this.logger.debug(
          { err: error, key },
          `repairing a chunk a successor holds ahead failed: ${describeError(error)}`,
        ),
      );
    }
  }

  /**
   * On the head: sends what this target committed of a chunk whose successors may hold a version
   * it failed to write, whole and numbered above that version, so every replica holds the same
   * again. On other targets nothing: the head's own settling reaches them whole.
   */
  private async repairAhead(route: ChunkRoute): Promise<void> {
    await this.atHead(route, async (step, plan) => {
      const { target } = step;
      const committed = target.store.stat(route.chunkId)?.committed;
      const ahead = this.successorAheadVersion(step, committed?.version ?? 0);
      if (ahead === undefined) return;
      let op: ChunkUpdateOp = { kind: 'remove' };
      let payload: Buffer | undefined;
      let payloadCrc32c: number | undefined;
      if (committed !== undefined) {
        const read = await target.store.read(route.chunkId, {
          offset: 0,
          length: committed.length,
          pending: false,
        });
        op = { kind: 'replace', length: read.data.length, checksum: read.checksum };
        payload = read.data;
        payloadCrc32c = read.checksum;
      }
      await this.applyAndForward(step, {
        op,
        update: toChunkUpdate({
          op,
          payload,
          payloadCrc32c,
          chunkSizeBytes: route.chunkSizeBytes,
          chunkSizeMaxBytes: this.options.chunkSizeMaxBytes,
        }),
        payload,
        version: nextUpdateVersion(ahead),
        plan: wholeChunkPlan(plan),
      });
    });
  }

  private async settleOne(route: ChunkRoute): Promise<void> {
    await this.atHead(route, async () => undefined);
  }

  /**
   * Runs `work` holding the chunk's lock when `route`'s target heads its chain (else nothing: the
   * head's own settling reaches the others), after settling an update left pending there. The plan
   * is made again under the lock: a write may have settled the chunk, or the chain moved on.
   */
  private async atHead(
    route: ChunkRoute,
    work: (step: Step, plan: WritePlan) => Promise<void>,
  ): Promise<void> {
    const head = planWrite({
      chain: this.options.routing.chain(route.chainId),
      chainId: route.chainId,
      chainVersion: route.chainVersion,
      targetId: route.targetId,
      entry: { kind: 'client' },
    });
    if (!head.ok) return;
    const step = this.begin(route);
    const release = await step.target.locks.acquire(formatChunkId(route.chunkId), step.deadlineMs);
    try {
      const plan = await this.plan(route, { kind: 'client' });
      await this.settlePending(step, plan);
      await work(step, plan);
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      release();
    }
  }

  /** Replicas that report the same version must hold the same bytes; a difference is logged loudly. */
  private checkAgreement(
    step: Step,
    pending: { removed: boolean; length: number; checksum: number },
    reply: UpdateReply,
    version: number,
  ): void {
    if (reply.version !== version && reply.exists) return;
    const same = pending.removed
      ? !reply.exists
      : reply.exists && reply.length === pending.length && reply.checksum === pending.checksum;
    if (same) return;
    this.logger.error(
      {
        targetId: step.target.targetId,
        chunkId: formatChunkId(step.request.chunkId),
        version,
        local: pending,
        successor: reply,
      },
      'replicas disagree on a chunk version',
    );
  }
}

/** A chunk whose successors may hold a version its target failed to write, and that version. */
interface AheadChunk {
  readonly targetId: number;
  readonly chainId: number;
  readonly chunkId: ChunkId;
  readonly chunkSizeBytes: number;
  readonly version: number;
}

/** The key of a step's chunk on its target in per-chunk maps. */
function chunkKey(step: Step): string {
  return `${step.target.targetId}/${formatChunkId(step.request.chunkId)}`;
}

/** `plan` with its successor sent the whole chunk (the successor's copy may be ahead or behind). */
function wholeChunkPlan(plan: WritePlan): WritePlan {
  return plan.successor === undefined
    ? plan
    : { successor: { targetId: plan.successor.targetId, fullChunk: true } };
}

/** Refuses a conditional update whose chunk is not at the version the caller expects. */
function checkExpectedVersion(request: ClientUpdateRequest, committedVersion: number): void {
  if (request.expectedVersion === undefined || request.expectedVersion === committedVersion) return;
  throw new FsError(
    StorageCode.ChunkVersionMismatch,
    `chunk ${formatChunkId(request.chunkId)} is at version ${committedVersion}, the update expects version ${request.expectedVersion}`,
  );
}
