/**
 * Where the trash lives in the namespace: the trash directory `/.trash` (inode 2, a fixed id,
 * owned by root, mode 0711 so users reach their own directory but list nobody's) and one directory
 * per user below it, `/.trash/<uid>` (owned by the user, mode 0700: they see their items through a
 * mount and nobody else does). Both are made by the first removal that needs them, in its own
 * transaction, so they are ordinary directories every invariant of the namespace covers.
 *
 * Also the walks a removal makes over its directory's ancestors, with snapshot reads (they join
 * no conflict set: a removal must not conflict with every mkdir above it): whether the directory
 * is inside the trash, the nearest trash setting, and the names that make the original path.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import { MetaCode } from '../../common/status-code.js';
import { keyAfter } from '../../kv/index.js';
import { addSubdirectoryLink, touchDirectory } from '../ops/links.js';
import type { OpContext } from '../ops/context.js';
import {
  rootInodeId,
  trashRootInodeId,
  trashRootName,
  type DirectoryInode,
  type Inode,
  type InodeId,
} from '../protocol/index.js';
import { firstAllocatedInodeId } from '../store/inode-alloc.js';
import { keys, prefixRange, splitNamedKey } from '../store/keys.js';
import type { MetaReader, MetaWriter } from '../store/meta-store.js';
import { entryRecordSchema, inodeCounterRecordSchema, inodeRecordSchema } from '../store/records.js';
import { TrashReader } from '../store/trash-records.js';

/** The trash directory's mode: search for everyone (to reach their own directory), list for root. */
const trashRootMode = 0o711;
/** A user's trash directory's mode: the user's alone. */
const userTrashMode = 0o700;

/** The name of user `uid`'s directory in the trash directory. */
export function userTrashName(uid: number): string {
  return String(uid);
}

/** User `uid`'s trash directory, or undefined while it does not exist. */
export async function findUserTrash(reader: MetaReader, uid: number): Promise<DirectoryInode | undefined> {
  const entry = await reader.entry(trashRootInodeId, userTrashName(uid));
  if (entry === undefined || entry.type !== 'directory') return undefined;
  const inode = await reader.inode(entry.ino);
  return inode?.type === 'directory' ? inode : undefined;
}

/** The caller's trash directory, made (with the trash directory) when missing. */
export async function ensureUserTrash(writer: MetaWriter, ctx: OpContext): Promise<DirectoryInode> {
  const trashRoot = await ensureTrashRoot(writer, ctx);
  const name = userTrashName(ctx.cred.uid);
  const entry = await writer.entry(trashRoot.ino, name);
  if (entry !== undefined) {
    const existing = await writer.requireInode(entry.ino);
    if (existing.type !== 'directory') {
      throw new FsError(MetaCode.Exists, `/${trashRootName}/${name} exists and is not a directory`);
    }
    return existing;
  }
  const directory: DirectoryInode = {
    type: 'directory',
    ino: await takeInodeId(writer),
    mode: userTrashMode,
    uid: ctx.cred.uid,
    gid: ctx.cred.gid,
    nlink: 2,
    atimeNs: ctx.nowNs,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
    parent: trashRoot.ino,
    layout: trashRoot.layout,
  };
  await writer.createInode(directory);
  writer.putEntry(trashRoot.ino, name, directory);
  await addSubdirectoryLink(writer, trashRoot.ino, 1);
  await touchDirectory(writer, trashRoot.ino, ctx.nowNs);
  return directory;
}

