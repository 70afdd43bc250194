/**
 * Typed access to the meta records inside one KV transaction. MetaReader reads (and caches
 * inodes, so every part of one operation sees the same, latest version of an inode); MetaWriter
 * adds the writes, each applied to the transaction at once and to the cache. Operations treat
 * inodes as immutable values: a change is `updateInode`, which always starts from the cached
 * latest version, so two references to one directory (a rename within one directory) cannot
 * diverge.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import { MetaCode } from '../../common/status-code.js';
import { keyAfter, type KvReadTransaction, type KvTransaction } from '../../kv/index.js';
import { ChangeSet } from '../change-log.js';
import type {
  DirectoryInode,
  GcEntry,
  Inode,
  InodeId,
  PendingTruncation,
  Session,
} from '../protocol/index.js';
import {
  inodeCountShard,
  inodeCountShards,
  inodeOfKey,
  keys,
  prefixRange,
  splitClientSessionKey,
  splitNamedKey,
  splitSessionKey,
  tags,
} from './keys.js';
import {
  clientSessionRecordSchema,
  entryRecordSchema,
  gcRecordSchema,
  entryTimesRecordSchema,
  inodeCountCompleteRecordSchema,
  inodeCountRecordSchema,
  inodeRecordSchema,
  orphanRecordSchema,
  sessionRecordSchema,
  truncationRecordSchema,
  xattrRecordSchema,
  type EntryRecord,
} from './records.js';
import { QuotaWriter } from './quota-records.js';

/** A directory entry with its name. */
export interface NamedEntry extends EntryRecord {
  name: string;
}

export class MetaReader {
  /** Inodes read or written by this transaction; null marks one known to be absent. */
  protected readonly cache = new Map<InodeId, Inode | null>();

  constructor(protected readonly tx: KvReadTransaction) {}

  /** The transaction, for record families kept in modules of their own (store/trash-records.ts). */
  get transaction(): KvReadTransaction {
    return this.tx;
  }

  /** The inode, or undefined when it does not exist. */
  async inode(ino: InodeId): Promise<Inode | undefined> {
    const cached = this.cache.get(ino);
    if (cached !== undefined) return cached ?? undefined;
    const bytes = await this.tx.get(keys.inode(ino));
    const inode = bytes === undefined ? null : decodeRecord(inodeRecordSchema, bytes, `inode ${ino}`).inode;
    assert(inode === null || inode.ino === ino, `inode record under key ${ino} names its own id`);
    this.cache.set(ino, inode);
    return inode ?? undefined;
  }

  /** The inode, or NotFound. */
  async requireInode(ino: InodeId): Promise<Inode> {
    const inode = await this.inode(ino);
    if (inode === undefined) throw new FsError(MetaCode.NotFound, `inode ${ino} does not exist`);
    return inode;
  }

  /**
   * `inode` as callers see it: a directory's mtime and ctime include the last change of its
   * entries (DTIM), which namespace changes record apart from the inode (see records.ts).
   */
  async presented<T extends Inode>(inode: T): Promise<T> {
    if (inode.type !== 'directory') return inode;
    const bytes = await this.tx.get(keys.entryTimes(inode.ino));
    if (bytes === undefined) return inode;
    const times = decodeRecord(entryTimesRecordSchema, bytes, `entry times of directory ${inode.ino}`);
    return {
      ...inode,
      mtimeNs: times.mtimeNs > inode.mtimeNs ? times.mtimeNs : inode.mtimeNs,
      ctimeNs: times.ctimeNs > inode.ctimeNs ? times.ctimeNs : inode.ctimeNs,
    };
  }

  /** The directory, or NotFound / NotDirectory. */
  async requireDirectory(ino: InodeId): Promise<DirectoryInode> {
    const inode = await this.requireInode(ino);
    if (inode.type !== 'directory')
      throw new FsError(MetaCode.NotDirectory, `inode ${ino} is not a directory`);
    return inode;
  }

  async entry(parent: InodeId, name: string): Promise<EntryRecord | undefined> {
    const bytes = await this.tx.get(keys.entry(parent, name));
    return bytes === undefined
      ? undefined
      : decodeRecord(entryRecordSchema, bytes, `entry ${parent}/${name}`);
  }

