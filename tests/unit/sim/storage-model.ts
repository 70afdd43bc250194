// A simulated storage service with one target. Its control flow follows the real one step by step
// (storage-node.ts, craq/replicator.ts, recovery/chain-sync.ts, recovery/sync-receiver.ts,
// recovery/target-recovery.ts), and every decision is taken by the real pure modules: planWrite,
// decideForwardedUpdate and nextUpdateVersion (CRAQ), decideChunkSync, decideSyncApply,
// planSyncSend and planSyncReceive (recovery), and the rejoin and fencing rules of fencing.ts.
// What is modelled rather than shared: the chunk store (chunk-model.ts), locks, and the network.
//
// A crash drops the incarnation: its pending versions, locks, routing info and every suspended
// operation (they wait on calls and timers that never fire for a dead incarnation).
import { FsError, assert } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { RpcCode, StorageCode, type StatusCode } from '../../../src/common/status-code.js';
import {
  LocalState,
  PublicState,
  type ChainInfo,
  type RoutingInfo,
} from '../../../src/mgmtd/protocol/index.js';
import type { SyncChunkState } from '../../../src/storage/protocol/index.js';
import {
  planWrite,
  type Successor,
  type WriteEntry,
  type WritePlan,
} from '../../../src/storage/craq/forward-plan.js';
import {
  decideForwardedUpdate,
  isWholeChunkUpdate,
  nextUpdateVersion,
} from '../../../src/storage/craq/update-version.js';
import {
  fenceReason,
  freshStoreRefusal,
  initialLocalState,
  isAliveInChain,
  mgmtdLost,
  nextLocalState,
  targetsNotYetDown,
} from '../../../src/storage/fencing.js';
import {
  decideChunkSync,
  decideSyncApply,
  planSyncReceive,
  planSyncSend,
  type ChunkMetaView,
} from '../../../src/storage/recovery/sync-plan.js';
import type { SyncingSuccessor } from '../../../src/storage/recovery/target-recovery.js';
import { SimChunkStore, checksumOf, wireOp, type SimOp, type SimVersion } from './chunk-model.js';
import { mgmtdId, type HeartbeatReply, type HeartbeatRequest } from './mgmtd-model.js';
import type { Endpoint, SimNetwork } from './network.js';
import type { SimScheduler } from './scheduler.js';
import type { SimTimings } from './timings.js';

/** Where an update goes: the real replicator's ChunkRoute with the chunk named by a string. */
interface Route {
  readonly targetId: number;
  readonly chainId: number;
  readonly chainVersion: number;
  readonly chunk: string;
  readonly timeoutMs: number;
}

export interface WriteRequest extends Route {
  readonly op: SimOp;
}

interface ForwardRequest extends WriteRequest {
  readonly updateVersion: number;
  readonly fromTargetId: number;
}

export interface UpdateReply {
  readonly exists: boolean;
  readonly version: number;
  readonly content: string;
}

interface SyncWriteRequest {
  readonly targetId: number;
  readonly chainId: number;
  readonly chainVersion: number;
  readonly fromTargetId: number;
  readonly chunk: string;
  readonly state: { exists: true; version: number; content: string } | { exists: false };
  readonly timeoutMs: number;
}

interface SyncDoneRequest {
  readonly targetId: number;
  readonly chainId: number;
  readonly chainVersion: number;
  readonly fromTargetId: number;
}

interface DumpEntry extends ChunkMetaView {
  readonly chunk: string;
}

interface LockState {
  waiters: Array<{ grant: () => void }>;
}

interface RecoveryRun {
  readonly successor: SyncingSuccessor;
  readonly controller: AbortController;
}

/** Everything a crash forgets. */
interface Volatile {
  joined: boolean;
  fenced: boolean;
  /** The target's disk failed (disk-health.ts): it reports offline and refuses every request. */
  diskFailed: boolean;
  routing: RoutingInfo | undefined;
  localState: LocalState;
  seenAlive: boolean;
  lastHeartbeatOkMs: number;
  readonly locks: Map<string, LockState>;
  readonly unsettled: Map<string, number>;
  /** Replicator.successorAhead: per chunk, a version a successor may hold that this target lacks. */
  readonly successorAhead: Map<string, { version: number; chainId: number }>;
  readonly runs: Map<number, RecoveryRun>;
  readonly completed: Set<string>;
  readonly backoffUntilMs: Map<number, number>;
  wanted: readonly SyncingSuccessor[];
  retryScheduled: boolean;
}

/** Counters the test reports, to show the schedules exercise what they claim to. */
export interface StorageStats {
  recoveriesDone: number;
  chunksSynced: number;
  settled: number;
  /** Chunks a head rewrote whole because a successor held a version it failed to write. */
  repaired: number;
  fenced: number;
  disagreements: string[];
}

const forwardFallbackCodes: ReadonlySet<number> = new Set([
  StorageCode.ChunkVersionMismatch,
  StorageCode.ChunkCorrupted,
]);
const chunkRetryCodes: ReadonlySet<number> = new Set<number>([
  StorageCode.ChunkBusy,
  StorageCode.ForwardFailed,
  RpcCode.Timeout,
  RpcCode.ConnectionClosed,
  RpcCode.ConnectFailed,
]);

