/**
 * POSIX ACLs (acl(5)) as Linux keeps them, in pure functions: which ACLs are valid (their xattr
 * form is protocol/acl-codec.ts), the mode an access ACL sets, and what a new inode inherits from
 * its directory's default ACL.
 *
 * Invariants:
 * - A stored access ACL (Inode.accessAcl) is never equivalent to a mode: one that is becomes just
 *   the mode (Linux's posix_acl_equiv_mode). Its USER_OBJ, MASK and OTHER entries are the mode's
 *   owner, group and other bits, so chmod changes them and nothing else needs updating.
 * - Every ACL meta keeps passed checkAclEntries: base entries once each, in Linux's order, named
 *   entries sorted by id without repeats, a MASK whenever named entries exist.
 * - Nothing here throws anything but FsError(InvalidArgument / ValueTooLarge) on bad input.
 */
import { FsError } from '../common/errors.js';
import { MetaCode } from '../common/status-code.js';
import { inGroup, isRoot, newInodeOwnership, setGidBit } from './permissions.js';
import {
  AclTag,
  aclUndefinedId,
  type AccessAcl,
  type AclEntry,
  type AclParts,
  type Credentials,
  type DefaultAcl,
  type DirectoryInode,
  type InodeType,
} from './protocol/index.js';

const allPermissionBits = 0o777;

function invalid(message: string): FsError {
  return new FsError(MetaCode.InvalidArgument, message);
}

/** Where checkAclEntries is in the required order USER_OBJ, USER*, GROUP_OBJ, GROUP*, MASK?, OTHER. */
type Stage = 'userObj' | 'users' | 'groups' | 'mask' | 'done';

/**
 * Throws InvalidArgument unless `entries` is a valid non-empty ACL, as Linux's posix_acl_valid
 * says, and more strictly: named entries sorted by id without repeats (acl_valid(3); setfacl
 * writes them so) and no named entry with the undefined id.
 */
export function checkAclEntries(entries: readonly AclEntry[]): void {
  let stage: Stage = 'userObj';
  let named = false;
  let previousId = -1;
  for (const entry of entries) {
    if (!Number.isInteger(entry.perm) || entry.perm < 0 || entry.perm > 7) {
      throw invalid(`ACL entry permissions ${entry.perm} are not within rwx`);
    }
    const next = nextStage(stage, entry.tag, named);
    if (next === undefined)
      throw invalid(`ACL entry tag 0x${entry.tag.toString(16)} is out of order or unknown`);
    if (next !== stage) previousId = -1;
    stage = next;
    if (entry.tag === AclTag.User || entry.tag === AclTag.Group) {
      if (entry.id === aclUndefinedId) throw invalid('a named ACL entry has the undefined id');
      if (entry.id <= previousId) throw invalid(`named ACL entries are not sorted by id (${entry.id})`);
      previousId = entry.id;
      named = true;
    }
  }
  if (stage !== 'done') throw invalid('an ACL has USER_OBJ, GROUP_OBJ and OTHER entries at least');
}

/** The stage after an entry with `tag` at `stage`, or undefined when the tag may not come there. */
function nextStage(stage: Stage, tag: number, named: boolean): Stage | undefined {
  switch (tag) {
    case AclTag.UserObj:
      return stage === 'userObj' ? 'users' : undefined;
    case AclTag.User:
      return stage === 'users' ? 'users' : undefined;
    case AclTag.GroupObj:
      return stage === 'users' ? 'groups' : undefined;
    case AclTag.Group:
      return stage === 'groups' ? 'groups' : undefined;
    case AclTag.Mask:
      return stage === 'groups' ? 'mask' : undefined;
    case AclTag.Other:
      // Named entries need a MASK before OTHER.
      return stage === 'mask' || (stage === 'groups' && !named) ? 'done' : undefined;
    default:
      return undefined;
  }
}

function partsOf(entries: readonly AclEntry[]): AclParts {
  const parts: AclParts = { userObj: 0, groupObj: 0, other: 0, mask: undefined, users: [], groups: [] };
  for (const entry of entries) {
    if (entry.tag === AclTag.UserObj) parts.userObj = entry.perm;
    else if (entry.tag === AclTag.GroupObj) parts.groupObj = entry.perm;
    else if (entry.tag === AclTag.Other) parts.other = entry.perm;
    else if (entry.tag === AclTag.Mask) parts.mask = entry.perm;
    else if (entry.tag === AclTag.User) parts.users.push({ id: entry.id, perm: entry.perm });
    else parts.groups.push({ id: entry.id, perm: entry.perm });
  }
  return parts;
}

