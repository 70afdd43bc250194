/**
 * An abort source whose AbortSignal is created only when someone asks for it. Every request offers
 * its handler a signal, but most handlers never read it, and an AbortController per request is a
 * visible share of a small request's cost. Aborting before the signal exists is remembered, so the
 * signal is born aborted.
 */

/** See the file comment. */
export class LazyAbort {
  private controller: AbortController | undefined;
  private aborted = false;
  private reason: unknown;

  /** The signal, created on first use. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Aborts once; later calls are ignored. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}
