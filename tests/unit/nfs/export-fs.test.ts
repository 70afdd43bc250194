// Proves names from the wire are taken only as single valid components, ACCESS answers what mode bits and ACLs grant as meta checks them, EXCLUSIVE create verifiers map to one time, and READDIR cookies are remembered within their bound.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Inode } from '../../../src/client/index.js';
import { AccessBits, accessOf, nameOf, verifierTime } from '../../../src/nfs/export-fs.js';
import { NfsStatus } from '../../../src/nfs/nfs-status.js';
import { ReaddirCursors } from '../../../src/nfs/readdir-cursors.js';

const all = 0x3f;

function inode(type: 'file' | 'directory', mode: number, extra: Partial<Inode> = {}): Inode {
  const common = { ino: 5n, mode, uid: 100, gid: 200, nlink: 1, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n };
  if (type === 'directory') {
    return {
      type,
      ...common,
      parent: 1n,
      layout: { chainTableId: 1, chunkSizeBytes: 4096, stripeSize: 1 },
      ...extra,
    } as Inode;
  }
  return {
    type,
    ...common,
    length: 0n,
    truncateVersion: 0,
    layout: {
      chainTableId: 1,
      chainTableVersion: 1,
      chunkSizeBytes: 4096,
      stripeSize: 1,
      chains: [1],
      seed: 0,
    },
    ...extra,
  } as Inode;
}

describe('export-fs', () => {
  it('takes a name only as one valid component', () => {
    expect(nameOf(Buffer.from('file.txt'))).toBe('file.txt');
    expect(nameOf(Buffer.from('..'))).toBe('..');
    expect(nameOf(Buffer.from('é'))).toBe('é');
    const refused: Array<[Buffer, number]> = [
      [Buffer.alloc(0), NfsStatus.Inval],
      [Buffer.from('a/b'), NfsStatus.Inval],
      [Buffer.from('/etc'), NfsStatus.Inval],
      [Buffer.from('a\0b'), NfsStatus.Inval],
      [Buffer.from([0xc3, 0x28]), NfsStatus.Inval],
      [Buffer.alloc(256, 0x61), NfsStatus.NameTooLong],
    ];
    for (const [bytes, status] of refused)
      expect(() => nameOf(bytes)).toThrow(expect.objectContaining({ status }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          const name = nameOf(bytes);
          expect(name.length).toBeGreaterThan(0);
          expect(name).not.toContain('/');
          expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
        } catch (error) {
          expect(error).toHaveProperty('status');
        }
      }),
    );
  });

  it('grants owner, group and other bits, and root everything but execute of non-executables', () => {
    const file = inode('file', 0o640);
    const owner = { uid: 100, gid: 1, groups: [] };
    const member = { uid: 7, gid: 1, groups: [200] };
    const other = { uid: 7, gid: 1, groups: [] };
    const root = { uid: 0, gid: 0, groups: [] };
    expect(accessOf(file, owner, all)).toBe(AccessBits.Read | AccessBits.Modify | AccessBits.Extend);
    expect(accessOf(file, member, all)).toBe(AccessBits.Read);
    expect(accessOf(file, other, all)).toBe(0);
    expect(accessOf(file, root, all)).toBe(AccessBits.Read | AccessBits.Modify | AccessBits.Extend);
    expect(accessOf(inode('file', 0o755), root, all) & AccessBits.Execute).toBe(AccessBits.Execute);
    const dir = inode('directory', 0o755);
    expect(accessOf(dir, owner, all)).toBe(
      AccessBits.Read | AccessBits.Lookup | AccessBits.Modify | AccessBits.Extend | AccessBits.Delete,
    );
    expect(accessOf(dir, other, all)).toBe(AccessBits.Read | AccessBits.Lookup);
    expect(accessOf(dir, other, AccessBits.Lookup)).toBe(AccessBits.Lookup);
  });

  it('applies an access ACL through its mask', () => {
    const withAcl = inode('file', 0o640, {
      accessAcl: { groupObj: 4, users: [{ id: 7, perm: 6 }], groups: [{ id: 300, perm: 6 }] },
    });
    // The mask is the group bits (r--): the named user's rw- becomes r--.
    expect(accessOf(withAcl, { uid: 7, gid: 1, groups: [] }, all)).toBe(AccessBits.Read);
    expect(accessOf(withAcl, { uid: 8, gid: 300, groups: [] }, all)).toBe(AccessBits.Read);
    expect(accessOf(withAcl, { uid: 8, gid: 1, groups: [] }, all)).toBe(0);
  });

  it('keeps an EXCLUSIVE verifier as one time', () => {
    const verifier = Buffer.from([0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff]);
    expect(verifierTime(verifier)).toBe(5n * 1_000_000_000n + BigInt(0xffff_ffff % 1_000_000_000));
  });

  it('remembers READDIR cookies up to its bound, the most recently used last to go', () => {
    const cursors = new ReaddirCursors(3);
    cursors.remember(1n, 3n, 'a');
    cursors.remember(1n, 4n, 'b');
    cursors.remember(2n, 3n, 'c');
    expect(cursors.nameAt(1n, 3n)).toBe('a');
    cursors.remember(2n, 4n, 'd');
    expect(cursors.size).toBe(3);
    expect(cursors.nameAt(1n, 4n)).toBeUndefined();
    expect(cursors.nameAt(1n, 3n)).toBe('a');
    expect(cursors.nameAt(2n, 4n)).toBe('d');
  });
});
