/**
 * The ACL attributes system.posix_acl_access and system.posix_acl_default of one inode, as Linux's
 * POSIX ACL xattr handlers answer them. ACLs live in the inode record (Inode.accessAcl,
 * DirectoryInode.defaultAcl) rather than as xattr records, so every permission check has them
 * without another read. Anyone who reaches the inode may read them; only its owner or root may
 * set or remove them (EPERM); symlinks have none (EOPNOTSUPP); a default ACL belongs to
 * directories only (setting a non-empty one elsewhere is EACCES, removing it does nothing).
 * Setting the access ACL sets the mode it implies (meta/acl.ts).
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import { accessAclOf, checkAclEntries, defaultAclOf, modeAfterAccessAcl } from '../acl.js';
import { ownsOrRoot } from '../permissions.js';
import {
  AclXattr,
  aclXattrValue,
  parseAclXattr,
  type AccessAcl,
  type Credentials,
  type Inode,
} from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';

function noAcl(inode: Inode, name: AclXattr): FsError {
  return new FsError(MetaCode.NoAttribute, `inode ${inode.ino} has no ${name}`);
}

function checkHasAcls(inode: Inode): void {
  if (inode.type === 'symlink') {
    throw new FsError(MetaCode.NotSupported, `symlink ${inode.ino} has no ACLs`);
  }
}

function checkMayChange(inode: Inode, cred: Credentials): void {
  checkHasAcls(inode);
  if (!ownsOrRoot(inode, cred)) {
    throw new FsError(
      MetaCode.NotPermitted,
      `uid ${cred.uid} does not own inode ${inode.ino} and may not change its ACLs`,
    );
  }
}

/** The xattr form of one of the inode's ACLs; NoAttribute when it has none. */
export function getAclXattr(inode: Inode, name: AclXattr): Uint8Array {
  checkHasAcls(inode);
  const value = aclXattrValue(inode, name);
  if (value === undefined) throw noAcl(inode, name);
  return value;
}

/** The ACL attribute names the inode has, for listxattr. */
export function aclXattrNames(inode: Inode): AclXattr[] {
  const names: AclXattr[] = [];
  if (inode.accessAcl !== undefined) names.push(AclXattr.Access);
  if (inode.type === 'directory' && inode.defaultAcl !== undefined) names.push(AclXattr.Default);
  return names;
}

/** Sets one of the inode's ACLs from its xattr form; an ACL of no entries removes it. */
export function setAclXattr(
  writer: MetaWriter,
  ctx: OpContext,
  inode: Inode,
  name: AclXattr,
  value: Uint8Array,
): void {
  const entries = parseAclXattr(value);
  checkMayChange(inode, ctx.cred);
  if (entries.length === 0) {
    removeAclXattr(writer, ctx, inode, name);
    return;
  }
  checkAclEntries(entries);
  if (name === AclXattr.Access) {
    const { permissionBits, acl } = accessAclOf(entries);
    const mode = modeAfterAccessAcl(inode, ctx.cred, permissionBits);
    writer.putInode(withAccessAcl({ ...inode, mode, ctimeNs: ctx.nowNs }, acl));
    return;
  }
  if (inode.type !== 'directory') {
    throw new FsError(MetaCode.PermissionDenied, `a ${inode.type} has no default ACL`);
  }
  writer.putInode({ ...inode, defaultAcl: defaultAclOf(entries), ctimeNs: ctx.nowNs });
}

/** Removes one of the inode's ACLs; removing one it does not have changes nothing. */
export function removeAclXattr(writer: MetaWriter, ctx: OpContext, inode: Inode, name: AclXattr): void {
  checkMayChange(inode, ctx.cred);
  if (name === AclXattr.Access) {
    // The mode stays as it is: its group bits, the mask until now, become the group's.
    if (inode.accessAcl !== undefined)
      writer.putInode(withAccessAcl({ ...inode, ctimeNs: ctx.nowNs }, undefined));
    return;
  }
  if (inode.type !== 'directory' || inode.defaultAcl === undefined) return;
  const next = { ...inode, ctimeNs: ctx.nowNs };
  delete next.defaultAcl;
  writer.putInode(next);
}

/** `inode` with `acl` as its access ACL, or without one (the key absent, not undefined). */
function withAccessAcl(inode: Inode, acl: AccessAcl | undefined): Inode {
  if (acl !== undefined) return { ...inode, accessAcl: acl };
  const next = { ...inode };
  delete next.accessAcl;
  return next;
}
