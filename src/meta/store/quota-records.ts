/**
 * Directory quotas in the KV (keys.ts: QDIR, QLIM, QUSE, QGNT, QSCN) and the ledger every change
 * of usage goes through, inside the transaction of the change itself. Invariants:
 *  - An inode is counted in quota q exactly when q is among its `quotas` and q exists: the id is
 *    added to the inode in the transaction that counts it (a create, a rename into q's tree, the
 *    count of a new quota) and usage leaves with the inode, or when a rename takes the id away.
 *  - A quota's usage is the sum of its shards; each change adds to one shard, chosen by the
 *    changing inode's id as the inode counts are (keys.inodeCountShard), so changes of different
 *    inodes rarely conflict and no key is written by every change.
 *  - A file's reserved bytes are its grant past its length (quota-rules.ts inodeUsage): every
 *    change of its length, grant or quotas moves the difference, so reservations never leak.
 *  - Quota records are read joining the conflict set (a removal or limit change races nothing);
 *    usage is read from a snapshot far from a limit and exactly near one (quota-rules.ts).
 */
import { z } from 'zod';
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import { MetaCode } from '../../common/status-code.js';
import { keyAfter, type KvReadTransaction, type KvTransaction } from '../../kv/index.js';
import {
  addUsage,
  inodeUsage,
  isZeroUsage,
  judgeIncrease,
  negateUsage,
  trackSoftLimits,
  zeroUsage,
} from '../quota/quota-rules.js';
import {
  inodeIdSchema,
  quotaStateSchema,
  type DirectoryInode,
  type FileInode,
  type Inode,
  type InodeId,
  type QuotaState,
  type QuotaUsage,
} from '../protocol/index.js';
import {
  countDirectoryOfKey,
  inodeCountShard,
  inodeCountShards,
  keys,
  prefixRange,
  quotaOfKey,
  tags,
} from './keys.js';

const format1 = z.literal(1);
const count = z.bigint().min(0n);

/** QDIR: the quota set on a directory. */
export const quotaDirectoryRecordSchema = z.strictObject({ format: format1, quotaId: inodeIdSchema });

/** QLIM: one quota (its id repeated, so a record can be checked against its key). */
export const quotaRecordSchema = z.strictObject({ format: format1, quota: quotaStateSchema });

/** QUSE: one shard of a quota's usage. */
export const quotaUsageRecordSchema = z.strictObject({
  format: format1,
  inodes: count,
  bytes: count,
  reservedBytes: count,
});

/** QGNT: the length a file's writers may make it without asking again. */
export const quotaGrantRecordSchema = z.strictObject({ format: format1, ceilingBytes: count });

/** QSCN: a directory a new quota's count visits next, from after entry `after` when given. */
export const quotaCountRecordSchema = z.strictObject({ format: format1, after: z.string().optional() });

export class QuotaReader {
  constructor(protected readonly tx: KvReadTransaction) {}

  /** The id of directory `ino`'s own quota, or undefined. */
  async quotaIdOf(ino: InodeId): Promise<InodeId | undefined> {
    const bytes = await this.tx.get(keys.quotaDirectory(ino));
    return bytes === undefined
      ? undefined
      : decodeRecord(quotaDirectoryRecordSchema, bytes, `quota of directory ${ino}`).quotaId;
  }

  /** Quota `quotaId`, or undefined when it does not exist (never did, or was removed). */
  async quota(quotaId: InodeId): Promise<QuotaState | undefined> {
    const bytes = await this.tx.get(keys.quota(quotaId));
    if (bytes === undefined) return undefined;
    const { quota } = decodeRecord(quotaRecordSchema, bytes, `quota ${quotaId}`);
    assert(quota.quotaId === quotaId, `quota record under key ${quotaId} names its own id`);
    return quota;
  }

