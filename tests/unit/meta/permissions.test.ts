// Proves the POSIX permission rules as pure functions: access classes, root, sticky directories,
// setgid inheritance, chmod/chown/utimes rules and root squash.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { MetaCode } from '../../../src/common/status-code.js';
import {
  Access,
  checkChown,
  checkSetTimes,
  hasAccess,
  modeAfterChmod,
  onlyDropsPrivileges,
  modeWithoutPrivileges,
  newInodeOwnership,
  squashCredentials,
  stickyForbids,
  type Owned,
} from '../../../src/meta/permissions.js';
import type { Credentials } from '../../../src/meta/protocol/index.js';

const file = (mode: number, uid = 1000, gid = 1000): Owned & { ino: bigint } => ({
  type: 'file',
  mode,
  uid,
  gid,
  ino: 42n,
});
const directory = (mode: number, uid = 1000, gid = 1000): Owned & { ino: bigint } => ({
  type: 'directory',
  mode,
  uid,
  gid,
  ino: 7n,
});
const user = (uid: number, gid: number, groups: number[] = []): Credentials => ({ uid, gid, groups });
const root = user(0, 0);

function codeOf(run: () => unknown): number | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(FsError);
    return (error as FsError).code;
  }
}

describe('access checks', () => {
  it('uses the owner bits for the owner, even when others have more', () => {
    const inode = file(0o077);
    expect(hasAccess(inode, user(1000, 1000), Access.Read)).toBe(false);
    expect(hasAccess(inode, user(1001, 1000), Access.Read)).toBe(true);
    expect(hasAccess(inode, user(1002, 1002), Access.Read | Access.Write | Access.Execute)).toBe(true);
  });

  it('uses the group bits for the primary group and for supplementary groups', () => {
    const inode = file(0o640, 1000, 2000);
    expect(hasAccess(inode, user(1001, 2000), Access.Read)).toBe(true);
    expect(hasAccess(inode, user(1001, 1001, [3000, 2000]), Access.Read)).toBe(true);
    expect(hasAccess(inode, user(1001, 1001, [3000]), Access.Read)).toBe(false);
    expect(hasAccess(inode, user(1001, 2000), Access.Write)).toBe(false);
  });

  it('needs every requested bit', () => {
    expect(hasAccess(file(0o600), user(1000, 1000), Access.Read | Access.Write)).toBe(true);
    expect(hasAccess(file(0o400), user(1000, 1000), Access.Read | Access.Write)).toBe(false);
  });

  it('lets root read and write anything, execute files only when someone may, and search any directory', () => {
    expect(hasAccess(file(0o000), root, Access.Read | Access.Write)).toBe(true);
    expect(hasAccess(file(0o600), root, Access.Execute)).toBe(false);
    expect(hasAccess(file(0o001), root, Access.Execute)).toBe(true);
    expect(hasAccess(directory(0o000), root, Access.Execute)).toBe(true);
  });

  it('grants a non-root caller exactly the bits of its one class (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0o777 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 7 }),
        (mode, callerUid, callerGid, want) => {
          const inode = file(mode, 1, 1);
          const cred = user(callerUid, callerGid);
          const shift = callerUid === 1 ? 6 : callerGid === 1 ? 3 : 0;
          const granted = (mode >> shift) & 7;
          expect(hasAccess(inode, cred, want)).toBe((granted & want) === want);
        },
      ),
    );
  });
});

describe('sticky directories', () => {
  const sticky = directory(0o1777, 500, 500);

  it('forbid removing other users’ files', () => {
    expect(stickyForbids(sticky, file(0o644, 1000), user(1001, 1001))).toBe(true);
  });

  it('allow the file’s owner, the directory’s owner and root', () => {
    expect(stickyForbids(sticky, file(0o644, 1000), user(1000, 1000))).toBe(false);
    expect(stickyForbids(sticky, file(0o644, 1000), user(500, 500))).toBe(false);
    expect(stickyForbids(sticky, file(0o644, 1000), root)).toBe(false);
  });

  it('do nothing without the sticky bit', () => {
    expect(stickyForbids(directory(0o777, 500), file(0o644, 1000), user(1001, 1001))).toBe(false);
  });
});

