/**
 * The meta service's key layout in the KV (DESIGN §5, §6). Every key starts with a four-byte
 * ASCII tag, so one tag holds exactly one record type. Fixed-width integers keep each group one
 * contiguous range:
 *
 *   INOD | ino (u64 LE)                               inode record
 *   DENT | parent (u64 LE) | name (UTF-8)             directory entry; one directory = one range
 *   XATR | ino (u64 LE) | name (UTF-8)                extended attribute; one inode's = one range
 *   SESS | ino (u64 LE) | clientId | 0x00 | sessionId write session; one file's = one range
 *   CSES | clientId | 0x00 | ino (u64 LE) | sessionId the same session, indexed by client
 *   ORPH | ino (u64 LE)                               unlinked file kept alive by its sessions
 *   GCQU | ino (u64 BE)                               removed file whose chunks storage must delete
 *   TRNC | ino (u64 BE)                               truncate whose chunk data storage must cut
 *   IALC                                              the inode id counter
 *   ICNT | shard (u8)                                  inodes in use whose id falls in the shard
 *   ICOK                                              the ICNT counts cover every inode
 *   DTIM | ino (u64 LE)                               a directory's times of its last entry change
 *   REQD | requestId (ASCII) | 0x00 | step (u16 BE)    what a mutation's transaction returned
 *   LOCK | ino (u64 LE) | kind | clientId | 0x00 | owner  one owner's file locks (meta/locks/lock-store.ts)
 *   LKCL | clientId | 0x00 | ino (u64 LE) | kind | owner  the same lock, indexed by client
 *   LEAS | clientId                                    a client's lock lease
 *   S3KY | accessKeyId (ASCII)                         an access key of the S3 gateway (meta/s3-keys.ts)
 *   TRIT | uid (u32 BE) | name (UTF-8)                 an item of a user's trash (meta/trash/)
 *   TREX | expiresAtNs (u64 BE) | uid (u32 BE) | name  the same item, indexed by expiry for the cleaner
 *   TRDP | ino (u64 LE)                               a directory's trash setting
 *   TRPF                                              some directory has (had) a trash setting
 *   QDIR | ino (u64 LE)                               the id of a directory's quota (meta/quota/)
 *   QLIM | quotaId (u64 BE)                           a quota: its directory, limits and count state
 *   QUSE | quotaId (u64 BE) | shard (u8)              a quota's usage by the inodes whose id falls in the shard
 *   QGNT | ino (u64 LE)                               the length a file's writers may reach (quota grant)
 *   QSCN | quotaId (u64 BE) | ino (u64 BE)            a directory a new quota's count has yet to visit
 *
 * Inode ids are little-endian where they lead a key (inodes, entries, attributes, sessions), so
 * consecutive ids spread over the key space as in 3FS; the worker queues (GCQU, TRNC) use
 * big-endian so they list in id order. Names and client ids never contain a zero byte (names
 * are refused with one, client ids are restricted to [A-Za-z0-9_.:-]), so 0x00 separates fields.
 */
import { assert } from '../../common/errors.js';
import {
  asciiKey,
  concatKey,
  prefixEnd,
  readU32BigEndian,
  readU64BigEndian,
  readU64LittleEndian,
  u32BigEndian,
  u64BigEndian,
  u64LittleEndian,
} from '../../kv/index.js';
import type { InodeId } from '../protocol/index.js';

export const tags = {
  inode: asciiKey('INOD'),
  entry: asciiKey('DENT'),
  xattr: asciiKey('XATR'),
  session: asciiKey('SESS'),
  clientSession: asciiKey('CSES'),
  orphan: asciiKey('ORPH'),
  gc: asciiKey('GCQU'),
  truncation: asciiKey('TRNC'),
  inodeCounter: asciiKey('IALC'),
  inodeCount: asciiKey('ICNT'),
  inodeCountComplete: asciiKey('ICOK'),
  request: asciiKey('REQD'),
  entryTimes: asciiKey('DTIM'),
  lock: asciiKey('LOCK'),
  clientLock: asciiKey('LKCL'),
  lockLease: asciiKey('LEAS'),
  s3Key: asciiKey('S3KY'),
  trashItem: asciiKey('TRIT'),
  trashExpiry: asciiKey('TREX'),
  trashPolicy: asciiKey('TRDP'),
  trashPoliciesExist: asciiKey('TRPF'),
  quotaDirectory: asciiKey('QDIR'),
  quota: asciiKey('QLIM'),
  quotaUsage: asciiKey('QUSE'),
  quotaGrant: asciiKey('QGNT'),
  quotaCount: asciiKey('QSCN'),
} as const;

const separator = Buffer.from([0]);
const tagBytes = 4;
const idBytes = 8;

/** A [begin, end) pair covering every key with one prefix. */
export interface KeyRange {
  begin: Buffer;
  end: Buffer;
}

