/**
 * Locks and lock leases in the KV, inside one transaction. Three record types (tags in
 * store/keys.ts):
 *
 *   LOCK | ino (u64 LE) | kind (u8) | clientId | 0x00 | owner (u64 BE)   one owner's locks on a file
 *   LKCL | clientId | 0x00 | ino (u64 LE) | kind (u8) | owner (u64 BE)   the same, indexed by client
 *   LEAS | clientId                                                     the client's lease
 *
 * All holders of one kind on one file are one key range, so a conflict check is one bounded range
 * read; the client index finds a client's locks when it unmounts or its lease ran out.
 *
 * Invariants:
 *  - a LOCK record exists exactly when its LKCL entry does (written and cleared together);
 *  - a LOCK record holds 1..metaLockRangesPerHolderMax normal ranges (lock-ranges.ts), and one
 *    file has at most metaLockHoldersPerInodeMax holders of a kind;
 *  - a lock is live only while its client's lease has the epoch the lock was taken under and has
 *    not expired (meta's clock). A lease that lapsed starts again with a greater epoch, so locks of
 *    an earlier epoch never come back to life; dead records are ignored and removed lazily.
 *  - a lease record outlives its locks (it is kept metaLockLeaseKeepMs after it expired), so the
 *    next epoch of the client id is greater than every epoch its remaining records carry.
 */
