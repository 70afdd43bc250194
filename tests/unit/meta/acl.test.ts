// Proves POSIX ACLs as pure functions: the xattr form is parsed, checked and encoded as Linux
// writes it (bad values are InvalidArgument, never a crash), an access ACL sets the mode and
// collapses to it when equivalent, new inodes inherit a default ACL instead of the umask, and
// permission checks follow acl(5): owner, named users, owning and named groups under the mask, other.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { statusName, MetaCode } from '../../../src/common/status-code.js';
import {
  accessAclOf,
  checkAclEntries,
  defaultAclOf,
  inheritedAccess,
  modeAfterAccessAcl,
} from '../../../src/meta/acl.js';
import { Access, hasAccess, type Owned } from '../../../src/meta/permissions.js';
import {
  AclTag,
  accessAclEntries,
  defaultAclEntries,
  encodeAclXattr,
  parseAclXattr,
  type AccessAcl,
  type AclEntry,
  type Credentials,
  type DefaultAcl,
} from '../../../src/meta/protocol/index.js';

const undefinedId = 0xffff_ffff;
const base = (tag: number, perm: number): AclEntry => ({ tag, perm, id: undefinedId });
const named = (tag: number, id: number, perm: number): AclEntry => ({ tag, perm, id });
const user = (uid: number, gid: number, groups: number[] = []): Credentials => ({ uid, gid, groups });

/** The xattr bytes of raw entries, unchecked, as a caller might send them. */
function rawXattr(entries: ReadonlyArray<{ tag: number; perm: number; id: number }>, version = 2): Buffer {
  const bytes = Buffer.alloc(4 + entries.length * 8);
  bytes.writeUInt32LE(version, 0);
  entries.forEach((entry, index) => {
    bytes.writeUInt16LE(entry.tag, 4 + index * 8);
    bytes.writeUInt16LE(entry.perm, 6 + index * 8);
    bytes.writeUInt32LE(entry.id, 8 + index * 8);
  });
  return bytes;
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(FsError);
    return statusName((error as FsError).code);
  }
}

const minimal = [base(AclTag.UserObj, 6), base(AclTag.GroupObj, 4), base(AclTag.Other, 4)];
const extended = [
  base(AclTag.UserObj, 7),
  named(AclTag.User, 1001, 6),
  named(AclTag.User, 1005, 4),
  base(AclTag.GroupObj, 5),
  named(AclTag.Group, 2000, 7),
  base(AclTag.Mask, 6),
  base(AclTag.Other, 0),
];

describe('the xattr form', () => {
  it('reads what it writes, with the undefined id on base entries', () => {
    const bytes = encodeAclXattr(extended);
    expect(bytes.length).toBe(4 + 7 * 8);
    expect(bytes.readUInt32LE(0)).toBe(2);
    expect(bytes.readUInt32LE(8)).toBe(undefinedId);
    expect(parseAclXattr(bytes)).toEqual(extended);
  });

  it('takes a header without entries as no ACL', () => {
    expect(parseAclXattr(rawXattr([]))).toEqual([]);
  });

  it('refuses short, ragged, wrongly versioned and oversized values with InvalidArgument or E2BIG', () => {
    const invalid = statusName(MetaCode.InvalidArgument);
    expect(codeOf(() => parseAclXattr(Buffer.alloc(0)))).toBe(invalid);
    expect(codeOf(() => parseAclXattr(Buffer.from([2, 0, 0])))).toBe(invalid);
    expect(codeOf(() => parseAclXattr(rawXattr(minimal, 1)))).toBe(invalid);
    expect(codeOf(() => parseAclXattr(Buffer.concat([rawXattr(minimal), Buffer.alloc(3)])))).toBe(invalid);
    const huge = rawXattr(Array.from({ length: 600 }, (_, index) => named(AclTag.User, index, 7)));
    expect(codeOf(() => parseAclXattr(huge))).toBe(statusName(MetaCode.ValueTooLarge));
  });

  it('never throws anything but an FsError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          checkAclEntries(parseAclXattr(bytes));
        } catch (error) {
          expect(error).toBeInstanceOf(FsError);
        }
      }),
    );
  });

  it('round-trips every valid ACL through its bytes and its stored form', () => {
    const ids = fc
      .uniqueArray(fc.integer({ min: 0, max: 0xffff_fffe }), { maxLength: 6 })
      .map((list) => [...list].sort((a, b) => a - b));
    const perm = fc.integer({ min: 0, max: 7 });
    const acl = fc
      .record({
        userObj: perm,
        groupObj: perm,
        other: perm,
        mask: fc.option(perm, { nil: undefined }),
        users: ids,
        groups: ids,
        perms: fc.array(perm, { minLength: 12, maxLength: 12 }),
      })
      .filter((parts) => parts.mask !== undefined || (parts.users.length === 0 && parts.groups.length === 0));
    fc.assert(
      fc.property(acl, (parts) => {
        const entries: AclEntry[] = [
          base(AclTag.UserObj, parts.userObj),
          ...parts.users.map((id, index) => named(AclTag.User, id, parts.perms[index] ?? 0)),
          base(AclTag.GroupObj, parts.groupObj),
          ...parts.groups.map((id, index) => named(AclTag.Group, id, parts.perms[6 + index] ?? 0)),
          ...(parts.mask === undefined ? [] : [base(AclTag.Mask, parts.mask)]),
          base(AclTag.Other, parts.other),
        ];
        const parsed = parseAclXattr(encodeAclXattr(entries));
        checkAclEntries(parsed);
        expect(defaultAclEntries(defaultAclOf(parsed))).toEqual(entries);
        const { permissionBits, acl: stored } = accessAclOf(parsed);
        if (stored === undefined) expect(parts.mask).toBeUndefined();
        else expect(accessAclEntries(permissionBits, stored)).toEqual(entries);
      }),
    );
  });
});

