/**
 * NFSv4.0's wire constants (RFC 7530): operation numbers, attribute numbers, file types, and the
 * small XDR shapes several operations share (bitmaps, times, stateids, change_info).
 */
import { malformed, type XdrReader, type XdrWriter } from '../xdr.js';

export const nfs4Version = 4;

/** NFSv4 handles are at most 128 bytes. */
export const fhSize4Max = 128;
/** Names, link targets, owners, tags: bounded generously; names are checked again (export-fs). */
export const componentBytesMax = 4096;
export const linkTextBytesMax = 4096;
export const tagBytesMax = 1024;
export const ownerBytesMax = 1024;
/** Words of a bitmap4 we read at most (attributes go to 55, so 2 are used; clients send up to 3). */
export const bitmapWordsMax = 8;
/** Bytes of an attribute list we read at most. */
export const attributeListBytesMax = 64 * 1024;

export const Op = {
  Access: 3,
  Close: 4,
  Commit: 5,
  Create: 6,
  Delegpurge: 7,
  Delegreturn: 8,
  Getattr: 9,
  Getfh: 10,
  Link: 11,
  Lock: 12,
  Lockt: 13,
  Locku: 14,
  Lookup: 15,
  Lookupp: 16,
  Nverify: 17,
  Open: 18,
  Openattr: 19,
  OpenConfirm: 20,
  OpenDowngrade: 21,
  Putfh: 22,
  Putpubfh: 23,
  Putrootfh: 24,
  Read: 25,
  Readdir: 26,
  Readlink: 27,
  Remove: 28,
  Rename: 29,
  Renew: 30,
  Restorefh: 31,
  Savefh: 32,
  Secinfo: 33,
  Setattr: 34,
  Setclientid: 35,
  SetclientidConfirm: 36,
  Verify: 37,
  Write: 38,
  ReleaseLockowner: 39,
  Illegal: 10044,
} as const;

/** nfs_ftype4. */
export const FileType4 = {
  Reg: 1,
  Dir: 2,
  Blk: 3,
  Chr: 4,
  Lnk: 5,
  Sock: 6,
  Fifo: 7,
  AttrDir: 8,
  NamedAttr: 9,
} as const;

/** Attribute numbers (bit positions of bitmap4). */
export const Attr = {
  SupportedAttrs: 0,
  Type: 1,
  FhExpireType: 2,
  Change: 3,
  Size: 4,
  LinkSupport: 5,
  SymlinkSupport: 6,
  NamedAttr: 7,
  Fsid: 8,
  UniqueHandles: 9,
  LeaseTime: 10,
  RdattrError: 11,
  Acl: 12,
  AclSupport: 13,
  Archive: 14,
  CanSetTime: 15,
  CaseInsensitive: 16,
  CasePreserving: 17,
  ChownRestricted: 18,
  Filehandle: 19,
  Fileid: 20,
  FilesAvail: 21,
  FilesFree: 22,
  FilesTotal: 23,
  FsLocations: 24,
  Hidden: 25,
  Homogeneous: 26,
  MaxFileSize: 27,
  MaxLink: 28,
  MaxName: 29,
  MaxRead: 30,
  MaxWrite: 31,
  MimeType: 32,
  Mode: 33,
  NoTrunc: 34,
  Numlinks: 35,
  Owner: 36,
  OwnerGroup: 37,
  QuotaAvailHard: 38,
  QuotaAvailSoft: 39,
  QuotaUsed: 40,
  Rawdev: 41,
  SpaceAvail: 42,
  SpaceFree: 43,
  SpaceTotal: 44,
  SpaceUsed: 45,
  System: 46,
  TimeAccess: 47,
  TimeAccessSet: 48,
  TimeBackup: 49,
  TimeCreate: 50,
  TimeDelta: 51,
  TimeMetadata: 52,
  TimeModify: 53,
  TimeModifySet: 54,
  MountedOnFileid: 55,
} as const;

/** A set of attribute numbers (bitmap4 as a sorted list). */
export type AttributeSet = readonly number[];

export function readBitmap(reader: XdrReader): number[] {
  const words = reader.array(bitmapWordsMax, (inner) => inner.u32('bitmap word'), 'bitmap');
  const bits: number[] = [];
  for (const [index, word] of words.entries()) {
    for (let bit = 0; bit < 32; bit++) if (((word >>> bit) & 1) === 1) bits.push(index * 32 + bit);
  }
  return bits;
}

export function writeBitmap(writer: XdrWriter, bits: AttributeSet): void {
  const words: number[] = [];
  for (const bit of bits) {
    const index = Math.floor(bit / 32);
    while (words.length <= index) words.push(0);
    words[index] = ((words[index] ?? 0) | (1 << (bit % 32))) >>> 0;
  }
  writer.u32(words.length);
  for (const word of words) writer.u32(word);
}

/** nfstime4: signed seconds and nanoseconds. */
export function writeTime4(writer: XdrWriter, timeNs: bigint): void {
  writer.i64(timeNs / 1_000_000_000n);
  writer.u32(Number(timeNs % 1_000_000_000n));
}

export function readTime4(reader: XdrReader): bigint {
  const seconds = reader.i64('time seconds');
  const nanoseconds = reader.u32('time nanoseconds');
  if (nanoseconds >= 1_000_000_000) throw malformed(`nanoseconds ${nanoseconds} out of range`);
  if (seconds < 0n) throw malformed('a time before the epoch');
  return seconds * 1_000_000_000n + BigInt(nanoseconds);
}

/** stateid4: a sequence number and 12 opaque bytes. */
export interface StateId {
  readonly seqid: number;
  readonly other: Buffer;
}

export function readStateId(reader: XdrReader): StateId {
  return { seqid: reader.u32('stateid seqid'), other: Buffer.from(reader.fixedOpaque(12, 'stateid')) };
}

export function writeStateId(writer: XdrWriter, stateId: StateId): void {
  writer.u32(stateId.seqid);
  writer.fixedOpaque(stateId.other);
}

/** change_info4. */
export function writeChangeInfo(
  writer: XdrWriter,
  before: bigint | undefined,
  after: bigint | undefined,
): void {
  writer.bool(false);
  writer.u64(before ?? 0n);
  writer.u64(after ?? 0n);
}
