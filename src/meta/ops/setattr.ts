/**
 * setattr: chown, chmod, utimes and truncate in one transaction, each with its POSIX rule (see
 * permissions.ts). Changes apply in the order chown, chmod, times, length, so a chmod given with
 * a chown wins over the privilege bits chown drops, as in Linux's notify_change. A truncate through
 * a descriptor open for writing (its write session given) needs no write permission now: POSIX
 * checks it when the descriptor is opened, so a file made read-only since can still be truncated.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import {
  Access,
  checkAccess,
  checkChown,
  checkSetTimes,
  modeAfterChmod,
  modeWithoutPrivileges,
} from '../permissions.js';
import { resolveExisting } from '../path-resolve.js';
import type { Inode, RequestOf, TimeSpec, metaMethods } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import { truncateFile } from './truncate.js';

type SetAttrRequest = RequestOf<typeof metaMethods.setAttr>;

function timeOf(spec: TimeSpec, nowNs: bigint): bigint {
  return spec === 'now' ? nowNs : spec;
}

/** Owner, group and mode after a chown and a chmod, checked. */
function ownershipAndMode(inode: Inode, ctx: OpContext, request: SetAttrRequest): Inode {
  let next = inode;
  if (request.uid !== undefined || request.gid !== undefined) {
    checkChown(inode, ctx.cred, { uid: request.uid, gid: request.gid });
    next = {
      ...next,
      uid: request.uid ?? next.uid,
      gid: request.gid ?? next.gid,
      mode: modeWithoutPrivileges(next),
    };
  }
  if (request.mode !== undefined) next = { ...next, mode: modeAfterChmod(next, ctx.cred, request.mode) };
  return next;
}

function withTimes(inode: Inode, ctx: OpContext, request: SetAttrRequest): Inode {
  const { atime, mtime } = request;
  if (atime === undefined && mtime === undefined) return inode;
  checkSetTimes(inode, ctx.cred, {
    explicit: (atime !== undefined && atime !== 'now') || (mtime !== undefined && mtime !== 'now'),
  });
  return {
    ...inode,
    ...(atime === undefined ? {} : { atimeNs: timeOf(atime, ctx.nowNs) }),
    ...(mtime === undefined ? {} : { mtimeNs: timeOf(mtime, ctx.nowNs) }),
  };
}

export async function setAttr(writer: MetaWriter, ctx: OpContext, request: SetAttrRequest): Promise<Inode> {
  const { inode } = await resolveExisting(writer, ctx.cred, request.at, {
    followLast: request.followLast ?? true,
  });
  const changed = withTimes(ownershipAndMode(inode, ctx, request), ctx, request);
  if (changed !== inode) writer.putInode({ ...changed, ctimeNs: ctx.nowNs });
  // Times set on a directory replace those its entry changes left (which may be later).
  if (inode.type === 'directory' && request.mtime !== undefined) writer.clearEntryTimes(inode.ino);
  if (request.length !== undefined) {
    if (inode.type === 'directory')
      throw new FsError(MetaCode.IsDirectory, `inode ${inode.ino} is a directory`);
    if (inode.type !== 'file')
      throw new FsError(MetaCode.InvalidArgument, `inode ${inode.ino} is not a regular file`);
    // Through a descriptor open for writing (ftruncate), permission was checked at open.
    const throughWriter =
      request.session !== undefined && (await writer.hasSession(inode.ino, request.session));
    if (!throughWriter) checkAccess(inode, ctx.cred, Access.Write, 'truncate');
    await truncateFile(writer, ctx, inode.ino, request.length);
  }
  return writer.presented(await writer.requireInode(inode.ino));
}
