/**
 * mknod(2) of special files: FIFOs, sockets (bind(2) of a UNIX socket makes one) and character
 * and block device nodes. Meta keeps only their inode and entry; the I/O is the kernel's (pipes,
 * sockets) or a driver's (devices) on the machine that opens them. Regular files come from
 * create (open.ts), directories from mkdir.
 *
 * A device node carries its device number and only root may make one (CAP_MKNOD); a FIFO or a
 * socket carries none, and a request giving one is refused rather than silently dropped.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import { newInodeAccess } from '../acl.js';
import { isRoot } from '../permissions.js';
import { resolvePath } from '../path-resolve.js';
import type { DeviceNumber, RequestOf, SpecialInode, SpecialType, metaMethods } from '../protocol/index.js';
import { quotasOfNewChild } from '../quota/quota-moves.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import { checkCanChangeEntries, requireEntryParent, touchDirectory } from './links.js';

type MknodRequest = RequestOf<typeof metaMethods.mknod>;

/** True for the types that carry a device number. */
export function isDeviceType(type: SpecialType): type is 'charDevice' | 'blockDevice' {
  return type === 'charDevice' || type === 'blockDevice';
}

/** Checks that a device number comes with a device node and only with one. */
export function checkDeviceNumber(type: SpecialType, device: DeviceNumber | undefined): void {
  if (isDeviceType(type) && device === undefined)
    throw new FsError(MetaCode.InvalidArgument, `a ${type} node needs a device number`);
  if (!isDeviceType(type) && device !== undefined)
    throw new FsError(MetaCode.InvalidArgument, `a ${type} has no device number`);
}

/** mknod(2) of a FIFO, socket or device node at `at`. */
export async function makeSpecial(
  writer: MetaWriter,
  ctx: OpContext,
  request: MknodRequest,
): Promise<SpecialInode> {
  checkDeviceNumber(request.type, request.device);
  if (isDeviceType(request.type) && !isRoot(ctx.cred)) {
    throw new FsError(MetaCode.NotPermitted, `uid ${ctx.cred.uid} may not make device nodes`);
  }
  const resolved = await resolvePath(writer, ctx.cred, request.at, { followLast: false });
  if (resolved.inode !== undefined)
    throw new FsError(MetaCode.Exists, `${JSON.stringify(request.at.path)} exists`);
  if (resolved.trailingSlash)
    throw new FsError(MetaCode.NotFound, `a ${request.type} is not named with a trailing "/"`);
  const parent = requireEntryParent(
    resolved,
    () => new FsError(MetaCode.Exists, `${JSON.stringify(request.at.path)} exists`),
  );
  checkCanChangeEntries(parent, ctx.cred);
  const common = {
    ino: ctx.takeInodeId(),
    ...newInodeAccess(parent, ctx.cred, request.type, request),
    nlink: 1,
    atimeNs: ctx.nowNs,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
    ...(await quotasOfNewChild(writer, parent)),
  };
  const inode: SpecialInode =
    request.device === undefined || !isDeviceType(request.type)
      ? { type: request.type === 'socket' ? 'socket' : 'fifo', ...common }
      : { type: request.type, ...common, device: request.device };
  await writer.createInode(inode);
  writer.putEntry(parent.ino, resolved.name, inode);
  await touchDirectory(writer, parent.ino, ctx.nowNs);
  return inode;
}
