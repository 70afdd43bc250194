/**
 * NFSv4 attributes (fattr4): encoding the ones a client asks for from a meta inode, in bit order,
 * and decoding the settable ones of SETATTR, CREATE and OPEN into attribute changes. An attribute
 * we do not keep is left out of a reply's bitmap (clients learn which we have from
 * supported_attrs); setting one fails with ATTRNOTSUPP, setting a read-only one with INVAL.
 *
 * Owners are numeric strings ("1000"), which Linux and macOS clients read when they do not map
 * names (the default for AUTH_SYS); "1000@domain" is read as 1000 too.
 */
import type { Inode } from '../../client/index.js';
import { limits } from '../../common/limits.js';
import type { AttributeChanges } from '../export-fs.js';
import { NfsStatus, nfsError } from '../nfs-status.js';
import { sizeOf, usedOf } from '../nfs3/nfs3-types.js';
import { XdrReader, XdrWriter } from '../xdr.js';
import {
  Attr,
  FileType4,
  ownerBytesMax,
  readTime4,
  writeBitmap,
  writeTime4,
  type AttributeSet,
} from './nfs4-types.js';

const fileTypeOf: Readonly<Record<Inode['type'], number>> = {
  file: FileType4.Reg,
  directory: FileType4.Dir,
  blockDevice: FileType4.Blk,
  charDevice: FileType4.Chr,
  symlink: FileType4.Lnk,
  socket: FileType4.Sock,
  fifo: FileType4.Fifo,
};

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

/** Every attribute this gateway answers or sets, in bit order. */
export const supportedAttributes: AttributeSet = [
  ...range(Attr.SupportedAttrs, Attr.RdattrError),
  Attr.AclSupport,
  ...range(Attr.CanSetTime, Attr.FilesTotal),
  ...range(Attr.Homogeneous, Attr.MaxWrite),
  ...range(Attr.Mode, Attr.OwnerGroup),
  ...range(Attr.Rawdev, Attr.SpaceUsed),
  Attr.TimeAccess,
  Attr.TimeAccessSet,
  ...range(Attr.TimeDelta, Attr.MountedOnFileid),
];
const supported = new Set(supportedAttributes);
/** Attributes only a SETATTR carries. */
const writeOnly = new Set<number>([Attr.TimeAccessSet, Attr.TimeModifySet]);
/** Attributes that need the file system's statistics. */
const statfsAttributes = new Set<number>([
  Attr.FilesAvail,
  Attr.FilesFree,
  Attr.FilesTotal,
  Attr.SpaceAvail,
  Attr.SpaceFree,
  Attr.SpaceTotal,
]);
const inodesFreeShown = BigInt(2 ** 31);

/** File system statistics for the attributes that need them. */
export interface FsStats {
  readonly capacityBytes: number;
  readonly freeBytes: number;
  readonly inodesInUse: number | null;
}

/** What the attributes of one object are made of. */
export interface AttributeSource {
  readonly inode: Inode;
  readonly handle: Buffer;
  readonly fsid: { readonly major: bigint; readonly minor: bigint };
  /** The object's file id as its parent file system sees it (export roots: the directory's). */
  readonly mountedOnFileid: bigint;
  readonly leaseSeconds: number;
  readonly stats?: FsStats;
  /** READDIR: why the entry's attributes could not be read, when asked for rdattr_error. */
  readonly error?: number;
}

/** Whether encoding `requested` needs file system statistics. */
export function needsStats(requested: AttributeSet): boolean {
  return requested.some((bit) => statfsAttributes.has(bit));
}

/** The attributes of `requested` we answer, as fattr4 (a bitmap and the encoded values). */
export function writeAttributes(writer: XdrWriter, requested: AttributeSet, source: AttributeSource): void {
  const bits = [...new Set(requested)]
    .filter((bit) => supported.has(bit) && !writeOnly.has(bit))
    .filter((bit) => source.stats !== undefined || !statfsAttributes.has(bit))
    .sort((a, b) => a - b);
  const values = new XdrWriter(limits.nfsReplyBytesMax);
  for (const bit of bits) writeValue(values, bit, source);
  writeBitmap(writer, bits);
  writer.opaque(values.toBuffer());
}

