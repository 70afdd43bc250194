/**
 * The one way code here waits for a share of something bounded: a pool of permits handed out
 * first come, first served (a freed permit goes to the oldest waiter, so nobody overtakes), with
 * a bound on how many may wait, and for each wait an optional deadline and an optional way to
 * cancel it (an AbortSignal, or anything that can subscribe to a cancellation, as RPC calls do).
 * A full queue or a passed deadline answers a PermitsError at once, with the status code the
 * owner chose; a closed pool answers its closing reason. Deadlines read time through a Clock.
 *
 * Mutexes are pools of one permit, limiters of N, byte budgets of N bytes.
 */
import type { Clock, TimerHandle } from './clock.js';
import { FsError, assert } from './errors.js';
import type { StatusCode } from './status-code.js';

/** Why a wait was refused: the queue was full, or the deadline passed before the permits came. */
export type RefusalKind = 'full' | 'late';

/** A wait refused by a pool: `kind` says why; `code` is the pool owner's status code. */
export class PermitsError extends FsError {
  constructor(
    code: StatusCode,
    readonly kind: RefusalKind,
    message: string,
  ) {
    super(code, message);
  }
}

/** What may cancel one wait: an AbortSignal, or a subscription to a cancellation. */
export type WaitCanceller =
  | AbortSignal
  | {
      /** The reason once cancelled, else undefined. */
      readonly reason: unknown;
      /** Calls `listener` once on cancellation; returns the unsubscribe function. */
      subscribe(listener: (reason: unknown) => void): () => void;
    };

export interface PermitsOptions {
  /** Names the pool in error messages ("the lock of chunk 7:3"). */
  readonly name: string;
  /** Permits in the pool: at least one. */
  readonly permits: number;
  /** Callers that may wait at once; one more is refused with kind "full". */
  readonly waitersMax: number;
  /** The status code of PermitsErrors (e.g. StorageCode.ChunkBusy, RpcCode.Overloaded). */
  readonly code: StatusCode;
  /** Needed to honour deadlines. */
  readonly clock?: Clock;
}

export interface WaitOptions {
  /** Permits wanted: at least one, at most the pool's size. */
  readonly count?: number;
  /** Monotonic milliseconds (the pool's clock) after which the wait is refused with kind "late". */
  readonly deadlineMs?: number;
  /** Ends the wait with the canceller's reason. */
  readonly cancel?: WaitCanceller;
}

/** Gives permits back; calling it twice is a bug. */
export type Release = () => void;

interface Waiter {
  readonly count: number;
  readonly grant: () => void;
  readonly refuse: (reason: unknown) => void;
}

function isAbortSignal(cancel: WaitCanceller): cancel is AbortSignal {
  return 'aborted' in cancel;
}

/** The reason `cancel` was cancelled with, or undefined while it is not. */
function cancelledReason(cancel: WaitCanceller | undefined): unknown {
  if (cancel === undefined) return undefined;
  if (isAbortSignal(cancel)) return cancel.aborted ? (cancel.reason ?? new Error('aborted')) : undefined;
  return cancel.reason;
}

function subscribe(cancel: WaitCanceller, listener: (reason: unknown) => void): () => void {
  if (!isAbortSignal(cancel)) return cancel.subscribe(listener);
  const onAbort = (): void => listener(cancel.reason);
  cancel.addEventListener('abort', onAbort, { once: true });
  return () => cancel.removeEventListener('abort', onAbort);
}

export class Permits {
  private used = 0;
  private readonly waiters: Waiter[] = [];
  private closedReason: Error | undefined;
  private idleListeners: Array<() => void> = [];

  constructor(private readonly options: PermitsOptions) {
    assert(
      Number.isSafeInteger(options.permits) && options.permits >= 1,
      `${options.name}: at least one permit`,
    );
    assert(
      Number.isSafeInteger(options.waitersMax) && options.waitersMax >= 0,
      `${options.name}: waitersMax is a finite count`,
    );
  }

  /** Permits in the pool. */
  get size(): number {
    return this.options.permits;
  }

  /** Permits held now. */
  get inUse(): number {
    return this.used;
  }

