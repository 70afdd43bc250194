/**
 * Closes write sessions that wrote nothing later, in batches: such a close changes nothing anyone
 * can see (no length, no times), so close(2) of a file created or opened for writing and left
 * empty (touch, untar of empty files, lock files) returns at once instead of waiting for a meta
 * transaction, and meta runs one transaction for many closes.
 *
 * A session still open in meta only keeps an unlinked file's data until it closes, so the delay is
 * harmless; it is bounded (`delayMs`, or a full batch), and `flush` sends everything (shutdown).
 * Sessions a crashed client never closed are pruned as before (pruneSessions).
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { metaMethods, type Credentials, type InodeId, type Session } from '../meta/protocol/index.js';
import type { MetaClient } from './meta-client.js';

export class SessionCloser {
  private pending: Array<{ ino: InodeId; session: Session }> = [];
  private cred: Credentials | undefined;
  private timer: TimerHandle | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Closes given up on because too many waited (see `add`). */
  private dropped = 0;

  constructor(
    private readonly options: { meta: MetaClient; clock: Clock; logger: Logger; delayMs: number },
  ) {}

  /** Closes `session` of `ino` soon. */
  add(ino: InodeId, session: Session, cred: Credentials): void {
    if (this.pending.length >= limits.clientSessionClosesWaitingMax) {
      // Meta has not kept up for a long while: this one stays open in meta until the sessions of
      // this client are pruned (at its next start), as after a crash.
      this.dropped += 1;
      if (this.dropped === 1 || this.dropped % 10_000 === 0) {
        this.options.logger.warn(
          { dropped: this.dropped },
          'too many write sessions wait to be closed; leaving some open',
        );
      }
      return;
    }
    this.pending.push({ ino, session });
    this.cred ??= cred;
    if (this.pending.length >= limits.clientSessionsClosedPerCallMax) {
      this.send();
      return;
    }
    this.timer ??= this.options.clock.setTimer(this.options.delayMs, () => this.send());
  }

  /** Sends every pending close and waits for all of them. */
  async flush(): Promise<void> {
    do {
      this.send();
      await Promise.all([...this.inFlight]);
    } while (this.pending.length > 0);
  }

  /** Sends pending closes, a call per batch, while fewer than the bound of calls are in flight. */
  private send(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const cred = this.cred;
    if (cred === undefined) return;
    while (this.pending.length > 0 && this.inFlight.size < limits.clientSessionCloseCallsMax) {
      const sessions = this.pending.splice(0, limits.clientSessionsClosedPerCallMax);
      const sent = this.close(cred, sessions, true).finally(() => {
        this.inFlight.delete(sent);
        // What waited for a free call goes now.
        if (this.pending.length > 0) this.send();
      });
      this.inFlight.add(sent);
    }
    if (this.pending.length === 0) this.cred = undefined;
  }

  /**
   * One call for the batch; when it fails (a transaction that kept conflicting with others on an
   * engine that checks conflicts by range), each half once more on its own.
   */
  private async close(
    cred: Credentials,
    sessions: Array<{ ino: InodeId; session: Session }>,
    split: boolean,
  ): Promise<void> {
    try {
      await this.options.meta.call(metaMethods.closeSessions, { cred, sessions });
    } catch (error) {
      if (split && sessions.length > 1) {
        const half = Math.ceil(sessions.length / 2);
        await this.close(cred, sessions.slice(0, half), false);
        await this.close(cred, sessions.slice(half), false);
        return;
      }
      // Left open in meta: pruned with this client's other sessions at its next start.
      this.options.logger.warn(
        { sessions: sessions.length, err: error },
        `closing unwritten write sessions failed: ${describeError(error)}`,
      );
    }
  }
}
