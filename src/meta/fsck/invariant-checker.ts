/**
 * The namespace's invariants, checked over one consistent snapshot (used by tests and by
 * `admin fsck`):
 * - every directory entry names an existing inode of the type it records, in an existing directory;
 * - a non-directory (file, symlink, FIFO, socket, device node) has nlink = the entries naming it; a directory is named by exactly one
 *   entry (the root by none) and has nlink = 2 + its subdirectories;
 * - every directory's parent pointer is the directory holding its entry; the root is its own parent;
 * - no directory is its own ancestor (every parent chain reaches the root);
 * - every inode is reachable from the root, or is an orphan: a file with nlink 0, an ORPH mark
 *   and at least one open write session; removed files are in the GC queue and have no inode;
 * - sessions belong to existing files and are indexed by client both ways; attributes and
 *   pending truncations belong to existing inodes; every allocated id is below the counter;
 * - once the inode counts are marked complete, each count shard holds the inodes of its ids.
 */
import { limits } from '../../common/limits.js';
import type { KvEngine } from '../../kv/index.js';
import { rootInodeId, type InodeId } from '../protocol/index.js';
import { firstAllocatedInodeId } from '../store/inode-alloc.js';
import { inodeCountShard, inodeCountShards } from '../store/keys.js';
import { readSnapshot, type NamespaceSnapshot } from './namespace-snapshot.js';

export interface InvariantReport {
  problems: string[];
  /** Entries naming missing inodes, also among `problems` (at most metaFsckProblemsMax). */
  danglingEntries: Array<{ parent: InodeId; name: string; ino: InodeId }>;
  /** True when more problems were found than metaFsckProblemsMax. */
  truncated: boolean;
  inodes: number;
  entries: number;
}

class Problems {
  readonly list: string[] = [];
  readonly dangling: InvariantReport['danglingEntries'] = [];
  truncated = false;

  add(problem: string): void {
    if (this.list.length < limits.metaFsckProblemsMax) this.list.push(problem);
    else this.truncated = true;
  }
}

/** Checks every invariant over one read snapshot of the KV. */
export async function checkInvariants(kv: KvEngine): Promise<InvariantReport> {
  const snapshot = await kv.read((tx) => readSnapshot(tx));
  const problems = new Problems();
  for (const unreadable of snapshot.unreadable) problems.add(unreadable);
  checkRoot(snapshot, problems);
  checkEntries(snapshot, problems);
  checkLinkCounts(snapshot, problems);
  checkAncestry(snapshot, problems);
  checkReachability(snapshot, problems);
  checkSideRecords(snapshot, problems);
  checkInodeCounts(snapshot, problems);
  return {
    problems: problems.list,
    danglingEntries: problems.dangling,
    truncated: problems.truncated,
    inodes: snapshot.inodes.size,
    entries: snapshot.entries.length,
  };
}

function checkRoot(snapshot: NamespaceSnapshot, problems: Problems): void {
  const root = snapshot.inodes.get(rootInodeId);
  if (root === undefined) problems.add('the root directory (inode 1) is missing');
  else if (root.type !== 'directory') problems.add('inode 1 is not a directory');
  else if (root.parent !== rootInodeId) problems.add(`the root's parent is ${root.parent}, not itself`);
}

function checkEntries(snapshot: NamespaceSnapshot, problems: Problems): void {
  for (const entry of snapshot.entries) {
    const where = `entry ${entry.parent}/${JSON.stringify(entry.name)}`;
    const parent = snapshot.inodes.get(entry.parent);
    if (parent === undefined) problems.add(`${where} is in missing directory ${entry.parent}`);
    else if (parent.type !== 'directory') problems.add(`${where} is in non-directory ${entry.parent}`);
    const child = snapshot.inodes.get(entry.ino);
    if (child === undefined) {
      problems.add(`${where} names missing inode ${entry.ino}`);
      if (problems.dangling.length < limits.metaFsckProblemsMax)
        problems.dangling.push({ parent: entry.parent, name: entry.name, ino: entry.ino });
      continue;
    }
    if (child.type !== entry.type)
      problems.add(`${where} records type ${entry.type}, inode ${entry.ino} is a ${child.type}`);
    if (child.type === 'directory' && child.parent !== entry.parent) {
      problems.add(
        `directory ${entry.ino} is named in ${entry.parent} but its parent pointer is ${child.parent}`,
      );
    }
  }
}

function checkLinkCounts(snapshot: NamespaceSnapshot, problems: Problems): void {
  const naming = new Map<InodeId, number>();
  const subdirectories = new Map<InodeId, number>();
  for (const entry of snapshot.entries) {
    naming.set(entry.ino, (naming.get(entry.ino) ?? 0) + 1);
    if (entry.type === 'directory')
      subdirectories.set(entry.parent, (subdirectories.get(entry.parent) ?? 0) + 1);
  }
  for (const inode of snapshot.inodes.values()) {
    const named = naming.get(inode.ino) ?? 0;
    if (inode.type !== 'directory') {
      if (inode.nlink !== named)
        problems.add(`inode ${inode.ino} has nlink ${inode.nlink} but ${named} entries name it`);
      continue;
    }
    const expectedNames = inode.ino === rootInodeId ? 0 : 1;
    if (named !== expectedNames) problems.add(`directory ${inode.ino} is named by ${named} entries`);
    const expectedLinks = 2 + (subdirectories.get(inode.ino) ?? 0);
    if (inode.nlink !== expectedLinks) {
      problems.add(`directory ${inode.ino} has nlink ${inode.nlink}, expected ${expectedLinks}`);
    }
  }
}

