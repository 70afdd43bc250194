/**
 * The FUSE edge of cluster-wide locks: the kernel's getlk, setlk and flock requests, and the lock
 * releases POSIX ties to closes, mapped onto the client's LockClient (client/lock-client.ts).
 *
 * - POSIX locks belong to the kernel's lock owner (one per process file table); they go on flush
 *   (any close by the owner of a descriptor of the file) as POSIX says, which the kernel sends for
 *   every close, even of descriptors of other open files of the same file.
 * - flock locks belong to the open file (the kernel's owner for them is the file); they go with
 *   its last release (`flockRelease`) or an explicit LOCK_UN.
 * - Errors: a conflict without waiting answers EAGAIN (fcntl) or EWOULDBLOCK (flock; the same
 *   errno on Linux); a blocking wait interrupted by a signal EINTR; a wait that reached the bound
 *   EDEADLK for fcntl and EWOULDBLOCK for flock, whose man page knows no EDEADLK.
 */
import { FsError, describeError, hasCode } from '../common/errors.js';
import { ClientCode } from '../common/status-code.js';
import { LockClient, type FsClient } from '../client/index.js';
import type { Clock } from '../common/clock.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { lockOffsetMax, type ByteRange, type InodeId, type LockMode } from '../meta/protocol/index.js';
import {
  Errno,
  LockType,
  fuseError,
  type FlockRequest,
  type LockRange,
  type LockRequest,
  type RequestContext,
  type SetlkRequest,
} from './lowlevel/index.js';
import { LockOwnerFiles } from './lock-owner-files.js';

/** The bytes of a kernel lock range (`length` 0: to the end of the file), or EINVAL. */
export function byteRangeOf(lock: { start: bigint; length: bigint }): ByteRange {
  const end = lock.length === 0n ? lockOffsetMax : lock.start + lock.length - 1n;
  if (lock.start < 0n || lock.length < 0n || end > lockOffsetMax) {
    throw fuseError(Errno.EINVAL, `lock range ${lock.start}+${lock.length} is beyond the largest offset`);
  }
  return { start: lock.start, end };
}

/** The kernel's start and length of a range (length 0 when it runs to the end of the file). */
export function kernelRangeOf(range: ByteRange): { start: bigint; length: bigint } {
  return { start: range.start, length: range.end === lockOffsetMax ? 0n : range.end - range.start + 1n };
}

function modeOf(type: LockType): LockMode | 'unlock' {
  if (type === LockType.Read) return 'read';
  if (type === LockType.Write) return 'write';
  if (type === LockType.Unlock) return 'unlock';
  throw fuseError(Errno.EINVAL, `lock type ${String(type)} is not F_RDLCK, F_WRLCK or F_UNLCK`);
}

export class FuseLocks {
  private readonly ownerFiles = new LockOwnerFiles(limits.fuseLockOwnersPerOpenFileMax);
  private untrackedOwnerLogged = false;

  constructor(
    private readonly locks: LockClient,
    private readonly logger: Logger,
  ) {}

  async getlk(_context: RequestContext, request: LockRequest): Promise<LockRange> {
    const range = byteRangeOf(request.lock);
    const mode = modeOf(request.lock.type);
    if (mode === 'unlock') throw fuseError(Errno.EINVAL, 'F_GETLK asks about a read or write lock');
    const conflict = await this.locks.test(request.ino, { kind: 'posix', owner: request.owner, mode, range });
    if (conflict === null) return { type: LockType.Unlock, ...kernelRangeOf(range), pid: 0 };
    return {
      type: conflict.mode === 'write' ? LockType.Write : LockType.Read,
      ...kernelRangeOf(conflict),
      pid: conflict.pid,
    };
  }

  async setlk(context: RequestContext, request: SetlkRequest): Promise<void> {
    const mode = modeOf(request.lock.type);
    await this.locks.set(request.ino, {
      kind: 'posix',
      owner: request.owner,
      mode,
      range: byteRangeOf(request.lock),
      pid: request.lock.pid > 0 ? request.lock.pid : context.pid,
      wait: request.wait && mode !== 'unlock',
      signal: request.signal,
    });
    if (mode !== 'unlock' && !this.ownerFiles.add(request.fh, request.owner) && !this.untrackedOwnerLogged) {
      this.untrackedOwnerLogged = true;
      this.logger.warn(
        { ino: String(request.ino), ownersMax: limits.fuseLockOwnersPerOpenFileMax },
        'too many lock owners through one open file: OFD locks of the others stay until this daemon unmounts',
      );
    }
  }

  async flock(context: RequestContext, request: FlockRequest): Promise<void> {
    const mode =
      request.operation === 'exclusive' ? 'write' : request.operation === 'shared' ? 'read' : 'unlock';
    try {
      await this.locks.set(request.ino, {
        kind: 'flock',
        owner: request.owner,
        mode,
        range: { start: 0n, end: lockOffsetMax },
        pid: context.pid,
        wait: request.wait,
        signal: request.signal,
      });
    } catch (error) {
      if (!hasCode(error, ClientCode.LockWaitTimedOut)) throw error;
      throw new FsError(ClientCode.LockConflict, (error as FsError).message, { cause: error });
    }
  }

  /** A close of a descriptor by `lockOwner`: its POSIX locks on the file go. */
  async flush(ino: InodeId, lockOwner: bigint): Promise<void> {
    await this.locks.release(ino, 'posix', lockOwner);
  }

  /**
   * The last release of an open file: its flock lock goes when the kernel says it had one, and
   * the POSIX locks of owners that locked only through it (open file description locks; see
   * lock-owner-files.ts).
   */
  async release(
    ino: InodeId,
    request: { fh: bigint; lockOwner: bigint; flockRelease: boolean },
  ): Promise<void> {
    if (request.flockRelease) await this.locks.release(ino, 'flock', request.lockOwner);
    for (const owner of this.ownerFiles.released(request.fh)) await this.locks.release(ino, 'posix', owner);
  }
}

/**
 * The locks of a FUSE daemon: a lock client with the configured lease and wait bound, after
 * releasing whatever an earlier life of this node's client id left in meta (it crashed), so a
 * restarted daemon frees those locks at once rather than when their lease lapses.
 */
export async function startFuseLocks(
  client: FsClient,
  options: { leaseMs: number; waitMsMax: number; clock: Clock; logger: Logger },
): Promise<{ fuse: FuseLocks; client: LockClient }> {
  const logger = options.logger.child({ component: 'locks' });
  const locks = new LockClient({
    meta: client.meta,
    clientId: client.clientId,
    clock: options.clock,
    logger,
    leaseMs: options.leaseMs,
    waitMsMax: options.waitMsMax,
  });
  try {
    const released = await locks.releaseAll();
    if (released > 0) logger.info({ released }, 'released locks left by an earlier run');
  } catch (error) {
    logger.warn({ err: error }, `could not release locks of an earlier run: ${describeError(error)}`);
  }
  return { fuse: new FuseLocks(locks, logger), client: locks };
}