function writeValue(writer: XdrWriter, bit: number, source: AttributeSource): void {
  const { inode } = source;
  const stats = source.stats;
  switch (bit) {
    case Attr.SupportedAttrs:
      writeBitmap(writer, supportedAttributes);
      return;
    case Attr.Type:
      writer.u32(fileTypeOf[inode.type]);
      return;
    case Attr.FhExpireType:
      // Persistent: a handle stays valid until its object is removed.
      writer.u32(0);
      return;
    case Attr.Change:
      writer.u64(inode.ctimeNs);
      return;
    case Attr.Size:
      writer.u64(sizeOf(inode));
      return;
    case Attr.LinkSupport:
    case Attr.SymlinkSupport:
    case Attr.UniqueHandles:
    case Attr.CanSetTime:
    case Attr.CasePreserving:
    case Attr.ChownRestricted:
    case Attr.Homogeneous:
    case Attr.NoTrunc:
      writer.bool(true);
      return;
    case Attr.NamedAttr:
    case Attr.CaseInsensitive:
      writer.bool(false);
      return;
    case Attr.Fsid:
      writer.u64(source.fsid.major).u64(source.fsid.minor);
      return;
    case Attr.LeaseTime:
      writer.u32(source.leaseSeconds);
      return;
    case Attr.RdattrError:
      writer.u32(source.error ?? NfsStatus.Ok);
      return;
    case Attr.AclSupport:
      writer.u32(0);
      return;
    case Attr.Filehandle:
      writer.opaque(source.handle);
      return;
    case Attr.Fileid:
      writer.u64(inode.ino);
      return;
    case Attr.FilesAvail:
    case Attr.FilesFree:
      writer.u64(inodesFreeShown);
      return;
    case Attr.FilesTotal:
      writer.u64(inodesFreeShown + BigInt(stats?.inodesInUse ?? 0));
      return;
    case Attr.MaxFileSize:
      writer.u64((1n << 63n) - 1n);
      return;
    case Attr.MaxLink:
      writer.u32(limits.metaLinksMax);
      return;
    case Attr.MaxName:
      writer.u32(limits.metaNameBytesMax);
      return;
    case Attr.MaxRead:
    case Attr.MaxWrite:
      writer.u64(BigInt(limits.nfsIoBytesMax));
      return;
    case Attr.Mode:
      writer.u32(inode.mode);
      return;
    case Attr.Numlinks:
      writer.u32(inode.nlink);
      return;
    case Attr.Owner:
      writer.string(String(inode.uid));
      return;
    case Attr.OwnerGroup:
      writer.string(String(inode.gid));
      return;
    case Attr.Rawdev: {
      const device = 'device' in inode ? inode.device : { major: 0, minor: 0 };
      writer.u32(device.major).u32(device.minor);
      return;
    }
    case Attr.SpaceAvail:
    case Attr.SpaceFree:
      writer.u64(BigInt(stats?.freeBytes ?? 0));
      return;
    case Attr.SpaceTotal:
      writer.u64(BigInt(stats?.capacityBytes ?? 0));
      return;
    case Attr.SpaceUsed:
      writer.u64(usedOf(inode));
      return;
    case Attr.TimeAccess:
      writeTime4(writer, inode.atimeNs);
      return;
    case Attr.TimeDelta:
      writeTime4(writer, 1n);
      return;
    case Attr.TimeMetadata:
      writeTime4(writer, inode.ctimeNs);
      return;
    case Attr.TimeModify:
      writeTime4(writer, inode.mtimeNs);
      return;
    case Attr.MountedOnFileid:
      writer.u64(source.mountedOnFileid);
      return;
    default:
      throw new RangeError(`attribute ${bit} has no encoder`);
  }
}

/** A uid or gid from an owner string ("1000" or "1000@domain"); BADOWNER otherwise. */
export function idOfOwner(owner: string): number {
  const numeric = /^(\d{1,10})(@.*)?$/.exec(owner);
  const id = numeric === null ? Number.NaN : Number(numeric[1]);
  if (!Number.isSafeInteger(id) || id > 0xffff_ffff)
    throw nfsError(NfsStatus.BadOwner, `owner "${owner}" is not a number`);
  return id;
}

function readSetTime(reader: XdrReader): bigint | 'now' {
  const how = reader.enumOf([0, 1], 'time_how4');
  return how === 0 ? 'now' : readTime4(reader);
}

/**
 * The changes a fattr4 asks for: attributes we cannot set fail (ATTRNOTSUPP, or INVAL for those
 * only ever read); `set` lists the ones taken, for the reply's attrsset.
 */
export function readSettable(reader: XdrReader): { changes: AttributeChanges; set: number[] } {
  const bits = readBitmapFrom(reader);
  const values = new XdrReader(reader.opaque(64 * 1024, 'attribute values'));
  const changes: {
    mode?: number;
    uid?: number;
    gid?: number;
    size?: bigint;
    atime?: bigint | 'now';
    mtime?: bigint | 'now';
  } = {};
  for (const bit of bits) {
    switch (bit) {
      case Attr.Size:
        changes.size = values.u64('size');
        break;
      case Attr.Mode:
        changes.mode = values.u32('mode') & 0o7777;
        break;
      case Attr.Owner:
        changes.uid = idOfOwner(values.string(ownerBytesMax, 'owner'));
        break;
      case Attr.OwnerGroup:
        changes.gid = idOfOwner(values.string(ownerBytesMax, 'owner group'));
        break;
      case Attr.TimeAccessSet:
        changes.atime = readSetTime(values);
        break;
      case Attr.TimeModifySet:
        changes.mtime = readSetTime(values);
        break;
      default:
        if (supported.has(bit)) throw nfsError(NfsStatus.Inval, `attribute ${bit} cannot be set`);
        throw nfsError(NfsStatus.AttrNotSupp, `attribute ${bit} is not supported`);
    }
  }
  return { changes, set: bits };
}

function readBitmapFrom(reader: XdrReader): number[] {
  const words = reader.array(8, (inner) => inner.u32('bitmap word'), 'bitmap');
  const bits: number[] = [];
  for (const [index, word] of words.entries()) {
    for (let bit = 0; bit < 32; bit++) if (((word >>> bit) & 1) === 1) bits.push(index * 32 + bit);
  }
  return bits;
}

/** The encoded values of `requested` for VERIFY and NVERIFY (same encoder as GETATTR). */
export function attributeBytes(requested: AttributeSet, source: AttributeSource): Buffer {
  const writer = new XdrWriter(limits.nfsReplyBytesMax);
  writeAttributes(writer, requested, source);
  return writer.toBuffer();
}