  /** The quotas among `ids` that exist, in the order given. */
  async live(ids: readonly InodeId[] | undefined): Promise<QuotaState[]> {
    const found: QuotaState[] = [];
    for (const id of ids ?? []) {
      const quota = await this.quota(id);
      if (quota !== undefined) found.push(quota);
    }
    return found;
  }

  /**
   * The quotas what is made in `directory` counts against: those counting the directory and its
   * own. One read (QDIR) when the directory counts against none, as in a cluster without quotas.
   */
  async forChildrenOf(directory: DirectoryInode): Promise<QuotaState[]> {
    const inherited = await this.live(directory.quotas);
    const ownId = await this.quotaIdOf(directory.ino);
    const own = ownId === undefined ? undefined : await this.quota(ownId);
    return own === undefined ? inherited : [...inherited, own];
  }

  /** Quota `quotaId`'s usage: from a snapshot, or `exact`, joining the conflict set. */
  async usage(quotaId: InodeId, options: { exact: boolean }): Promise<QuotaUsage> {
    const range = prefixRange(keys.quotaUsages(quotaId));
    const reader = options.exact ? this.tx : this.tx.snapshot;
    const shards = await reader.getRange(range.begin, range.end, { limit: inodeCountShards });
    let total = zeroUsage;
    for (const shard of shards) {
      const { format: _format, ...usage } = decodeRecord(quotaUsageRecordSchema, shard.value, 'quota usage');
      total = addUsage(total, usage);
    }
    return total;
  }

  /** The length file `ino`'s writers may reach without asking, or undefined without a grant. */
  async grant(ino: InodeId): Promise<bigint | undefined> {
    const bytes = await this.tx.get(keys.quotaGrant(ino));
    return bytes === undefined
      ? undefined
      : decodeRecord(quotaGrantRecordSchema, bytes, `quota grant of file ${ino}`).ceilingBytes;
  }

  /** Up to `limit` quotas with ids above `after`, in id order. */
  async quotas(after: InodeId | undefined, limit: number): Promise<QuotaState[]> {
    assert(limit >= 1 && limit <= limits.kvRangeReadPairsMax, 'quota pages are bounded');
    const range = prefixRange(tags.quota);
    const begin = after === undefined ? range.begin : keyAfter(keys.quota(after));
    const pairs = await this.tx.getRange(begin, range.end, { limit });
    return pairs.map((pair) => {
      const { quota } = decodeRecord(quotaRecordSchema, pair.value, 'quota');
      assert(quota.quotaId === quotaOfKey(pair.key), 'a quota record names its own id');
      return quota;
    });
  }

  /** The next directory quota `quotaId`'s count visits, or undefined when it has visited all. */
  async nextCountDirectory(quotaId: InodeId): Promise<{ directory: InodeId; after?: string } | undefined> {
    const range = prefixRange(keys.quotaCounts(quotaId));
    const [pair] = await this.tx.getRange(range.begin, range.end, { limit: 1 });
    if (pair === undefined) return undefined;
    const record = decodeRecord(quotaCountRecordSchema, pair.value, `count of quota ${quotaId}`);
    const directory = countDirectoryOfKey(pair.key);
    return record.after === undefined ? { directory } : { directory, after: record.after };
  }
}

export class QuotaWriter extends QuotaReader {
  constructor(private readonly writeTx: KvTransaction) {
    super(writeTx);
  }

  /** Adds `delta` to each quota's shard of inode `ino`, with no limit checked (decreases, reports). */
  async add(quotas: readonly QuotaState[], ino: InodeId, delta: QuotaUsage): Promise<void> {
    if (isZeroUsage(delta)) return;
    for (const quota of quotas) await this.addToShard(quota.quotaId, inodeCountShard(ino), delta);
  }