export function prefixRange(prefix: Buffer): KeyRange {
  return { begin: prefix, end: prefixEnd(prefix) };
}

export const keys = {
  inode: (ino: InodeId): Buffer => concatKey(tags.inode, u64LittleEndian(ino)),
  entry: (parent: InodeId, name: string): Buffer =>
    concatKey(tags.entry, u64LittleEndian(parent), Buffer.from(name, 'utf8')),
  /** The prefix of every entry of directory `parent`. */
  entries: (parent: InodeId): Buffer => concatKey(tags.entry, u64LittleEndian(parent)),
  xattr: (ino: InodeId, name: string): Buffer =>
    concatKey(tags.xattr, u64LittleEndian(ino), Buffer.from(name, 'utf8')),
  xattrs: (ino: InodeId): Buffer => concatKey(tags.xattr, u64LittleEndian(ino)),
  session: (ino: InodeId, clientId: string, sessionId: string): Buffer =>
    concatKey(tags.session, u64LittleEndian(ino), ascii(clientId), separator, ascii(sessionId)),
  sessions: (ino: InodeId): Buffer => concatKey(tags.session, u64LittleEndian(ino)),
  clientSession: (clientId: string, ino: InodeId, sessionId: string): Buffer =>
    concatKey(tags.clientSession, ascii(clientId), separator, u64LittleEndian(ino), ascii(sessionId)),
  clientSessions: (clientId: string): Buffer => concatKey(tags.clientSession, ascii(clientId), separator),
  orphan: (ino: InodeId): Buffer => concatKey(tags.orphan, u64LittleEndian(ino)),
  gc: (ino: InodeId): Buffer => concatKey(tags.gc, u64BigEndian(ino)),
  truncation: (ino: InodeId): Buffer => concatKey(tags.truncation, u64BigEndian(ino)),
  inodeCounter: (): Buffer => tags.inodeCounter,
  /** The count of inodes in use in shard `shard` (see inodeCountShard). */
  inodeCount: (shard: number): Buffer => {
    assert(Number.isInteger(shard) && shard >= 0 && shard < inodeCountShards, 'an inode count shard is a u8');
    return concatKey(tags.inodeCount, Buffer.from([shard]));
  },
  inodeCountComplete: (): Buffer => tags.inodeCountComplete,
  entryTimes: (ino: InodeId): Buffer => concatKey(tags.entryTimes, u64LittleEndian(ino)),
  /** The result of transaction `step` of the mutation with `requestId` (ids lead with their time). */
  request: (requestId: string, step: number): Buffer => {
    assert(Number.isInteger(step) && step >= 0 && step < 0x10000, 'a request step is a u16');
    const stepBytes = Buffer.alloc(2);
    stepBytes.writeUInt16BE(step);
    return concatKey(tags.request, ascii(requestId), separator, stepBytes);
  },
  /** Item `name` of user `uid`'s trash. */
  trashItem: (uid: number, name: string): Buffer =>
    concatKey(tags.trashItem, u32BigEndian(uid), Buffer.from(name, 'utf8')),
  /** The prefix of every item of user `uid`'s trash. */
  trashItems: (uid: number): Buffer => concatKey(tags.trashItem, u32BigEndian(uid)),
  /** The expiry index entry of item `name` of user `uid`'s trash. */
  trashExpiry: (expiresAtNs: bigint, uid: number, name: string): Buffer =>
    concatKey(tags.trashExpiry, u64BigEndian(expiresAtNs), u32BigEndian(uid), Buffer.from(name, 'utf8')),
  /** The end of the expiry index entries of items expired at `nowNs` (they start at the tag). */
  trashExpiredAt: (nowNs: bigint): Buffer => concatKey(tags.trashExpiry, u64BigEndian(nowNs + 1n)),
  trashPolicy: (ino: InodeId): Buffer => concatKey(tags.trashPolicy, u64LittleEndian(ino)),
  trashPoliciesExist: (): Buffer => tags.trashPoliciesExist,
  quotaDirectory: (ino: InodeId): Buffer => concatKey(tags.quotaDirectory, u64LittleEndian(ino)),
  quota: (quotaId: InodeId): Buffer => concatKey(tags.quota, u64BigEndian(quotaId)),
  /** Shard `shard` of quota `quotaId`'s usage (shards as inodeCountShard). */
  quotaUsage: (quotaId: InodeId, shard: number): Buffer => {
    assert(Number.isInteger(shard) && shard >= 0 && shard < inodeCountShards, 'a usage shard is a u8');
    return concatKey(tags.quotaUsage, u64BigEndian(quotaId), Buffer.from([shard]));
  },
  /** The prefix of every usage shard of quota `quotaId`. */
  quotaUsages: (quotaId: InodeId): Buffer => concatKey(tags.quotaUsage, u64BigEndian(quotaId)),
  quotaGrant: (ino: InodeId): Buffer => concatKey(tags.quotaGrant, u64LittleEndian(ino)),
  quotaCount: (quotaId: InodeId, directory: InodeId): Buffer =>
    concatKey(tags.quotaCount, u64BigEndian(quotaId), u64BigEndian(directory)),
  /** The prefix of every directory quota `quotaId`'s count has yet to visit. */
  quotaCounts: (quotaId: InodeId): Buffer => concatKey(tags.quotaCount, u64BigEndian(quotaId)),
  /** The end of the request records whose ids' time is before `timeMs` (they start at the tag). */
  requestsBefore: (timeMs: number): Buffer =>
    concatKey(
      tags.request,
      Buffer.from(Math.max(0, Math.floor(timeMs)).toString().padStart(13, '0'), 'ascii'),
    ),
};

