/**
 * Files the gateway keeps open between NFS requests. NFSv3 has no open or close (and NFSv4's are
 * advisory here): each READ or WRITE names a file handle, and opening the file in meta for every
 * request would cost a meta call each and lose read-ahead and write buffering. So a file is opened
 * once per (inode, access, caller) and kept while used, then closed when idle: closing sends its
 * buffered writes and reports its length to meta.
 *
 * Invariants:
 * - a file in use (a request running on it) is never closed under that request;
 * - at most `openFilesMax` files are open; past it the least recently used idle file is closed,
 *   and when every file is busy the request waits for none and fails with JUKEBOX (try later);
 * - one caller's open never serves another's request: meta checked the access for that caller;
 * - when closing a file that wrote fails, writes the client was told were UNSTABLE may be lost:
 *   `onLostWrites` is called, and the gateway changes its write verifier so clients send them again.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { describeError, hasCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { MetaCode } from '../common/status-code.js';
import type { Credentials, FsClient, Inode, InodeId, OpenFile } from '../client/index.js';
import { NfsStatus, nfsError } from './nfs-status.js';

export type FileAccess = 'read' | 'write';

/** Credentials every operation of the gateway itself (not of a caller) runs with. */
export const gatewayCredentials: Credentials = { uid: 0, gid: 0, groups: [] };

interface Entry {
  readonly key: string;
  readonly ino: InodeId;
  readonly access: FileAccess;
  readonly opened: Promise<OpenFile>;
  users: number;
  lastUsedMs: number;
}

export interface OpenFilesOptions {
  readonly client: FsClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly idleMs: number;
  readonly openFilesMax: number;
  readonly onLostWrites: (ino: InodeId, error: unknown) => void;
}

function keyOf(ino: InodeId, access: FileAccess, cred: Credentials): string {
  return `${ino}/${access}/${cred.uid}/${cred.gid}/${cred.groups.join(',')}`;
}

/** The cache; see the file comment. */
export class OpenFiles {
  private readonly entries = new Map<string, Entry>();
  private sweepTimer: TimerHandle | undefined;
  private closing = false;

  constructor(private readonly options: OpenFilesOptions) {}

  /** Files open now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `use` on the file `ino` opened for `access` by `cred`, opening it first when needed. The
   * owner of a file may read and write it whatever its mode says, as the Linux NFS server allows:
   * NFS has no open state, and a file created read-only must still take the writes of the program
   * that created it.
   */
  async withFile<T>(
    ino: InodeId,
    access: FileAccess,
    cred: Credentials,
    use: (file: OpenFile) => Promise<T>,
  ): Promise<T> {
    if (this.closing) throw nfsError(NfsStatus.Jukebox, 'the gateway is stopping');
    const entry = await this.acquire(ino, access, cred);
    try {
      const file = await entry.opened;
      return await use(file);
    } finally {
      entry.users -= 1;
      entry.lastUsedMs = this.options.clock.monotonicMs();
      this.scheduleSweep();
    }
  }

  /**
   * Makes the writes of `ino` durable: every open write handle of it is synced (flush, report,
   * storage sync, metadata sync), or, when none is open any more (closed when idle, which sent
   * its writes), the file is opened by the gateway just to sync it.
   */
  async commit(ino: InodeId): Promise<void> {
    const writers = [...this.entries.values()].filter(
      (entry) => entry.ino === ino && entry.access === 'write',
    );
    if (writers.length === 0) {
      await this.withFile(ino, 'read', gatewayCredentials, (file) => file.fsync());
      return;
    }
    for (const entry of writers) {
      entry.users += 1;
      try {
        const file = await entry.opened;
        await file.fsync();
      } finally {
        entry.users -= 1;
        entry.lastUsedMs = this.options.clock.monotonicMs();
      }
    }
  }

  /** Whether any write handle of `ino` is open (tests). */
  hasWriter(ino: InodeId): boolean {
    return [...this.entries.values()].some((entry) => entry.ino === ino && entry.access === 'write');
  }