/** Replicator's wholeChunkPlan: the successor gets the whole chunk. */
function wholeChunkPlan(plan: WritePlan): WritePlan {
  return plan.successor === undefined
    ? plan
    : { successor: { targetId: plan.successor.targetId, fullChunk: true } };
}

function fail(code: StatusCode, message: string): FsError {
  return new FsError(code, message);
}

function metaOf(version: SimVersion | undefined): ChunkMetaView | undefined {
  return version === undefined
    ? undefined
    : { version: version.version, length: version.content.length, checksum: checksumOf(version.content) };
}

function toReply(version: SimVersion | undefined): UpdateReply {
  return version === undefined
    ? { exists: false, version: 0, content: '' }
    : { exists: true, version: version.version, content: version.content };
}

function successorKey(successor: SyncingSuccessor): string {
  return `${successor.syncingTargetId}@${successor.chainVersion}/${successor.localTargetId}`;
}

export function storageEndpointId(nodeId: number): string {
  return `s${nodeId}`;
}

export class SimStorageNode implements Endpoint {
  readonly id: string;
  incarnation = 0;
  alive = false;
  readonly store = new SimChunkStore();
  readonly stats: StorageStats = {
    recoveriesDone: 0,
    chunksSynced: 0,
    settled: 0,
    repaired: 0,
    fenced: 0,
    disagreements: [],
  };
  private v: Volatile = SimStorageNode.fresh();
  /** Whether the next local write of a pending version fails (a transient I/O error, a full disk). */
  localWriteFails: () => boolean = () => false;
  /** The store was replaced by an empty one since the last start (storage-node's freshStore). */
  private freshDisk = false;

  constructor(
    readonly nodeId: number,
    readonly targetId: number,
    private readonly scheduler: SimScheduler,
    private readonly network: SimNetwork,
    private readonly timings: SimTimings,
    /** Called when the process fences itself and exits; the cluster restarts it later. */
    private readonly onExit: (node: SimStorageNode) => void,
  ) {
    this.id = storageEndpointId(nodeId);
  }

  private static fresh(): Volatile {
    return {
      joined: false,
      fenced: false,
      diskFailed: false,
      routing: undefined,
      localState: LocalState.Online,
      seenAlive: false,
      lastHeartbeatOkMs: 0,
      locks: new Map(),
      unsettled: new Map(),
      successorAhead: new Map(),
      runs: new Map(),
      completed: new Set(),
      backoffUntilMs: new Map(),
      wanted: [],
      retryScheduled: false,
    };
  }

  // --- life cycle -------------------------------------------------------------------------

  start(): void {
    assert(!this.alive, 'a running node is not started again');
    this.incarnation += 1;
    this.alive = true;
    this.v = SimStorageNode.fresh();
    const freshStore = this.freshDisk;
    this.freshDisk = false;
    void this.join(freshStore);
  }

  crash(): void {
    this.alive = false;
    this.store.crash();
    for (const run of this.v.runs.values()) run.controller.abort(new Error('crashed'));
  }

  /** The target's disk fails: from now on it reports offline and serves nothing (the process lives on). */
  failDisk(): void {
    if (!this.alive || this.v.diskFailed) return;
    this.v.diskFailed = true;
    this.v.localState = LocalState.Offline;
    this.syncingSuccessors([]);
  }

  /** A stopped node gets a new, empty disk (it comes back through recovery). */
  replaceDisk(): void {
    assert(!this.alive, 'a disk is replaced while its service is down');
    this.store.committed.clear();
    this.freshDisk = true;
  }

  diskFailed(): boolean {
    return this.v.diskFailed;
  }

  /** True when the node answers reads and writes (StorageService's serving check). */
  serving(): boolean {
    return this.alive && this.v.joined && !this.v.fenced;
  }

  /** The node's own view of its target's public state. */
  viewedState(): PublicState | undefined {
    return this.v.routing?.targets.find((target) => target.targetId === this.targetId)?.publicState;
  }

  localState(): LocalState {
    return this.v.localState;
  }

  recoveriesRunning(): number {
    return this.v.runs.size;
  }

  private timer(delayMs: number, callback: () => void): void {
    const incarnation = this.incarnation;
    this.scheduler.setTimer(delayMs, () => {
      if (this.alive && this.incarnation === incarnation) callback();
    });
  }

