/**
 * The client's side of cluster-wide locks (meta/ops/locks.ts): it sets, tests and releases locks
 * through meta, waits for a conflicting lock by asking again, and keeps its lease alive while it
 * holds any lock.
 *
 * - Waiting: a blocking request asks meta again after a backoff that doubles from
 *   clientLockRetryMsInitial to clientLockRetryMsMax, until the lock is granted, the caller's
 *   signal aborts (LockWaitInterrupted) or `waitMsMax` passed (LockWaitTimedOut). Waiters are not
 *   queued: whoever asks first after a release gets the lock. An abort is seen between attempts,
 *   never during one, so a lock meta granted is never lost to an interrupt.
 * - Which files hold locks (`held`): the client learns it from meta's answers (`holds`), so a close
 *   of a file without locks costs no call. Calls about one file run one at a time, so answers
 *   arrive in the order of the calls and `held` follows meta's state of this client's locks.
 * - The lease: renewed every leaseMs / 3 while `held` is not empty. A renewal that finds the lease
 *   lost (this daemon was cut off from meta longer than the lease) forgets the files locked under
 *   the lost epoch: their locks are gone, and nothing can tell the processes (Linux has no
 *   SIGLOST), so it is logged.
 * - A release that fails (meta unreachable) is tried again with each renewal, so a lock is never
 *   kept alive by renewals after its owner let go; at most clientOpenFilesMax wait for that.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { ClientCode } from '../common/status-code.js';
import type { MethodDef } from '../rpc/index.js';
import {
  metaMethods,
  type ByteRange,
  type InodeId,
  type LockConflict,
  type LockKind,
  type LockMode,
} from '../meta/protocol/index.js';

/** What the lock client needs of a meta client. */
export interface MetaCaller {
  call<Req, Res>(method: MethodDef<Req, Res>, request: Req): Promise<Res>;
}

export interface LockClientOptions {
  readonly meta: MetaCaller;
  readonly clientId: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long the lease lasts after each renewal (metaLockLeaseMsMin..metaLockLeaseMsMax). */
  readonly leaseMs: number;
  /** How long a blocking request waits at most. */
  readonly waitMsMax: number;
}

/** A lock to set or clear. */
export interface LockChange {
  readonly kind: LockKind;
  readonly owner: bigint;
  readonly mode: LockMode | 'unlock';
  readonly range: ByteRange;
  readonly pid: number;
  /** Wait for a conflicting lock to go (F_SETLKW, flock without LOCK_NB). */
  readonly wait: boolean;
  readonly signal?: AbortSignal | undefined;
}

interface PendingRelease {
  readonly ino: InodeId;
  readonly kind: LockKind;
  readonly owner: bigint;
}

export class LockClient {
  /** This life of the client: a restarted daemon's first lock ends the locks of its earlier life. */
  readonly instance: string;
  /** Files this client holds locks on, with the lease epoch it last learnt that under (0: unknown). */
  private readonly held = new Map<InodeId, number>();
  /** The tail of each file's calls: calls about one file run one after another. */
  private readonly queues = new Map<InodeId, Promise<unknown>>();
  private readonly pendingReleases: PendingRelease[] = [];
  /** The greatest lease epoch meta reported. */
  private epoch = 0;
  private renewTimer: TimerHandle | undefined;
  private renewing: Promise<void> | undefined;
  private everLocked = false;
  private closed = false;

  constructor(private readonly options: LockClientOptions) {
    assert(options.leaseMs >= limits.metaLockLeaseMsMin, 'the lock lease is at least metaLockLeaseMsMin');
    assert(options.leaseMs <= limits.metaLockLeaseMsMax, 'the lock lease is at most metaLockLeaseMsMax');
    assert(options.waitMsMax >= 0, 'the lock wait bound is not negative');
    this.instance = `${Math.floor(options.clock.nowMs()).toString(36)}-${randomBytes(6).toString('hex')}`;
  }