  /** Up to `limit` entries of `parent` in name-byte order, after `afterName` when given. */
  async listEntries(parent: InodeId, afterName: string | undefined, limit: number): Promise<NamedEntry[]> {
    assert(limit >= 1 && limit <= limits.kvRangeReadPairsMax, 'entry pages are bounded');
    const range = prefixRange(keys.entries(parent));
    const begin = afterName === undefined ? range.begin : keyAfter(keys.entry(parent, afterName));
    const pairs = await this.tx.getRange(begin, range.end, { limit });
    return pairs.map((pair) => {
      const { name } = splitNamedKey(pair.key);
      return { name, ...decodeRecord(entryRecordSchema, pair.value, `entry ${parent}/${name}`) };
    });
  }

  /** True when directory `parent` has any entry. */
  async hasEntries(parent: InodeId): Promise<boolean> {
    return (await this.listEntries(parent, undefined, 1)).length > 0;
  }

  /** Up to `limit` write sessions of file `ino`. */
  async sessions(ino: InodeId, limit: number): Promise<Session[]> {
    const range = prefixRange(keys.sessions(ino));
    const pairs = await this.tx.getRange(range.begin, range.end, { limit });
    return pairs.map((pair) => {
      decodeRecord(sessionRecordSchema, pair.value, `session of inode ${ino}`);
      const { clientId, sessionId } = splitSessionKey(pair.key);
      return { clientId, sessionId };
    });
  }

  /** Up to `limit` write sessions of client `clientId`, across files. */
  async clientSessions(clientId: string, limit: number): Promise<Array<{ ino: InodeId; session: Session }>> {
    const range = prefixRange(keys.clientSessions(clientId));
    const pairs = await this.tx.getRange(range.begin, range.end, { limit });
    return pairs.map((pair) => {
      decodeRecord(clientSessionRecordSchema, pair.value, `session index of client ${clientId}`);
      const { ino, sessionId } = splitClientSessionKey(pair.key);
      return { ino, session: { clientId, sessionId } };
    });
  }

  /** Up to `limit` GC queue entries with ids above `after`. */
  async gcEntries(after: InodeId | undefined, limit: number): Promise<GcEntry[]> {
    const range = prefixRange(tags.gc);
    const begin = after === undefined ? range.begin : keyAfter(keys.gc(after));
    const pairs = await this.tx.getRange(begin, range.end, { limit });
    return pairs.map((pair) => decodeRecord(gcRecordSchema, pair.value, 'GC queue entry').entry);
  }

  /** Up to `limit` pending truncations of files with ids above `after`. */
  async truncations(after: InodeId | undefined, limit: number): Promise<PendingTruncation[]> {
    const range = prefixRange(tags.truncation);
    const begin = after === undefined ? range.begin : keyAfter(keys.truncation(after));
    const pairs = await this.tx.getRange(begin, range.end, { limit });
    return pairs.map(
      (pair) => decodeRecord(truncationRecordSchema, pair.value, 'pending truncation').truncation,
    );
  }

  async hasSession(ino: InodeId, session: Session): Promise<boolean> {
    return (await this.tx.get(keys.session(ino, session.clientId, session.sessionId))) !== undefined;
  }

  async isOrphan(ino: InodeId): Promise<boolean> {
    const bytes = await this.tx.get(keys.orphan(ino));
    if (bytes !== undefined) decodeRecord(orphanRecordSchema, bytes, `orphan mark of inode ${ino}`);
    return bytes !== undefined;
  }

  async xattr(ino: InodeId, name: string): Promise<Uint8Array | undefined> {
    const bytes = await this.tx.get(keys.xattr(ino, name));
    return bytes === undefined
      ? undefined
      : decodeRecord(xattrRecordSchema, bytes, `xattr ${name} of inode ${ino}`).value;
  }

  /** Names of up to `limit` extended attributes of `ino`. */
  async xattrNames(ino: InodeId, limit: number): Promise<string[]> {
    const range = prefixRange(keys.xattrs(ino));
    const pairs = await this.tx.getRange(range.begin, range.end, { limit });
    return pairs.map((pair) => splitNamedKey(pair.key).name);
  }

