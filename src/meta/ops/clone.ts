/**
 * The destination of a clone (copy on write at chunk level, `admin clone`): a new file with the
 * source file's layout (chain table, chains, stripe, chunk size and seed) and length, so chunk i of
 * both lives on the same chain and the client can then clone each chunk in storage, where the
 * replicas share its blocks until either side writes them. Checked as a create is: read permission
 * on the source, write and search permission on the destination's directory, a name that does not
 * exist yet; counted against the directory quotas as a new file of the source's length.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import { newInodeAccess } from '../acl.js';
import { Access, checkAccess } from '../permissions.js';
import { resolveExisting, resolvePath } from '../path-resolve.js';
import type { FileInode, RequestOf, metaMethods } from '../protocol/index.js';
import { quotasOfNewChild } from '../quota/quota-moves.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import { checkCanChangeEntries, requireEntryParent, touchDirectory } from './links.js';

type CloneFileRequest = RequestOf<typeof metaMethods.cloneFile>;

/** Permission bits a clone keeps by default: cp(1) without -p drops set-id and sticky bits. */
const permissionBits = 0o777;

/** Creates the destination of a clone; returns the source's and the destination's inodes. */
export async function cloneFile(
  writer: MetaWriter,
  ctx: OpContext,
  request: CloneFileRequest,
): Promise<{ source: FileInode; inode: FileInode }> {
  const found = await resolveExisting(writer, ctx.cred, request.source, { followLast: true });
  const source = found.inode;
  if (source.type !== 'file') {
    const code = source.type === 'directory' ? MetaCode.IsDirectory : MetaCode.InvalidArgument;
    throw new FsError(code, `${JSON.stringify(request.source.path)} is a ${source.type}, not a file`);
  }
  checkAccess(source, ctx.cred, Access.Read, 'clone');
  const resolved = await resolvePath(writer, ctx.cred, request.target, { followLast: false });
  if (resolved.inode !== undefined) {
    throw new FsError(MetaCode.Exists, `${JSON.stringify(request.target.path)} exists`);
  }
  if (resolved.trailingSlash) {
    throw new FsError(MetaCode.IsDirectory, `cannot clone onto a name with a trailing "/"`);
  }
  const parent = requireEntryParent(
    resolved,
    () => new FsError(MetaCode.Exists, `${JSON.stringify(request.target.path)} exists`),
  );
  checkCanChangeEntries(parent, ctx.cred);
  const mode = request.mode ?? source.mode & permissionBits;
  const inode: FileInode = {
    type: 'file',
    ino: ctx.takeInodeId(),
    ...newInodeAccess(parent, ctx.cred, 'file', { mode, umask: request.umask }),
    nlink: 1,
    atimeNs: ctx.nowNs,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
    length: source.length,
    truncateVersion: 0,
    layout: source.layout,
    ...(await quotasOfNewChild(writer, parent)),
  };
  await writer.createInode(inode);
  writer.putEntry(parent.ino, resolved.name, inode);
  await touchDirectory(writer, parent.ino, ctx.nowNs);
  return { source, inode };
}