/**
 * What setting the access ACL `entries` (valid) does: the permission bits the mode gets (owner
 * from USER_OBJ, group from MASK if any else GROUP_OBJ, other from OTHER) and the ACL to keep,
 * undefined when the ACL is equivalent to that mode (no MASK, no named entries).
 */
export function accessAclOf(entries: readonly AclEntry[]): {
  permissionBits: number;
  acl: AccessAcl | undefined;
} {
  const parts = partsOf(entries);
  const permissionBits = (parts.userObj << 6) | ((parts.mask ?? parts.groupObj) << 3) | parts.other;
  if (parts.mask === undefined) return { permissionBits, acl: undefined };
  return { permissionBits, acl: { groupObj: parts.groupObj, users: parts.users, groups: parts.groups } };
}

/** A default ACL from its valid entries. */
export function defaultAclOf(entries: readonly AclEntry[]): DefaultAcl {
  const { mask, ...rest } = partsOf(entries);
  return mask === undefined ? rest : { ...rest, mask };
}

/**
 * The mode after its owner sets an access ACL with `permissionBits` (Linux's
 * posix_acl_update_mode): the permission bits replaced, and setgid cleared unless the caller is
 * in the inode's group or root (CAP_FSETID).
 */
export function modeAfterAccessAcl(
  inode: { mode: number; gid: number },
  cred: Credentials,
  permissionBits: number,
): number {
  let mode = (inode.mode & ~allPermissionBits) | permissionBits;
  if (!isRoot(cred) && !inGroup(cred, inode.gid)) mode &= ~setGidBit;
  return mode;
}

/**
 * The mode and access ACL of a new inode in `parent` (Linux's posix_acl_create). `mode` is the
 * requested mode after the ownership rules (setgid); `umask` the caller's, applied only when the
 * parent has no default ACL. With one, the new inode's ACL is the default ACL with USER_OBJ,
 * OTHER and MASK (GROUP_OBJ without a MASK) limited by the mode, and its mode what that ACL says;
 * named entries are not limited, and an ACL that comes out equivalent to a mode is not kept.
 * Symlinks take neither (their mode is always 0777).
 */
export function inheritedAccess(
  parent: Pick<DirectoryInode, 'defaultAcl'>,
  type: InodeType,
  mode: number,
  umask: number,
): { mode: number; accessAcl?: AccessAcl } {
  if (type === 'symlink') return { mode };
  const inherited = parent.defaultAcl;
  if (inherited === undefined) return { mode: mode & ~(umask & allPermissionBits) };
  const userObj = inherited.userObj & ((mode >> 6) & 7);
  const other = inherited.other & (mode & 7);
  const requestedGroup = (mode >> 3) & 7;
  const mask = inherited.mask === undefined ? undefined : inherited.mask & requestedGroup;
  const groupObj = mask === undefined ? inherited.groupObj & requestedGroup : inherited.groupObj;
  const nextMode = (mode & ~allPermissionBits) | (userObj << 6) | ((mask ?? groupObj) << 3) | other;
  if (mask === undefined) return { mode: nextMode };
  return {
    mode: nextMode,
    accessAcl: { groupObj, users: [...inherited.users], groups: [...inherited.groups] },
  };
}

/** The default ACL a new directory in `parent` inherits: the parent's own, unchanged. */
export function inheritedDefaultAcl(parent: Pick<DirectoryInode, 'defaultAcl'>): { defaultAcl?: DefaultAcl } {
  return parent.defaultAcl === undefined ? {} : { defaultAcl: parent.defaultAcl };
}

/**
 * Owner, group, mode and access ACL of a new inode of `type` in `parent`: the ownership rules
 * (permissions.ts), then the parent's default ACL or else the caller's umask.
 */
export function newInodeAccess(
  parent: DirectoryInode,
  cred: Credentials,
  type: InodeType,
  request: { mode: number; umask?: number | undefined },
): { uid: number; gid: number; mode: number; accessAcl?: AccessAcl } {
  const owned = newInodeOwnership(parent, cred, type, request.mode);
  return { ...owned, ...inheritedAccess(parent, type, owned.mode, request.umask ?? 0) };
}