describe('chmod', () => {
  it('is refused to anyone but the owner and root', () => {
    expect(codeOf(() => modeAfterChmod(file(0o644), user(1001, 1000), 0o600))).toBe(MetaCode.NotPermitted);
    expect(modeAfterChmod(file(0o644), user(1000, 1000), 0o600)).toBe(0o600);
    expect(modeAfterChmod(file(0o644), root, 0o4755)).toBe(0o4755);
  });

  it('lets whoever may write a file drop its setuid and setgid bits, and nothing more', () => {
    const writer = user(1001, 1001);
    expect(modeAfterChmod(file(0o4777), writer, 0o777)).toBe(0o777);
    expect(modeAfterChmod(file(0o6777), writer, 0o2777)).toBe(0o2777);
    expect(modeAfterChmod(file(0o6777), writer, 0o777)).toBe(0o777);
    // Anything else stays the owner's: other bits, a setuid file the caller may not write, a directory.
    expect(codeOf(() => modeAfterChmod(file(0o4777), writer, 0o775))).toBe(MetaCode.NotPermitted);
    expect(codeOf(() => modeAfterChmod(file(0o4755), writer, 0o755))).toBe(MetaCode.NotPermitted);
    expect(codeOf(() => modeAfterChmod(file(0o777), writer, 0o777))).toBe(MetaCode.NotPermitted);
    expect(codeOf(() => modeAfterChmod(directory(0o2777, 1000), writer, 0o777))).toBe(MetaCode.NotPermitted);
    expect(onlyDropsPrivileges(0o6755, 0o4755)).toBe(true);
    expect(onlyDropsPrivileges(0o4755, 0o6755)).toBe(false);
    expect(onlyDropsPrivileges(0o4755, 0o4755)).toBe(false);
    expect(onlyDropsPrivileges(0o4755, 0o0744)).toBe(false);
  });

  it('drops setgid silently when the owner is not in the file’s group', () => {
    expect(modeAfterChmod(file(0o644, 1000, 3000), user(1000, 1000), 0o2755)).toBe(0o755);
    expect(modeAfterChmod(file(0o644, 1000, 3000), user(1000, 1000, [3000]), 0o2755)).toBe(0o2755);
  });
});

describe('chown', () => {
  it('lets root change anything', () => {
    expect(codeOf(() => checkChown(file(0o644), root, { uid: 5, gid: 6 }))).toBeUndefined();
  });

  it('lets the owner change the group to one of its groups only', () => {
    const owner = user(1000, 1000, [2000]);
    expect(codeOf(() => checkChown(file(0o644), owner, { gid: 2000 }))).toBeUndefined();
    expect(codeOf(() => checkChown(file(0o644), owner, { gid: 3000 }))).toBe(MetaCode.NotPermitted);
    expect(codeOf(() => checkChown(file(0o644), owner, { uid: 1000, gid: 1000 }))).toBeUndefined();
  });

  it('refuses giving a file away and any change by others', () => {
    expect(codeOf(() => checkChown(file(0o644), user(1000, 1000), { uid: 1001 }))).toBe(
      MetaCode.NotPermitted,
    );
    expect(codeOf(() => checkChown(file(0o644), user(1001, 1000), { gid: 1000 }))).toBe(
      MetaCode.NotPermitted,
    );
  });

  it('drops setuid, and setgid with group execute, from files but not directories', () => {
    expect(modeWithoutPrivileges(file(0o6755))).toBe(0o755);
    expect(modeWithoutPrivileges(file(0o6745))).toBe(0o2745);
    expect(modeWithoutPrivileges(directory(0o2775))).toBe(0o2775);
  });
});

describe('setting times', () => {
  it('lets anyone with write permission touch to now, but only owner and root set explicit times', () => {
    const shared = file(0o666, 1000);
    expect(codeOf(() => checkSetTimes(shared, user(1001, 1001), { explicit: false }))).toBeUndefined();
    expect(codeOf(() => checkSetTimes(shared, user(1001, 1001), { explicit: true }))).toBe(
      MetaCode.NotPermitted,
    );
    expect(codeOf(() => checkSetTimes(file(0o644), user(1001, 1001), { explicit: false }))).toBe(
      MetaCode.PermissionDenied,
    );
    expect(codeOf(() => checkSetTimes(file(0o444), user(1000, 1000), { explicit: true }))).toBeUndefined();
  });
});

describe('ownership of new inodes', () => {
  it('takes the caller’s uid and gid in an ordinary directory', () => {
    expect(newInodeOwnership(directory(0o777, 0, 0), user(1000, 1000), 'file', 0o644)).toEqual({
      uid: 1000,
      gid: 1000,
      mode: 0o644,
    });
  });

  it('takes the group of a setgid directory, and new directories inherit setgid', () => {
    const parent = directory(0o2775, 0, 3000);
    expect(newInodeOwnership(parent, user(1000, 1000, [3000]), 'file', 0o644)).toEqual({
      uid: 1000,
      gid: 3000,
      mode: 0o644,
    });
    expect(newInodeOwnership(parent, user(1000, 1000), 'directory', 0o755).mode).toBe(0o2755);
  });

  it('does not let a caller outside the group create a setgid file', () => {
    const parent = directory(0o2777, 0, 3000);
    expect(newInodeOwnership(parent, user(1000, 1000), 'file', 0o2755).mode).toBe(0o755);
    expect(newInodeOwnership(parent, root, 'file', 0o2755).mode).toBe(0o2755);
  });

  it('gives symlinks mode 0777', () => {
    expect(newInodeOwnership(directory(0o755), user(1000, 1000), 'symlink', 0).mode).toBe(0o777);
  });
});

describe('root squash', () => {
  const squash = { enabled: true, uid: 65534, gid: 65534 };

  it('maps uid 0 to the squash user without groups', () => {
    expect(squashCredentials(user(0, 0, [1, 2]), squash)).toEqual(user(65534, 65534));
  });

  it('leaves other users and a disabled squash alone', () => {
    expect(squashCredentials(user(1000, 0), squash)).toEqual(user(1000, 0));
    expect(squashCredentials(root, { ...squash, enabled: false })).toEqual(root);
  });
});
