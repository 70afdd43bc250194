/**
 * open(2) and creat(2): create (O_CREAT with O_EXCL and O_TRUNC) and open of existing files,
 * with the permission checks of the access mode, and a write session for every open for writing.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import { newInodeAccess } from '../acl.js';
import { Access, checkAccess } from '../permissions.js';
import { resolveExisting, resolvePath } from '../path-resolve.js';
import type { FileInode, Inode, RequestOf, Session, metaMethods } from '../protocol/index.js';
import { quotasOfNewChild } from '../quota/quota-moves.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import { checkCanChangeEntries, requireEntryParent, touchDirectory } from './links.js';
import { addSession } from './sessions.js';
import { truncateFile } from './truncate.js';

type CreateRequest = RequestOf<typeof metaMethods.create>;
type OpenRequest = RequestOf<typeof metaMethods.open>;

interface OpenFlags {
  read: boolean;
  write: boolean;
  truncate: boolean;
  session: Session | undefined;
}

function sessionFor(flags: { write: boolean; session: Session | undefined }): Session | undefined {
  if (flags.write && flags.session === undefined) {
    throw new FsError(MetaCode.InvalidArgument, 'an open for writing names its write session');
  }
  return flags.write ? flags.session : undefined;
}

/** Opens an existing inode: permission for the access mode, O_TRUNC, and the write session. */
export async function openExisting(
  writer: MetaWriter,
  ctx: OpContext,
  inode: Inode,
  flags: OpenFlags,
): Promise<Inode> {
  if (inode.type === 'symlink') {
    throw new FsError(MetaCode.TooManySymlinks, `inode ${inode.ino} is a symbolic link (O_NOFOLLOW)`);
  }
  if (inode.type === 'directory' && (flags.write || flags.truncate)) {
    throw new FsError(
      MetaCode.IsDirectory,
      `inode ${inode.ino} is a directory and cannot be opened for writing`,
    );
  }
  const want = (flags.read ? Access.Read : 0) | (flags.write || flags.truncate ? Access.Write : 0);
  if (want !== 0) checkAccess(inode, ctx.cred, want, flags.write ? 'open for writing' : 'open for reading');
  if (inode.type !== 'file') return inode;
  if (flags.truncate) await truncateFile(writer, ctx, inode.ino, 0n);
  const session = sessionFor(flags);
  if (session !== undefined) await addSession(writer, ctx, inode.ino, session);
  return writer.requireInode(inode.ino);
}

/** open(2) without O_CREAT. */
export async function openFile(writer: MetaWriter, ctx: OpContext, request: OpenRequest): Promise<Inode> {
  const flags = {
    read: request.read ?? true,
    write: request.write ?? false,
    truncate: request.truncate ?? false,
    session: request.session,
  };
  sessionFor(flags);
  const resolved = await resolveExisting(writer, ctx.cred, request.at, {
    followLast: !(request.noFollow ?? false),
  });
  return openExisting(writer, ctx, resolved.inode, flags);
}

/** open(2) with O_CREAT: creates a file, or opens the existing one unless O_EXCL. */
export async function createFile(
  writer: MetaWriter,
  ctx: OpContext,
  request: CreateRequest,
): Promise<{ inode: Inode; created: boolean }> {
  const exclusive = request.exclusive ?? false;
  const flags = {
    read: request.read ?? false,
    write: request.write ?? true,
    truncate: request.truncate ?? false,
    session: request.session,
  };
  const session = sessionFor(flags);
  // O_EXCL names the link itself: an existing symlink there is "exists", never followed.
  const resolved = await resolvePath(writer, ctx.cred, request.at, { followLast: !exclusive });
  if (resolved.inode !== undefined) {
    if (exclusive) throw new FsError(MetaCode.Exists, `${JSON.stringify(request.at.path)} exists`);
    if (resolved.inode.type === 'directory') {
      throw new FsError(MetaCode.IsDirectory, `${JSON.stringify(request.at.path)} is a directory`);
    }
    return { inode: await openExisting(writer, ctx, resolved.inode, flags), created: false };
  }
  if (resolved.trailingSlash) {
    throw new FsError(MetaCode.IsDirectory, `cannot create a file named with a trailing "/"`);
  }
  const parent = requireEntryParent(
    resolved,
    () => new FsError(MetaCode.Exists, 'the path names a directory'),
  );
  checkCanChangeEntries(parent, ctx.cred);
  const inode: FileInode = {
    type: 'file',
    ino: ctx.takeInodeId(),
    ...newInodeAccess(parent, ctx.cred, 'file', request),
    nlink: 1,
    atimeNs: ctx.nowNs,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
    length: 0n,
    truncateVersion: 0,
    layout: ctx.fileLayout(parent.layout),
    ...(await quotasOfNewChild(writer, parent)),
  };
  await writer.createInode(inode);
  writer.putEntry(parent.ino, resolved.name, inode);
  await touchDirectory(writer, parent.ino, ctx.nowNs);
  // A file made in this transaction has no sessions yet: nothing to look up or count.
  if (session !== undefined) writer.putSession(inode.ino, session, ctx.nowNs);
  return { inode, created: true };
}
