/**
 * The decisions of directory quotas, pure so every rule is unit-tested on its own: what a file
 * holds against its quotas, which limit an increase must stay within, whether it fits, when a
 * change must read usage exactly, how much room a writer may be granted, and when usage went over
 * a soft limit. Bytes are held as written bytes plus bytes granted to writers and not yet written
 * (`reservedBytes`): both count against byte limits.
 */
import { limits } from '../../common/limits.js';
import type { QuotaState, QuotaUsage } from '../protocol/index.js';

/** The kinds of usage a limit applies to. */
export type QuotaDimension = 'bytes' | 'inodes';

export const zeroUsage: QuotaUsage = { inodes: 0n, bytes: 0n, reservedBytes: 0n };

export function addUsage(left: QuotaUsage, right: QuotaUsage): QuotaUsage {
  return {
    inodes: left.inodes + right.inodes,
    bytes: left.bytes + right.bytes,
    reservedBytes: left.reservedBytes + right.reservedBytes,
  };
}

export function negateUsage(usage: QuotaUsage): QuotaUsage {
  return { inodes: -usage.inodes, bytes: -usage.bytes, reservedBytes: -usage.reservedBytes };
}

export function isZeroUsage(usage: QuotaUsage): boolean {
  return usage.inodes === 0n && usage.bytes === 0n && usage.reservedBytes === 0n;
}

/** What one inode holds: itself, and for a file its length and the part of its grant past it. */
export function inodeUsage(
  file: { length: bigint; ceilingBytes: bigint | undefined } | undefined,
): QuotaUsage {
  if (file === undefined) return { inodes: 1n, bytes: 0n, reservedBytes: 0n };
  const { length, ceilingBytes } = file;
  const reservedBytes = ceilingBytes !== undefined && ceilingBytes > length ? ceilingBytes - length : 0n;
  return { inodes: 1n, bytes: length, reservedBytes };
}

/** The amount of `dimension` that limits are compared with: bytes count with their grants. */
export function amountOf(usage: QuotaUsage, dimension: QuotaDimension): bigint {
  return dimension === 'inodes' ? usage.inodes : usage.bytes + usage.reservedBytes;
}

function softLimitOf(quota: QuotaState, dimension: QuotaDimension): bigint | undefined {
  return dimension === 'inodes' ? quota.limits.softInodes : quota.limits.softBytes;
}

function softSinceOf(quota: QuotaState, dimension: QuotaDimension): bigint | undefined {
  return dimension === 'inodes' ? quota.softInodesSinceNs : quota.softBytesSinceNs;
}

/**
 * The limit an increase of `dimension` must stay within at `nowNs`: the hard limit, or the soft
 * one once usage has been over it for the grace period; undefined when nothing limits it.
 */
export function effectiveLimit(
  quota: QuotaState,
  dimension: QuotaDimension,
  nowNs: bigint,
): bigint | undefined {
  const hard = dimension === 'inodes' ? quota.limits.hardInodes : quota.limits.hardBytes;
  const soft = softLimitOf(quota, dimension);
  const since = softSinceOf(quota, dimension);
  const graceNs = BigInt(quota.limits.graceS) * 1_000_000_000n;
  if (soft === undefined || since === undefined || nowNs - since < graceNs) return hard;
  return hard === undefined || soft < hard ? soft : hard;
}

/** True when some limit of `dimension` applies to the quota, now or once a grace period ends. */
export function limitsDimension(quota: QuotaState, dimension: QuotaDimension): boolean {
  const hard = dimension === 'inodes' ? quota.limits.hardInodes : quota.limits.hardBytes;
  return hard !== undefined || softLimitOf(quota, dimension) !== undefined;
}

/** How far below its limit a change must leave usage to skip the exact read (common/limits.ts). */
export function exactMargin(dimension: QuotaDimension): bigint {
  return BigInt(
    dimension === 'inodes' ? limits.metaQuotaExactMarginInodes : limits.metaQuotaExactMarginBytes,
  );
}

/** The verdict on an increase: fits, exceeds, or too close to tell from a snapshot of usage. */
export type QuotaVerdict = 'fits' | 'exceeds' | 'near';

/**
 * Whether usage `after` an increase fits the quota's limits at `nowNs`. With `exact` false (usage
 * read from a snapshot), an increase that leaves less than the margin below a limit is `near`:
 * the caller reads usage again, joining the conflict set, and asks once more with `exact`.
 */
export function judgeIncrease(
  quota: QuotaState,
  options: { after: QuotaUsage; delta: QuotaUsage; nowNs: bigint; exact: boolean },
): QuotaVerdict {
  let verdict: QuotaVerdict = 'fits';
  for (const dimension of ['inodes', 'bytes'] as const) {
    if (amountOf(options.delta, dimension) <= 0n) continue;
    const limit = effectiveLimit(quota, dimension, options.nowNs);
    if (limit === undefined) continue;
    const after = amountOf(options.after, dimension);
    if (after > limit) {
      if (options.exact) return 'exceeds';
      verdict = 'near';
    } else if (!options.exact && after + exactMargin(dimension) > limit) {
      verdict = 'near';
    }
  }
  return verdict;
}

/**
 * Bytes a writer may still be granted under the quota (usage `usage` at `nowNs`): the room below
 * its effective byte limit, 0 when none is left, undefined when nothing limits bytes now.
 */
export function byteRoom(quota: QuotaState, usage: QuotaUsage, nowNs: bigint): bigint | undefined {
  const limit = effectiveLimit(quota, 'bytes', nowNs);
  if (limit === undefined) return undefined;
  const room = limit - amountOf(usage, 'bytes');
  return room > 0n ? room : 0n;
}

/**
 * The quota with its soft-limit times brought up to date by usage `after` seen at `nowNs`: a time
 * is set when usage is first seen over a soft limit and cleared when seen at or below it (or when
 * the limit is gone). Undefined when nothing changes.
 */
export function trackSoftLimits(quota: QuotaState, after: QuotaUsage, nowNs: bigint): QuotaState | undefined {
  let next = quota;
  for (const dimension of ['inodes', 'bytes'] as const) {
    const soft = softLimitOf(quota, dimension);
    const since = softSinceOf(quota, dimension);
    const over = soft !== undefined && amountOf(after, dimension) > soft;
    if (over === (since !== undefined)) continue;
    const field = dimension === 'inodes' ? 'softInodesSinceNs' : 'softBytesSinceNs';
    if (over) {
      next = { ...next, [field]: nowNs };
    } else {
      const { [field]: _dropped, ...rest } = next;
      next = rest;
    }
  }
  return next === quota ? undefined : next;
}

/**
 * The length a file may reach after a writer asks to reach `endBytes`: at least what it may reach
 * now (`currentBytes`), at most `endBytes` plus the grant size, and no more than `roomBytes`
 * beyond `currentBytes` (undefined: no limit). Below `endBytes` when the room is short.
 */
export function grantCeiling(options: {
  currentBytes: bigint;
  endBytes: bigint;
  roomBytes: bigint | undefined;
}): bigint {
  const { currentBytes, endBytes, roomBytes } = options;
  if (endBytes <= currentBytes) return currentBytes;
  const wanted = endBytes + BigInt(limits.metaQuotaGrantBytes) - currentBytes;
  const granted = roomBytes === undefined || roomBytes > wanted ? wanted : roomBytes;
  return currentBytes + granted;
}
