/**
 * What statfs(2) (df) shows inside a directory quota: the quota as if it were the file system. Its
 * byte limit is the size (the hard limit, else the soft one), its usage what is used, and what is
 * left below the limit (less the bytes granted to writers) is free, but never more than the file
 * system has free. Its inode limit is the inode total the same way. What the quota does not limit
 * stays as the file system reports it. Pure, for unit tests.
 */
import type { QuotaInfo } from '../meta/protocol/index.js';
import type { StatfsReply } from './lowlevel/index.js';

function blocksOf(bytes: bigint, blockBytes: number): number {
  return bytes <= 0n ? 0 : Number(bytes / BigInt(blockBytes));
}

function smaller(left: number, right: bigint | number): number {
  return Number(right) < left ? Number(right) : left;
}

/** `base` (the file system's statfs) as seen inside `quota`, or `base` without one. */
export function statfsWithinQuota(base: StatfsReply, quota: QuotaInfo | null): StatfsReply {
  if (quota === null) return base;
  let reply: StatfsReply = base;
  const byteLimit = quota.limits.hardBytes ?? quota.limits.softBytes;
  if (byteLimit !== undefined) {
    const free = byteLimit - quota.usage.bytes;
    const available = free - quota.usage.reservedBytes;
    reply = {
      ...reply,
      blocks: blocksOf(byteLimit, base.blockSize),
      blocksFree: smaller(blocksOf(free, base.blockSize), base.blocksFree),
      blocksAvailable: smaller(blocksOf(available, base.blockSize), base.blocksAvailable ?? base.blocksFree),
    };
  }
  const inodeLimit = quota.limits.hardInodes ?? quota.limits.softInodes;
  if (inodeLimit !== undefined) {
    const free = inodeLimit > quota.usage.inodes ? inodeLimit - quota.usage.inodes : 0n;
    reply = { ...reply, files: Number(inodeLimit), filesFree: Number(free), filesAvailable: Number(free) };
  }
  return reply;
}
