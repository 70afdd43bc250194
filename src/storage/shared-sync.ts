/**
 * The syncs of one target's chunk store, shared by everyone who asks (`Storage.syncTargets`, a
 * client's fsync). A caller needs a sync that began after its call, since a sync already running
 * may have started before the commits the caller wants made durable. So a call made while a sync
 * runs waits for the next one, which starts when the running one ends and serves every call that
 * arrived meanwhile.
 *
 * Invariants: at most one sync of the store runs, and at most one more waits, whatever the number
 * of callers; a failed sync fails the calls it serves and the next call starts a new one.
 */
import { assert } from '../common/errors.js';

export class SharedSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  /**
   * `sync` makes everything committed before it durable; `onSynced` is told after each one that
   * succeeded (counters).
   */
  constructor(
    private readonly sync: () => Promise<void>,
    private readonly onSynced: () => void = () => undefined,
  ) {}

  /** Resolves once a sync that began after this call has finished. */
  request(): Promise<void> {
    if (this.next !== undefined) return this.next;
    if (this.running === undefined) return this.start();
    const settled = this.running.then(
      () => undefined,
      () => undefined,
    );
    this.next = settled.then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  /** True while a sync runs (tests). */
  get busy(): boolean {
    return this.running !== undefined;
  }

  private start(): Promise<void> {
    assert(this.running === undefined, 'one sync of a store runs at a time');
    const run = this.sync()
      .then(() => this.onSynced())
      .finally(() => {
        this.running = undefined;
      });
    this.running = run;
    return run;
  }
}