import { z } from 'zod';
import { assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import {
  concatKey,
  readU64BigEndian,
  readU64LittleEndian,
  u64BigEndian,
  u64LittleEndian,
  type KvReadTransaction,
  type KvTransaction,
} from '../../kv/index.js';
import {
  heldRangeSchema,
  lockInstanceSchema,
  type HeldRange,
  type InodeId,
  type LockKind,
} from '../protocol/index.js';
import { isNormal } from './lock-ranges.js';
import { prefixRange, tags } from '../store/keys.js';

const format1 = z.literal(1);
const epochSchema = z.number().int().min(0);

/** LOCK: the ranges one owner holds, and the lease epoch they were taken under. */
export const lockRecordSchema = z.strictObject({
  format: format1,
  epoch: epochSchema,
  ranges: z.array(heldRangeSchema).min(1).max(limits.metaLockRangesPerHolderMax),
});

/** LKCL: the index entry of a LOCK record (its fields are in the key). */
export const clientLockRecordSchema = z.strictObject({ format: format1 });

/** LEAS: which life of the client holds its lease, under which epoch, until when (meta's clock). */
export const leaseRecordSchema = z.strictObject({
  format: format1,
  instance: lockInstanceSchema,
  epoch: epochSchema,
  expiresAtMs: z.number().int().min(0),
});
export type Lease = Omit<z.infer<typeof leaseRecordSchema>, 'format'>;

const kindBytes: Record<LockKind, number> = { flock: 0x46, posix: 0x50 };
const separator = Buffer.from([0]);
const tagBytes = 4;
const idBytes = 8;

function ascii(clientId: string): Buffer {
  assert(/^[A-Za-z0-9_.:-]+$/.test(clientId), 'client ids are checked before they reach a key');
  return Buffer.from(clientId, 'ascii');
}

function kindByte(kind: LockKind): Buffer {
  return Buffer.from([kindBytes[kind]]);
}

function kindOf(byte: number | undefined): LockKind {
  if (byte === kindBytes.flock) return 'flock';
  assert(byte === kindBytes.posix, 'a lock key names its kind');
  return 'posix';
}

export const lockKeys = {
  holder: (ino: InodeId, kind: LockKind, clientId: string, owner: bigint): Buffer =>
    concatKey(
      tags.lock,
      u64LittleEndian(ino),
      kindByte(kind),
      ascii(clientId),
      separator,
      u64BigEndian(owner),
    ),
  /** Every holder of `kind` on `ino`. */
  holders: (ino: InodeId, kind: LockKind): Buffer =>
    concatKey(tags.lock, u64LittleEndian(ino), kindByte(kind)),
  /** Every holder of `kind` on `ino` that belongs to `clientId`. */
  clientHolders: (ino: InodeId, kind: LockKind, clientId: string): Buffer =>
    concatKey(tags.lock, u64LittleEndian(ino), kindByte(kind), ascii(clientId), separator),
  clientLock: (clientId: string, ino: InodeId, kind: LockKind, owner: bigint): Buffer =>
    concatKey(
      tags.clientLock,
      ascii(clientId),
      separator,
      u64LittleEndian(ino),
      kindByte(kind),
      u64BigEndian(owner),
    ),
  clientLocks: (clientId: string): Buffer => concatKey(tags.clientLock, ascii(clientId), separator),
  lease: (clientId: string): Buffer => concatKey(tags.lockLease, ascii(clientId)),
};

/** The fields of a LOCK key. */
export function splitHolderKey(key: Buffer): {
  ino: InodeId;
  kind: LockKind;
  clientId: string;
  owner: bigint;
} {
  const ino = readU64LittleEndian(key, tagBytes);
  const kind = kindOf(key[tagBytes + idBytes]);
  const rest = key.subarray(tagBytes + idBytes + 1);
  const zero = rest.indexOf(0);
  assert(zero > 0 && rest.length === zero + 1 + idBytes, 'a lock key separates client id and owner');
  return {
    ino,
    kind,
    clientId: rest.subarray(0, zero).toString('ascii'),
    owner: readU64BigEndian(rest, zero + 1),
  };
}

/** The fields of an LKCL key. */
export function splitClientLockKey(key: Buffer): {
  clientId: string;
  ino: InodeId;
  kind: LockKind;
  owner: bigint;
} {
  const rest = key.subarray(tagBytes);
  const zero = rest.indexOf(0);
  assert(zero > 0 && rest.length === zero + 1 + idBytes + 1 + idBytes, 'a client lock key has its fields');
  return {
    clientId: rest.subarray(0, zero).toString('ascii'),
    ino: readU64LittleEndian(rest, zero + 1),
    kind: kindOf(rest[zero + 1 + idBytes]),
    owner: readU64BigEndian(rest, zero + 2 + idBytes),
  };
}

/** One owner's record: who holds, what, under which lease epoch. */
export interface Holder {
  readonly clientId: string;
  readonly owner: bigint;
  readonly epoch: number;
  readonly ranges: readonly HeldRange[];
}

/** Reads locks and leases in one transaction, at one instant of meta's clock. */
export class LockReader {
  /** Leases read or written in this transaction; null marks one known to be absent. */
  private readonly leases = new Map<string, Lease | null>();

  constructor(
    protected readonly tx: KvReadTransaction,
    /** Meta's clock for this attempt, in milliseconds since the epoch. */
    readonly nowMs: number,
  ) {}

  async lease(clientId: string): Promise<Lease | undefined> {
    const cached = this.leases.get(clientId);
    if (cached !== undefined) return cached ?? undefined;
    const bytes = await this.tx.get(lockKeys.lease(clientId));
    const lease =
      bytes === undefined
        ? null
        : leaseOf(decodeRecord(leaseRecordSchema, bytes, `lock lease of ${clientId}`));
    this.leases.set(clientId, lease);
    return lease ?? undefined;
  }

  /** True while `holder`'s locks count: its client's lease is current and of its epoch. */
  async isLive(holder: Holder): Promise<boolean> {
    const lease = await this.lease(holder.clientId);
    return lease !== undefined && lease.epoch === holder.epoch && lease.expiresAtMs > this.nowMs;
  }

  /** Every holder of `kind` on `ino`, live or not, in key order. */
  async holders(ino: InodeId, kind: LockKind): Promise<Holder[]> {
    return this.holdersUnder(lockKeys.holders(ino, kind), `locks of inode ${ino}`);
  }

  /** True when `clientId` holds a live lock of either kind on `ino`. */
  async clientHolds(ino: InodeId, clientId: string): Promise<boolean> {
    for (const kind of ['flock', 'posix'] as const) {
      const own = await this.holdersUnder(
        lockKeys.clientHolders(ino, kind, clientId),
        `locks of inode ${ino}`,
      );
      for (const holder of own) if (await this.isLive(holder)) return true;
    }
    return false;
  }

  protected remember(clientId: string, lease: Lease): void {
    this.leases.set(clientId, lease);
  }

  private async holdersUnder(prefix: Buffer, what: string): Promise<Holder[]> {
    const range = prefixRange(prefix);
    const max = limits.metaLockHoldersPerInodeMax;
    const pairs = await this.tx.getRange(range.begin, range.end, { limit: max + 1 });
    assert(pairs.length <= max, `a file has at most ${max} lock holders of a kind`);
    return pairs.map((pair) => {
      const { clientId, owner } = splitHolderKey(pair.key);
      const record = decodeRecord(lockRecordSchema, pair.value, what);
      assert(isNormal(record.ranges), 'stored lock ranges are normal');
      return { clientId, owner, epoch: record.epoch, ranges: record.ranges };
    });
  }
}

/** Adds the writes; each keeps the invariants of the file comment. */
export class LockWriter extends LockReader {
  constructor(
    protected override readonly tx: KvTransaction,
    nowMs: number,
  ) {
    super(tx, nowMs);
  }

  /** Stores `holder`'s ranges on `ino` (and its index entry); no ranges clears both. */
  putHolder(ino: InodeId, kind: LockKind, holder: Holder): void {
    if (holder.ranges.length === 0) {
      this.deleteHolder(ino, kind, holder.clientId, holder.owner);
      return;
    }
    assert(isNormal(holder.ranges), 'lock ranges to store are normal');
    this.tx.set(
      lockKeys.holder(ino, kind, holder.clientId, holder.owner),
      encodeRecord(lockRecordSchema, { format: 1, epoch: holder.epoch, ranges: [...holder.ranges] }),
    );
    this.tx.set(
      lockKeys.clientLock(holder.clientId, ino, kind, holder.owner),
      encodeRecord(clientLockRecordSchema, { format: 1 }),
    );
  }

  deleteHolder(ino: InodeId, kind: LockKind, clientId: string, owner: bigint): void {
    this.tx.clear(lockKeys.holder(ino, kind, clientId, owner));
    this.tx.clear(lockKeys.clientLock(clientId, ino, kind, owner));
  }

  putLease(clientId: string, lease: Lease): void {
    this.tx.set(lockKeys.lease(clientId), encodeRecord(leaseRecordSchema, { format: 1, ...lease }));
    this.remember(clientId, lease);
  }

  deleteLease(clientId: string): void {
    this.tx.clear(lockKeys.lease(clientId));
  }

  /** Up to `limit` locks of `clientId`, across files, from its index. */
  async clientLocks(
    clientId: string,
    limit: number,
  ): Promise<Array<{ ino: InodeId; kind: LockKind; owner: bigint }>> {
    const range = prefixRange(lockKeys.clientLocks(clientId));
    const pairs = await this.tx.getRange(range.begin, range.end, { limit });
    return pairs.map((pair) => {
      decodeRecord(clientLockRecordSchema, pair.value, `lock index of client ${clientId}`);
      return splitClientLockKey(pair.key);
    });
  }
}

function leaseOf(record: z.infer<typeof leaseRecordSchema>): Lease {
  return { instance: record.instance, epoch: record.epoch, expiresAtMs: record.expiresAtMs };
}
