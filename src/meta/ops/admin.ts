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
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
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
  }
  return {
    removedSessions: page.length,
    reclaimedInodes,
    done: page.length < limits.metaSessionsPrunedPerTransaction,
  };
}
