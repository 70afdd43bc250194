/**
 * A file system on the raw native binding whose root holds a large generated listing, to compare
 * DirectoryWriter's packing with libfuse's own: every readdir and readdirplus reply is packed both
 * ways (DirectoryWriter, and addDirentry/addDirentryPlus), the bytes compared, and the writer's
 * sent. The first reply of a listing also tries damaged copies first (REFUSED [codes]). Each reply prints `COMPARED {"plus":...,"entries":n,"bytes":n,"equal":bool}`.
 *
 *   node --import tsx directory-fs.ts MOUNTPOINT COUNT SEED [never|always]
 *
 * Entry i of listingItems(COUNT, SEED) has cookie i + 3 ("." and ".." are 1 and 2) and inode
 * i + 2. Entries with attributes have a 60 s entry timeout, so a stat after a readdirplus listing
 * needs no lookup: lookups are answered ENOENT on purpose, and getattr answers an entry's own
 * attributes (when its attribute timeout is short).
 */
import { createInterface } from 'node:readline';

import { DirectoryWriter } from '../../../src/fuse/lowlevel/directory-writer.js';
import {
  Errno,
  loadNativeBinding,
  type Attributes,
  type NativeRequest,
} from '../../../src/fuse/lowlevel/index.js';
import { listingItems, type ListingItem as Item } from './directory-listing.js';

const [mountpoint, countText, seedText, readdirplusMode] = process.argv.slice(2);
if (mountpoint === undefined || countText === undefined || seedText === undefined) {
  throw new Error('usage: directory-fs.ts MOUNTPOINT COUNT SEED [never|always]');
}
const items = listingItems(Number(countText), BigInt(seedText));

const now = BigInt(Date.now()) * 1_000_000n;
const root: Attributes = {
  mode: 0o40755,
  nlink: 2,
  uid: 0,
  gid: 0,
  size: 0,
  atimeNs: now,
  mtimeNs: now,
  ctimeNs: now,
};

const binding = loadNativeBinding();
const { opcodes } = binding;
const session = new binding.FuseSession({
  operations: ['lookup', 'getattr', 'opendir', 'readdir', 'readdirplus'],
  fsName: 'directory-replies',
  readdirplus: readdirplusMode === 'never' ? 0 : readdirplusMode === 'always' ? 2 : 1,
});

/** Packs one reply both ways from `offset` on and sends the writer's bytes. */
function readdir(handle: NativeRequest, plus: boolean, offset: bigint, size: number): void {
  const writer = new DirectoryWriter(size, plus);
  const dots: Item[] = [
    { name: '.', ino: 1n, mode: 0o40755 },
    { name: '..', ino: 1n, mode: 0o40755 },
  ];
  for (let cookie = offset + 1n; cookie <= BigInt(items.length + 2); cookie += 1n) {
    const item = cookie <= 2n ? (dots[Number(cookie) - 1] as Item) : (items[Number(cookie) - 3] as Item);
    const { name, ino, mode, entry } = item;
    let ours: boolean;
    let theirs: boolean;
    if (plus && entry !== undefined) {
      ours = writer.addEntry(name, ino, mode, cookie, entry);
      const { generation, attributes, attrTimeoutMs, entryTimeoutMs } = entry;
      theirs = handle.addDirentryPlus(
        name,
        cookie,
        ino,
        mode,
        generation,
        attributes,
        attrTimeoutMs,
        entryTimeoutMs,
      );
    } else {
      ours = writer.add(name, ino, mode, cookie);
      theirs = plus
        ? handle.addDirentryPlus(name, cookie, ino, mode)
        : handle.addDirentry(name, cookie, ino, mode);
    }
    if (ours !== theirs) throw new Error(`entry ${cookie}: the writer says fits=${ours}, libfuse ${theirs}`);
    if (!ours) break;
  }
  const bytes = writer.bytes();
  const reference = handle.directoryBytes();
  if (offset === 0n) console.log(`REFUSED ${JSON.stringify(corruptions(handle, bytes, plus))}`);
  const compared = { plus, entries: writer.count, bytes: bytes.length, equal: bytes.equals(reference) };
  console.log(`COMPARED ${JSON.stringify(compared)}`);
  handle.replyDirectory(bytes);
}

/** Codes of the exceptions replyDirectory throws for damaged copies of `bytes` (none is sent). */
function corruptions(handle: NativeRequest, bytes: Buffer, plus: boolean): string[] {
  const nameAt = plus ? 152 : 24;
  const damaged = (change: (copy: Buffer) => void): Buffer => {
    const copy = Buffer.from(bytes);
    change(copy);
    return copy;
  };
  // The first entry is "." (one byte of name, then seven of padding).
  const attempts = [
    damaged((copy) => copy.writeUInt8(0x2f, nameAt)), // '/' in a name
    damaged((copy) => copy.writeUInt8(0, nameAt)), // NUL in a name
    damaged((copy) => copy.writeUInt8(0xff, nameAt)), // not UTF-8
    damaged((copy) => copy.writeUInt8(1, nameAt + 1)), // padding not zero
    damaged((copy) => copy.writeUInt32LE(0, nameAt - 8)), // empty name
    damaged((copy) => copy.writeUInt32LE(256, nameAt - 8)), // name too long
    damaged((copy) => copy.writeBigUInt64LE(0n, nameAt - 16)), // next offset 0
    bytes.subarray(0, bytes.length - 1), // truncated
    Buffer.concat([bytes, Buffer.alloc(1_000_000)]), // more than the kernel asked for
    'not bytes',
  ];
  const codes = attempts.map((attempt) => {
    try {
      (handle.replyDirectory as (entries: unknown) => boolean)(attempt);
      return 'accepted';
    } catch (error) {
      return String((error as { code?: unknown }).code);
    }
  });
  return codes;
}

session.mount(mountpoint, (handle, op, ...args) => {
  if (handle === null) {
    if (op === opcodes['init']) console.log(`READY ${JSON.stringify({ pid: process.pid, connection: {} })}`);
    return;
  }
  try {
    if (op === opcodes['getattr']) {
      const item = items[Number(args[0] as bigint) - 2];
      return void handle.replyAttr(item?.entry?.attributes ?? root, 60_000);
    }
    if (op === opcodes['opendir']) return void handle.replyOpen(0n, 0);
    if (op === opcodes['readdir'] || op === opcodes['readdirplus']) {
      const [offset, size] = [args[6] as bigint, args[7] as number];
      return readdir(handle, op === opcodes['readdirplus'], offset, size);
    }
    handle.replyErr(op === opcodes['lookup'] ? Errno.ENOENT : Errno.ENOSYS);
  } catch (error) {
    console.error(error);
    if (!handle.answered()) handle.replyErr(Errno.EIO);
  }
});

createInterface({ input: process.stdin }).on('close', () => {
  session.close();
  process.exit(0);
});