/**
 * Shards of the count of inodes in use. Every create and removal changes one shard, chosen by the
 * inode id, so concurrent creates (whose ids differ) rarely conflict on a count. Part of the key
 * layout: changing it changes which key counts an inode.
 */
export const inodeCountShards = 64;

/** The count shard of inode `ino`. */
export function inodeCountShard(ino: InodeId): number {
  return Number(ino % BigInt(inodeCountShards));
}

function ascii(text: string): Buffer {
  assert(/^[A-Za-z0-9_.:-]+$/.test(text), 'session and request ids are checked before they reach a key');
  return Buffer.from(text, 'ascii');
}

/** The inode id of an INOD, ORPH (little-endian) key. */
export function inodeOfKey(key: Buffer): InodeId {
  assert(key.length === tagBytes + idBytes, 'an inode key is a tag and an id');
  return readU64LittleEndian(key, tagBytes);
}

/** The inode id of a GCQU or TRNC (big-endian) key. */
export function queuedInodeOfKey(key: Buffer): InodeId {
  assert(key.length === tagBytes + idBytes, 'a queue key is a tag and an id');
  return readU64BigEndian(key, tagBytes);
}

/** The client, inode and session ids of a CSES key, as text for comparisons. */
export function clientSessionKeyText(clientId: string, ino: InodeId, sessionId: string): string {
  return `${clientId}/${ino}/${sessionId}`;
}

/** The parent and name of a DENT key (or the inode and name of an XATR key). */
export function splitNamedKey(key: Buffer): { owner: InodeId; name: string } {
  assert(key.length > tagBytes + idBytes, 'a named key holds a name');
  return {
    owner: readU64LittleEndian(key, tagBytes),
    name: key.subarray(tagBytes + idBytes).toString('utf8'),
  };
}

/** The fields of a SESS key. */
export function splitSessionKey(key: Buffer): { ino: InodeId; clientId: string; sessionId: string } {
  const ino = readU64LittleEndian(key, tagBytes);
  const rest = key.subarray(tagBytes + idBytes);
  const zero = rest.indexOf(0);
  assert(zero > 0, 'a session key separates client and session ids');
  return {
    ino,
    clientId: rest.subarray(0, zero).toString('ascii'),
    sessionId: rest.subarray(zero + 1).toString('ascii'),
  };
}

/** The fields of a CSES key. */
export function splitClientSessionKey(key: Buffer): { clientId: string; ino: InodeId; sessionId: string } {
  const rest = key.subarray(tagBytes);
  const zero = rest.indexOf(0);
  assert(zero > 0, 'a client session key separates the client id');
  const ino = readU64LittleEndian(rest, zero + 1);
  return {
    clientId: rest.subarray(0, zero).toString('ascii'),
    ino,
    sessionId: rest.subarray(zero + 1 + idBytes).toString('ascii'),
  };
}

/** The fields of a TRIT key. */
export function splitTrashItemKey(key: Buffer): { uid: number; name: string } {
  assert(key.length > tagBytes + 4, 'a trash item key holds a uid and a name');
  return { uid: readU32BigEndian(key, tagBytes), name: key.subarray(tagBytes + 4).toString('utf8') };
}

/** The fields of a TREX key. */
export function splitTrashExpiryKey(key: Buffer): { expiresAtNs: bigint; uid: number; name: string } {
  assert(key.length > tagBytes + idBytes + 4, 'a trash expiry key holds a time, a uid and a name');
  return {
    expiresAtNs: readU64BigEndian(key, tagBytes),
    uid: readU32BigEndian(key, tagBytes + idBytes),
    name: key.subarray(tagBytes + idBytes + 4).toString('utf8'),
  };
}

/** The quota id of a QLIM key. */
export function quotaOfKey(key: Buffer): InodeId {
  assert(key.length === tagBytes + idBytes, 'a quota key is a tag and an id');
  return readU64BigEndian(key, tagBytes);
}

/** The directory of a QSCN key. */
export function countDirectoryOfKey(key: Buffer): InodeId {
  assert(key.length === tagBytes + 2 * idBytes, 'a quota count key is a tag and two ids');
  return readU64BigEndian(key, tagBytes + idBytes);
}