  /**
   * Inodes in use (statfs), or undefined when the namespace predates inode counting and has not
   * been counted whole yet.
   */
  async inodesInUse(): Promise<bigint | undefined> {
    const complete = await this.tx.get(keys.inodeCountComplete());
    if (complete === undefined) return undefined;
    decodeRecord(inodeCountCompleteRecordSchema, complete, 'inode count mark');
    const range = prefixRange(tags.inodeCount);
    const shards = await this.tx.getRange(range.begin, range.end, { limit: inodeCountShards });
    let total = 0n;
    for (const shard of shards)
      total += decodeRecord(inodeCountRecordSchema, shard.value, 'inode count').count;
    return total;
  }

  async truncation(ino: InodeId): Promise<PendingTruncation | undefined> {
    const bytes = await this.tx.get(keys.truncation(ino));
    return bytes === undefined
      ? undefined
      : decodeRecord(truncationRecordSchema, bytes, `pending truncation of inode ${ino}`).truncation;
  }
}

export class MetaWriter extends MetaReader {
  /**
   * @param changes collects the entries and inodes this transaction changes, for the service's
   * change log (clients that cache metadata learn of them there).
   */
  constructor(
    private readonly writeTx: KvTransaction,
    readonly changes: ChangeSet = new ChangeSet(),
  ) {
    super(writeTx);
  }

  override get transaction(): KvTransaction {
    return this.writeTx;
  }

  /** Writes an inode (new or changed). */
  putInode(inode: Inode): void {
    this.writeTx.set(keys.inode(inode.ino), encodeRecord(inodeRecordSchema, { format: 1, inode }));
    this.cache.set(inode.ino, inode);
    this.changes.inode(inode.ino);
  }

  /**
   * Writes a new inode and counts it among the inodes in use, and against the directory quotas
   * it names (QuotaExceeded past a limit).
   */
  async createInode(inode: Inode): Promise<void> {
    this.putInode(inode);
    await this.countInode(inode.ino, 1n);
    await new QuotaWriter(this.writeTx).inodeCreated(inode, inode.ctimeNs);
  }

  /** Applies `change` to the latest version of inode `ino` and writes the result. */
  async updateInode<T extends Inode>(ino: InodeId, change: (inode: Inode) => T): Promise<T> {
    const before = await this.requireInode(ino);
    const updated = change(before);
    assert(updated.ino === ino, 'an update keeps the inode id');
    assert(updated.type === before.type, 'an update keeps the inode type');
    this.putInode(updated);
    return updated;
  }

  /**
   * Records that directory `ino`'s entries changed at `nowNs`, without reading anything: two
   * changes in one directory at once do not conflict (the later write wins, both being "now").
   */
  touchEntries(ino: InodeId, nowNs: bigint): void {
    this.changes.inode(ino);
    this.writeTx.set(
      keys.entryTimes(ino),
      encodeRecord(entryTimesRecordSchema, { format: 1, mtimeNs: nowNs, ctimeNs: nowNs }),
    );
  }

  /** Drops a directory's entry times: its inode's own times are set explicitly (utimes). */
  clearEntryTimes(ino: InodeId): void {
    this.changes.inode(ino);
    this.writeTx.clear(keys.entryTimes(ino));
  }

  /**
   * Deletes an inode with its extended attributes, entry times and trash setting, and counts it
   * out, of the inodes in use and of its quotas (sessions and queues are the caller's).
   */
  async deleteInode(ino: InodeId): Promise<void> {
    const inode = await this.inode(ino);
    this.changes.inode(ino);
    this.writeTx.clear(keys.inode(ino));
    this.writeTx.clear(keys.entryTimes(ino));
    this.writeTx.clear(keys.trashPolicy(ino));
    const xattrs = prefixRange(keys.xattrs(ino));
    this.writeTx.clearRange(xattrs.begin, xattrs.end);
    this.cache.set(ino, null);
    await this.countInode(ino, -1n);
    // Its usage leaves its quotas, and a directory's own quota goes with it.
    const quotas = new QuotaWriter(this.writeTx);
    if (inode !== undefined) await quotas.inodeDeleted(inode);
    if (inode?.type === 'directory') await quotas.directoryDeleted(ino);
  }

