/**
 * The decisions of CRAQ writes on one storage process (DESIGN §7), without I/O: a deterministic
 * state machine fed events (an update arrived, an action it asked for ended, the settle timer
 * fired) that answers with actions (take a chunk's lock, write the pending version, forward to the
 * successor, commit, reply, arm the timer). replicator.ts performs the actions with the chunk
 * store, the RPC forwarder and the real Clock; the simulation test performs them with simulated
 * ones. Each request is a task (task-runner.ts) written as the sequence of its steps.
 *
 * A client write enters at the head: its chain version is checked against the latest routing info,
 * the chunk's lock is taken, the pending version is built, the update goes to the successor, and
 * each target commits on the way back once its successor has committed (the tail commits first).
 * A write is acknowledged only after every writable replica has committed it.
 *
 * A failed forward leaves the head's pending version in place (a successor may have committed it
 * before the answer was lost). The next write of that chunk first settles it: the head sends the
 * pending version whole to its successor (which acknowledges at once if it has it already) and
 * commits it, and only then applies the new update. So replicas never commit different bytes
 * under the same version. A chunk left pending that no later write touches is settled the same way
 * in the background (settling rounds), so replicas converge without further writes.
 *
 * Recovery copies a chunk to a syncing successor inside a `copy` request: it holds the chunk's
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
 * background: it sends what it committed, whole, numbered above the successor's version (the write
 * that failed here was never acknowledged), so replicas converge. Should the set of such chunks be
 * full, updates write locally before forwarding, as settling does.
 *
 * Invariants kept here: one task per request; a chunk's lock is released exactly once by the task
 * that took it; a commit follows the successor's commit of the same version; a successor that
 * reports the version being committed holds the same bytes (asserted: a difference is a bug).
 */