  /** F_GETLK: the first lock of another holder in the way of `mode` on `range`, or null. */
  async test(
    ino: InodeId,
    request: { kind: LockKind; owner: bigint; mode: LockMode; range: ByteRange },
  ): Promise<LockConflict | null> {
    const { conflict } = await this.options.meta.call(metaMethods.getLock, {
      ino,
      kind: request.kind,
      holder: this.holder(request.owner),
      mode: request.mode,
      range: request.range,
    });
    return conflict;
  }

  /**
   * Sets or clears a lock, waiting as the file comment says when `change.wait`. Fails with
   * LockConflict (not waiting), LockWaitTimedOut or LockWaitInterrupted.
   */
  async set(ino: InodeId, change: LockChange): Promise<void> {
    if (this.closed) throw new FsError(ClientCode.BadFileHandle, 'the lock client is closed');
    const deadline = this.options.clock.monotonicMs() + this.options.waitMsMax;
    let backoffMs: number = limits.clientLockRetryMsInitial;
    for (;;) {
      if (change.wait && change.signal?.aborted === true) throw interrupted(ino);
      const reply = await this.serialized(ino, () => this.setOnce(ino, change));
      if (reply.granted) return;
      const holder = reply.conflict === null ? 'another holder' : describeHolder(reply.conflict);
      if (!change.wait) throw new FsError(ClientCode.LockConflict, `inode ${ino} is locked by ${holder}`);
      const remainingMs = deadline - this.options.clock.monotonicMs();
      if (remainingMs <= 0) {
        throw new FsError(
          ClientCode.LockWaitTimedOut,
          `waited ${this.options.waitMsMax} ms for a lock on inode ${ino} held by ${holder}`,
        );
      }
      try {
        await this.options.clock.sleep(Math.min(backoffMs, remainingMs), change.signal);
      } catch {
        throw interrupted(ino);
      }
      backoffMs = Math.min(backoffMs * 2, limits.clientLockRetryMsMax);
    }
  }

  /**
   * Releases `owner`'s locks of `kind` on `ino` (a close). Never fails: a release meta does not
   * confirm is tried again with the renewals (see the file comment).
   */
  async release(ino: InodeId, kind: LockKind, owner: bigint): Promise<void> {
    // Nothing held and nothing in flight on the file: the common close costs nothing.
    if (!this.held.has(ino) && !this.queues.has(ino)) return;
    await this.serialized(ino, async () => {
      if (!this.held.has(ino)) return;
      try {
        await this.releaseOnce({ ino, kind, owner });
      } catch (error) {
        this.options.logger.warn(
          { ino: String(ino), kind, err: error },
          `releasing a lock failed, trying again later: ${describeError(error)}`,
        );
        this.retryLater({ ino, kind, owner });
      }
    });
  }

  /** Releases every lock this client id holds in meta, of this life or an earlier one. */
  async releaseAll(): Promise<number> {
    const { released } = await this.options.meta.call(metaMethods.releaseLocks, {
      clientId: this.options.clientId,
      release: { scope: 'client' },
    });
    this.held.clear();
    this.pendingReleases.length = 0;
    return released;
  }

  /** Stops renewals and releases what this client still holds (unmount). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.renewTimer?.cancel();
    this.renewTimer = undefined;
    await this.renewing;
    await Promise.allSettled([...this.queues.values()]);
    if (!this.everLocked) return;
    try {
      await this.releaseAll();
    } catch (error) {
      this.options.logger.warn(
        { err: error },
        `releasing locks at close failed; they lapse with the lease: ${describeError(error)}`,
      );
    }
  }

  /** Files currently known to hold locks of this client (tests, diagnostics). */
  heldFiles(): InodeId[] {
    return [...this.held.keys()];
  }

  private holder(owner: bigint) {
    return { clientId: this.options.clientId, instance: this.instance, owner };
  }