  /** Adds `delta` to the count shard of `ino`. */
  private async countInode(ino: InodeId, delta: 1n | -1n): Promise<void> {
    const key = keys.inodeCount(inodeCountShard(ino));
    const bytes = await this.writeTx.get(key);
    const count = bytes === undefined ? 0n : decodeRecord(inodeCountRecordSchema, bytes, 'inode count').count;
    // A namespace not counted whole yet holds inodes no shard counted: their removal stops at 0.
    const next = count + delta < 0n ? 0n : count + delta;
    this.writeTx.set(key, encodeRecord(inodeCountRecordSchema, { format: 1, count: next }));
  }

  /**
   * Counts every inode into the shards and marks the counts complete: for a namespace created
   * before inodes were counted. Reads every inode key, so it belongs to one transaction of its own.
   */
  async countAllInodes(nowNs: bigint): Promise<bigint> {
    const counts = new Array<bigint>(inodeCountShards).fill(0n);
    const range = prefixRange(tags.inode);
    let begin = range.begin;
    for (;;) {
      const page = await this.writeTx.getRange(begin, range.end, { limit: limits.kvRangeReadPairsMax });
      for (const pair of page) {
        const shard = inodeCountShard(inodeOfKey(pair.key));
        counts[shard] = (counts[shard] ?? 0n) + 1n;
      }
      const last = page[page.length - 1];
      if (page.length < limits.kvRangeReadPairsMax || last === undefined) break;
      begin = keyAfter(last.key);
    }
    for (const [shard, count] of counts.entries())
      this.writeTx.set(keys.inodeCount(shard), encodeRecord(inodeCountRecordSchema, { format: 1, count }));
    this.markInodeCountsComplete(nowNs);
    return counts.reduce((sum, count) => sum + count, 0n);
  }

  /** Marks the count shards as covering every inode (`countedAtNs` 0: counted since creation). */
  markInodeCountsComplete(countedAtNs: bigint): void {
    this.writeTx.set(
      keys.inodeCountComplete(),
      encodeRecord(inodeCountCompleteRecordSchema, { format: 1, countedAtNs }),
    );
  }

  putEntry(parent: InodeId, name: string, entry: { ino: InodeId; type: Inode['type'] }): void {
    this.changes.entry(parent, name);
    this.writeTx.set(
      keys.entry(parent, name),
      encodeRecord(entryRecordSchema, { format: 1, ino: entry.ino, type: entry.type }),
    );
  }

  deleteEntry(parent: InodeId, name: string): void {
    this.changes.entry(parent, name);
    this.writeTx.clear(keys.entry(parent, name));
  }

  putSession(ino: InodeId, session: Session, openedAtNs: bigint): void {
    this.writeTx.set(
      keys.session(ino, session.clientId, session.sessionId),
      encodeRecord(sessionRecordSchema, { format: 1, openedAtNs }),
    );
    this.writeTx.set(
      keys.clientSession(session.clientId, ino, session.sessionId),
      encodeRecord(clientSessionRecordSchema, { format: 1 }),
    );
  }

  deleteSession(ino: InodeId, session: Session): void {
    this.writeTx.clear(keys.session(ino, session.clientId, session.sessionId));
    this.writeTx.clear(keys.clientSession(session.clientId, ino, session.sessionId));
  }

  putOrphan(ino: InodeId, orphanedAtNs: bigint): void {
    this.writeTx.set(keys.orphan(ino), encodeRecord(orphanRecordSchema, { format: 1, orphanedAtNs }));
  }

  deleteOrphan(ino: InodeId): void {
    this.writeTx.clear(keys.orphan(ino));
  }

  /** Queues a removed file's chunks for deletion; a pending truncation of it is superseded. */
  queueGc(entry: GcEntry): void {
    this.writeTx.set(keys.gc(entry.ino), encodeRecord(gcRecordSchema, { format: 1, entry }));
    this.writeTx.clear(keys.truncation(entry.ino));
  }

  putTruncation(truncation: PendingTruncation): void {
    this.writeTx.set(
      keys.truncation(truncation.ino),
      encodeRecord(truncationRecordSchema, { format: 1, truncation }),
    );
  }

  putXattr(ino: InodeId, name: string, value: Uint8Array): void {
    this.changes.inode(ino);
    this.writeTx.set(keys.xattr(ino, name), encodeRecord(xattrRecordSchema, { format: 1, value }));
  }

  deleteXattr(ino: InodeId, name: string): void {
    this.changes.inode(ino);
    this.writeTx.clear(keys.xattr(ino, name));
  }
}
