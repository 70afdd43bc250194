/**
 * Reads every meta record of the namespace from one read transaction into memory, for the
 * invariant checker. Records that fail to decode are reported, not thrown, so one bad record
 * does not hide the rest. Reading in pages keeps each range read within the engine's bound; the
 * snapshot as a whole is for test-sized and repair-sized namespaces (the KV's 5-second
 * transaction limit bounds it).
 */
import { describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { decodeRecord } from '../../common/record-codec.js';
import { keyAfter, type KeyValue, type KvReadTransaction } from '../../kv/index.js';
import type { GcEntry, Inode, InodeId, InodeType, PendingTruncation } from '../protocol/index.js';
import {
  clientSessionKeyText,
  inodeOfKey,
  keys,
  prefixRange,
  queuedInodeOfKey,
  splitClientSessionKey,
  splitNamedKey,
  splitSessionKey,
  tags,
} from '../store/keys.js';
import {
  entryRecordSchema,
  entryTimesRecordSchema,
  gcRecordSchema,
  inodeCountCompleteRecordSchema,
  inodeCountRecordSchema,
  inodeCounterRecordSchema,
  inodeRecordSchema,
  truncationRecordSchema,
} from '../store/records.js';

export interface SnapshotEntry {
  parent: InodeId;
  name: string;
  ino: InodeId;
  type: InodeType;
}

export interface NamespaceSnapshot {
  inodes: Map<InodeId, Inode>;
  entries: SnapshotEntry[];
  /** Sessions by file, as "clientId/ino/sessionId" texts. */
  sessions: Map<InodeId, string[]>;
  clientSessions: Set<string>;
  orphans: Set<InodeId>;
  gc: Map<InodeId, GcEntry>;
  truncations: Map<InodeId, PendingTruncation>;
  xattrOwners: Set<InodeId>;
  /** Directories with entry times (DTIM). */
  entryTimesOwners: Set<InodeId>;
  nextInodeId: InodeId | undefined;
  /** Inodes in use by count shard, when the counts are marked complete (ICOK); else undefined. */
  inodeCounts: Map<number, bigint> | undefined;
  /** Records that did not decode. */
  unreadable: string[];
}

async function readAll(tx: KvReadTransaction, prefix: Buffer): Promise<KeyValue[]> {
  const range = prefixRange(prefix);
  const pairs: KeyValue[] = [];
  let begin = range.begin;
  for (;;) {
    const page = await tx.getRange(begin, range.end, { limit: limits.kvRangeReadPairsMax });
    pairs.push(...page);
    const last = page[page.length - 1];
    if (page.length < limits.kvRangeReadPairsMax || last === undefined) return pairs;
    begin = keyAfter(last.key);
  }
}

/** Calls `read` for each pair, collecting decode failures instead of throwing. */
function each(pairs: KeyValue[], unreadable: string[], read: (pair: KeyValue) => void): void {
  for (const pair of pairs) {
    try {
      read(pair);
    } catch (error) {
      unreadable.push(describeError(error));
    }
  }
}

export async function readSnapshot(tx: KvReadTransaction): Promise<NamespaceSnapshot> {
  const snapshot: NamespaceSnapshot = {
    inodes: new Map(),
    entries: [],
    sessions: new Map(),
    clientSessions: new Set(),
    orphans: new Set(),
    gc: new Map(),
    truncations: new Map(),
    xattrOwners: new Set(),
    entryTimesOwners: new Set(),
    nextInodeId: undefined,
    inodeCounts: undefined,
    unreadable: [],
  };
  const { unreadable } = snapshot;
  each(await readAll(tx, tags.inode), unreadable, (pair) => {
    const ino = inodeOfKey(pair.key);
    const inode = decodeRecord(inodeRecordSchema, pair.value, `inode ${ino}`).inode;
    if (inode.ino !== ino) unreadable.push(`inode record under key ${ino} names inode ${inode.ino}`);
    else snapshot.inodes.set(ino, inode);
  });
  each(await readAll(tx, tags.entry), unreadable, (pair) => {
    const { owner, name } = splitNamedKey(pair.key);
    const record = decodeRecord(entryRecordSchema, pair.value, `entry ${owner}/${name}`);
    snapshot.entries.push({ parent: owner, name, ino: record.ino, type: record.type });
  });
  each(await readAll(tx, tags.session), unreadable, (pair) => {
    const { ino, clientId, sessionId } = splitSessionKey(pair.key);
    const list = snapshot.sessions.get(ino) ?? [];
    list.push(clientSessionKeyText(clientId, ino, sessionId));
    snapshot.sessions.set(ino, list);
  });
  each(await readAll(tx, tags.clientSession), unreadable, (pair) => {
    const { clientId, ino, sessionId } = splitClientSessionKey(pair.key);
    snapshot.clientSessions.add(clientSessionKeyText(clientId, ino, sessionId));
  });
  each(await readAll(tx, tags.orphan), unreadable, (pair) => snapshot.orphans.add(inodeOfKey(pair.key)));
  each(await readAll(tx, tags.gc), unreadable, (pair) => {
    snapshot.gc.set(queuedInodeOfKey(pair.key), decodeRecord(gcRecordSchema, pair.value, 'GC entry').entry);
  });
  each(await readAll(tx, tags.truncation), unreadable, (pair) => {
    const truncation = decodeRecord(truncationRecordSchema, pair.value, 'pending truncation').truncation;
    snapshot.truncations.set(queuedInodeOfKey(pair.key), truncation);
  });
  each(await readAll(tx, tags.xattr), unreadable, (pair) =>
    snapshot.xattrOwners.add(splitNamedKey(pair.key).owner),
  );
  each(await readAll(tx, tags.entryTimes), unreadable, (pair) => {
    const ino = inodeOfKey(pair.key);
    decodeRecord(entryTimesRecordSchema, pair.value, `entry times of directory ${ino}`);
    snapshot.entryTimesOwners.add(ino);
  });
  const counter = await tx.get(keys.inodeCounter());
  if (counter !== undefined) {
    snapshot.nextInodeId = decodeRecord(inodeCounterRecordSchema, counter, 'inode id counter').next;
  }
  await readInodeCounts(tx, snapshot);
  return snapshot;
}

async function readInodeCounts(tx: KvReadTransaction, snapshot: NamespaceSnapshot): Promise<void> {
  const complete = await tx.get(keys.inodeCountComplete());
  if (complete === undefined) return;
  const counts = new Map<number, bigint>();
  each([{ key: keys.inodeCountComplete(), value: complete }], snapshot.unreadable, (pair) => {
    decodeRecord(inodeCountCompleteRecordSchema, pair.value, 'inode count mark');
    snapshot.inodeCounts = counts;
  });
  each(await readAll(tx, tags.inodeCount), snapshot.unreadable, (pair) => {
    const shard = pair.key.readUInt8(pair.key.length - 1);
    counts.set(shard, decodeRecord(inodeCountRecordSchema, pair.value, `inode count shard ${shard}`).count);
  });
}
