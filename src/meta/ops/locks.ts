/**
 * Cluster-wide flock and POSIX locks (meta/locks/): test, set, release, and the leases that keep
 * them alive. Every operation is one transaction and none waits: a caller that wants to wait
 * (F_SETLKW, flock without LOCK_NB) asks again (client/lock-client.ts).
 *
 * flock and POSIX locks are independent of each other, as on Linux's local file systems. A flock
 * lock is a POSIX-shaped range over the whole file, so one conflict rule serves both. Converting
 * a flock lock (shared to exclusive or back) drops the old lock when the new one conflicts, as
 * flock(2) does on Linux: two holders upgrading at once do not wait for each other forever.
 *
 * A lease is written with a granted lock when it is missing, lapsed, another life's, or has less
 * than half of `leaseMs` left; otherwise the client's renewals keep it (renewLease).
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { applyRange, firstConflict } from '../locks/lock-ranges.js';
import type { Holder, LockReader, LockWriter } from '../locks/lock-store.js';
import {
  lockOffsetMax,
  type HeldRange,
  type InodeId,
  type LockConflict,
  type LockKind,
  type RequestOf,
  type ResponseOf,
  type metaMethods,
} from '../protocol/index.js';

type GetLockRequest = RequestOf<typeof metaMethods.getLock>;
type SetLockRequest = RequestOf<typeof metaMethods.setLock>;
type SetLockResponse = ResponseOf<typeof metaMethods.setLock>;

/** The live ranges of other holders than (`clientId`, `owner`), each with its client. */
async function othersLive(
  reader: LockReader,
  holders: readonly Holder[],
  self: { clientId: string; owner: bigint },
): Promise<{ ranges: Array<HeldRange & { clientId: string }>; dead: Holder[]; live: number }> {
  const ranges: Array<HeldRange & { clientId: string }> = [];
  const dead: Holder[] = [];
  let live = 0;
  for (const holder of holders) {
    if (holder.clientId === self.clientId && holder.owner === self.owner) continue;
    if (!(await reader.isLive(holder))) {
      dead.push(holder);
      continue;
    }
    live += 1;
    for (const range of holder.ranges) ranges.push({ ...range, clientId: holder.clientId });
  }
  return { ranges, dead, live };
}

function conflictOf(range: HeldRange & { clientId: string }): LockConflict {
  return { mode: range.mode, start: range.start, end: range.end, pid: range.pid, clientId: range.clientId };
}

/** F_GETLK: the first live lock of another holder that conflicts with the request, or null. */
export async function getLock(reader: LockReader, request: GetLockRequest): Promise<LockConflict | null> {
  const holders = await reader.holders(request.ino, request.kind);
  const { ranges } = await othersLive(reader, holders, request.holder);
  const found = firstConflict(ranges, { mode: request.mode, ...request.range });
  return found === undefined ? null : conflictOf(found);
}

/**
 * Sets or clears a lock without waiting. A conflict answers `granted: false` and changes nothing,
 * except that a flock conversion drops the holder's old lock (see the file comment). Records of
 * holders whose lease lapsed are removed on the way.
 */
export async function setLock(writer: LockWriter, request: SetLockRequest): Promise<SetLockResponse> {
  const { ino, kind, holder } = request;
  const holders = await writer.holders(ino, kind);
  const others = await othersLive(writer, holders, holder);
  for (const dead of others.dead) writer.deleteHolder(ino, kind, dead.clientId, dead.owner);
  const own = holders.find((one) => one.clientId === holder.clientId && one.owner === holder.owner);
  const ownRanges = own !== undefined && (await ownIsLive(writer, own, holder.instance)) ? own.ranges : [];
  const range = kind === 'flock' ? { start: 0n, end: lockOffsetMax } : request.range;
  if (request.mode === 'unlock') {
    const ranges = applyRange(ownRanges, { mode: 'unlock', ...range, pid: request.pid });
    if (own !== undefined) writer.putHolder(ino, kind, { ...own, ranges });
    return answer(writer, request, { granted: true, conflict: null, epoch: null });
  }
  const conflict = firstConflict(others.ranges, { mode: request.mode, ...range });
  if (conflict !== undefined) {
    if (kind === 'flock' && own !== undefined) writer.deleteHolder(ino, kind, holder.clientId, holder.owner);
    return answer(writer, request, { granted: false, conflict: conflictOf(conflict), epoch: null });
  }
  const ranges =
    kind === 'flock'
      ? [{ mode: request.mode, ...range, pid: request.pid }]
      : applyRange(ownRanges, { mode: request.mode, ...range, pid: request.pid });
  checkBounds(ino, ranges, others);
  const epoch = await holdLease(writer, holder.clientId, holder.instance, request.leaseMs);
  writer.putHolder(ino, kind, { clientId: holder.clientId, owner: holder.owner, epoch, ranges });
  return answer(writer, request, { granted: true, conflict: null, epoch });
}