  /**
   * Adds `delta` to each quota's shard of inode `ino` after checking that its increases fit the
   * limits at `nowNs` (QuotaExceeded otherwise), and brings soft-limit times up to date.
   */
  async charge(quotas: readonly QuotaState[], ino: InodeId, delta: QuotaUsage, nowNs: bigint): Promise<void> {
    if (isZeroUsage(delta)) return;
    for (const quota of quotas) {
      if (delta.inodes > 0n || delta.bytes + delta.reservedBytes > 0n)
        await this.checkRoom(quota, delta, nowNs);
      await this.addToShard(quota.quotaId, inodeCountShard(ino), delta);
    }
  }

  /** QuotaExceeded unless usage plus `delta` fits `quota` (see quota-rules.ts judgeIncrease). */
  private async checkRoom(quota: QuotaState, delta: QuotaUsage, nowNs: bigint): Promise<void> {
    let after = addUsage(await this.usage(quota.quotaId, { exact: false }), delta);
    let verdict = judgeIncrease(quota, { after, delta, nowNs, exact: false });
    if (verdict === 'near') {
      after = addUsage(await this.usage(quota.quotaId, { exact: true }), delta);
      verdict = judgeIncrease(quota, { after, delta, nowNs, exact: true });
    }
    if (verdict === 'exceeds') {
      const bytes = delta.bytes + delta.reservedBytes;
      throw new FsError(
        MetaCode.QuotaExceeded,
        `the quota of directory ${quota.directory} has no room for ${delta.inodes} more inodes and ${bytes} more bytes`,
      );
    }
    this.noteSoftLimits(quota, after, nowNs);
  }

  /** Records when usage went over (or back under) a soft limit, as seen by an increase. */
  noteSoftLimits(quota: QuotaState, after: QuotaUsage, nowNs: bigint): void {
    const updated = trackSoftLimits(quota, after, nowNs);
    if (updated !== undefined) this.putQuota(updated);
  }

  /** Adds `delta` to shard `shard` of quota `quotaId` (the count adds many inodes at once). */
  async addToShard(quotaId: InodeId, shard: number, delta: QuotaUsage): Promise<void> {
    const key = keys.quotaUsage(quotaId, shard);
    const bytes = await this.writeTx.get(key);
    const before =
      bytes === undefined
        ? zeroUsage
        : (({ format: _format, ...usage }) => usage)(
            decodeRecord(quotaUsageRecordSchema, bytes, `usage of quota ${quotaId}`),
          );
    const after = addUsage(before, delta);
    // Only what a shard counted leaves it (see the file comment): below zero is a broken invariant.
    assert(after.inodes >= 0n, `quota ${quotaId} shard ${shard} counts no fewer than 0 inodes`);
    assert(after.bytes >= 0n, `quota ${quotaId} shard ${shard} counts no fewer than 0 bytes`);
    assert(after.reservedBytes >= 0n, `quota ${quotaId} shard ${shard} reserves no fewer than 0 bytes`);
    if (isZeroUsage(after)) this.writeTx.clear(key);
    else this.writeTx.set(key, encodeRecord(quotaUsageRecordSchema, { format: 1, ...after }));
  }

  /** Counts a new inode (created with its `quotas`) against its quotas, refusing past a limit. */
  async inodeCreated(inode: Inode, nowNs: bigint): Promise<void> {
    if ((inode.quotas?.length ?? 0) === 0) return;
    const file = inode.type === 'file' ? { length: inode.length, ceilingBytes: undefined } : undefined;
    await this.charge(await this.live(inode.quotas), inode.ino, inodeUsage(file), nowNs);
  }

  /** Takes a deleted inode's usage (and a file's grant) out of its quotas. */
  async inodeDeleted(inode: Inode): Promise<void> {
    if ((inode.quotas?.length ?? 0) > 0) {
      const usage = await this.usageOfInode(inode);
      await this.add(await this.live(inode.quotas), inode.ino, negateUsage(usage));
    }
    if (inode.type === 'file') this.dropGrant(inode.ino);
  }

  /** What inode `inode` holds against its quotas now (its grant read for a file). */
  async usageOfInode(inode: Inode): Promise<QuotaUsage> {
    if (inode.type !== 'file') return inodeUsage(undefined);
    return inodeUsage({ length: inode.length, ceilingBytes: await this.grant(inode.ino) });
  }

