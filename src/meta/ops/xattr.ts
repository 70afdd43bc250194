/**
 * Extended attributes, with Linux's namespace rules: "user." attributes need read permission to
 * get and write permission to set, exist only on files and directories, and in a sticky
 * directory only its owner may set them; "trusted." attributes are root's alone (hidden from
 * others); "security." attributes are readable by all and set by root. Of "system.", the POSIX
 * ACLs system.posix_acl_access and system.posix_acl_default exist (acl-xattr.ts, kept in the
 * inode, not as xattr records); other "system." names and unknown namespaces are not supported.
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { Access, checkAccess, isRoot, ownsOrRoot, stickyBit } from '../permissions.js';
import { resolveExisting } from '../path-resolve.js';
import {
  isAclXattr,
  type Credentials,
  type Inode,
  type RequestOf,
  type metaMethods,
} from '../protocol/index.js';
import type { MetaReader, MetaWriter } from '../store/meta-store.js';
import { aclXattrNames, getAclXattr, removeAclXattr, setAclXattr } from './acl-xattr.js';
import type { OpContext } from './context.js';

type Namespace = 'user' | 'trusted' | 'security' | 'system';

/** The namespace of a valid attribute name, or the error for an invalid one. */
function namespaceOf(name: string): Namespace {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > limits.metaXattrNameBytesMax) {
    throw new FsError(
      MetaCode.NameTooLong,
      `xattr name of ${bytes} bytes exceeds ${limits.metaXattrNameBytesMax}`,
    );
  }
  if (name.includes('\0')) throw new FsError(MetaCode.InvalidArgument, 'an xattr name contains no NUL byte');
  if (isAclXattr(name)) return 'system';
  const dot = name.indexOf('.');
  const namespace = dot > 0 ? name.slice(0, dot) : '';
  if (namespace !== 'user' && namespace !== 'trusted' && namespace !== 'security') {
    throw new FsError(MetaCode.NotSupported, `xattr namespace of ${JSON.stringify(name)} is not supported`);
  }
  if (dot === name.length - 1)
    throw new FsError(
      MetaCode.InvalidArgument,
      `xattr name ${JSON.stringify(name)} is empty after its namespace`,
    );
  return namespace;
}

/** Whether the caller may see attributes of `namespace` on `inode` at all. */
function visible(namespace: Namespace, inode: Inode, cred: Credentials): boolean {
  if (namespace === 'trusted') return isRoot(cred);
  // user.* belongs to regular files and directories only, as in Linux's xattr_permission.
  if (namespace === 'user') return inode.type === 'file' || inode.type === 'directory';
  return true;
}

function checkRead(namespace: Namespace, inode: Inode, cred: Credentials, name: string): void {
  if (!visible(namespace, inode, cred))
    throw new FsError(MetaCode.NoAttribute, `no xattr ${JSON.stringify(name)}`);
  if (namespace === 'user') checkAccess(inode, cred, Access.Read, 'read extended attributes');
}

function checkWrite(namespace: Namespace, inode: Inode, cred: Credentials): void {
  if (namespace !== 'user') {
    if (!isRoot(cred)) throw new FsError(MetaCode.NotPermitted, `only root sets ${namespace}.* attributes`);
    return;
  }
  if (inode.type !== 'file' && inode.type !== 'directory')
    throw new FsError(MetaCode.NotPermitted, `a ${inode.type} has no user.* attributes`);
  if (inode.type === 'directory' && (inode.mode & stickyBit) !== 0 && !ownsOrRoot(inode, cred)) {
    throw new FsError(MetaCode.NotPermitted, 'only the owner sets user.* attributes of a sticky directory');
  }
  checkAccess(inode, cred, Access.Write, 'write extended attributes');
}

type Target = {
  cred: Credentials;
  at: RequestOf<typeof metaMethods.getXattr>['at'];
  followLast?: boolean | undefined;
};

async function target(reader: MetaReader, cred: Credentials, request: Target): Promise<Inode> {
  return (await resolveExisting(reader, cred, request.at, { followLast: request.followLast ?? true })).inode;
}

export async function getXattr(
  reader: MetaReader,
  cred: Credentials,
  request: RequestOf<typeof metaMethods.getXattr>,
): Promise<Uint8Array> {
  const namespace = namespaceOf(request.name);
  const inode = await target(reader, cred, request);
  if (isAclXattr(request.name)) return getAclXattr(inode, request.name);
  checkRead(namespace, inode, cred, request.name);
  const value = await reader.xattr(inode.ino, request.name);
  if (value === undefined)
    throw new FsError(MetaCode.NoAttribute, `no xattr ${JSON.stringify(request.name)}`);
  return value;
}

export async function listXattr(
  reader: MetaReader,
  cred: Credentials,
  request: RequestOf<typeof metaMethods.listXattr>,
): Promise<string[]> {
  const inode = await target(reader, cred, request);
  const names = await reader.xattrNames(inode.ino, limits.metaXattrsPerInodeMax);
  return [...aclXattrNames(inode), ...names.filter((name) => visible(namespaceOf(name), inode, cred))];
}

export async function setXattr(
  writer: MetaWriter,
  ctx: OpContext,
  request: RequestOf<typeof metaMethods.setXattr>,
): Promise<void> {
  const namespace = namespaceOf(request.name);
  if (request.value.byteLength > limits.metaXattrValueBytesMax) {
    throw new FsError(
      MetaCode.ValueTooLarge,
      `xattr value of ${request.value.byteLength} bytes exceeds ${limits.metaXattrValueBytesMax}`,
    );
  }
  const inode = await target(writer, ctx.cred, request);
  // Like Linux, an ACL is set whatever the create / replace flag says.
  if (isAclXattr(request.name)) return setAclXattr(writer, ctx, inode, request.name, request.value);
  checkWrite(namespace, inode, ctx.cred);
  const exists = (await writer.xattr(inode.ino, request.name)) !== undefined;
  const flag = request.flag ?? 'any';
  if (flag === 'create' && exists)
    throw new FsError(MetaCode.Exists, `xattr ${JSON.stringify(request.name)} exists`);
  if (flag === 'replace' && !exists)
    throw new FsError(MetaCode.NoAttribute, `no xattr ${JSON.stringify(request.name)}`);
  if (!exists) {
    const count = (await writer.xattrNames(inode.ino, limits.metaXattrsPerInodeMax)).length;
    if (count >= limits.metaXattrsPerInodeMax) {
      throw new FsError(MetaCode.NoSpace, `inode ${inode.ino} already has ${count} extended attributes`);
    }
  }
  writer.putXattr(inode.ino, request.name, request.value);
  writer.putInode({ ...inode, ctimeNs: ctx.nowNs });
}

export async function removeXattr(
  writer: MetaWriter,
  ctx: OpContext,
  request: RequestOf<typeof metaMethods.removeXattr>,
): Promise<void> {
  const namespace = namespaceOf(request.name);
  const inode = await target(writer, ctx.cred, request);
  if (isAclXattr(request.name)) return removeAclXattr(writer, ctx, inode, request.name);
  checkWrite(namespace, inode, ctx.cred);
  if ((await writer.xattr(inode.ino, request.name)) === undefined) {
    throw new FsError(MetaCode.NoAttribute, `no xattr ${JSON.stringify(request.name)}`);
  }
  writer.deleteXattr(inode.ino, request.name);
  writer.putInode({ ...inode, ctimeNs: ctx.nowNs });
}
