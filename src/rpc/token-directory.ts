/**
 * A service's copy of the users table, to verify callers' tokens against (caller.ts's
 * TokenVerifier). It reloads every `refreshMs` and only when the table's version moved, so a
 * removed user or a token past its grace period stops working within about one period.
 *
 * Until the first load, no token is known and token callers are refused (they retry); a failed
 * reload keeps the last table, so a mgmtd outage does not lock users out.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { TokenVerifier, UserIdentity } from './caller.js';

/** The users table as mgmtd serves it (mgmtd/protocol/users.ts), as far as verifying needs it. */
export interface TokenTable {
  readonly version: number;
  readonly users: readonly (UserIdentity & {
    readonly tokens: readonly {
      readonly id: string;
      readonly key: string;
      readonly expiresAtMs: number | null;
    }[];
  })[];
}

/** Least time between two reloads made for unknown tokens. */
const reloadGapMs = 250;

interface Entry {
  readonly key: string;
  readonly user: UserIdentity;
  readonly expiresAtMs: number | null;
}

export interface TokenDirectoryOptions {
  /** The table when its version differs from `knownVersion`, else null. */
  readonly fetch: (knownVersion: number) => Promise<TokenTable | null>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly refreshMs?: number;
}

export class TokenDirectory implements TokenVerifier {
  private entries = new Map<string, Entry>();
  private version = 0;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private warned = false;
  private reloading: Promise<void> | undefined;
  /** When the latest finished reload started (it saw every change made before then). */
  private completedReloadStartMs = -Infinity;
  private lastReloadMs = -Infinity;

  constructor(private readonly options: TokenDirectoryOptions) {}

  /** Loads the table now and then every refresh period, until stopped. */
  start(): void {
    void this.refreshAndSchedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  lookup(tokenId: string): { key: string; user: UserIdentity } | undefined {
    const entry = this.entries.get(tokenId);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= this.options.clock.nowMs()) return undefined;
    return entry;
  }

  async lookupFresh(tokenId: string): Promise<{ key: string; user: UserIdentity } | undefined> {
    const known = this.lookup(tokenId);
    if (known !== undefined) return known;
    // Waits for a reload that starts after this call; reloads start at most every quarter
    // second, however many unknown tokens connect (so they cannot make mgmtd busy either).
    const askedAtMs = this.options.clock.monotonicMs();
    while (this.completedReloadStartMs < askedAtMs) {
      const running = this.reloading;
      if (running !== undefined) {
        await running;
        continue;
      }
      const waitMs = this.lastReloadMs + reloadGapMs - this.options.clock.monotonicMs();
      if (waitMs > 0) {
        await new Promise<void>((resolve) => this.options.clock.setTimer(waitMs, resolve));
        continue;
      }
      this.reloading = this.refresh().finally(() => {
        this.reloading = undefined;
      });
    }
    return this.lookup(tokenId);
  }

  /** Reloads the table if its version moved; failures are logged once until a load succeeds. */
  async refresh(): Promise<void> {
    const startedAtMs = this.options.clock.monotonicMs();
    this.lastReloadMs = startedAtMs;
    try {
      const table = await this.options.fetch(this.version);
      this.warned = false;
      // Two reloads may overlap: an older table never replaces a newer one.
      if (table === null || table.version <= this.version) return;
      this.install(table);
    } catch (error) {
      if (!this.warned) {
        this.warned = true;
        this.options.logger.warn(
          { err: error },
          `cannot reload the users table (tokens are checked against the last one loaded): ${describeError(error)}`,
        );
      }
    } finally {
      // Done, failed or not: callers waiting for a reload after their question have had it.
      this.completedReloadStartMs = Math.max(this.completedReloadStartMs, startedAtMs);
    }
  }

  private install(table: TokenTable): void {
    const entries = new Map<string, Entry>();
    for (const user of table.users) {
      const identity: UserIdentity = Object.freeze({
        name: user.name,
        uid: user.uid,
        gid: user.gid,
        groups: Object.freeze([...user.groups]),
        root: user.root,
        admin: user.admin,
        trusted: user.trusted,
      });
      for (const token of user.tokens) {
        entries.set(token.id, { key: token.key, user: identity, expiresAtMs: token.expiresAtMs });
      }
    }
    this.entries = entries;
    this.version = table.version;
  }

  private async refreshAndSchedule(): Promise<void> {
    await this.refresh();
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.options.refreshMs ?? limits.userTokenRefreshMs, () => {
      void this.refreshAndSchedule();
    });
  }
}
