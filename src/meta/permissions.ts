/**
 * POSIX permission rules, pure functions of an inode's owner, mode and access ACL and the
 * caller's credentials, as Linux applies them (the kernel's generic_permission with
 * posix_acl_permission, may_delete, inode_init_owner, chown_ok, setattr_prepare). uid 0 stands
 * for a caller with every capability (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_FSETID); root
 * squash, applied before these checks, takes that away from remote root users when configured.
 */
import { FsError } from '../common/errors.js';
import { MetaCode } from '../common/status-code.js';
import type { AccessAcl, Credentials, Inode, InodeType } from './protocol/index.js';

/** Bits of a permission request, as in access(2). */
export const Access = { Read: 4, Write: 2, Execute: 1 } as const;

export const setUidBit = 0o4000;
export const setGidBit = 0o2000;
export const stickyBit = 0o1000;
const groupExecuteBit = 0o010;
const anyExecuteBits = 0o111;

/** What the rules need of an inode (its access ACL, when it has one). */
export type Owned = Pick<Inode, 'type' | 'mode' | 'uid' | 'gid' | 'accessAcl'>;

export function isRoot(cred: Credentials): boolean {
  return cred.uid === 0;
}

/** True when `gid` is the caller's primary or a supplementary group. */
export function inGroup(cred: Credentials, gid: number): boolean {
  return cred.gid === gid || cred.groups.includes(gid);
}

/**
 * True when the caller may access `inode` as `want` (a mask of Access bits). Only one class of
 * bits applies: the owner's when the caller owns the inode, else the group's when it is in the
 * inode's group, else the others' (so an owner with fewer rights than others is refused). An
 * inode with an access ACL is checked as acl(5) says (aclAllows). Root may read and write
 * anything and execute what anyone may execute (and search any directory).
 */
export function hasAccess(inode: Owned, cred: Credentials, want: number): boolean {
  if (isRoot(cred)) {
    if ((want & Access.Execute) === 0) return true;
    return inode.type === 'directory' || (inode.mode & anyExecuteBits) !== 0;
  }
  let granted: number;
  if (cred.uid === inode.uid) granted = (inode.mode >> 6) & 7;
  else if (inode.accessAcl !== undefined) return aclAllows(inode.accessAcl, inode, cred, want);
  else if (inGroup(cred, inode.gid)) granted = (inode.mode >> 3) & 7;
  else granted = inode.mode & 7;
  return (granted & want) === want;
}

/**
 * acl(5)'s access check for a caller who does not own the inode: a named user entry for the
 * caller decides alone; else, if the caller is in the owning group or a named group, access is
 * granted when one of those entries grants all of `want` and refused otherwise; else the other
 * bits decide. Named and group entries count only as far as the MASK (the mode's group bits)
 * lets them.
 */
function aclAllows(acl: AccessAcl, inode: Owned, cred: Credentials, want: number): boolean {
  const mask = (inode.mode >> 3) & 7;
  const grants = (perm: number) => (perm & mask & want) === want;
  const user = acl.users.find((entry) => entry.id === cred.uid);
  if (user !== undefined) return grants(user.perm);
  let inSomeGroup = false;
  if (inGroup(cred, inode.gid)) {
    if (grants(acl.groupObj)) return true;
    inSomeGroup = true;
  }
  for (const entry of acl.groups) {
    if (!inGroup(cred, entry.id)) continue;
    if (grants(entry.perm)) return true;
    inSomeGroup = true;
  }
  if (inSomeGroup) return false;
  return (inode.mode & 7 & want) === want;
}

/** Throws PermissionDenied (EACCES) unless the caller may access `inode` as `want`. */
export function checkAccess(
  inode: Owned & { ino: bigint },
  cred: Credentials,
  want: number,
  action: string,
): void {
  if (!hasAccess(inode, cred, want)) {
    throw new FsError(
      MetaCode.PermissionDenied,
      `uid ${cred.uid} may not ${action} (inode ${inode.ino}, mode ${inode.mode.toString(8)}, owner ${inode.uid}:${inode.gid})`,
    );
  }
}

/**
 * True when a sticky directory forbids the caller to remove or rename `victim` out of it: the
 * caller owns neither the directory nor the victim and is not root (EPERM, as Linux answers).
 */
export function stickyForbids(directory: Owned, victim: Owned, cred: Credentials): boolean {
  if ((directory.mode & stickyBit) === 0 || isRoot(cred)) return false;
  return cred.uid !== directory.uid && cred.uid !== victim.uid;
}

/** Throws NotPermitted when the sticky rule forbids removing `victim` from `directory`. */
export function checkSticky(directory: Owned, victim: Owned & { ino: bigint }, cred: Credentials): void {
  if (stickyForbids(directory, victim, cred)) {
    throw new FsError(
      MetaCode.NotPermitted,
      `uid ${cred.uid} may not remove inode ${victim.ino} owned by ${victim.uid} from a sticky directory`,
    );
  }
}