describe('valid ACLs', () => {
  const check = (entries: AclEntry[]) => codeOf(() => checkAclEntries(entries));
  const invalid = statusName(MetaCode.InvalidArgument);

  it('accepts the minimal ACL and one with named entries and a mask', () => {
    expect(check(minimal)).toBeUndefined();
    expect(check(extended)).toBeUndefined();
    expect(check([base(1, 7), base(4, 0), base(0x10, 7), base(0x20, 0)])).toBeUndefined();
  });

  it('requires the base entries, in order, once each', () => {
    expect(check([])).toBe(invalid);
    expect(check([base(AclTag.UserObj, 6), base(AclTag.GroupObj, 4)])).toBe(invalid);
    expect(check([base(AclTag.GroupObj, 4), base(AclTag.UserObj, 6), base(AclTag.Other, 4)])).toBe(invalid);
    expect(check([...minimal.slice(0, 1), ...minimal])).toBe(invalid);
    expect(check([...minimal, base(AclTag.Other, 4)])).toBe(invalid);
  });

  it('requires a mask with named entries, and the mask before other', () => {
    expect(check([base(1, 7), named(2, 5, 7), base(4, 5), base(0x20, 0)])).toBe(invalid);
    expect(check([base(1, 7), named(2, 5, 7), base(4, 5), base(0x20, 0), base(0x10, 7)])).toBe(invalid);
  });

  it('refuses unsorted or repeated ids, the undefined id, unknown tags and bits beyond rwx', () => {
    const withUsers = (...users: AclEntry[]) => [
      base(1, 7),
      ...users,
      base(4, 5),
      base(0x10, 7),
      base(0x20, 0),
    ];
    expect(check(withUsers(named(2, 9, 4), named(2, 3, 4)))).toBe(invalid);
    expect(check(withUsers(named(2, 3, 4), named(2, 3, 4)))).toBe(invalid);
    expect(check(withUsers(named(2, undefinedId, 4)))).toBe(invalid);
    expect(check(withUsers(named(0x40, 3, 4)))).toBe(invalid);
    expect(check(withUsers(named(2, 3, 8)))).toBe(invalid);
    expect(check([base(1, 0x1007), base(4, 4), base(0x20, 4)])).toBe(invalid);
  });
});

describe('mode sync', () => {
  it('collapses an ACL without mask or named entries to the mode it says', () => {
    expect(accessAclOf([base(1, 7), base(4, 5), base(0x20, 1)])).toEqual({
      permissionBits: 0o751,
      acl: undefined,
    });
  });

  it('takes the group bits from the mask and keeps the group entry apart', () => {
    expect(accessAclOf(extended)).toEqual({
      permissionBits: 0o760,
      acl: {
        groupObj: 5,
        users: [
          { id: 1001, perm: 6 },
          { id: 1005, perm: 4 },
        ],
        groups: [{ id: 2000, perm: 7 }],
      },
    });
  });

  it('reads the owner, mask and other entries from the mode, so chmod changes them', () => {
    const acl: AccessAcl = { groupObj: 5, users: [{ id: 1001, perm: 7 }], groups: [] };
    expect(accessAclEntries(0o640, acl)).toEqual([
      base(1, 6),
      named(2, 1001, 7),
      base(4, 5),
      base(0x10, 4),
      base(0x20, 0),
    ]);
  });

  it('replaces the permission bits and clears setgid for a caller outside the group', () => {
    const inode = { mode: 0o2755, gid: 50 };
    expect(modeAfterAccessAcl(inode, user(1000, 50), 0o640)).toBe(0o2640);
    expect(modeAfterAccessAcl(inode, user(1000, 1000, [50]), 0o640)).toBe(0o2640);
    expect(modeAfterAccessAcl(inode, user(1000, 1000), 0o640)).toBe(0o640);
    expect(modeAfterAccessAcl(inode, user(0, 0), 0o640)).toBe(0o2640);
    expect(modeAfterAccessAcl({ mode: 0o4755, gid: 50 }, user(1000, 1000), 0o700)).toBe(0o4700);
  });
});

