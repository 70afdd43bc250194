/**
 * The generated listing of directory-fs.ts, shared with the test that reads it through the mount:
 * names of varied lengths (one character to 255 bytes, ASCII and multibyte UTF-8, spaces and
 * punctuation) and, from a seed, attributes and timeouts across their ranges (every file type, ids
 * up to 2^32 - 1, sizes up to 2^63 - 1, times before 1970, fractional timeouts). Every fifth
 * entry has no attributes (a readdirplus entry the kernel does not instantiate).
 */
import type { Attributes } from '../../../src/fuse/lowlevel/index.js';

export interface ListingItem {
  name: string;
  ino: bigint;
  mode: number;
  entry?: { generation: bigint; attributes: Attributes; attrTimeoutMs: number; entryTimeoutMs: number };
}

const nameBytesMax = 255;

/** `prefix` filled with `unit` up to exactly 255 bytes of UTF-8 (ASCII makes up a remainder). */
function fullLength(prefix: string, unit: string): string {
  let name = prefix;
  const unitBytes = Buffer.byteLength(unit);
  while (Buffer.byteLength(name) + unitBytes <= nameBytesMax) name += unit;
  return name + 'x'.repeat(nameBytesMax - Buffer.byteLength(name));
}

/** `count` distinct names, in an order unrelated to their sorting. */
export function listingNames(count: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    switch (index % 6) {
      case 0:
        return `f${index}`;
      case 1:
        return fullLength(`${index}-`, 'a');
      case 2:
        return fullLength(`${index}-`, '日');
      case 3:
        return `${index}😀名前é`;
      case 4:
        return `name-${index}-${'z'.repeat(index % 200)}`;
      default:
        return `.odd ${index} ~!@#$%^&*()[]{}<>?,;:'"\\|`;
    }
  });
}

/** The listing of `count` entries whose attributes `seed` decides (the same seed, the same listing). */
export function listingItems(count: number, seed: bigint): ListingItem[] {
  let state = seed === 0n ? 1n : seed;
  // xorshift64*
  const random = (): bigint => {
    state ^= state >> 12n;
    state ^= (state << 25n) & 0xffff_ffff_ffff_ffffn;
    state ^= state >> 27n;
    return (state * 0x2545f4914f6cdd1dn) & 0xffff_ffff_ffff_ffffn;
  };
  const pick = <T>(choices: readonly T[]): T => choices[Number(random() % BigInt(choices.length))] as T;
  const types = [0o100000, 0o040000, 0o120000, 0o010000, 0o140000, 0o020000, 0o060000];
  return listingNames(count).map((name, index) => {
    const ino = BigInt(index + 2);
    const mode = pick(types) | Number(random() % 0o10000n);
    if (index % 5 === 4) return { name, ino, mode };
    const size = pick([0n, 1n, 4096n, random() >> 1n, (1n << 63n) - 1n]);
    const time = (): bigint => pick([0n, -1n, -1_500_000_001n, 1_700_000_000_123_456_789n, random() >> 2n]);
    const attributes: Attributes = {
      mode,
      nlink: Number(random() % 0x1_0000_0000n),
      uid: pick([0, 1000, 0xffff_fffe]),
      gid: Number(random() % 0xffff_ffffn),
      size: size < BigInt(Number.MAX_SAFE_INTEGER) && index % 2 === 0 ? Number(size) : size,
      ...(index % 3 === 0 ? { rdev: Number(random() % 0x1_0000_0000n) } : {}),
      ...(index % 7 === 0 ? { blocks: random() >> 1n } : {}),
      ...(index % 4 === 0 ? { blksize: 1 << Number(random() % 21n) } : {}),
      atimeNs: time(),
      mtimeNs: time(),
      ctimeNs: time(),
    };
    const entry = {
      generation: pick([0n, 1n, random()]),
      attributes,
      // 1.0008299999999999 ms is where truncating and rounding the nanoseconds differ.
      attrTimeoutMs: pick([0, 1, 1.5, 1.0008299999999999, 999.9999999, 0.0001, 60_000, 123_456.789]),
      entryTimeoutMs: 60_000,
    };
    return { name, ino, mode, entry };
  });
}