  /**
   * Moves usage for a change of file `before`'s length (to `length`) or grant (to `ceilingBytes`,
   * null to drop it). With `check`, an increase must fit the limits at `nowNs`. Free (no read)
   * for a file no quota counts: such a file has no grant (quotaGrant answers it has no limit).
   */
  async fileChanged(
    before: FileInode,
    change: { length?: bigint; ceilingBytes?: bigint | null },
    options: { check: boolean; nowNs: bigint },
  ): Promise<void> {
    if ((before.quotas?.length ?? 0) === 0) return;
    const ceilingBefore = await this.grant(before.ino);
    if (change.ceilingBytes === null && ceilingBefore !== undefined)
      this.writeTx.clear(keys.quotaGrant(before.ino));
    else if (change.ceilingBytes !== undefined && change.ceilingBytes !== null)
      this.putGrant(before.ino, change.ceilingBytes);
    const ceilingAfter =
      change.ceilingBytes === undefined ? ceilingBefore : (change.ceilingBytes ?? undefined);
    const delta = addUsage(
      inodeUsage({ length: change.length ?? before.length, ceilingBytes: ceilingAfter }),
      negateUsage(inodeUsage({ length: before.length, ceilingBytes: ceilingBefore })),
    );
    if (isZeroUsage(delta)) return;
    const quotas = await this.live(before.quotas);
    if (options.check) await this.charge(quotas, before.ino, delta, options.nowNs);
    else await this.add(quotas, before.ino, delta);
  }

  /** Forgets file `ino`'s grant without moving usage (the file leaves every quota, which took it along). */
  dropGrant(ino: InodeId): void {
    this.writeTx.clear(keys.quotaGrant(ino));
  }

  putGrant(ino: InodeId, ceilingBytes: bigint): void {
    this.writeTx.set(keys.quotaGrant(ino), encodeRecord(quotaGrantRecordSchema, { format: 1, ceilingBytes }));
  }

  putQuota(quota: QuotaState): void {
    this.writeTx.set(keys.quota(quota.quotaId), encodeRecord(quotaRecordSchema, { format: 1, quota }));
  }

  putQuotaDirectory(directory: InodeId, quotaId: InodeId): void {
    this.writeTx.set(
      keys.quotaDirectory(directory),
      encodeRecord(quotaDirectoryRecordSchema, { format: 1, quotaId }),
    );
  }

  /** Removes quota `quota` whole: its record, its directory's mark, its usage and its count. */
  deleteQuota(quota: QuotaState): void {
    this.writeTx.clear(keys.quotaDirectory(quota.directory));
    this.writeTx.clear(keys.quota(quota.quotaId));
    const usage = prefixRange(keys.quotaUsages(quota.quotaId));
    this.writeTx.clearRange(usage.begin, usage.end);
    const counts = prefixRange(keys.quotaCounts(quota.quotaId));
    this.writeTx.clearRange(counts.begin, counts.end);
  }

  /** Removes the quota set on directory `ino`, if any (the directory is being deleted). */
  async directoryDeleted(ino: InodeId): Promise<void> {
    const quotaId = await this.quotaIdOf(ino);
    if (quotaId === undefined) return;
    const quota = await this.quota(quotaId);
    assert(quota !== undefined, `the quota of directory ${ino} exists`);
    this.deleteQuota(quota);
  }

  putCountDirectory(quotaId: InodeId, directory: InodeId, after: string | undefined): void {
    this.writeTx.set(
      keys.quotaCount(quotaId, directory),
      encodeRecord(quotaCountRecordSchema, after === undefined ? { format: 1 } : { format: 1, after }),
    );
  }

  deleteCountDirectory(quotaId: InodeId, directory: InodeId): void {
    this.writeTx.clear(keys.quotaCount(quotaId, directory));
  }
}
