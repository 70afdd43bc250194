// Proves how admin sees the trash: items removed one by one (an rm -rf through a mount) group under
// the directory item they were removed from, tops newest first, sizes and first expiry summed
// over members, parents before children and the newest of two same-named items first; item specs
// by name, uid/name or original path; durations of --expire.
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  groupItems,
  parseDuration,
  parseItemSpec,
  selectGroup,
} from '../../../src/admin/commands/trash-groups.js';
import type { TrashItem } from '../../../src/meta/protocol/index.js';

let next = 100n;
function item(fields: Partial<TrashItem> & Pick<TrashItem, 'originalParent' | 'originalName'>): TrashItem {
  next += 1n;
  return {
    uid: 1000,
    name: `n${next}`,
    ino: next,
    type: 'file',
    originalPath: null,
    removedAtNs: next,
    expiresAtNs: next + 1_000n,
    bytes: 10n,
    inodes: 1,
    ...fields,
  };
}

describe('groupItems', () => {
  it('puts what an rm -rf removed below the directory it came from', () => {
    const fileA = item({ originalParent: 50n, originalName: 'a', removedAtNs: 1n, expiresAtNs: 11n });
    const fileB = item({ originalParent: 51n, originalName: 'b', removedAtNs: 2n, expiresAtNs: 12n });
    const sub = item({
      ino: 51n,
      type: 'directory',
      originalParent: 50n,
      originalName: 'sub',
      removedAtNs: 3n,
      bytes: 0n,
    });
    const top = item({
      ino: 50n,
      type: 'directory',
      originalParent: 1n,
      originalName: 'tree',
      originalPath: '/tree',
      removedAtNs: 4n,
      expiresAtNs: 14n,
      bytes: 0n,
    });
    const unrelated = item({ originalParent: 1n, originalName: 'other', removedAtNs: 5n });
    const otherUser = item({ uid: 1001, originalParent: 50n, originalName: 'theirs', removedAtNs: 6n });
    const groups = groupItems([fileA, fileB, sub, top, unrelated, otherUser]);
    expect(groups.map((group) => group.top)).toEqual([otherUser, unrelated, top]);
    const tree = groups[2];
    expect(tree?.members).toEqual([top, sub, fileA, fileB]);
    expect(tree?.bytes).toBe(20n);
    expect(tree?.expiresAtNs).toBe(11n);
  });

  it('lists the newest of two items with one name first, and marks uncounted sizes unknown', () => {
    const top = item({ ino: 60n, type: 'directory', originalParent: 1n, originalName: 'd', removedAtNs: 9n });
    const older = item({ originalParent: 60n, originalName: 'x', removedAtNs: 1n, bytes: null });
    const newer = item({ originalParent: 60n, originalName: 'x', removedAtNs: 5n });
    const [group] = groupItems([older, newer, top]);
    expect(group?.members).toEqual([top, newer, older]);
    expect(group?.bytes).toBeNull();
  });

  it('keeps items in a loop of original directories as groups of their own', () => {
    const first = item({ ino: 70n, type: 'directory', originalParent: 71n, originalName: 'a' });
    const second = item({ ino: 71n, type: 'directory', originalParent: 70n, originalName: 'b' });
    expect(groupItems([first, second]).map((group) => group.members.length)).toEqual([1, 1]);
  });
});

describe('selectGroup', () => {
  const file = item({ originalParent: 80n, originalName: 'f' });
  const top = item({
    ino: 80n,
    type: 'directory',
    originalParent: 1n,
    originalName: 'd',
    originalPath: '/d',
  });
  const groups = groupItems([file, top]);

  it('finds a group by its top’s name, uid/name or original path', () => {
    expect(selectGroup(groups, parseItemSpec(top.name)).members).toEqual([top, file]);
    expect(selectGroup(groups, parseItemSpec(`1000/${top.name}`)).top).toBe(top);
    expect(selectGroup(groups, parseItemSpec('/d/')).top).toBe(top);
    expect(selectGroup(groups, parseItemSpec(file.name)).members).toEqual([file]);
  });

  it('refuses an unknown item and a path removed from twice', () => {
    expect(() => selectGroup(groups, parseItemSpec('missing'))).toThrow(/no item/);
    expect(() => selectGroup(groups, parseItemSpec(`1001/${top.name}`))).toThrow(/no item/);
    const again = item({
      ino: 81n,
      type: 'directory',
      originalParent: 1n,
      originalName: 'd',
      originalPath: '/d',
    });
    expect(() => selectGroup(groupItems([file, top, again]), parseItemSpec('/d'))).toThrow(/2 items/);
    expect(() => parseItemSpec('a/b/c')).toThrow();
  });
});

describe('durations', () => {
  it('parse with units and print in the largest exact one', () => {
    expect(parseDuration('45')).toBe(45);
    expect(parseDuration('30m')).toBe(1_800);
    expect(parseDuration('12h')).toBe(43_200);
    expect(parseDuration('7d')).toBe(604_800);
    expect(parseDuration('2w')).toBe(1_209_600);
    for (const bad of ['', '0', '-1d', '1y', '1.5h', 'd']) expect(() => parseDuration(bad)).toThrow();
    expect(formatDuration(604_800)).toBe('1w');
    expect(formatDuration(86_400 * 3)).toBe('3d');
    expect(formatDuration(90)).toBe('90s');
    expect(formatDuration(5_400)).toBe('90m');
  });
});