  private async setOnce(ino: InodeId, change: LockChange) {
    const reply = await this.options.meta.call(metaMethods.setLock, {
      ino,
      kind: change.kind,
      holder: this.holder(change.owner),
      mode: change.mode,
      range: change.range,
      pid: change.pid,
      leaseMs: this.options.leaseMs,
    });
    if (reply.granted && change.mode !== 'unlock') this.everLocked = true;
    this.learn(ino, reply.holds, reply.epoch);
    return reply;
  }

  private async releaseOnce(release: PendingRelease): Promise<void> {
    const reply = await this.options.meta.call(metaMethods.releaseLocks, {
      clientId: this.options.clientId,
      release: { scope: 'owner', ino: release.ino, kind: release.kind, owner: release.owner },
    });
    this.learn(release.ino, reply.holds, null);
  }

  /** Takes in what meta said of `ino` (holds) and of the lease (a newer epoch ends older ones). */
  private learn(ino: InodeId, holds: boolean, epoch: number | null): void {
    if (epoch !== null) this.learnEpoch(epoch);
    if (!holds) {
      this.held.delete(ino);
      return;
    }
    this.held.set(ino, epoch ?? this.held.get(ino) ?? this.epoch);
    this.scheduleRenewal();
  }

  private retryLater(release: PendingRelease): void {
    if (this.pendingReleases.length >= limits.clientOpenFilesMax) {
      this.options.logger.error(
        { ino: String(release.ino) },
        'too many lock releases wait for meta; this one lapses only when the lease does',
      );
      return;
    }
    this.pendingReleases.push(release);
    this.scheduleRenewal();
  }

  private scheduleRenewal(): void {
    if (this.closed || this.renewTimer !== undefined) return;
    this.renewTimer = this.options.clock.setTimer(this.options.leaseMs / 3, () => {
      this.renewing = this.renew().finally(() => {
        this.renewTimer = undefined;
        this.renewing = undefined;
        if (this.held.size > 0 || this.pendingReleases.length > 0) this.scheduleRenewal();
      });
    });
  }

  /** One renewal round: pending releases first, then the lease while anything is held. */
  private async renew(): Promise<void> {
    for (const release of this.pendingReleases.splice(0)) {
      await this.serialized(release.ino, () => this.releaseOnce(release)).catch(() =>
        this.retryLater(release),
      );
    }
    if (this.held.size === 0) return;
    const sentEpoch = this.epoch;
    try {
      const { epoch } = await this.options.meta.call(metaMethods.renewLockLease, {
        clientId: this.options.clientId,
        instance: this.instance,
        leaseMs: this.options.leaseMs,
      });
      if (epoch !== null) {
        this.learnEpoch(epoch);
        return;
      }
      const lost = [...this.held].filter(([, heldEpoch]) => heldEpoch <= sentEpoch);
      for (const [file] of lost) this.held.delete(file);
      if (lost.length > 0) {
        this.options.logger.warn(
          { files: lost.length, epoch: sentEpoch },
          'the lock lease lapsed (meta was out of reach): this client’s locks on these files are gone',
        );
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, `renewing the lock lease failed: ${describeError(error)}`);
    }
  }

  /** A newer lease epoch: locks taken under earlier epochs lapsed with the old lease. */
  private learnEpoch(epoch: number): void {
    if (epoch <= this.epoch) return;
    for (const [file, heldEpoch] of this.held) if (heldEpoch < epoch) this.held.delete(file);
    this.epoch = epoch;
  }

  /** Runs `call` after every earlier call about `ino` settled; the queue is dropped once idle. */
  private serialized<T>(ino: InodeId, call: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(ino) ?? Promise.resolve();
    const result = previous.then(call, call);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(ino, tail);
    void tail.then(() => {
      if (this.queues.get(ino) === tail) this.queues.delete(ino);
    });
    return result;
  }
}

function interrupted(ino: InodeId): FsError {
  return new FsError(ClientCode.LockWaitInterrupted, `the wait for a lock on inode ${ino} was interrupted`);
}

function describeHolder(conflict: LockConflict): string {
  return `pid ${conflict.pid} of client ${conflict.clientId} (${conflict.mode}, bytes ${conflict.start}..${conflict.end})`;
}
