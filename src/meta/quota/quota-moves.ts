/**
 * Where an inode's quotas are decided as it comes into a directory: at its creation (it counts
 * against the quotas of what is made in the directory), at a link (refused between trees counted
 * by different quotas, as XFS refuses links between project quotas), and at a rename, where a
 * non-directory with one link moves its usage from the quotas it leaves to those it joins (EDQUOT
 * when they lack room) and a directory, or a file with other links, between trees counted by
 * different quotas is refused with EXDEV (`mv` then copies and removes, which counts exactly).
 * Moving a whole tree would need its usage, which only a quota on its top directory keeps.
 *
 * Each costs one read (the directory's QDIR) where no quota counts anything involved.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import type { DirectoryInode, Inode, InodeId, QuotaState } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import { QuotaWriter } from '../store/quota-records.js';
import { negateUsage } from './quota-rules.js';

/** The `quotas` field of an inode made in `parent`: absent when no quota counts what is made there. */
export async function quotasOfNewChild(
  writer: MetaWriter,
  parent: DirectoryInode,
): Promise<{ quotas?: InodeId[] }> {
  const quotas = await new QuotaWriter(writer.transaction).forChildrenOf(parent);
  return quotas.length === 0 ? {} : { quotas: quotas.map((quota) => quota.quotaId) };
}

function sameQuotas(left: readonly QuotaState[], right: readonly QuotaState[]): boolean {
  const ids = new Set(left.map((quota) => quota.quotaId));
  return left.length === right.length && right.every((quota) => ids.has(quota.quotaId));
}

function crossQuota(inode: Inode, what: string): FsError {
  return new FsError(
    MetaCode.CrossQuota,
    `${what} inode ${inode.ino} between trees counted by different directory quotas`,
  );
}

/** Refuses a link to `inode` in `target` when the two are counted by different quotas (EXDEV). */
export async function checkLinkQuotas(
  writer: MetaWriter,
  inode: Inode,
  target: DirectoryInode,
): Promise<void> {
  const quotas = new QuotaWriter(writer.transaction);
  const joined = await quotas.forChildrenOf(target);
  if (joined.length === 0 && (inode.quotas?.length ?? 0) === 0) return;
  if (!sameQuotas(await quotas.live(inode.quotas), joined)) throw crossQuota(inode, 'cannot link');
}

/**
 * Before `moved` leaves `source` for `target`: moves its usage to the quotas of `target` (or
 * refuses, see the file comment) and records them on it.
 */
export async function moveQuotas(
  writer: MetaWriter,
  move: { moved: Inode; source: DirectoryInode; target: DirectoryInode; nowNs: bigint },
): Promise<void> {
  const { moved, source, target } = move;
  if (source.ino === target.ino) return;
  const quotas = new QuotaWriter(writer.transaction);
  const joined = await quotas.forChildrenOf(target);
  if (joined.length === 0 && (moved.quotas?.length ?? 0) === 0) return;
  const left = await quotas.live(moved.quotas);
  if (sameQuotas(left, joined)) return;
  if (moved.type === 'directory') throw crossQuota(moved, 'cannot move directory');
  if (moved.nlink > 1) throw crossQuota(moved, 'cannot move one of several links of');
  const usage = await quotas.usageOfInode(moved);
  const joinedIds = new Set(joined.map((quota) => quota.quotaId));
  const leftIds = new Set(left.map((quota) => quota.quotaId));
  await quotas.add(
    left.filter((quota) => !joinedIds.has(quota.quotaId)),
    moved.ino,
    negateUsage(usage),
  );
  await quotas.charge(
    joined.filter((quota) => !leftIds.has(quota.quotaId)),
    moved.ino,
    usage,
    move.nowNs,
  );
  if (joined.length === 0 && moved.type === 'file') quotas.dropGrant(moved.ino);
  const ids = joined.map((quota) => quota.quotaId);
  await writer.updateInode(moved.ino, (latest) => withQuotas(latest, ids));
}

/** `inode` counting against quotas `ids` (the field dropped when there are none). */
export function withQuotas<T extends Inode>(inode: T, ids: readonly InodeId[]): T {
  const { quotas: _previous, ...rest } = inode;
  return (ids.length === 0 ? rest : { ...rest, quotas: [...ids] }) as T;
}