describe('inheritance at create', () => {
  const inherited: DefaultAcl = {
    userObj: 7,
    groupObj: 5,
    other: 5,
    mask: 7,
    users: [{ id: 1001, perm: 7 }],
    groups: [],
  };

  it('applies the umask when the directory has no default ACL', () => {
    expect(inheritedAccess({}, 'file', 0o666, 0o022)).toEqual({ mode: 0o644 });
    expect(inheritedAccess({}, 'directory', 0o2777, 0o027)).toEqual({ mode: 0o2750 });
  });

  it('ignores the umask and limits the default ACL by the requested mode', () => {
    expect(inheritedAccess({ defaultAcl: inherited }, 'file', 0o666, 0o077)).toEqual({
      mode: 0o664,
      accessAcl: { groupObj: 5, users: [{ id: 1001, perm: 7 }], groups: [] },
    });
    expect(inheritedAccess({ defaultAcl: inherited }, 'directory', 0o2777, 0o077)).toEqual({
      mode: 0o2775,
      accessAcl: { groupObj: 5, users: [{ id: 1001, perm: 7 }], groups: [] },
    });
  });

  it('limits the group entry itself when there is no mask, and then keeps just a mode', () => {
    const plain: DefaultAcl = { userObj: 7, groupObj: 7, other: 7, users: [], groups: [] };
    expect(inheritedAccess({ defaultAcl: plain }, 'fifo', 0o640, 0o777)).toEqual({ mode: 0o640 });
    expect(inheritedAccess({ defaultAcl: { ...plain, groupObj: 1 } }, 'file', 0o666, 0)).toEqual({
      mode: 0o606,
    });
  });

  it('leaves symlinks alone', () => {
    expect(inheritedAccess({ defaultAcl: inherited }, 'symlink', 0o777, 0o022)).toEqual({ mode: 0o777 });
  });
});

describe('permission checks with an access ACL', () => {
  // Owner 1000:100, mode 0o640 (mask r--), bob (1001) named rw-, group 2000 named rwx, group obj r-x.
  const inode: Owned = {
    type: 'file',
    mode: 0o640,
    uid: 1000,
    gid: 100,
    accessAcl: { groupObj: 5, users: [{ id: 1001, perm: 6 }], groups: [{ id: 2000, perm: 7 }] },
  };
  const may = (cred: Credentials, want: number, on: Owned = inode) => hasAccess(on, cred, want);

  it('gives the owner the owner bits, whatever named entries say', () => {
    expect(may(user(1000, 1000), Access.Read | Access.Write)).toBe(true);
    expect(may(user(1000, 1000), Access.Execute)).toBe(false);
  });

  it('gives a named user its entry, limited by the mask', () => {
    expect(may(user(1001, 1001), Access.Read)).toBe(true);
    expect(may(user(1001, 1001), Access.Write)).toBe(false);
    expect(may(user(1001, 1001), Access.Write, { ...inode, mode: 0o660 })).toBe(true);
    // A named user entry decides alone: membership of a group granting more does not help.
    expect(may(user(1001, 2000), Access.Write, { ...inode, mode: 0o670 })).toBe(true);
    expect(may(user(1001, 2000), Access.Execute, { ...inode, mode: 0o670 })).toBe(false);
  });

  it('grants a group member what one matching group entry grants under the mask, else nothing', () => {
    expect(may(user(3000, 100), Access.Read)).toBe(true);
    expect(may(user(3000, 100), Access.Execute)).toBe(false);
    expect(may(user(3000, 100), Access.Execute, { ...inode, mode: 0o650 })).toBe(true);
    expect(may(user(3000, 3000, [2000]), Access.Write, { ...inode, mode: 0o670 })).toBe(true);
    expect(may(user(3000, 100, [2000]), Access.Write | Access.Read, { ...inode, mode: 0o674 })).toBe(true);
    // In a matching group that refuses: other's bits do not apply.
    expect(may(user(3000, 100), Access.Write, { ...inode, mode: 0o646 })).toBe(false);
  });

  it('gives everyone else the other bits', () => {
    expect(may(user(3000, 3000), Access.Read)).toBe(false);
    expect(may(user(3000, 3000), Access.Read, { ...inode, mode: 0o644 })).toBe(true);
  });

  it('lets root read and write, and execute only what has an execute bit', () => {
    expect(may(user(0, 0), Access.Read | Access.Write)).toBe(true);
    expect(may(user(0, 0), Access.Execute)).toBe(false);
    expect(may(user(0, 0), Access.Execute, { ...inode, mode: 0o650 })).toBe(true);
  });
});