  /** Resolves after `delayMs`, never for a crashed incarnation (its operation is gone). */
  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.timer(delayMs, resolve));
  }

  private call<T>(to: string, method: string, body: unknown, timeoutMs: number): Promise<T> {
    return this.network.call<T>(this.id, to, method, body, timeoutMs);
  }

  private async join(freshStore: boolean): Promise<void> {
    let routing: RoutingInfo | undefined;
    for (;;) {
      try {
        routing = await this.call<RoutingInfo>(
          mgmtdId,
          'getRouting',
          {},
          this.timings.heartbeatIntervalMs * 2,
        );
        if (targetsNotYetDown(routing, [this.targetId]).length === 0) break;
      } catch {
        // mgmtd unreachable: poll again
      }
      await this.sleep(this.timings.heartbeatIntervalMs);
    }
    if (freshStoreRefusal(routing, this.targetId, freshStore) !== undefined) {
      this.v.diskFailed = true;
      this.v.localState = LocalState.Offline;
    }
    if (!this.v.diskFailed) this.v.localState = initialLocalState(routing, this.targetId);
    this.v.joined = true;
    this.v.lastHeartbeatOkMs = this.scheduler.nowMs();
    void this.beat();
    this.updateRouting(routing);
    this.timer(this.timings.settleIntervalMs, () => void this.settleRound());
    this.scheduleFencingCheck();
  }

  private async beat(): Promise<void> {
    const request: HeartbeatRequest = {
      node: { nodeId: this.nodeId, type: 'storage', address: this.id, hostname: 'sim', tags: [] },
      targets: [{ targetId: this.targetId, localState: this.v.localState, usedBytes: 0, capacityBytes: 0 }],
      knownVersion: this.v.routing?.routingVersion ?? 0,
    };
    try {
      const reply = await this.call<HeartbeatReply>(
        mgmtdId,
        'heartbeat',
        request,
        this.timings.heartbeatIntervalMs * 2,
      );
      this.v.lastHeartbeatOkMs = this.scheduler.nowMs();
      if (reply.routing !== undefined) this.updateRouting(reply.routing);
    } catch {
      // counted by the fencing check through the time since the last success
    }
    if (!this.v.fenced) this.timer(this.timings.heartbeatIntervalMs, () => void this.beat());
  }

  private scheduleFencingCheck(): void {
    this.timer(this.timings.heartbeatTimeoutMs / 10, () => {
      if (this.v.fenced) return;
      const unreachableForMs = this.scheduler.nowMs() - this.v.lastHeartbeatOkMs;
      if (mgmtdLost(unreachableForMs, this.timings.heartbeatTimeoutMs)) {
        this.fence();
        return;
      }
      this.scheduleFencingCheck();
    });
  }

  /** Stops serving and exits, as storage_main does when fenced. */
  private fence(): void {
    if (this.v.fenced) return;
    this.v.fenced = true;
    this.stats.fenced += 1;
    this.crash();
    this.onExit(this);
  }

  // --- routing info -----------------------------------------------------------------------

  private updateRouting(routing: RoutingInfo): void {
    const held = this.v.routing;
    if (held !== undefined && routing.routingVersion <= held.routingVersion) return;
    this.v.routing = routing;
    this.followRouting(routing);
  }

  private followRouting(routing: RoutingInfo): void {
    if (!this.v.joined || this.v.fenced) return;
    // A target whose disk failed reported itself offline: it is neither fenced nor followed.
    const healthy = this.v.diskFailed ? [] : [{ targetId: this.targetId, seenAlive: this.v.seenAlive }];
    if (fenceReason(routing, healthy) !== undefined) {
      this.fence();
      return;
    }
    if (this.v.diskFailed) {
      this.syncingSuccessors([]);
      return;
    }
    const routed = routing.targets.find((target) => target.targetId === this.targetId);
    this.v.localState = nextLocalState(this.v.localState, routed?.publicState);
    if (isAliveInChain(routing, this.targetId)) this.v.seenAlive = true;
    this.syncingSuccessors(this.successorsIn(routing));
  }

  private successorsIn(routing: RoutingInfo): SyncingSuccessor[] {
    const successors: SyncingSuccessor[] = [];
    for (const chain of routing.chains) {
      const writable = chain.targets.filter(
        (member) => member.publicState === PublicState.Serving || member.publicState === PublicState.Syncing,
      );
      writable.forEach((member, index) => {
        const previous = writable[index - 1];
        if (member.publicState !== PublicState.Syncing || previous?.targetId !== this.targetId) return;
        successors.push({
          chainId: chain.chainId,
          chainVersion: chain.chainVersion,
          localTargetId: this.targetId,
          syncingTargetId: member.targetId,
        });
      });
    }
    return successors;
  }

  private chain(chainId: number): ChainInfo | undefined {
    return this.v.routing?.chains.find((chain) => chain.chainId === chainId);
  }

  private addressOf(targetId: number): string | undefined {
    const target = this.v.routing?.targets.find((candidate) => candidate.targetId === targetId);
    return target === undefined ? undefined : storageEndpointId(target.nodeId);
  }

  private async refreshRouting(): Promise<void> {
    const routing = await this.call<RoutingInfo>(
      mgmtdId,
      'getRouting',
      {},
      this.timings.heartbeatIntervalMs * 2,
    );
    this.updateRouting(routing);
  }

  // --- requests ---------------------------------------------------------------------------

  async handle(method: string, body: unknown): Promise<unknown> {
    if (method !== 'dump') this.checkServing();
    if (this.v.diskFailed) throw fail(StorageCode.DiskFailed, `${this.id}'s disk failed`);
    switch (method) {
      case 'write':
        return this.write(body as WriteRequest);
      case 'forward':
        return this.forwarded(body as ForwardRequest);
      case 'syncWrite':
        return this.syncWrite(body as SyncWriteRequest);
      case 'syncDone':
        return this.syncDone(body as SyncDoneRequest);
      case 'dump':
        return this.dump();
      default:
        throw new Error(`storage has no method ${method}`);
    }
  }

  private checkServing(): void {
    if (!this.serving()) throw fail(StorageCode.TargetNotServing, `${this.id} is not serving`);
  }

  private begin(route: Route): number {
    if (route.targetId !== this.targetId)
      throw fail(StorageCode.TargetNotFound, `target ${route.targetId} is not here`);
    return this.scheduler.nowMs() + route.timeoutMs;
  }

  private async lock(chunk: string, deadlineMs: number): Promise<() => void> {
    const state = this.v.locks.get(chunk);
    const locks = this.v.locks;
    const releaser = (): (() => void) => {
      let released = false;
      return () => {
        assert(!released, 'a lock is released once');
        released = true;
        const held = locks.get(chunk);
        assert(held !== undefined, 'a released lock is held');
        const next = held.waiters.shift();
        if (next === undefined) locks.delete(chunk);
        else next.grant();
      };
    };
    if (state === undefined) {
      locks.set(chunk, { waiters: [] });
      return releaser();
    }
    const waitMs = deadlineMs - this.scheduler.nowMs();
    if (waitMs <= 0) throw fail(StorageCode.ChunkBusy, `${chunk} is locked and the request has no time left`);
    return new Promise((resolve, reject) => {
      let waiting = true;
      const waiter = {
        grant: () => {
          waiting = false;
          resolve(releaser());
        },
      };
      state.waiters.push(waiter);
      this.timer(waitMs, () => {
        if (!waiting) return;
        waiting = false;
        state.waiters.splice(state.waiters.indexOf(waiter), 1);
        reject(fail(StorageCode.ChunkBusy, `waited for the lock of ${chunk}`));
      });
    });
  }

  // --- CRAQ (craq/replicator.ts) ----------------------------------------------------------

  private async plan(route: Route, entry: WriteEntry): Promise<WritePlan> {
    const attempt = () =>
      planWrite({
        chain: this.chain(route.chainId),
        chainId: route.chainId,
        chainVersion: route.chainVersion,
        targetId: route.targetId,
        entry,
      });
    let result = attempt();
    const known = this.chain(route.chainId);
    if (!result.ok && (known === undefined || route.chainVersion > known.chainVersion)) {
      await this.refreshRouting().catch(() => undefined);
      result = attempt();
    }
    if (!result.ok) throw fail(result.code, result.message);
    return result.plan;
  }

  private async write(request: WriteRequest): Promise<UpdateReply> {
    const deadlineMs = this.begin(request);
    const entry: WriteEntry = { kind: 'client' };
    await this.plan(request, entry);
    const release = await this.lock(request.chunk, deadlineMs);
    try {
      await this.settlePending(request, deadlineMs, await this.plan(request, entry));
      const plan = await this.plan(request, entry);
      const committedVersion = this.store.committed.get(request.chunk)?.version ?? 0;
      const ahead = this.successorAheadVersion(request.chunk, committedVersion);
      // Numbered past a version a successor may hold, and sent whole (Replicator.write).
      const version = nextUpdateVersion(Math.max(committedVersion, ahead ?? 0));
      return await this.applyAndForward(request, deadlineMs, {
        op: request.op,
        version,
        plan: ahead === undefined ? plan : wholeChunkPlan(plan),
      });
    } catch (error) {
      this.rememberIfPending(request);
      throw error;
    } finally {
      release();
    }
  }

  private async forwarded(request: ForwardRequest): Promise<UpdateReply> {
    const deadlineMs = this.begin(request);
    const entry: WriteEntry = { kind: 'forward', fromTargetId: request.fromTargetId };
    await this.plan(request, entry);
    const release = await this.lock(request.chunk, deadlineMs);
    try {
      const plan = await this.plan(request, entry);
      const committed = this.store.committed.get(request.chunk);
      const decision = decideForwardedUpdate({
        committedVersion: committed?.version ?? 0,
        updateVersion: request.updateVersion,
        wholeChunk: isWholeChunkUpdate(wireOp(request.op)),
        staleCopy:
          committed !== undefined &&
          committed.chainVersion < request.chainVersion &&
          this.chain(request.chainId)?.targets.find((member) => member.targetId === this.targetId)
            ?.publicState === PublicState.Syncing,
      });
      if (decision === 'already-committed') return toReply(committed);
      if (decision === 'missing-base') {
        throw fail(
          StorageCode.ChunkVersionMismatch,
          `${request.chunk} lacks the base of ${request.updateVersion}`,
        );
      }
      if (decision === 'replace-stale') {
        // Replicator.dropStaleCopy: the stale copy goes, so the whole chunk can follow.
        assert(committed !== undefined, 'a stale copy to drop exists');
        const version = nextUpdateVersion(committed.version);
        this.store.prepare(
          request.chunk,
          { kind: 'remove' },
          { version, chainVersion: request.chainVersion },
        );
        this.store.commit(request.chunk, version);
      }
      const ahead = this.successorAheadVersion(
        request.chunk,
        this.store.committed.get(request.chunk)?.version ?? 0,
      );
      return await this.applyAndForward(request, deadlineMs, {
        op: request.op,
        version: request.updateVersion,
        plan: ahead === undefined ? plan : wholeChunkPlan(plan),
      });
    } catch (error) {
      this.rememberIfPending(request);
      throw error;
    } finally {
      release();
    }
  }

  /**
   * Replicator.applyAndForward: the local write and the forward run at once (here the local write
   * lands first, or fails, as one of their interleavings), and the target commits once both are
   * done. A local failure after the forward leaves a successor ahead: remembered, then thrown.
   */
  private async applyAndForward(
    route: Route,
    deadlineMs: number,
    work: { op: SimOp; version: number; plan: WritePlan },
  ): Promise<UpdateReply> {
    const { successor } = work.plan;
    const localFails = this.localWriteFails();
    const localError = (): FsError => fail(StorageCode.NoSpace, `${this.id}: writing ${route.chunk} failed`);
    const prepare = () =>
      this.store.prepare(route.chunk, work.op, { version: work.version, chainVersion: route.chainVersion });
    if (successor === undefined || this.v.successorAhead.size >= limits.storageSuccessorAheadChunksMax) {
      if (localFails) throw localError();
      const pending = prepare();
      if (successor !== undefined) {
        const reply = await this.forwardTo(route, deadlineMs, successor, {
          version: work.version,
          op: work.op,
        });
        this.checkAgreement(route.chunk, pending, reply, work.version);
      }
    } else {
      const pending = localFails ? undefined : prepare();
      let reply: UpdateReply | undefined;
      let remoteError: unknown;
      try {
        // A whole-chunk send waits for the local write, so it fails with it.
        reply = await this.forwardTo(route, deadlineMs, successor, {
          version: work.version,
          op: work.op,
          localFailed: localFails,
        });
      } catch (error) {
        remoteError = error;
      }
      if (pending === undefined) {
        this.v.successorAhead.set(route.chunk, {
          chainId: route.chainId,
          version: Math.max(work.version, this.v.successorAhead.get(route.chunk)?.version ?? 0),
        });
        throw localError();
      }
      if (remoteError !== undefined) throw remoteError;
      this.checkAgreement(route.chunk, pending, reply as UpdateReply, work.version);
    }
    const committed = this.store.commit(route.chunk, work.version);
    this.v.successorAhead.delete(route.chunk);
    return toReply(committed);
  }

  /** Replicator.successorAheadVersion. */
  private successorAheadVersion(chunk: string, committedVersion: number): number | undefined {
    const ahead = this.v.successorAhead.get(chunk);
    if (ahead === undefined) return undefined;
    if (ahead.version > committedVersion) return ahead.version;
    this.v.successorAhead.delete(chunk);
    return undefined;
  }

  private async settlePending(route: Route, deadlineMs: number, plan: WritePlan): Promise<void> {
    const pending = this.store.pending.get(route.chunk);
    if (pending === undefined) return;
    if (plan.successor !== undefined) {
      const reply = await this.forwardTo(route, deadlineMs, plan.successor, {
        version: pending.version,
        op: this.wholeChunk(route.chunk),
      });
      this.checkAgreement(route.chunk, pending, reply, pending.version);
    }
    this.store.commit(route.chunk, pending.version);
    this.stats.settled += 1;
  }

  private wholeChunk(chunk: string): SimOp {
    const pending = this.store.pending.get(chunk);
    assert(pending !== undefined, 'a whole-chunk forward sends a pending version');
    return pending.removed ? { kind: 'remove' } : { kind: 'replace', data: pending.content };
  }

  /** craq/forwarder.ts: whole chunks to a syncing successor, and once more after ChunkVersionMismatch. */
  private async forwardTo(
    route: Route,
    deadlineMs: number,
    successor: Successor,
    work: { version: number; op: SimOp; localFailed?: boolean },
  ): Promise<UpdateReply> {
    const whole = (): SimOp => {
      if (work.localFailed === true)
        throw fail(StorageCode.NoSpace, `${this.id}: writing ${route.chunk} failed`);
      return this.wholeChunk(route.chunk);
    };
    const address = this.addressOf(successor.targetId);
    if (address === undefined) throw fail(StorageCode.ForwardFailed, `no address for ${successor.targetId}`);
    const timeoutMs = Math.floor(deadlineMs - this.scheduler.nowMs() - this.timings.forwardMarginMs);
    if (timeoutMs < 1) throw fail(StorageCode.ForwardFailed, 'no time left to forward');
    const send = async (op: SimOp): Promise<UpdateReply> => {
      const request: ForwardRequest = {
        targetId: successor.targetId,
        chainId: route.chainId,
        chainVersion: route.chainVersion,
        chunk: route.chunk,
        timeoutMs,
        op,
        updateVersion: work.version,
        fromTargetId: this.targetId,
      };
      try {
        return await this.call<UpdateReply>(address, 'forward', request, timeoutMs + 100);
      } catch (error) {
        if (error instanceof FsError && error.code >= 5000 && error.code < 6000) throw error;
        throw fail(StorageCode.ForwardFailed, `forwarding to ${successor.targetId} failed`);
      }
    };
    if (successor.fullChunk) return send(whole());
    try {
      return await send(work.op);
    } catch (error) {
      if (!(error instanceof FsError) || !forwardFallbackCodes.has(error.code)) throw error;
      return send(whole());
    }
  }

  /** Replicas reporting the same version must hold the same content (the real one logs loudly). */
  private checkAgreement(
    chunk: string,
    pending: { removed: boolean; content: string },
    reply: UpdateReply,
    version: number,
  ): void {
    if (reply.version !== version && reply.exists) return;
    const same = pending.removed ? !reply.exists : reply.exists && reply.content === pending.content;
    if (!same) {
      this.stats.disagreements.push(
        `${this.id} ${chunk} v${version}: local ${pending.removed ? '(removed)' : pending.content}, successor ${reply.exists ? reply.content : '(none)'}`,
      );
    }
  }

  private rememberIfPending(route: Route): void {
    if (this.store.pending.has(route.chunk)) this.v.unsettled.set(route.chunk, route.chainId);
  }

  private async settleRound(): Promise<void> {
    for (const [chunk, chainId] of [...this.v.unsettled]) {
      if (!this.store.pending.has(chunk) || this.v.diskFailed) {
        this.v.unsettled.delete(chunk);
        continue;
      }
      const chain = this.chain(chainId);
      if (chain === undefined) continue;
      const route: Route = {
        targetId: this.targetId,
        chainId,
        chainVersion: chain.chainVersion,
        chunk,
        timeoutMs: this.timings.writeTimeoutMs,
      };
      await this.settleOne(route).catch(() => undefined);
    }
    for (const [chunk, { chainId }] of [...this.v.successorAhead]) {
      const chain = this.chain(chainId);
      if (chain === undefined || this.v.diskFailed) continue;
      const route: Route = {
        targetId: this.targetId,
        chainId,
        chainVersion: chain.chainVersion,
        chunk,
        timeoutMs: this.timings.writeTimeoutMs,
      };
      await this.repairAhead(route).catch(() => undefined);
    }
    this.timer(this.timings.settleIntervalMs, () => void this.settleRound());
  }

  /** Replicator.repairAhead: the head sends what it committed, whole, above the successor's version. */
  private async repairAhead(route: Route): Promise<void> {
    const planned = planWrite({
      chain: this.chain(route.chainId),
      chainId: route.chainId,
      chainVersion: route.chainVersion,
      targetId: route.targetId,
      entry: { kind: 'client' },
    });
    if (!planned.ok) return;
    const deadlineMs = this.begin(route);
    const release = await this.lock(route.chunk, deadlineMs);
    try {
      const plan = await this.plan(route, { kind: 'client' });
      await this.settlePending(route, deadlineMs, plan);
      const committed = this.store.committed.get(route.chunk);
      const ahead = this.successorAheadVersion(route.chunk, committed?.version ?? 0);
      if (ahead === undefined) return;
      await this.applyAndForward(route, deadlineMs, {
        op: committed === undefined ? { kind: 'remove' } : { kind: 'replace', data: committed.content },
        version: nextUpdateVersion(ahead),
        plan: wholeChunkPlan(plan),
      });
      this.stats.repaired += 1;
    } catch (error) {
      this.rememberIfPending(route);
      throw error;
    } finally {
      release();
    }
  }

  private async settleOne(route: Route): Promise<void> {
    const plan = planWrite({
      chain: this.chain(route.chainId),
      chainId: route.chainId,
      chainVersion: route.chainVersion,
      targetId: route.targetId,
      entry: { kind: 'client' },
    });
    if (!plan.ok) return;
    const deadlineMs = this.begin(route);
    const release = await this.lock(route.chunk, deadlineMs);
    try {
      await this.settlePending(route, deadlineMs, await this.plan(route, { kind: 'client' }));
    } finally {
      release();
    }
  }

  // --- recovery, syncing side (recovery/sync-receiver.ts) -----------------------------------

  private async checkSyncPlan(request: SyncDoneRequest): Promise<void> {
    const attempt = () =>
      planSyncReceive({
        chain: this.chain(request.chainId),
        chainId: request.chainId,
        chainVersion: request.chainVersion,
        targetId: request.targetId,
        fromTargetId: request.fromTargetId,
      });
    let result = attempt();
    const known = this.chain(request.chainId);
    if (!result.ok && (known === undefined || request.chainVersion > known.chainVersion)) {
      await this.refreshRouting().catch(() => undefined);
      result = attempt();
    }
    if (!result.ok) throw fail(result.code, result.message);
  }

  private async syncWrite(request: SyncWriteRequest): Promise<UpdateReply> {
    if (request.targetId !== this.targetId) throw fail(StorageCode.TargetNotFound, 'not here');
    await this.checkSyncPlan(request);
    const deadlineMs = this.scheduler.nowMs() + request.timeoutMs;
    const release = await this.lock(request.chunk, deadlineMs);
    try {
      await this.checkSyncPlan(request);
      if (this.scheduler.nowMs() > deadlineMs)
        throw fail(StorageCode.ChunkBusy, 'the sync waited past its deadline');
      const { chunk, state } = request;
      const committed = this.store.committed.get(chunk);
      const incoming: SyncChunkState = state.exists
        ? {
            exists: true,
            version: state.version,
            length: state.content.length,
            checksum: checksumOf(state.content),
          }
        : { exists: false };
      const decision = decideSyncApply({
        committed: metaOf(committed),
        hasPending: this.store.pending.has(chunk),
        incoming,
      });
      switch (decision) {
        case 'skip':
          return toReply(committed);
        case 'discard-pending':
          this.store.discardPending(chunk);
          return toReply(undefined);
        case 'remove':
        case 'reset-and-replace': {
          assert(committed !== undefined, 'a chunk to remove or reset exists');
          const version = nextUpdateVersion(committed.version);
          this.store.prepare(chunk, { kind: 'remove' }, { version, chainVersion: request.chainVersion });
          this.store.commit(chunk, version);
          if (decision === 'remove') return toReply(undefined);
          break;
        }
        case 'replace':
          break;
      }
      assert(state.exists, 'only an existing chunk is replaced');
      this.store.prepare(
        chunk,
        { kind: 'replace', data: state.content },
        { version: state.version, chainVersion: request.chainVersion },
      );
      return toReply(this.store.commit(chunk, state.version));
    } finally {
      release();
    }
  }

  private async syncDone(request: SyncDoneRequest): Promise<Record<string, never>> {
    if (request.targetId !== this.targetId) throw fail(StorageCode.TargetNotFound, 'not here');
    await this.checkSyncPlan(request);
    this.v.localState = LocalState.UpToDate;
    return {};
  }

  private dump(): DumpEntry[] {
    return [...this.store.committed.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([chunk, version]) => {
        const pending = this.store.pending.get(chunk);
        return {
          chunk,
          version: version.version,
          length: version.content.length,
          checksum: checksumOf(version.content),
          ...(pending === undefined ? {} : { pendingVersion: pending.version }),
        };
      });
  }

  // --- recovery, predecessor side (recovery/target-recovery.ts, recovery/chain-sync.ts) -------

  private syncingSuccessors(successors: readonly SyncingSuccessor[]): void {
    this.v.wanted = successors;
    this.reconcile();
  }

  private reconcile(): void {
    const v = this.v;
    const wantedBySyncing = new Map(v.wanted.map((successor) => [successor.syncingTargetId, successor]));
    const wantedKeys = new Set(v.wanted.map(successorKey));
    for (const key of v.completed) if (!wantedKeys.has(key)) v.completed.delete(key);
    for (const id of v.backoffUntilMs.keys()) if (!wantedBySyncing.has(id)) v.backoffUntilMs.delete(id);
    for (const [id, run] of v.runs) {
      const wanted = wantedBySyncing.get(id);
      if (wanted === undefined || successorKey(wanted) !== successorKey(run.successor)) {
        run.controller.abort(fail(StorageCode.ChainVersionMismatch, 'the chain changed'));
      }
    }
    const nowMs = this.scheduler.nowMs();
    for (const successor of v.wanted) {
      if (v.runs.has(successor.syncingTargetId) || v.completed.has(successorKey(successor))) continue;
      const waitUntilMs = v.backoffUntilMs.get(successor.syncingTargetId) ?? 0;
      if (waitUntilMs > nowMs) {
        if (!v.retryScheduled) {
          v.retryScheduled = true;
          this.timer(waitUntilMs - nowMs, () => {
            v.retryScheduled = false;
            this.reconcile();
          });
        }
        continue;
      }
      this.startRecovery(successor);
    }
  }

  private startRecovery(successor: SyncingSuccessor): void {
    const controller = new AbortController();
    const run: RecoveryRun = { successor, controller };
    this.v.runs.set(successor.syncingTargetId, run);
    const v = this.v;
    void this.runChainSync(successor, controller.signal).then(
      () => {
        v.runs.delete(successor.syncingTargetId);
        v.completed.add(successorKey(successor));
        v.backoffUntilMs.delete(successor.syncingTargetId);
        this.stats.recoveriesDone += 1;
        this.reconcile();
      },
      () => {
        v.runs.delete(successor.syncingTargetId);
        if (!controller.signal.aborted) {
          v.backoffUntilMs.set(
            successor.syncingTargetId,
            this.scheduler.nowMs() + this.timings.recoveryRetryMs,
          );
        }
        if (this.alive && v === this.v) this.reconcile();
      },
    );
  }

  private checkStillSyncing(successor: SyncingSuccessor, signal: AbortSignal): void {
    signal.throwIfAborted();
    const result = planSyncSend({
      chain: this.chain(successor.chainId),
      chainId: successor.chainId,
      chainVersion: successor.chainVersion,
      fromTargetId: successor.localTargetId,
      syncingTargetId: successor.syncingTargetId,
    });
    if (!result.ok) throw fail(result.code, result.message);
  }

  private async runChainSync(successor: SyncingSuccessor, signal: AbortSignal): Promise<void> {
    this.checkStillSyncing(successor, signal);
    const address = this.addressOf(successor.syncingTargetId);
    if (address === undefined) throw fail(StorageCode.ForwardFailed, 'no address');
    // Planning reads both sides once (counting only); copying walks them again, as the real pass does.
    await this.call<DumpEntry[]>(address, 'dump', {}, this.timings.recoveryChunkTimeoutMs);
    this.checkStillSyncing(successor, signal);
    const remote = await this.call<DumpEntry[]>(address, 'dump', {}, this.timings.recoveryChunkTimeoutMs);
    this.checkStillSyncing(successor, signal);
    const remoteByChunk = new Map(remote.map((entry) => [entry.chunk, entry]));
    // As the real pass lists them: a chunk with an update in flight is listed with its pending
    // version, committed or not yet, and looked at again under its lock.
    const chunks = [
      ...new Set([...this.store.committed.keys(), ...this.store.pending.keys(), ...remoteByChunk.keys()]),
    ].sort();
    const localMeta = (chunk: string): ChunkMetaView | undefined => {
      const committed = metaOf(this.store.committed.get(chunk));
      const pending = this.store.pending.get(chunk);
      if (pending === undefined) return committed;
      return { ...(committed ?? { version: 0, length: 0, checksum: 0 }), pendingVersion: pending.version };
    };
    const work = chunks.filter(
      (chunk) => decideChunkSync(localMeta(chunk), remoteByChunk.get(chunk)) !== 'skip',
    );
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length) {
        const chunk = work[next++] as string;
        await this.copyChunk(successor, chunk, remoteByChunk.get(chunk), signal);
      }
    };
    const workers = Array.from({ length: this.timings.recoveryConcurrency }, () => worker());
    const results = await Promise.allSettled(workers);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    this.checkStillSyncing(successor, signal);
    await this.call(
      address,
      'syncDone',
      {
        targetId: successor.syncingTargetId,
        chainId: successor.chainId,
        chainVersion: successor.chainVersion,
        fromTargetId: successor.localTargetId,
      } satisfies SyncDoneRequest,
      this.timings.recoveryChunkTimeoutMs,
    );
  }

  private async copyChunk(
    successor: SyncingSuccessor,
    chunk: string,
    remote: DumpEntry | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.checkStillSyncing(successor, signal);
      try {
        await this.withSettledChunk(successor, chunk, remote, signal);
        return;
      } catch (error) {
        const retryable = error instanceof FsError && chunkRetryCodes.has(error.code);
        if (!retryable || attempt >= this.timings.recoveryChunkAttemptsMax) throw error;
        await this.sleep(Math.min(1_000, 50 * 2 ** attempt));
      }
    }
  }

  /** Replicator.withSettledChunk with chain-sync's syncOne inside. */
  private async withSettledChunk(
    successor: SyncingSuccessor,
    chunk: string,
    remote: DumpEntry | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const route: Route = {
      targetId: successor.localTargetId,
      chainId: successor.chainId,
      chainVersion: successor.chainVersion,
      chunk,
      timeoutMs: this.timings.recoveryChunkTimeoutMs,
    };
    const deadlineMs = this.begin(route);
    const release = await this.lock(chunk, deadlineMs);
    try {
      await this.settlePending(route, deadlineMs, {
        successor: { targetId: successor.syncingTargetId, fullChunk: true },
      });
      this.checkStillSyncing(successor, signal);
      const committed = this.store.committed.get(chunk);
      if (decideChunkSync(metaOf(committed), remote) === 'skip') return;
      const timeoutMs = Math.floor(deadlineMs - this.scheduler.nowMs() - this.timings.forwardMarginMs);
      if (timeoutMs < 1) throw fail(StorageCode.ChunkBusy, 'no time left to copy');
      const address = this.addressOf(successor.syncingTargetId);
      if (address === undefined) throw fail(StorageCode.ForwardFailed, 'no address');
      const request: SyncWriteRequest = {
        targetId: successor.syncingTargetId,
        chainId: successor.chainId,
        chainVersion: successor.chainVersion,
        fromTargetId: successor.localTargetId,
        chunk,
        state:
          committed === undefined
            ? { exists: false }
            : { exists: true, version: committed.version, content: committed.content },
        timeoutMs,
      };
      await this.call(address, 'syncWrite', request, timeoutMs + 100);
      this.stats.chunksSynced += 1;
    } catch (error) {
      this.rememberIfPending(route);
      throw error;
    } finally {
      release();
    }
  }
}
