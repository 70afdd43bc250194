/**
 * Keeps the metadata cache fresh: every `intervalMs` it asks each meta service for the changes
 * committed since its last position (Meta.changes, meta/change-log.ts) and applies those other
 * clients made. The cache is usable only while every meta service in the routing info was polled
 * successfully within `staleMs`, starting from a position taken while the cache was empty or
 * known fresh; otherwise it is dropped (with the kernel's copies) and waits for fresh positions.
 *
 * A service that restarted, or one this client fell too far behind, answers `reset`: its earlier
 * changes are unknown, so the cache is dropped too. So is it when a service leaves the routing
 * info (what it committed last may not have been polled) or a new one joins while in use.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { ChangeItem } from '../meta/protocol/index.js';
import type { MetadataCache } from './metadata-cache.js';

/** Where changes come from: the meta services' addresses and one poll of one of them. */
export interface ChangeSource {
  addresses(): readonly string[];
  poll(
    address: string,
    request: { epoch?: string; after: number; limit: number },
    timeoutMs: number,
  ): Promise<{ epoch: string; last: number; items: ChangeItem[]; reset: boolean; more: boolean }>;
}

interface Position {
  epoch: string;
  last: number;
  /** Monotonic time of the last successful poll. */
  polledMs: number;
}

/** Pages of changes one poll of one service reads before waiting for the next tick. */
const pagesPerPollMax = 16;

export class ChangePoller {
  private readonly positions = new Map<string, Position>();
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly options: {
      cache: MetadataCache;
      source: ChangeSource;
      /** This client's id: its own changes are in the cache already. */
      clientId: string;
      clock: Clock;
      logger: Logger;
      intervalMs: number;
      staleMs: number;
    },
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
    this.options.cache.setUsable(false);
  }

  /** One round over every service (tests call it directly). */
  async pollOnce(): Promise<void> {
    const { cache, source, clock } = this.options;
    const addresses = source.addresses();
    for (const known of [...this.positions.keys()]) {
      if (addresses.includes(known)) continue;
      // A service gone from the routing info: what it committed last may never be polled.
      this.positions.delete(known);
      this.dropCache(`meta service ${known} left the routing info`);
    }
    // In parallel, each bounded by half the staleness limit: a round never outlasts the limit.
    await Promise.all(
      addresses.map((address) =>
        this.pollService(address).catch((error: unknown) =>
          this.options.logger.debug({ address, err: error }, `change poll failed: ${describeError(error)}`),
        ),
      ),
    );
    const now = clock.monotonicMs();
    const fresh =
      addresses.length > 0 &&
      addresses.every((address) => {
        const position = this.positions.get(address);
        return position !== undefined && now - position.polledMs <= this.options.staleMs;
      });
    if (cache.usable && !fresh) this.dropCache('a meta service could not be polled in time');
    else if (!cache.usable && fresh) cache.setUsable(true);
  }

  private async pollService(address: string): Promise<void> {
    const { cache, source, clock } = this.options;
    for (let page = 0; page < pagesPerPollMax; page++) {
      const position = this.positions.get(address);
      const reply = await source.poll(
        address,
        {
          ...(position === undefined ? {} : { epoch: position.epoch }),
          after: position?.last ?? 0,
          limit: limits.metaChangesPerPollMax,
        },
        this.options.staleMs / 2,
      );
      if (reply.reset) {
        // Changes before this position are unknown: whatever was cached may be stale.
        if (position !== undefined || cache.usable) this.dropCache(`meta service ${address} starts over`);
      } else {
        for (const item of reply.items) this.apply(item);
      }
      this.positions.set(address, { epoch: reply.epoch, last: reply.last, polledMs: clock.monotonicMs() });
      if (!reply.more) return;
    }
  }

  private apply(item: ChangeItem): void {
    if (item.origin === this.options.clientId) return;
    const { cache } = this.options;
    if (item.kind === 'entry') cache.invalidateEntry(item.parent, item.name);
    else if (item.kind === 'inode') cache.invalidateInode(item.ino);
    else cache.clear();
  }

  private dropCache(reason: string): void {
    const { cache } = this.options;
    if (!cache.usable) return;
    this.options.logger.info({ reason }, 'metadata cache dropped');
    cache.setUsable(false);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(delayMs, () => {
      this.running = this.pollOnce()
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error }, `change poll failed: ${describeError(error)}`),
        )
        .finally(() => this.schedule(this.options.intervalMs));
    });
  }
}