async function ensureTrashRoot(writer: MetaWriter, ctx: OpContext): Promise<DirectoryInode> {
  const existing = await writer.inode(trashRootInodeId);
  if (existing !== undefined) {
    assert(existing.type === 'directory', 'inode 2 is the trash directory');
    return existing;
  }
  if ((await writer.entry(rootInodeId, trashRootName)) !== undefined) {
    throw new FsError(
      MetaCode.Exists,
      `/${trashRootName} exists and is not the trash directory (inode ${trashRootInodeId}): rename it to use the trash`,
    );
  }
  const root = await writer.requireDirectory(rootInodeId);
  const trashRoot: DirectoryInode = {
    type: 'directory',
    ino: trashRootInodeId,
    mode: trashRootMode,
    uid: 0,
    gid: 0,
    nlink: 2,
    atimeNs: ctx.nowNs,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
    parent: rootInodeId,
    layout: root.layout,
  };
  await writer.createInode(trashRoot);
  writer.putEntry(rootInodeId, trashRootName, trashRoot);
  await addSubdirectoryLink(writer, rootInodeId, 1);
  await touchDirectory(writer, rootInodeId, ctx.nowNs);
  return trashRoot;
}

/**
 * An inode id taken from the shared counter inside this transaction. A user's trash directory is
 * made once per user, within a removal that reserved no ids (reserving them for every removal
 * would reorder the ids creates get); the counter's read makes a concurrent batch refill and this
 * conflict, so no id is handed out twice.
 */
async function takeInodeId(writer: MetaWriter): Promise<InodeId> {
  const tx = writer.transaction;
  const bytes = await tx.get(keys.inodeCounter());
  const next =
    bytes === undefined
      ? firstAllocatedInodeId
      : decodeRecord(inodeCounterRecordSchema, bytes, 'inode id counter').next;
  assert(next >= firstAllocatedInodeId, 'the inode id counter never falls below the fixed ids');
  tx.set(keys.inodeCounter(), encodeRecord(inodeCounterRecordSchema, { format: 1, next: next + 1n }));
  return next;
}

/** Where a directory stands, as a removal from it needs to know. */
export interface Place {
  /** The directory and its ancestors, nearest first, up to the root when `complete`. */
  chain: DirectoryInode[];
  complete: boolean;
  /** The directory is the trash directory or lies below it. */
  insideTrash: boolean;
  /** The nearest trash setting on the chain, when removals look for one. */
  policyExpireS: number | undefined;
  /** The directory holding that setting. */
  policyFrom: InodeId | undefined;
}

/**
 * Walks from `directory` up to the root with snapshot reads. A concurrent rename may make the
 * chain stale; what it decides (trash or not, the path shown) is then as of a moment ago.
 */
export async function placeOf(
  reader: MetaReader,
  directory: DirectoryInode,
  options: { policies: boolean },
): Promise<Place> {
  const records = new TrashReader(reader.transaction);
  const place: Place = {
    chain: [],
    complete: false,
    insideTrash: false,
    policyExpireS: undefined,
    policyFrom: undefined,
  };
  let current: DirectoryInode | undefined = directory;
  for (let depth = 0; current !== undefined && depth < limits.metaDirectoryDepthMax; depth++) {
    place.chain.push(current);
    if (current.ino === trashRootInodeId) place.insideTrash = true;
    if (options.policies && place.policyExpireS === undefined) {
      const expireS = await records.policy(current.ino);
      if (expireS !== undefined) {
        place.policyExpireS = expireS;
        place.policyFrom = current.ino;
      }
    }
    if (current.ino === rootInodeId) {
      place.complete = true;
      break;
    }
    current = await snapshotDirectory(reader, current.parent);
  }
  return place;
}

async function snapshotDirectory(reader: MetaReader, ino: InodeId): Promise<DirectoryInode | undefined> {
  const bytes = await reader.transaction.snapshot.get(keys.inode(ino));
  if (bytes === undefined) return undefined;
  const inode = decodeRecord(inodeRecordSchema, bytes, `inode ${ino}`).inode;
  return inode.type === 'directory' ? inode : undefined;
}

/**
 * The path of the chain's first directory (a complete chain from `placeOf`), or null when a name
 * was not found within metaTrashPathEntriesScannedMax entries. A directory's name is only in its
 * parent's entries, so each is looked for there, with snapshot reads.
 */