  /**
   * Sends the buffered writes of `ino` and reports its length to meta (an NFSv4 CLOSE), so that
   * any client opening the file next sees what was written.
   */
  async flushInode(ino: InodeId): Promise<void> {
    const writers = [...this.entries.values()].filter(
      (entry) => entry.ino === ino && entry.access === 'write',
    );
    for (const entry of writers) {
      entry.users += 1;
      try {
        await (await entry.opened).flush();
      } finally {
        entry.users -= 1;
        entry.lastUsedMs = this.options.clock.monotonicMs();
      }
    }
  }

  /** Closes the idle files of `ino` (its last name was removed); busy ones close when idle. */
  async closeInode(ino: InodeId): Promise<void> {
    const idle = [...this.entries.values()].filter((entry) => entry.ino === ino && entry.users === 0);
    for (const entry of idle) this.entries.delete(entry.key);
    await Promise.all(idle.map((entry) => this.close(entry)));
  }

  /** Closes every file (stop), reporting failures to the log and onLostWrites. */
  async closeAll(): Promise<void> {
    this.closing = true;
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(entries.map((entry) => this.close(entry)));
  }

  /** Closes files idle for `idleMs` (and, beyond the bound, the least recently used idle ones). */
  async sweep(): Promise<void> {
    const nowMs = this.options.clock.monotonicMs();
    const idle = [...this.entries.values()].filter(
      (entry) => entry.users === 0 && nowMs - entry.lastUsedMs >= this.options.idleMs,
    );
    for (const entry of idle) this.entries.delete(entry.key);
    await Promise.all(idle.map((entry) => this.close(entry)));
  }

  private async acquire(ino: InodeId, access: FileAccess, cred: Credentials): Promise<Entry> {
    const key = keyOf(ino, access, cred);
    const existing = this.entries.get(key);
    if (existing !== undefined) {
      existing.users += 1;
      return existing;
    }
    if (this.entries.size >= this.options.openFilesMax) this.evictOne();
    const entry: Entry = {
      key,
      ino,
      access,
      opened: this.open(ino, access, cred),
      users: 1,
      lastUsedMs: this.options.clock.monotonicMs(),
    };
    this.entries.set(key, entry);
    entry.opened.catch(() => {
      // A failed open is not kept: the next request tries again.
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry;
  }

  private evictOne(): void {
    let oldest: Entry | undefined;
    for (const entry of this.entries.values()) {
      if (entry.users > 0) continue;
      if (oldest === undefined || entry.lastUsedMs < oldest.lastUsedMs) oldest = entry;
    }
    if (oldest === undefined) {
      throw nfsError(NfsStatus.Jukebox, `all ${this.entries.size} open files are in use`);
    }
    this.entries.delete(oldest.key);
    void this.close(oldest);
  }

  private async open(ino: InodeId, access: FileAccess, cred: Credentials): Promise<OpenFile> {
    const { client } = this.options;
    const at = { parent: ino, path: '' };
    const write = access === 'write';
    try {
      return await client.openAt({ at, cred, read: !write, write });
    } catch (error) {
      if (!hasCode(error, MetaCode.PermissionDenied)) throw error;
      const inode: Inode = await client.statInode(ino, cred);
      if (inode.uid !== cred.uid) throw error;
      return client.openAt({ at, cred: gatewayCredentials, read: !write, write });
    }
  }

  private async close(entry: Entry): Promise<void> {
    let file: OpenFile;
    try {
      file = await entry.opened;
    } catch {
      return;
    }
    try {
      await file.close();
    } catch (error) {
      const { logger } = this.options;
      logger.warn(
        { ino: String(entry.ino), access: entry.access, err: error },
        `closing a file failed: ${describeError(error)}`,
      );
      if (entry.access === 'write') this.options.onLostWrites(entry.ino, error);
    }
  }

  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined || this.closing) return;
    this.sweepTimer = this.options.clock.setTimer(this.options.idleMs, () => {
      this.sweepTimer = undefined;
      this.sweep().then(
        () => {
          if (this.entries.size > 0) this.scheduleSweep();
        },
        (error: unknown) => this.options.logger.error({ err: error }, 'sweeping open files failed'),
      );
    });
  }
}