/** True when the requester's own record is live under the lease of the same life of the client. */
async function ownIsLive(reader: LockReader, own: Holder, instance: string): Promise<boolean> {
  const lease = await reader.lease(own.clientId);
  return lease?.instance === instance && (await reader.isLive(own));
}

async function answer(
  reader: LockReader,
  request: SetLockRequest,
  outcome: Omit<SetLockResponse, 'holds'>,
): Promise<SetLockResponse> {
  return { ...outcome, holds: await reader.clientHolds(request.ino, request.holder.clientId) };
}

/** ENOLCK beyond the bounds on one owner's ranges and on a file's holders and ranges. */
function checkBounds(
  ino: InodeId,
  ranges: readonly HeldRange[],
  others: { ranges: readonly unknown[]; live: number },
): void {
  if (ranges.length > limits.metaLockRangesPerHolderMax) {
    throw new FsError(
      MetaCode.TooManyLocks,
      `one owner may hold ${limits.metaLockRangesPerHolderMax} ranges of inode ${ino}`,
    );
  }
  if (others.live + 1 > limits.metaLockHoldersPerInodeMax) {
    throw new FsError(MetaCode.TooManyLocks, `inode ${ino} has ${others.live} lock holders already`);
  }
  if (others.ranges.length + ranges.length > limits.metaLockRangesPerInodeMax) {
    throw new FsError(
      MetaCode.TooManyLocks,
      `inode ${ino} has ${others.ranges.length} locked ranges already`,
    );
  }
}

/**
 * The epoch of the client's current lease, made current now: written when missing, lapsed,
 * another life's, or past half of its time; otherwise left to the renewals.
 */
async function holdLease(
  writer: LockWriter,
  clientId: string,
  instance: string,
  leaseMs: number,
): Promise<number> {
  const lease = await writer.lease(clientId);
  const expiresAtMs = writer.nowMs + leaseMs;
  if (lease !== undefined && lease.instance === instance && lease.expiresAtMs > writer.nowMs) {
    if (lease.expiresAtMs < writer.nowMs + leaseMs / 2) writer.putLease(clientId, { ...lease, expiresAtMs });
    return lease.epoch;
  }
  // A new epoch, greater than any before (the record outlives its locks; see lock-store.ts).
  const epoch = Math.max((lease?.epoch ?? 0) + 1, Math.floor(writer.nowMs));
  writer.putLease(clientId, { instance, epoch, expiresAtMs });
  return epoch;
}

/** Releases one owner's locks of one kind on one file (close, flush, unlock of a whole flock). */
export async function releaseOwner(
  writer: LockWriter,
  request: { clientId: string; ino: InodeId; kind: LockKind; owner: bigint },
): Promise<{ released: number; holds: boolean }> {
  const existed = (await writer.holders(request.ino, request.kind)).some(
    (holder) => holder.clientId === request.clientId && holder.owner === request.owner,
  );
  if (existed) writer.deleteHolder(request.ino, request.kind, request.clientId, request.owner);
  return { released: existed ? 1 : 0, holds: await writer.clientHolds(request.ino, request.clientId) };
}

/**
 * Releases up to `pageMax` of a client's locks (unmount, a lapsed lease); `done` once none are
 * left, when the lease is ended too (its record stays, with its epoch; see lock-store.ts).
 */
export async function releaseClientPage(
  writer: LockWriter,
  clientId: string,
  pageMax: number,
): Promise<{ released: number; done: boolean }> {
  const page = await writer.clientLocks(clientId, pageMax);
  for (const lock of page) writer.deleteHolder(lock.ino, lock.kind, clientId, lock.owner);
  const done = page.length < pageMax;
  if (done) {
    const lease = await writer.lease(clientId);
    if (lease !== undefined && lease.expiresAtMs > writer.nowMs)
      writer.putLease(clientId, { ...lease, expiresAtMs: 0 });
  }
  return { released: page.length, done };
}

/** Extends the client's lease while this life holds it unexpired: its epoch, or null when lost. */
export async function renewLease(
  writer: LockWriter,
  request: { clientId: string; instance: string; leaseMs: number },
): Promise<number | null> {
  const lease = await writer.lease(request.clientId);
  if (lease === undefined || lease.instance !== request.instance || lease.expiresAtMs <= writer.nowMs)
    return null;
  const expiresAtMs = Math.max(lease.expiresAtMs, writer.nowMs + request.leaseMs);
  writer.putLease(request.clientId, { ...lease, expiresAtMs });
  return lease.epoch;
}
