/**
 * A one-shot cancellation token for the stages of one call attempt: waiting for a slot, for the
 * connection, for the socket, for the reply. It does what an AbortSignal would, without the cost of
 * an EventTarget per call, which showed up as a large share of a small call's CPU time. A caller's
 * AbortSignal is bridged into it once per attempt.
 */
import { FsError } from '../common/errors.js';
import { RpcCode } from '../common/status-code.js';

type Listener = (reason: FsError) => void;

/** Cancels the waits of one call attempt, with the FsError the attempt then rejects with. */
export class Cancellation {
  private cancelReason: FsError | undefined;
  private listeners: Listener[] = [];

  /** The reason once cancelled, else undefined. */
  get reason(): FsError | undefined {
    return this.cancelReason;
  }

  /** Cancels once; later calls are ignored. Listeners run synchronously, in subscription order. */
  cancel(reason: FsError): void {
    if (this.cancelReason !== undefined) return;
    this.cancelReason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener(reason);
  }

  /** Runs `listener` on cancellation (never if already cancelled); returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }
}

/** The FsError for a call its caller aborted through an AbortSignal with `reason`. */
export function cancelledByCaller(reason: unknown): FsError {
  if (reason instanceof FsError) return reason;
  return new FsError(RpcCode.Cancelled, 'call cancelled by its caller', { cause: reason });
}