  /** Callers waiting now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes `count` permits if they are free and nobody waits before; true when taken. */
  tryAcquire(count = 1): boolean {
    if (this.closedReason !== undefined) throw this.closedReason;
    this.checkCount(count);
    if (this.waiters.length > 0 || this.used + count > this.options.permits) return false;
    this.used += count;
    return true;
  }

  /** Resolves once `count` permits are the caller's; see the file comment for refusals. */
  acquire(options: WaitOptions = {}): Promise<void> {
    const count = options.count ?? 1;
    if (this.closedReason !== undefined) return Promise.reject(this.closedReason);
    const cancelled = cancelledReason(options.cancel);
    if (cancelled !== undefined) return Promise.reject(cancelled);
    if (this.tryAcquire(count)) return Promise.resolve();
    const { name, waitersMax, code, clock } = this.options;
    if (this.waiters.length >= waitersMax) {
      return Promise.reject(
        new PermitsError(
          code,
          'full',
          `${name}: ${this.waiters.length} already wait, the limit is ${waitersMax}`,
        ),
      );
    }
    let waitMs: number | undefined;
    if (options.deadlineMs !== undefined) {
      assert(clock !== undefined, `${name}: a deadline needs the pool's clock`);
      waitMs = options.deadlineMs - clock.monotonicMs();
      if (waitMs <= 0) return Promise.reject(new PermitsError(code, 'late', `${name}: no time left to wait`));
    }
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      let unsubscribe: (() => void) | undefined;
      let settled = false;
      const leave = (): void => {
        assert(!settled, `${name}: a wait ends once`);
        settled = true;
        timer?.cancel();
        unsubscribe?.();
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
      };
      const waiter: Waiter = {
        count,
        grant: () => {
          leave();
          resolve();
        },
        refuse: (reason) => {
          if (settled) return;
          leave();
          reject(reason);
          // A refused head may have been what held back the waiters behind it.
          this.grantWaiting();
        },
      };
      this.waiters.push(waiter);
      if (waitMs !== undefined && clock !== undefined) {
        const waited = Math.round(waitMs);
        timer = clock.setTimer(waitMs, () =>
          waiter.refuse(new PermitsError(code, 'late', `${name}: waited ${waited} ms in vain`)),
        );
      }
      if (options.cancel !== undefined)
        unsubscribe = subscribe(options.cancel, (reason) => waiter.refuse(reason));
    });
  }

  /** Gives back `count` permits taken before (in any split of what was taken). */
  release(count = 1): void {
    assert(
      Number.isSafeInteger(count) && count >= 0 && count <= this.used,
      `${this.options.name}: released permits were taken`,
    );
    this.used -= count;
    this.grantWaiting();
    if (this.used === 0 && this.waiters.length === 0) {
      for (const listener of this.idleListeners.splice(0)) listener();
    }
  }

  /** A function that gives back `count` permits once; a second call is a bug. */
  releaser(count = 1): Release {
    let released = false;
    return () => {
      assert(!released, `${this.options.name}: permits released once`);
      released = true;
      this.release(count);
    };
  }

  /** Takes `count` permits and returns the function giving them back. */
  async hold(options: WaitOptions = {}): Promise<Release> {
    await this.acquire(options);
    return this.releaser(options.count ?? 1);
  }

  /**
   * Refuses every waiter and every later acquire with `reason`; permits already held stay valid.
   * Resolves once every permit is back.
   */
  close(reason: Error): Promise<void> {
    this.closedReason ??= reason;
    for (const waiter of [...this.waiters]) waiter.refuse(this.closedReason);
    if (this.used === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  private checkCount(count: number): void {
    assert(
      Number.isSafeInteger(count) && count >= 1 && count <= this.options.permits,
      `${this.options.name}: between 1 and ${this.options.permits} permits at once`,
    );
  }

  private grantWaiting(): void {
    if (this.closedReason !== undefined) return;
    for (;;) {
      const first = this.waiters[0];
      if (first === undefined || this.used + first.count > this.options.permits) return;
      this.used += first.count;
      first.grant();
    }
  }
}
