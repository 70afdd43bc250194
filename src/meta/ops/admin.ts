/**
 * Operations of operators and of the service's own housekeeping: a directory's default layout,
 * pruning the write sessions of a client declared dead, and listing the work queued for storage.
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import type { ChainPicker } from '../chain-picker.js';
import { resolveExisting } from '../path-resolve.js';
import type { DirectoryInode, RequestOf, metaMethods } from '../protocol/index.js';
import type { DanglingEntry } from '../protocol/methods.js';
import { releaseGrantIfIdle } from '../quota/quota-grants.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import { addSubdirectoryLink, touchDirectory } from './links.js';
import { reclaimIfOrphan } from './sessions.js';

/**
 * Changes a directory's default layout, inherited by subdirectories created afterwards and used
 * by files created in it afterwards; existing files keep theirs. Root only.
 */
export async function setDirectoryLayout(
  writer: MetaWriter,
  ctx: OpContext,
  chains: ChainPicker,
  request: RequestOf<typeof metaMethods.setDirLayout>,
): Promise<DirectoryInode> {
  if (ctx.cred.uid !== 0) throw new FsError(MetaCode.NotPermitted, 'only root changes a directory layout');
  const { inode } = await resolveExisting(writer, ctx.cred, request.at, { followLast: true });
  if (inode.type !== 'directory')
    throw new FsError(MetaCode.NotDirectory, `inode ${inode.ino} is not a directory`);
  const layout = {
    chainTableId: request.chainTableId ?? inode.layout.chainTableId,
    chunkSizeBytes: request.chunkSizeBytes ?? inode.layout.chunkSizeBytes,
    stripeSize: request.stripeSize ?? inode.layout.stripeSize,
  };
  // A table that does not exist would only fail later, at the first create: refuse it now.
  chains.table(layout.chainTableId);
  const updated: DirectoryInode = { ...inode, layout, ctimeNs: ctx.nowNs };
  writer.putInode(updated);
  return writer.presented(updated);
}

/**
 * Removes up to metaSessionsPrunedPerTransaction sessions of `clientId` (one transaction's
 * worth); orphans whose last session this was are released. The caller loops until `done`.
 */
export async function pruneSessionsPage(
  writer: MetaWriter,
  ctx: OpContext,
  clientId: string,
): Promise<{ removedSessions: number; reclaimedInodes: number; done: boolean }> {
  const page = await writer.clientSessions(clientId, limits.metaSessionsPrunedPerTransaction);
  let reclaimedInodes = 0;
  for (const { ino, session } of page) writer.deleteSession(ino, session);
  for (const ino of new Set(page.map((item) => item.ino))) {
    if (await reclaimIfOrphan(writer, ctx, ino)) reclaimedInodes += 1;
    else await releaseGrantIfIdle(writer, ctx, ino);
  }
  return {
    removedSessions: page.length,
    reclaimedInodes,
    done: page.length < limits.metaSessionsPrunedPerTransaction,
  };
}

/**
 * Removes the given entries where each still names its inode and that inode is still missing (a
 * directory entry's parent loses the subdirectory link it counted); root only. Returns those removed.
 */
export async function removeDanglingEntries(
  writer: MetaWriter,
  ctx: OpContext,
  entries: readonly DanglingEntry[],
): Promise<DanglingEntry[]> {
  if (ctx.cred.uid !== 0) throw new FsError(MetaCode.NotPermitted, 'only root repairs the namespace');
  const removed: DanglingEntry[] = [];
  for (const entry of entries) {
    const record = await writer.entry(entry.parent, entry.name);
    if (record === undefined || record.ino !== entry.ino) continue;
    if ((await writer.inode(entry.ino)) !== undefined) continue;
    writer.deleteEntry(entry.parent, entry.name);
    const parent = await writer.inode(entry.parent);
    if (parent?.type === 'directory') {
      if (record.type === 'directory' && parent.nlink > 2)
        await addSubdirectoryLink(writer, entry.parent, -1);
      await touchDirectory(writer, entry.parent, ctx.nowNs);
    }
    removed.push(entry);
  }
  return removed;
}
