/**
 * A bound on calls outstanding at once, with a bounded FIFO queue of calls waiting for a slot.
 * A full queue answers FsError(Overloaded) at once rather than growing; a waiter whose call is
 * cancelled leaves the queue; closing the limiter rejects every waiter with the given reason.
 */
import { FsError, assert } from '../common/errors.js';
import { RpcCode } from '../common/status-code.js';
import type { Cancellation } from './cancellation.js';

interface Waiter {
  readonly grant: (release: () => void) => void;
  readonly reject: (error: FsError) => void;
}

/** Slots for in-flight calls; see the file comment. */
export class InflightLimiter {
  private readonly inflightMax: number;
  private readonly queuedMax: number;
  private readonly waiters: Waiter[] = [];
  private inflightCount = 0;
  private closedReason: FsError | undefined;

  constructor(options: { inflightMax: number; queuedMax: number }) {
    assert(
      Number.isInteger(options.inflightMax) && options.inflightMax >= 1,
      'inflightMax is a positive integer',
    );
    assert(
      Number.isInteger(options.queuedMax) && options.queuedMax >= 0,
      'queuedMax is a non-negative integer',
    );
    this.inflightMax = options.inflightMax;
    this.queuedMax = options.queuedMax;
  }

  get inflight(): number {
    return this.inflightCount;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** A release function if a slot is free right now (the common case, with no promise), else undefined. */
  tryAcquire(): (() => void) | undefined {
    if (this.closedReason !== undefined) throw this.closedReason;
    if (this.inflightCount < this.inflightMax && this.waiters.length === 0) return this.take();
    return undefined;
  }

  /** Resolves with a release function once a slot is free; release it exactly when the call ends. */
  acquire(cancellation: Cancellation): Promise<() => void> {
    if (this.closedReason !== undefined) return Promise.reject(this.closedReason);
    if (cancellation.reason !== undefined) return Promise.reject(cancellation.reason);
    if (this.inflightCount < this.inflightMax && this.waiters.length === 0)
      return Promise.resolve(this.take());
    if (this.waiters.length >= this.queuedMax) {
      return Promise.reject(
        new FsError(
          RpcCode.Overloaded,
          `${this.inflightMax} calls in flight and ${this.queuedMax} waiting on this connection; refusing more`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const unsubscribe = cancellation.subscribe((reason) => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(reason);
      });
      const waiter: Waiter = {
        grant: (release) => {
          unsubscribe();
          resolve(release);
        },
        reject: (error) => {
          unsubscribe();
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Rejects every waiter and every later acquire with `reason`. Slots already held stay valid. */
  close(reason: FsError): void {
    this.closedReason ??= reason;
    for (const waiter of this.waiters.splice(0)) waiter.reject(reason);
  }

  private take(): () => void {
    this.inflightCount += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflightCount -= 1;
      assert(this.inflightCount >= 0, 'slots are released at most once each');
      this.grantNext();
    };
  }

  private grantNext(): void {
    if (this.closedReason !== undefined) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.grant(this.take());
  }
}