/** Every directory's parent chain must reach the root within as many steps as there are directories. */
function checkAncestry(snapshot: NamespaceSnapshot, problems: Problems): void {
  const directories = [...snapshot.inodes.values()].filter((inode) => inode.type === 'directory');
  for (const directory of directories) {
    let current = directory;
    let steps = 0;
    while (current.ino !== rootInodeId && steps <= directories.length) {
      const parent = snapshot.inodes.get(current.parent);
      if (parent === undefined || parent.type !== 'directory') {
        problems.add(`directory ${directory.ino} has an ancestor ${current.parent} that is not a directory`);
        break;
      }
      current = parent;
      steps += 1;
    }
    if (steps > directories.length)
      problems.add(`directory ${directory.ino} is in a cycle of parent pointers`);
  }
}

function checkReachability(snapshot: NamespaceSnapshot, problems: Problems): void {
  const children = new Map<InodeId, InodeId[]>();
  for (const entry of snapshot.entries) {
    const list = children.get(entry.parent) ?? [];
    list.push(entry.ino);
    children.set(entry.parent, list);
  }
  const reached = new Set<InodeId>([rootInodeId]);
  const queue: InodeId[] = [rootInodeId];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      if (reached.has(child)) continue;
      reached.add(child);
      queue.push(child);
    }
  }
  for (const inode of snapshot.inodes.values()) {
    if (reached.has(inode.ino)) continue;
    const orphan =
      inode.type === 'file' &&
      inode.nlink === 0 &&
      snapshot.orphans.has(inode.ino) &&
      (snapshot.sessions.get(inode.ino)?.length ?? 0) > 0;
    if (!orphan)
      problems.add(`inode ${inode.ino} (${inode.type}) is unreachable and not an orphan with open sessions`);
  }
  for (const ino of snapshot.gc.keys()) {
    if (snapshot.inodes.has(ino)) problems.add(`inode ${ino} is queued for GC but still exists`);
  }
}

function checkSideRecords(snapshot: NamespaceSnapshot, problems: Problems): void {
  for (const ino of snapshot.orphans) {
    const inode = snapshot.inodes.get(ino);
    if (inode === undefined || inode.nlink !== 0)
      problems.add(`orphan mark of inode ${ino} names no unlinked inode`);
  }
  for (const inode of snapshot.inodes.values()) {
    if (inode.nlink === 0 && !snapshot.orphans.has(inode.ino))
      problems.add(`inode ${inode.ino} has no links and no orphan mark`);
    if (
      inode.ino >= firstAllocatedInodeId &&
      (snapshot.nextInodeId === undefined || inode.ino >= snapshot.nextInodeId)
    ) {
      problems.add(`inode ${inode.ino} is not below the inode id counter ${snapshot.nextInodeId ?? 'none'}`);
    }
  }
  for (const [ino, sessions] of snapshot.sessions) {
    if (snapshot.inodes.get(ino)?.type !== 'file') problems.add(`sessions of inode ${ino} belong to no file`);
    for (const session of sessions) {
      if (!snapshot.clientSessions.has(session))
        problems.add(`session ${session} is missing from the client index`);
    }
  }
  const indexed = new Set([...snapshot.sessions.values()].flat());
  for (const session of snapshot.clientSessions) {
    if (!indexed.has(session)) problems.add(`client index names missing session ${session}`);
  }
  for (const ino of snapshot.truncations.keys()) {
    if (snapshot.inodes.get(ino)?.type !== 'file')
      problems.add(`pending truncation of inode ${ino} belongs to no file`);
  }
  for (const ino of snapshot.xattrOwners) {
    if (!snapshot.inodes.has(ino)) problems.add(`extended attributes of missing inode ${ino}`);
  }
  for (const ino of snapshot.entryTimesOwners) {
    if (snapshot.inodes.get(ino)?.type !== 'directory')
      problems.add(`entry times of inode ${ino} belong to no directory`);
  }
}

function checkInodeCounts(snapshot: NamespaceSnapshot, problems: Problems): void {
  if (snapshot.inodeCounts === undefined) return;
  const actual = new Map<number, bigint>();
  for (const ino of snapshot.inodes.keys()) {
    const shard = inodeCountShard(ino);
    actual.set(shard, (actual.get(shard) ?? 0n) + 1n);
  }
  for (let shard = 0; shard < inodeCountShards; shard++) {
    const counted = snapshot.inodeCounts.get(shard) ?? 0n;
    const found = actual.get(shard) ?? 0n;
    if (counted !== found)
      problems.add(`inode count shard ${shard} says ${counted}, ${found} inodes are in it`);
  }
}
