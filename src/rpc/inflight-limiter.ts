/**
 * A bound on calls outstanding at once, with a bounded FIFO queue of calls waiting for a slot.
 * A full queue answers FsError(Overloaded) at once rather than growing; a waiter whose call is
 * cancelled leaves the queue; closing the limiter rejects every waiter with the given reason.
 * The slots are a pool of permits (common/permits.ts).
 */
import type { FsError } from '../common/errors.js';
import { Permits, type Release } from '../common/permits.js';
import { RpcCode } from '../common/status-code.js';
import type { Cancellation } from './cancellation.js';

/** Slots for in-flight calls; see the file comment. */
export class InflightLimiter {
  private readonly slots: Permits;

  constructor(options: { inflightMax: number; queuedMax: number }) {
    this.slots = new Permits({
      name: `${options.inflightMax} calls in flight on this connection`,
      permits: options.inflightMax,
      waitersMax: options.queuedMax,
      code: RpcCode.Overloaded,
    });
  }

  get inflight(): number {
    return this.slots.inUse;
  }

  get queued(): number {
    return this.slots.waiting;
  }

  /** A release function if a slot is free right now (the common case, with no promise), else undefined. */
  tryAcquire(): Release | undefined {
    return this.slots.tryAcquire() ? this.slots.releaser() : undefined;
  }

  /** Resolves with a release function once a slot is free; release it exactly when the call ends. */
  acquire(cancellation: Cancellation): Promise<Release> {
    return this.slots.hold({ cancel: cancellation });
  }

  /** Rejects every waiter and every later acquire with `reason`. Slots already held stay valid. */
  close(reason: FsError): void {
    void this.slots.close(reason);
  }
}