export async function pathOfChain(reader: MetaReader, place: Place): Promise<string | null> {
  if (!place.complete) return null;
  const names: string[] = [];
  const budget = { entries: limits.metaTrashPathEntriesScannedMax };
  for (let index = 0; index + 1 < place.chain.length; index++) {
    const child = place.chain[index] as DirectoryInode;
    const parent = place.chain[index + 1] as DirectoryInode;
    const name = await nameIn(reader, parent.ino, child.ino, budget);
    if (name === undefined) return null;
    names.push(name);
  }
  return `/${names.reverse().join('/')}`;
}

/** `path` joined with a name. */
export function childPath(path: string | null, name: string): string | null {
  if (path === null) return null;
  return path === '/' ? `/${name}` : `${path}/${name}`;
}

async function nameIn(
  reader: MetaReader,
  parent: InodeId,
  child: InodeId,
  budget: { entries: number },
): Promise<string | undefined> {
  const range = prefixRange(keys.entries(parent));
  let begin = range.begin;
  while (budget.entries > 0) {
    const limit = Math.min(budget.entries, limits.metaReaddirPageMax);
    const page = await reader.transaction.snapshot.getRange(begin, range.end, { limit });
    budget.entries -= page.length;
    for (const pair of page) {
      const record = decodeRecord(entryRecordSchema, pair.value, 'directory entry');
      if (record.ino === child) return splitNamedKey(pair.key).name;
    }
    const last = page[page.length - 1];
    if (last === undefined || page.length < limit) return undefined;
    begin = keyAfter(last.key);
  }
  return undefined;
}

/** Whether `directory` is the trash directory or lies below it (reads join the conflict set). */
export async function isInTrash(reader: MetaReader, directory: DirectoryInode): Promise<boolean> {
  let current: Inode = directory;
  for (let depth = 0; depth < limits.metaDirectoryDepthMax; depth++) {
    if (current.ino === trashRootInodeId) return true;
    if (current.ino === rootInodeId || current.type !== 'directory') return false;
    current = await reader.requireDirectory(current.parent);
  }
  throw new FsError(
    MetaCode.InvalidArgument,
    `directory ${directory.ino} is more than ${limits.metaDirectoryDepthMax} levels deep`,
  );
}

/**
 * What a directory tree holds, counted with snapshot reads up to metaRecursiveRemoveInodesMax
 * inodes (undefined beyond): for an item's size in listings, never for a decision.
 */
export async function countTree(
  reader: MetaReader,
  top: DirectoryInode,
): Promise<{ bytes: bigint; inodes: number } | undefined> {
  const snapshot = reader.transaction.snapshot;
  const queue: InodeId[] = [top.ino];
  const count = { bytes: 0n, inodes: 1 };
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const range = prefixRange(keys.entries(next));
    let begin = range.begin;
    for (;;) {
      const page = await snapshot.getRange(begin, range.end, { limit: limits.metaReaddirPageMax });
      count.inodes += page.length;
      if (count.inodes > limits.metaRecursiveRemoveInodesMax) return undefined;
      for (const pair of page) {
        const record = decodeRecord(entryRecordSchema, pair.value, 'directory entry');
        if (record.type === 'directory') queue.push(record.ino);
        else if (record.type === 'file') count.bytes += await snapshotLength(reader, record.ino);
      }
      const last = page[page.length - 1];
      if (last === undefined || page.length < limits.metaReaddirPageMax) break;
      begin = keyAfter(last.key);
    }
  }
  return count;
}

async function snapshotLength(reader: MetaReader, ino: InodeId): Promise<bigint> {
  const bytes = await reader.transaction.snapshot.get(keys.inode(ino));
  if (bytes === undefined) return 0n;
  const inode = decodeRecord(inodeRecordSchema, bytes, `inode ${ino}`).inode;
  return inode.type === 'file' ? inode.length : 0n;
}
