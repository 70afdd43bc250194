/**
 * How the admin trash commands see a user's trash: as groups. A removal through a mount moves
 * each entry on its own (an `rm -rf` unlinks every file, then removes each emptied directory), so
 * one tree becomes many items; each remembers the directory it was removed from by inode id, and
 * a directory keeps its id in the trash. An item whose original directory is itself an item of
 * the same trash belongs below it: the top of such a tree is what the user removed, and
 * restoring it brings back everything removed from it that is still in the trash.
 *
 * Also the durations `--expire` takes. Pure functions, unit-tested.
 */
import { InvalidArgumentError } from 'commander';
import type { TrashItem } from '../../meta/protocol/index.js';

/** One top item with every item removed from below it, parents before their children. */
export interface TrashGroup {
  top: TrashItem;
  /** `top` first, then breadth first: a directory before what was removed from it. */
  members: TrashItem[];
  /** Bytes of every member, or null when one was too large to count at its removal. */
  bytes: bigint | null;
  /** The first expiry among the members: when the group starts to go. */
  expiresAtNs: bigint;
}

const unitSeconds: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };

/** Seconds of a duration: "45s", "30m", "12h", "7d", "2w", or a bare number of seconds. */
export function parseDuration(text: string): number {
  const match = /^([0-9]{1,12})([smhdw]?)$/.exec(text.trim());
  const seconds = match === null ? NaN : Number(match[1]) * (unitSeconds[match[2] || 's'] ?? NaN);
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new InvalidArgumentError('a duration is a positive number with s, m, h, d or w (e.g. 7d)');
  }
  return seconds;
}

/** A duration in its largest exact unit ("7d", "90m"). */
export function formatDuration(seconds: number): string {
  for (const unit of ['w', 'd', 'h', 'm'] as const) {
    const size = unitSeconds[unit] as number;
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function directoryKey(uid: number, ino: bigint): string {
  return `${uid}/${ino}`;
}

/** The items as groups, newest removal first (the order people look for what they just removed). */
export function groupItems(items: readonly TrashItem[]): TrashGroup[] {
  const { children, tops } = linkItems(items);
  const groups = tops.map((top) => groupOf(top, children));
  // Items in a loop of original directories (possible only by moving entries by hand) join no
  // top: each becomes a group of its own.
  const placed = new Set(groups.flatMap((group) => group.members));
  for (const item of items) if (!placed.has(item)) groups.push(groupOf(item, new Map()));
  return groups.sort((left, right) => compareBigints(right.top.removedAtNs, left.top.removedAtNs));
}

/** The items below each directory item, and the items below none. */
function linkItems(items: readonly TrashItem[]): { children: Map<string, TrashItem[]>; tops: TrashItem[] } {
  const directories = new Map<string, TrashItem>();
  for (const item of items) {
    if (item.type === 'directory') directories.set(directoryKey(item.uid, item.ino), item);
  }
  const children = new Map<string, TrashItem[]>();
  const tops: TrashItem[] = [];
  for (const item of items) {
    const parentKey = directoryKey(item.uid, item.originalParent);
    const parent = directories.get(parentKey);
    if (parent === undefined || parent === item) {
      tops.push(item);
      continue;
    }
    const list = children.get(parentKey) ?? [];
    list.push(item);
    children.set(parentKey, list);
  }
  return { children, tops };
}

function groupOf(top: TrashItem, children: ReadonlyMap<string, TrashItem[]>): TrashGroup {
  const members: TrashItem[] = [];
  const seen = new Set<TrashItem>();
  const queue: TrashItem[] = [top];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (seen.has(next)) continue;
    seen.add(next);
    members.push(next);
    if (next.type !== 'directory') continue;
    // Newest first: of two items with one name, the latest removed comes back, the other stays.
    const below = [...(children.get(directoryKey(next.uid, next.ino)) ?? [])];
    queue.push(...below.sort((left, right) => compareBigints(right.removedAtNs, left.removedAtNs)));
  }
  let bytes: bigint | null = 0n;
  let expiresAtNs = top.expiresAtNs;
  for (const member of members) {
    bytes = bytes === null || member.bytes === null ? null : bytes + member.bytes;
    if (member.expiresAtNs < expiresAtNs) expiresAtNs = member.expiresAtNs;
  }
  return { top, members, bytes, expiresAtNs };
}

function compareBigints(left: bigint, right: bigint): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/** How an operator names an item: `[uid/]name`, or the path it was removed from. */
export type ItemSpec =
  { kind: 'path'; path: string } | { kind: 'name'; uid: number | undefined; name: string };

export function parseItemSpec(text: string): ItemSpec {
  if (text.startsWith('/')) return { kind: 'path', path: text.length > 1 ? text.replace(/\/+$/, '') : text };
  const match = /^([0-9]{1,10})\/(.+)$/.exec(text);
  if (match !== null) return { kind: 'name', uid: Number(match[1]), name: match[2] as string };
  if (text.length === 0 || text.includes('/'))
    throw new InvalidArgumentError('an item is [UID/]NAME or /ORIGINAL/PATH');
  return { kind: 'name', uid: undefined, name: text };
}

/**
 * The group an item spec names: by name, the group under that item; by path, the one group whose
 * top was removed from that path. Throws a message for none or several.
 */
export function selectGroup(groups: readonly TrashGroup[], spec: ItemSpec): TrashGroup {
  if (spec.kind === 'name') {
    for (const group of groups) {
      const index = group.members.findIndex(
        (member) => member.name === spec.name && (spec.uid === undefined || member.uid === spec.uid),
      );
      if (index === 0) return group;
      const member = group.members[index];
      if (member !== undefined) return groupOf(member, linkItems(group.members).children);
    }
    throw new Error(`no item ${spec.uid === undefined ? '' : `${spec.uid}/`}${spec.name} in the trash`);
  }
  const matches = groups.filter((group) => group.top.originalPath === spec.path);
  const only = matches[0];
  if (only === undefined) throw new Error(`nothing removed from ${spec.path} is in the trash`);
  if (matches.length > 1) {
    const names = matches.map((group) => `${group.top.uid}/${group.top.name}`).join(', ');
    throw new Error(`${matches.length} items were removed from ${spec.path}; name one: ${names}`);
  }
  return only;
}