/** True for the owner and root, who may change mode, times to arbitrary values, and so on. */
export function ownsOrRoot(inode: Owned, cred: Credentials): boolean {
  return isRoot(cred) || cred.uid === inode.uid;
}

/**
 * True when `requested` is `current` with some of its setuid and setgid bits cleared and nothing
 * else changed.
 */
export function onlyDropsPrivileges(current: number, requested: number): boolean {
  const cleared = current & ~requested;
  return (requested & ~current) === 0 && cleared !== 0 && (cleared & ~(setUidBit | setGidBit)) === 0;
}

/**
 * The mode chmod stores: only the owner or root may chmod (else NotPermitted); a caller outside
 * the inode's group without root loses the setgid bit silently, as Linux does. One exception: a
 * caller who may write the file may drop its setuid and setgid bits, because the kernel does
 * exactly that as a mode change for whoever writes to it (file_remove_privs) and a write by them
 * drops the bits anyway.
 */
export function modeAfterChmod(inode: Owned & { ino: bigint }, cred: Credentials, requested: number): number {
  if (
    inode.type === 'file' &&
    onlyDropsPrivileges(inode.mode, requested) &&
    hasAccess(inode, cred, Access.Write)
  )
    return requested;
  if (!ownsOrRoot(inode, cred)) {
    throw new FsError(
      MetaCode.NotPermitted,
      `uid ${cred.uid} does not own inode ${inode.ino} and may not chmod it`,
    );
  }
  if (!isRoot(cred) && !inGroup(cred, inode.gid)) return requested & ~setGidBit;
  return requested;
}

/**
 * Checks a chown: root may change anything; the owner may only change the group, and only to a
 * group it belongs to (or leave uid and gid as they are); anyone else may change nothing.
 */
export function checkChown(
  inode: Owned & { ino: bigint },
  cred: Credentials,
  change: { uid?: number | undefined; gid?: number | undefined },
): void {
  if (isRoot(cred)) return;
  const uidChanges = change.uid !== undefined && change.uid !== inode.uid;
  const gidRefused = change.gid !== undefined && change.gid !== inode.gid && !inGroup(cred, change.gid);
  if (cred.uid !== inode.uid || uidChanges || gidRefused) {
    throw new FsError(
      MetaCode.NotPermitted,
      `uid ${cred.uid} may not chown inode ${inode.ino} (owner ${inode.uid}:${inode.gid}) to ${change.uid ?? '-'}:${change.gid ?? '-'}`,
    );
  }
}

/**
 * The mode after a chown or a truncate of a non-directory: setuid goes, and setgid when group
 * execute is set (setgid without group execute means mandatory locking, which stays), as Linux
 * does to keep a changed executable from running with someone else's rights.
 */
export function modeWithoutPrivileges(inode: Owned): number {
  if (inode.type === 'directory') return inode.mode;
  let mode = inode.mode & ~setUidBit;
  if ((mode & groupExecuteBit) !== 0) mode &= ~setGidBit;
  return mode;
}

/**
 * Checks a change of times. Setting both to "now" (touch) needs ownership, root, or write
 * permission (EACCES otherwise); setting an explicit time needs ownership or root (EPERM).
 */
export function checkSetTimes(
  inode: Owned & { ino: bigint },
  cred: Credentials,
  change: { explicit: boolean },
): void {
  if (ownsOrRoot(inode, cred)) return;
  if (change.explicit) {
    throw new FsError(
      MetaCode.NotPermitted,
      `uid ${cred.uid} may not set explicit times of inode ${inode.ino}`,
    );
  }
  checkAccess(inode, cred, Access.Write, 'touch');
}

/**
 * Owner, group and mode of a new inode in `parent`: the caller's uid; the parent's group when the
 * parent is setgid (and a new directory inherits setgid), else the caller's gid. A caller outside
 * the resulting group without root cannot create a setgid file.
 */
export function newInodeOwnership(
  parent: Owned,
  cred: Credentials,
  type: InodeType,
  requestedMode: number,
): { uid: number; gid: number; mode: number } {
  const inheritsGroup = (parent.mode & setGidBit) !== 0;
  const gid = inheritsGroup ? parent.gid : cred.gid;
  let mode = requestedMode & 0o7777;
  if (type === 'directory' && inheritsGroup) mode |= setGidBit;
  // Any non-directory, as Linux's inode_init_owner: a FIFO or device node cannot be made setgid either.
  if (type !== 'directory' && (mode & setGidBit) !== 0 && !isRoot(cred) && !inGroup(cred, gid))
    mode &= ~setGidBit;
  if (type === 'symlink') mode = 0o777;
  return { uid: cred.uid, gid, mode };
}

/** Root squash settings: with `enabled`, uid 0 acts as `uid`:`gid` with no supplementary groups. */
export interface RootSquash {
  enabled: boolean;
  uid: number;
  gid: number;
}

/** The credentials checks run with, after root squash. */
export function squashCredentials(cred: Credentials, squash: RootSquash): Credentials {
  if (!squash.enabled || cred.uid !== 0) return cred;
  return { uid: squash.uid, gid: squash.gid, groups: [] };
}
