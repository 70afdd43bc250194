/** link(2): another entry for an existing file or symlink (directories cannot be hard-linked). */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import { resolveExisting, resolvePath } from '../path-resolve.js';
import type { DirectoryInode, Inode, RequestOf, metaMethods } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import { checkCanChangeEntries, checkLinkRoom, requireEntryParent, touchDirectory } from './links.js';

/** What a caller adds to a link once every check passed and before anything changes. */
export interface LinkHooks {
  /** May refuse the link by throwing (directory quotas: quota/quota-moves.ts). */
  beforeLink?(link: { inode: Inode; target: DirectoryInode }): Promise<void>;
}

export async function hardLink(
  writer: MetaWriter,
  ctx: OpContext,
  request: RequestOf<typeof metaMethods.hardLink>,
  hooks: LinkHooks = {},
): Promise<Inode> {
  const source = await resolveExisting(writer, ctx.cred, request.source, {
    followLast: request.followSource ?? false,
  });
  if (source.inode.type === 'directory') {
    throw new FsError(
      MetaCode.NotPermitted,
      `inode ${source.inode.ino} is a directory and cannot be hard-linked`,
    );
  }
  // An unlinked file still open for writing cannot come back into the namespace (as Linux refuses).
  if (source.inode.nlink === 0)
    throw new FsError(MetaCode.NotFound, `inode ${source.inode.ino} was unlinked`);
  const target = await resolvePath(writer, ctx.cred, request.target, { followLast: false });
  const existsError = (): FsError =>
    new FsError(MetaCode.Exists, `${JSON.stringify(request.target.path)} exists`);
  if (target.inode !== undefined) throw existsError();
  if (target.trailingSlash) throw new FsError(MetaCode.NotFound, 'a link is not named with a trailing "/"');
  const parent = requireEntryParent(target, existsError);
  checkCanChangeEntries(parent, ctx.cred);
  checkLinkRoom(source.inode);
  await hooks.beforeLink?.({ inode: source.inode, target: parent });
  const inode = await writer.updateInode(source.inode.ino, (latest) => ({
    ...latest,
    nlink: latest.nlink + 1,
    ctimeNs: ctx.nowNs,
  }));
  writer.putEntry(parent.ino, target.name, inode);
  await touchDirectory(writer, parent.ino, ctx.nowNs);
  return inode;
}
