/**
 * The trash's records in the KV (keys.ts: TRIT, TREX, TRDP, TRPF). An item's record (TRIT) and
 * its expiry index entry (TREX) are written and cleared together, in the transaction that moves
 * the item's entry into or out of the trash, so the index never names an item that is not kept
 * and the cleaner finds expired items by one range read in expiry order.
 *
 * An item's record describes its entry in the trash only while that entry names the recorded
 * inode: a user may move or remove entries of their trash directory by hand through a mount, and
 * every reader checks that before acting on a record (meta/trash/trash-dirs.ts).
 */
import { z } from 'zod';
import { assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import { keyAfter, type KvReadTransaction, type KvTransaction } from '../../kv/index.js';
import {
  trashItemFieldsSchema,
  type InodeId,
  type TrashItem,
  type TrashItemFields,
  type TrashItemKey,
} from '../protocol/index.js';
import { keys, prefixRange, splitTrashExpiryKey, splitTrashItemKey, tags } from './keys.js';

const format1 = z.literal(1);

/** TRIT: what meta keeps of one item of a user's trash. */
export const trashItemRecordSchema = z.strictObject({ format: format1, item: trashItemFieldsSchema });

/** TREX: an item's place in the expiry order (all its fields are in the key). */
export const trashExpiryRecordSchema = z.strictObject({ format: format1 });

/** TRDP: a directory's trash setting: seconds in the trash for removals below it, 0 for none. */
export const trashPolicyRecordSchema = z.strictObject({
  format: format1,
  expireS: z.number().int().min(0).max(limits.trashExpireSMax),
});

/** TRPF: some directory has had a trash setting, so removals look for one. */
export const trashPoliciesRecordSchema = z.strictObject({ format: format1 });

export class TrashReader {
  constructor(protected readonly tx: KvReadTransaction) {}

  /** The record of item `key`, or undefined. */
  async item(key: TrashItemKey): Promise<TrashItemFields | undefined> {
    const bytes = await this.tx.get(keys.trashItem(key.uid, key.name));
    return bytes === undefined
      ? undefined
      : decodeRecord(trashItemRecordSchema, bytes, `trash item ${key.uid}/${key.name}`).item;
  }

  /** Up to `limit` items in key order after `after`: of user `uid`, or of every user. */
  async items(options: { uid?: number; after?: TrashItemKey; limit: number }): Promise<TrashItem[]> {
    assert(options.limit >= 1 && options.limit <= limits.kvRangeReadPairsMax, 'item pages are bounded');
    const range = prefixRange(options.uid === undefined ? tags.trashItem : keys.trashItems(options.uid));
    const after = options.after;
    let begin = range.begin;
    if (after !== undefined) {
      const next = keyAfter(keys.trashItem(after.uid, after.name));
      if (Buffer.compare(next, begin) > 0) begin = next;
    }
    const pairs = await this.tx.getRange(begin, range.end, { limit: options.limit });
    return pairs.map((pair) => {
      const key = splitTrashItemKey(pair.key);
      const record = decodeRecord(trashItemRecordSchema, pair.value, `trash item ${key.uid}/${key.name}`);
      return { ...key, ...record.item };
    });
  }

  /** Up to `limit` items expired at `nowNs`, earliest first, as index entries (snapshot reads). */
  async expired(nowNs: bigint, limit: number): Promise<Array<TrashItemKey & { expiresAtNs: bigint }>> {
    const pairs = await this.tx.snapshot.getRange(tags.trashExpiry, keys.trashExpiredAt(nowNs), { limit });
    return pairs.map((pair) => {
      decodeRecord(trashExpiryRecordSchema, pair.value, 'trash expiry entry');
      return splitTrashExpiryKey(pair.key);
    });
  }

  /** Whether any directory has had a trash setting (removals look for one only then). */
  async policiesExist(): Promise<boolean> {
    const bytes = await this.tx.get(keys.trashPoliciesExist());
    if (bytes !== undefined) decodeRecord(trashPoliciesRecordSchema, bytes, 'trash settings mark');
    return bytes !== undefined;
  }

  /**
   * Directory `ino`'s trash setting, read without joining the conflict set: a setting changed at
   * the moment of a removal may apply to it or not, either being right.
   */
  async policy(ino: InodeId): Promise<number | undefined> {
    const bytes = await this.tx.snapshot.get(keys.trashPolicy(ino));
    return bytes === undefined
      ? undefined
      : decodeRecord(trashPolicyRecordSchema, bytes, `trash setting of directory ${ino}`).expireS;
  }
}

export class TrashWriter extends TrashReader {
  constructor(private readonly writeTx: KvTransaction) {
    super(writeTx);
  }

  /** Writes item `key`'s record and its expiry index entry. */
  putItem(key: TrashItemKey, item: TrashItemFields): void {
    this.writeTx.set(
      keys.trashItem(key.uid, key.name),
      encodeRecord(trashItemRecordSchema, { format: 1, item }),
    );
    this.writeTx.set(
      keys.trashExpiry(item.expiresAtNs, key.uid, key.name),
      encodeRecord(trashExpiryRecordSchema, { format: 1 }),
    );
  }

  /** Clears item `key`'s record and the index entry of expiry `expiresAtNs`. */
  deleteItem(key: TrashItemKey, expiresAtNs: bigint): void {
    this.writeTx.clear(keys.trashItem(key.uid, key.name));
    this.writeTx.clear(keys.trashExpiry(expiresAtNs, key.uid, key.name));
  }

  /** Clears an expiry index entry alone: one that names no item of that expiry (never written so). */
  deleteExpiryEntry(key: TrashItemKey, expiresAtNs: bigint): void {
    this.writeTx.clear(keys.trashExpiry(expiresAtNs, key.uid, key.name));
  }

  putPolicy(ino: InodeId, expireS: number): void {
    this.writeTx.set(keys.trashPolicy(ino), encodeRecord(trashPolicyRecordSchema, { format: 1, expireS }));
    this.writeTx.set(keys.trashPoliciesExist(), encodeRecord(trashPoliciesRecordSchema, { format: 1 }));
  }

  deletePolicy(ino: InodeId): void {
    this.writeTx.clear(keys.trashPolicy(ino));
  }
}