import { AssertionError, FsError, assert, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { StorageCode, statusName } from '../../common/status-code.js';
import { PublicState } from '../../mgmtd/protocol/index.js';
import { formatChunkId, type ChunkId, type ChunkUpdateOp, type UpdateReply } from '../protocol/index.js';
import type { ChunkInfo, ChunkUpdate, ChunkVersionInfo, PendingVersionInfo } from '../store/chunk-store.js';
import { planWrite, type Successor, type WriteEntry, type WritePlan } from './forward-plan.js';
import {
  Latch,
  TaskRunner,
  allSettled,
  perform,
  settle,
  settledLatch,
  waitFor,
  type Outcome,
  type Task,
} from './task-runner.js';
import { toChunkUpdate } from './update-validation.js';
import { decideForwardedUpdate, isWholeChunkUpdate, nextUpdateVersion } from './update-version.js';
import type {
  ChunkRoute,
  ClientUpdateRequest,
  ForwardedUpdateRequest,
  ReplicatorAction,
  ReplicatorEvent,
  ReplicatorOutput,
  ReplicatorRequest,
  ReplicatorView,
  UpdateRequest,
  WireUpdate,
} from './replicator-events.js';

export interface ReplicatorCoreOptions {
  readonly view: ReplicatorView;
  readonly logger: Logger;
  readonly chunkSizeMaxBytes: number;
  /** Between settling rounds (default limits.storageSettleIntervalMs). */
  readonly settleIntervalMs?: number;
  /** Time each hop keeps for itself before forwarding (default limits.storageForwardMarginMs). */
  readonly forwardMarginMs?: number;
  /** Deadline of a background settle or repair (default limits.storageWriteTimeoutMsDefault). */
  readonly backgroundTimeoutMs?: number;
}

/** One update on its way through this target. */
interface Step {
  readonly targetId: number;
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

/** A chunk whose successors may hold a version its target failed to write, and that version. */
interface AheadChunk extends UnsettledChunk {
  readonly version: number;
}

type CoreTask<T> = Task<T, ReplicatorAction>;

/** Codes after which the successor gets the whole chunk instead of the update. */
const wholeChunkFallbackCodes: ReadonlySet<number> = new Set([
  StorageCode.ChunkVersionMismatch,
  StorageCode.ChunkCorrupted,
]);

/** A clone's op with the source version the head saw filled in; other ops as they are. */
function withSourceVersion(op: ChunkUpdateOp, sourceVersion: number): ChunkUpdateOp {
  return op.kind === 'clone' ? { ...op, sourceVersion } : op;
}

function toReply(info: ChunkVersionInfo | undefined): UpdateReply {
  return info === undefined
    ? { exists: false, version: 0, length: 0, checksum: 0 }
    : { exists: true, version: info.version, length: info.length, checksum: info.checksum };
}

export class ReplicatorCore {
  private readonly view: ReplicatorView;
  private readonly logger: Logger;
  private readonly settleIntervalMs: number;
  private readonly forwardMarginMs: number;
  private readonly backgroundTimeoutMs: number;
  private readonly runner = new TaskRunner<ReplicatorAction>();
  private readonly requests = new Set<number>();
  private readonly unsettled = new Map<string, UnsettledChunk>();
  /** Per target and chunk: a version a successor may hold that this target failed to write. */
  private readonly successorAhead = new Map<string, AheadChunk>();
  private settling = false;
  private timerArmed = false;
  private roundRunning = false;

  constructor(private readonly options: ReplicatorCoreOptions) {
    this.view = options.view;
    this.logger = options.logger;
    this.settleIntervalMs = options.settleIntervalMs ?? limits.storageSettleIntervalMs;
    this.forwardMarginMs = options.forwardMarginMs ?? limits.storageForwardMarginMs;
    this.backgroundTimeoutMs = options.backgroundTimeoutMs ?? limits.storageWriteTimeoutMsDefault;
    assert(this.settleIntervalMs > 0, 'settleIntervalMs is positive');
    assert(this.forwardMarginMs >= 0, 'forwardMarginMs is not negative');
  }

  /** Feeds one event; returns the actions it leads to, in the order they are to be performed. */
  handle(event: ReplicatorEvent): ReplicatorOutput[] {
    switch (event.kind) {
      case 'request':
        return this.startRequest(event.requestId, event.request);
      case 'done':
        return this.runner.complete(event.actionId, event.outcome);
      case 'start-settling':
        if (!this.settling) {
          this.settling = true;
          this.armTimer();
        }
        return this.runner.run();
      case 'stop-settling':
        this.settling = false;
        if (this.timerArmed) {
          this.timerArmed = false;
          this.runner.emit({ kind: 'cancel-timer' });
        }
        return this.runner.run();
      case 'timer-fired':
        this.timerArmed = false;
        if (this.settling && !this.roundRunning) {
          this.roundRunning = true;
          this.runner.spawn(this.settleRound(), (outcome) => this.roundEnded(outcome));
        }
        return this.runner.run();
    }
  }

  /** Requests in progress (for tests and diagnostics). */
  requestCount(): number {
    return this.requests.size;
  }

  /** Chunks with a pending update waiting to be settled (for tests and diagnostics). */
  unsettledCount(): number {
    return this.unsettled.size;
  }

  /** Chunks whose successors may hold a version this process failed to write (tests, diagnostics). */
  successorAheadCount(): number {
    return this.successorAhead.size;
  }

  private startRequest(requestId: number, request: ReplicatorRequest): ReplicatorOutput[] {
    assert(!this.requests.has(requestId), `request ${requestId} is not running already`);
    this.requests.add(requestId);
    const task = this.taskOf(requestId, request);
    return this.runner.start(task, (outcome) => {
      this.requests.delete(requestId);
      this.runner.emit({ kind: 'reply', requestId, outcome });
    });
  }

  private taskOf(requestId: number, request: ReplicatorRequest): CoreTask<unknown> {
    switch (request.kind) {
      case 'client-update':
        return this.clientUpdate(request.request, request.payload, request.payloadCrc32c);
      case 'forwarded-update':
        return this.forwardedUpdate(request.request, request.payload, request.payloadCrc32c);
      case 'copy':
        return this.copy(requestId, request.route, request.successorTargetId);
    }
  }

  // --- requests ----------------------------------------------------------------------------

  /** A client's write at the head of the chain. */
  private *clientUpdate(
    request: ClientUpdateRequest,
    payload: Buffer | undefined,
    payloadCrc32c: number | undefined,
  ): CoreTask<UpdateReply> {
    const step = this.begin(request);
    this.checkUpdate(request, withSourceVersion(request.op, 0), payload, payloadCrc32c);
    const entry: WriteEntry = { kind: 'client' };
    yield* this.plan(request, entry);
    const lockId = yield* this.lock(step);
    try {
      // Re-planned after each wait: the chain may have changed meanwhile.
      yield* this.settlePending(step, yield* this.plan(request, entry));
      const plan = yield* this.plan(request, entry);
      const committedVersion = this.chunk(step)?.committed?.version ?? 0;
      checkExpectedVersion(request, committedVersion);
      const ahead = this.successorAheadVersion(step, committedVersion);
      // Numbered past a version a successor may hold (see the file comment).
      const version = nextUpdateVersion(Math.max(committedVersion, ahead ?? 0));
      // A clone is applied over the source's committed version here, which every replica checks.
      const sourceVersion =
        request.op.kind === 'clone'
          ? (this.view.chunk(step.targetId, request.op.source)?.committed?.version ?? 0)
          : 0;
      const op = withSourceVersion(request.op, sourceVersion);
      return yield* this.applyAndForward(step, {
        op,
        update: this.checkUpdate(request, op, payload, payloadCrc32c),
        payload,
        version,
        plan: ahead === undefined ? plan : wholeChunkPlan(plan),
      });
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      this.unlock(lockId);
    }
  }

  /** An update forwarded by the predecessor, numbered by the head. */
  private *forwardedUpdate(
    request: ForwardedUpdateRequest,
    payload: Buffer | undefined,
    payloadCrc32c: number | undefined,
  ): CoreTask<UpdateReply> {
    const step = this.begin(request);
    const update = this.checkUpdate(request, request.op, payload, payloadCrc32c);
    const entry: WriteEntry = { kind: 'forward', fromTargetId: request.fromTargetId };
    yield* this.plan(request, entry);
    const lockId = yield* this.lock(step);
    try {
      const plan = yield* this.plan(request, entry);
      const committed = this.chunk(step)?.committed;
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
          `chunk ${formatChunkId(request.chunkId)} is at version ${committed?.version ?? 0} on target ${step.targetId}; update ${request.updateVersion} needs version ${request.updateVersion - 1}`,
        );
      }
      if (decision === 'replace-stale') yield* this.dropStaleCopy(step, request.chainVersion);
      const ahead = this.successorAheadVersion(step, committed?.version ?? 0);
      return yield* this.applyAndForward(step, {
        op: request.op,
        update,
        payload,
        version: request.updateVersion,
        plan: ahead === undefined ? plan : wholeChunkPlan(plan),
      });
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      this.unlock(lockId);
    }
  }

  /**
   * Holding the chunk's lock, settles an update left pending there with the syncing successor
   * `successorTargetId`, then lets the driver copy the chunk: no write of the chunk runs between
   * the copy's read and its arrival at the successor.
   */
  private *copy(requestId: number, route: ChunkRoute, successorTargetId: number): CoreTask<unknown> {
    const step = this.begin(route);
    const lockId = yield* this.lock(step);
    try {
      yield* this.settlePending(step, { successor: { targetId: successorTargetId, fullChunk: true } });
      return yield* perform<unknown, ReplicatorAction>({
        kind: 'copy',
        requestId,
        targetId: route.targetId,
      });
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      this.unlock(lockId);
    }
  }

  // --- steps -------------------------------------------------------------------------------

  private begin(request: ChunkRoute): Step {
    this.view.checkTarget(request.targetId);
    return {
      targetId: request.targetId,
      request,
      deadlineMs: this.view.nowMs() + request.timeoutMs,
    };
  }

  private chunk(step: Step): ChunkInfo | undefined {
    return this.view.chunk(step.targetId, step.request.chunkId);
  }

  private checkUpdate(
    request: UpdateRequest,
    op: ChunkUpdateOp,
    payload: Buffer | undefined,
    payloadCrc32c: number | undefined,
  ): ChunkUpdate {
    return toChunkUpdate({
      op,
      payload,
      payloadCrc32c,
      chunkSizeBytes: request.chunkSizeBytes,
      chunkSizeMaxBytes: this.options.chunkSizeMaxBytes,
    });
  }

  private *lock(step: Step): CoreTask<unknown> {
    return yield* perform<unknown, ReplicatorAction>({
      kind: 'lock',
      targetId: step.targetId,
      chunkId: step.request.chunkId,
      deadlineMs: step.deadlineMs,
    });
  }

  private unlock(lockId: unknown): void {
    this.runner.emit({ kind: 'unlock', lockId });
  }

  /** True when routing info shows `targetId` syncing in chain `chainId`. */
  private isSyncing(chainId: number, targetId: number): boolean {
    const member = this.view.chain(chainId)?.targets.find((candidate) => candidate.targetId === targetId);
    return member?.publicState === PublicState.Syncing;
  }

  /**
   * Plans the write from routing info. When the request may know a newer chain than this
   * process (a higher version, or a chain it has not seen), routing info is refreshed once first.
   */
  private *plan(request: ChunkRoute, entry: WriteEntry): CoreTask<WritePlan> {
    const attempt = () =>
      planWrite({
        chain: this.view.chain(request.chainId),
        chainId: request.chainId,
        chainVersion: request.chainVersion,
        targetId: request.targetId,
        entry,
      });
    let result = attempt();
    const known = this.view.chain(request.chainId);
    if (!result.ok && (known === undefined || request.chainVersion > known.chainVersion)) {
      try {
        yield* perform<void, ReplicatorAction>({ kind: 'refresh-routing' });
      } catch (error) {
        this.logger.warn(
          { err: error },
          'cannot refresh routing info; judging the request by the routing info held',
        );
      }
      result = attempt();
    }
    if (!result.ok) throw new FsError(result.code, result.message);
    return result.plan;
  }

  /** Removes a syncing target's stale copy, so a whole chunk numbered at or below it can follow. */
  private *dropStaleCopy(step: Step, chainVersion: number): CoreTask<void> {
    const committed = this.chunk(step)?.committed;
    assert(committed !== undefined, 'a stale copy to drop exists');
    const version = nextUpdateVersion(committed.version);
    yield* this.prepare(step, { kind: 'remove' }, { version, chainVersion });
    yield* this.commit(step, version);
  }

  private *prepare(
    step: Step,
    update: ChunkUpdate,
    options: { version: number; chainVersion: number },
  ): CoreTask<PendingVersionInfo> {
    return yield* perform<PendingVersionInfo, ReplicatorAction>({
      kind: 'prepare',
      targetId: step.targetId,
      chunkId: step.request.chunkId,
      update,
      version: options.version,
      chainVersion: options.chainVersion,
    });
  }

  private *commit(step: Step, version: number): CoreTask<ChunkVersionInfo | undefined> {
    return yield* perform<ChunkVersionInfo | undefined, ReplicatorAction>({
      kind: 'commit',
      targetId: step.targetId,
      chunkId: step.request.chunkId,
      version,
    });
  }

  /**
   * Builds the pending version while passing the update on, and commits once both are done (the
   * successor having committed). See the file comment for a local failure after a forward.
   */
  private *applyAndForward(
    step: Step,
    work: {
      op: ChunkUpdateOp;
      update: ChunkUpdate;
      payload: Buffer | undefined;
      version: number;
      plan: WritePlan;
    },
  ): CoreTask<UpdateReply> {
    const { successor } = work.plan;
    const versions = { version: work.version, chainVersion: step.request.chainVersion };
    const sent: WireUpdate = { op: work.op, payload: work.payload };
    let pending: PendingVersionInfo;
    let reply: UpdateReply | undefined;
    if (successor === undefined || this.successorAhead.size >= limits.storageSuccessorAheadChunksMax) {
      pending = yield* this.prepare(step, work.update, versions);
      if (successor !== undefined) {
        reply = yield* this.forwardTo(step, successor, {
          version: work.version,
          update: sent,
          localReady: settledLatch(),
        });
      }
    } else {
      const localReady = new Latch();
      // Both settle before anything else happens: the chunk's lock is held until the forward is over.
      const [local, remote] = yield* allSettled<ReplicatorAction>([
        this.prepareThenSignal(step, work.update, versions, localReady),
        this.forwardTo(step, successor, { version: work.version, update: sent, localReady }),
      ]);
      assert(local !== undefined && remote !== undefined, 'both sides of a write ended');
      if (!local.ok) {
        this.rememberSuccessorAhead(step, work.version);
        throw local.error;
      }
      if (!remote.ok) throw remote.error;
      pending = local.value as PendingVersionInfo;
      reply = remote.value as UpdateReply;
    }
    if (reply !== undefined) this.checkAgreement(step, pending, reply, work.version);
    const committed = yield* this.commit(step, work.version);
    this.successorAhead.delete(chunkKey(step));
    return toReply(committed);
  }

  /** Writes the pending version and tells `localReady` how that went. */
  private *prepareThenSignal(
    step: Step,
    update: ChunkUpdate,
    versions: { version: number; chainVersion: number },
    localReady: Latch,
  ): CoreTask<PendingVersionInfo> {
    try {
      const pending = yield* this.prepare(step, update, versions);
      yield* settle<ReplicatorAction>(localReady, { ok: true, value: undefined });
      return pending;
    } catch (error) {
      yield* settle<ReplicatorAction>(localReady, { ok: false, error });
      throw error;
    }
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
      targetId: step.targetId,
      chainId: request.chainId,
      chunkId: request.chunkId,
      chunkSizeBytes: request.chunkSizeBytes,
      version: Math.max(version, this.successorAhead.get(key)?.version ?? 0),
    });
    this.logger.warn(
      { targetId: step.targetId, chunkId: formatChunkId(request.chunkId), version },
      'a local write failed while its update went on down the chain; the next write sends the whole chunk',
    );
  }

  /** Finishes an update that a failed write left pending here (see the file comment). */
  private *settlePending(step: Step, plan: WritePlan): CoreTask<void> {
    const pending = this.chunk(step)?.pending;
    if (pending === undefined) return;
    this.logger.info(
      { targetId: step.targetId, chunkId: formatChunkId(step.request.chunkId), version: pending.version },
      'settling an update left pending by a failed write',
    );
    if (plan.successor !== undefined) {
      const update = yield* this.wholeChunk(step);
      const reply = yield* this.forwardTo(step, plan.successor, {
        version: pending.version,
        update,
        localReady: settledLatch(),
      });
      this.checkAgreement(step, pending, reply, pending.version);
    }
    yield* this.commit(step, pending.version);
  }

  /**
   * Sends the update to `successor`. `localReady` settles once this target's pending version is
   * written; a whole-chunk send (the successor syncing, or lacking the update's base) waits for it.
   * The successor gets the whole chunk instead of the update when it is syncing, or answers that
   * it cannot apply the update to its copy (ChunkVersionMismatch, or a corrupted base), once.
   */
  private *forwardTo(
    step: Step,
    successor: Successor,
    work: { version: number; update: WireUpdate; localReady: Latch },
  ): CoreTask<UpdateReply> {
    const { request } = step;
    const address = this.view.addressOfTarget(successor.targetId);
    if (address === undefined) {
      throw new FsError(
        StorageCode.ForwardFailed,
        `routing info has no address for target ${successor.targetId}`,
      );
    }
    const timeoutMs = Math.floor(step.deadlineMs - this.view.nowMs() - this.forwardMarginMs);
    if (timeoutMs < 1) {
      throw new FsError(StorageCode.ForwardFailed, `no time left to forward to target ${successor.targetId}`);
    }
    const send = (update: WireUpdate): CoreTask<UpdateReply> =>
      perform<UpdateReply, ReplicatorAction>({
        kind: 'forward',
        address,
        body: {
          targetId: successor.targetId,
          chainId: request.chainId,
          chainVersion: request.chainVersion,
          chunkId: request.chunkId,
          chunkSizeBytes: request.chunkSizeBytes,
          updateVersion: work.version,
          fromTargetId: step.targetId,
          op: update.op,
          timeoutMs,
        },
        payload: update.payload,
      });
    if (successor.fullChunk) return yield* this.sendWhole(step, work.localReady, send);
    try {
      return yield* send(work.update);
    } catch (error) {
      if (!(error instanceof FsError) || !wholeChunkFallbackCodes.has(error.code)) throw error;
      this.logger.info(
        { successor: successor.targetId, code: statusName(error.code), reason: error.message },
        'successor cannot apply the update to its copy; sending the whole chunk',
      );
      return yield* this.sendWhole(step, work.localReady, send);
    }
  }

  /** Sends the pending version whole, once it is written (it fails when the local write failed). */
  private *sendWhole(
    step: Step,
    localReady: Latch,
    send: (update: WireUpdate) => CoreTask<UpdateReply>,
  ): CoreTask<UpdateReply> {
    yield* waitFor<ReplicatorAction>(localReady);
    return yield* send(yield* this.wholeChunk(step));
  }

  /** The pending version as a whole-chunk update: a replace with its bytes, or a remove. */
  private *wholeChunk(step: Step): CoreTask<WireUpdate> {
    const pending = this.chunk(step)?.pending;
    assert(pending !== undefined, 'a whole-chunk forward sends a pending version');
    if (pending.removed) return { op: { kind: 'remove' }, payload: undefined };
    const { data, checksum } = yield* perform<{ data: Buffer; checksum: number }, ReplicatorAction>({
      kind: 'read',
      targetId: step.targetId,
      chunkId: step.request.chunkId,
      length: pending.length,
      pending: true,
    });
    return { op: { kind: 'replace', length: data.length, checksum }, payload: data };
  }

  /** Remembers a chunk a failed update left pending on this target, to settle it later. */
  private rememberIfPending(step: Step): void {
    const { request } = step;
    if (this.chunk(step)?.pending === undefined) return;
    const key = chunkKey(step);
    if (!this.unsettled.has(key) && this.unsettled.size >= limits.storageUnsettledChunksMax) {
      this.logger.warn({ key }, 'too many unsettled chunks; this one waits for its next write');
      return;
    }
    this.unsettled.set(key, {
      targetId: step.targetId,
      chainId: request.chainId,
      chunkId: request.chunkId,
      chunkSizeBytes: request.chunkSizeBytes,
    });
  }

  /**
   * Replicas that report the version being committed must hold the same bytes: the same version
   * with other bytes on two replicas is a broken invariant, and the process stops rather than
   * commit it.
   */
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
    assert(
      same,
      `replicas disagree on chunk ${formatChunkId(step.request.chunkId)} version ${version}: target ${step.targetId} holds ${describeVersion(pending)}, its successor ${reply.exists ? `length ${reply.length} checksum ${reply.checksum.toString(16)}` : 'nothing'}`,
    );
  }

  // --- settling in the background -----------------------------------------------------------

  private armTimer(): void {
    if (this.timerArmed) return;
    this.timerArmed = true;
    this.runner.emit({ kind: 'set-timer', delayMs: this.settleIntervalMs });
  }

  private roundEnded(outcome: Outcome): void {
    this.roundRunning = false;
    if (!outcome.ok) {
      const { error } = outcome;
      this.runner.emit({
        kind: 'broken-invariant',
        error:
          error instanceof AssertionError
            ? error
            : new AssertionError(`a settling round failed: ${describeError(error)}`),
      });
      return;
    }
    if (this.settling) this.armTimer();
  }

  /**
   * One round: each remembered chunk still pending on a target that heads its chain is settled
   * as the next write would settle it. Chunks whose pending update is gone are forgotten; on other
   * targets the chain's head settles them (its own pending update reaches them whole).
   */
  private *settleRound(): CoreTask<void> {
    for (const [key, chunk] of [...this.unsettled]) {
      if (!this.settling) return;
      try {
        this.view.checkTarget(chunk.targetId);
      } catch {
        this.unsettled.delete(key);
        continue;
      }
      if (this.view.chunk(chunk.targetId, chunk.chunkId)?.pending === undefined) {
        this.unsettled.delete(key);
        continue;
      }
      const route = this.backgroundRoute(chunk);
      if (route === undefined) continue;
      yield* this.inBackground(key, 'settling a pending update', this.atHead(route, false));
    }
    for (const [key, ahead] of [...this.successorAhead]) {
      if (!this.settling) return;
      const route = this.backgroundRoute(ahead);
      if (route === undefined) continue;
      yield* this.inBackground(key, 'repairing a chunk a successor holds ahead', this.atHead(route, true));
    }
  }

  private backgroundRoute(chunk: UnsettledChunk): ChunkRoute | undefined {
    const chain = this.view.chain(chunk.chainId);
    if (chain === undefined) return undefined;
    return {
      targetId: chunk.targetId,
      chainId: chunk.chainId,
      chainVersion: chain.chainVersion,
      chunkId: chunk.chunkId,
      chunkSizeBytes: chunk.chunkSizeBytes,
      timeoutMs: this.backgroundTimeoutMs,
    };
  }

  /** Runs a background step; an operating failure is logged (the next round tries again). */
  private *inBackground(key: string, what: string, task: CoreTask<void>): CoreTask<void> {
    try {
      yield* task;
    } catch (error) {
      if (error instanceof AssertionError) throw error;
      this.logger.debug({ err: error, key }, `${what} failed: ${describeError(error)}`);
    }
  }

  /**
   * When `route`'s target heads its chain (else nothing: the head's own settling reaches the
   * others), holding the chunk's lock: settles an update left pending there, then, when `repair`,
   * repairs a chunk a successor may hold ahead. The plan is made again under the lock: a write may
   * have settled the chunk, or the chain moved on.
   */
  private *atHead(route: ChunkRoute, repair: boolean): CoreTask<void> {
    const head = planWrite({
      chain: this.view.chain(route.chainId),
      chainId: route.chainId,
      chainVersion: route.chainVersion,
      targetId: route.targetId,
      entry: { kind: 'client' },
    });
    if (!head.ok) return;
    const step = this.begin(route);
    const lockId = yield* this.lock(step);
    try {
      const plan = yield* this.plan(route, { kind: 'client' });
      yield* this.settlePending(step, plan);
      if (repair) yield* this.repairAhead(step, plan);
    } catch (error) {
      this.rememberIfPending(step);
      throw error;
    } finally {
      this.unlock(lockId);
    }
  }

  /**
   * On the head: sends what this target committed of a chunk whose successors may hold a version
   * it failed to write, whole and numbered above that version, so every replica holds the same
   * again.
   */
  private *repairAhead(step: Step, plan: WritePlan): CoreTask<void> {
    const { request } = step;
    const committed = this.chunk(step)?.committed;
    const ahead = this.successorAheadVersion(step, committed?.version ?? 0);
    if (ahead === undefined) return;
    this.logger.info(
      { targetId: step.targetId, chunkId: formatChunkId(request.chunkId), version: ahead },
      'repairing a chunk a successor may hold ahead: sending what this target committed, whole',
    );
    let op: ChunkUpdateOp = { kind: 'remove' };
    let payload: Buffer | undefined;
    let payloadCrc32c: number | undefined;
    if (committed !== undefined) {
      const read = yield* perform<{ data: Buffer; checksum: number }, ReplicatorAction>({
        kind: 'read',
        targetId: step.targetId,
        chunkId: request.chunkId,
        length: committed.length,
        pending: false,
      });
      op = { kind: 'replace', length: read.data.length, checksum: read.checksum };
      payload = read.data;
      payloadCrc32c = read.checksum;
    }
    yield* this.applyAndForward(step, {
      op,
      update: toChunkUpdate({
        op,
        payload,
        payloadCrc32c,
        chunkSizeBytes: request.chunkSizeBytes,
        chunkSizeMaxBytes: this.options.chunkSizeMaxBytes,
      }),
      payload,
      version: nextUpdateVersion(ahead),
      plan: wholeChunkPlan(plan),
    });
  }
}

/** The key of a step's chunk on its target in per-chunk maps. */
function chunkKey(step: { targetId: number; request: { chunkId: ChunkId } }): string {
  return `${step.targetId}/${formatChunkId(step.request.chunkId)}`;
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

function describeVersion(version: { removed: boolean; length: number; checksum: number }): string {
  return version.removed ? 'a removal' : `length ${version.length} checksum ${version.checksum.toString(16)}`;
}
