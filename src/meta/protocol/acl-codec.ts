/**
 * The xattr form POSIX ACLs cross system.posix_acl_access / system.posix_acl_default in (Linux's
 * posix_acl_xattr: version 2 as u32 LE, then entries {tag u16, perm u16, id u32} LE), and the
 * value an inode's ACL attributes have. Shared by meta, which parses what callers set, and by
 * clients that answer the kernel's ACL reads from cached inodes (the FUSE daemon). The rules of
 * a valid ACL and of mode sync are meta's (meta/acl.ts).
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { AclXattr, type AccessAcl, type AclNamedEntry, type DefaultAcl, type Inode } from './types.js';

/** Entry tags of the xattr form (linux/posix_acl.h). */
export const AclTag = {
  UserObj: 0x01,
  User: 0x02,
  GroupObj: 0x04,
  Group: 0x08,
  Mask: 0x10,
  Other: 0x20,
} as const;
export type AclTag = (typeof AclTag)[keyof typeof AclTag];

/** One entry as the xattr form carries it; `id` matters for User and Group entries only. */
export interface AclEntry {
  readonly tag: number;
  readonly perm: number;
  readonly id: number;
}

/** ACL_UNDEFINED_ID: the id written for entries without a qualifier, never a valid named id. */
export const aclUndefinedId = 0xffff_ffff;

/** POSIX_ACL_XATTR_VERSION, the u32 every ACL value starts with. */
const xattrVersion = 2;
const headerBytes = 4;
const entryBytes = 8;

function invalid(message: string): FsError {
  return new FsError(MetaCode.InvalidArgument, message);
}

/**
 * Reads the xattr form (InvalidArgument when it is not one, ValueTooLarge beyond
 * limits.metaAclEntriesMax entries). A header with no entries means "no ACL" (an empty list), as
 * in Linux. Checks the form only, not the rules of a valid ACL.
 */
export function parseAclXattr(value: Uint8Array): AclEntry[] {
  if (value.byteLength < headerBytes) {
    throw invalid(`an ACL of ${value.byteLength} bytes is shorter than its header`);
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const version = view.getUint32(0, true);
  if (version !== xattrVersion) throw invalid(`ACL version ${version} is not ${xattrVersion}`);
  const bodyBytes = value.byteLength - headerBytes;
  if (bodyBytes % entryBytes !== 0) {
    throw invalid(`an ACL's ${bodyBytes} bytes of entries are not whole ${entryBytes}-byte entries`);
  }
  const count = bodyBytes / entryBytes;
  if (count > limits.metaAclEntriesMax) {
    throw new FsError(
      MetaCode.ValueTooLarge,
      `an ACL of ${count} entries exceeds ${limits.metaAclEntriesMax}`,
    );
  }
  const entries: AclEntry[] = [];
  for (let index = 0; index < count; index++) {
    const at = headerBytes + index * entryBytes;
    entries.push({
      tag: view.getUint16(at, true),
      perm: view.getUint16(at + 2, true),
      id: view.getUint32(at + 4, true),
    });
  }
  return entries;
}

/** The xattr form of `entries`; base entries get the undefined id, as Linux writes them. */
export function encodeAclXattr(entries: readonly AclEntry[]): Buffer {
  const bytes = Buffer.alloc(headerBytes + entries.length * entryBytes);
  bytes.writeUInt32LE(xattrVersion, 0);
  for (const [index, entry] of entries.entries()) {
    const at = headerBytes + index * entryBytes;
    bytes.writeUInt16LE(entry.tag, at);
    bytes.writeUInt16LE(entry.perm, at + 2);
    const named = entry.tag === AclTag.User || entry.tag === AclTag.Group;
    bytes.writeUInt32LE(named ? entry.id : aclUndefinedId, at + 4);
  }
  return bytes;
}

/** The parts of a valid ACL, by tag. */
export interface AclParts {
  userObj: number;
  groupObj: number;
  other: number;
  mask: number | undefined;
  users: AclNamedEntry[];
  groups: AclNamedEntry[];
}

/** The entries of an ACL in the order Linux requires. */
export function aclEntriesOf(parts: Readonly<AclParts>): AclEntry[] {
  const base = (tag: AclTag, perm: number): AclEntry => ({ tag, perm, id: aclUndefinedId });
  return [
    base(AclTag.UserObj, parts.userObj),
    ...parts.users.map((entry) => ({ tag: AclTag.User, perm: entry.perm, id: entry.id })),
    base(AclTag.GroupObj, parts.groupObj),
    ...parts.groups.map((entry) => ({ tag: AclTag.Group, perm: entry.perm, id: entry.id })),
    ...(parts.mask === undefined ? [] : [base(AclTag.Mask, parts.mask)]),
    base(AclTag.Other, parts.other),
  ];
}

/** The entries of an inode's access ACL: the stored part with the rest from `mode`. */
export function accessAclEntries(mode: number, acl: AccessAcl): AclEntry[] {
  return aclEntriesOf({
    userObj: (mode >> 6) & 7,
    groupObj: acl.groupObj,
    other: mode & 7,
    mask: (mode >> 3) & 7,
    users: acl.users,
    groups: acl.groups,
  });
}

/** The entries of a default ACL. */
export function defaultAclEntries(acl: DefaultAcl): AclEntry[] {
  return aclEntriesOf({ ...acl, mask: acl.mask });
}

/**
 * The value of the ACL attribute `name` of `inode`, or undefined when it has none (ENODATA, and
 * getfacl shows the mode then). Symlinks have no ACLs; callers answer EOPNOTSUPP for them.
 */
export function aclXattrValue(inode: Inode, name: AclXattr): Buffer | undefined {
  if (name === AclXattr.Access) {
    return inode.accessAcl === undefined
      ? undefined
      : encodeAclXattr(accessAclEntries(inode.mode, inode.accessAcl));
  }
  if (inode.type !== 'directory' || inode.defaultAcl === undefined) return undefined;
  return encodeAclXattr(defaultAclEntries(inode.defaultAcl));
}
