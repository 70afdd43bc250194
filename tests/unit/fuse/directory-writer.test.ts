// Proves the directory reply writer keeps replies within the kernel's size, pads records to 8 bytes, refuses bad names, offsets and attributes before writing a byte, and leaves no trace of an entry it refused; and that a packed listing gives the bytes `add` gives, reply by reply.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  DirectoryWriter,
  PackedDirents,
  warmDirectoryWriters,
} from '../../../src/fuse/lowlevel/directory-writer.js';
import type { Attributes } from '../../../src/fuse/lowlevel/index.js';

const attributes: Attributes = {
  mode: 0o100644,
  nlink: 1,
  uid: 0,
  gid: 0,
  size: 10n,
  atimeNs: 1n,
  mtimeNs: 2n,
  ctimeNs: 3n,
};
const entry = { generation: 0n, attributes, attrTimeoutMs: 1_000, entryTimeoutMs: 1_000 };

function codeOf(action: () => unknown): unknown {
  try {
    action();
    return 'accepted';
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
}

describe('DirectoryWriter', () => {
  it('pads every record to 8 bytes and never writes past the requested size', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 0, max: 2_000 }),
        fc.array(
          fc.string({ minLength: 1, maxLength: 80 }).filter((name) => !/[/\0]/.test(name)),
          {
            maxLength: 60,
          },
        ),
        (plus, size, names) => {
          const writer = new DirectoryWriter(size, plus);
          let expected = 0;
          for (const [index, name] of names.entries()) {
            if (Buffer.byteLength(name) > 255) continue;
            const record = ((plus ? 152 : 24) + Buffer.byteLength(name) + 7) & ~7;
            const added = writer.add(name, BigInt(index + 1), 0o100644, BigInt(index + 1));
            expect(added).toBe(expected + record <= size);
            if (added) expected += record;
          }
          expect(writer.bytes().length).toBe(expected);
          expect(writer.bytes().length).toBeLessThanOrEqual(size);
        },
      ),
    );
  });

  it('refuses empty, long, slashed and NUL names, offset 0, and attributes without a file type', () => {
    const writer = new DirectoryWriter(4_096, true);
    const refusals = [
      () => writer.add('', 2n, 0o100644, 1n),
      () => writer.add('a'.repeat(256), 2n, 0o100644, 1n),
      () => writer.add('日'.repeat(86), 2n, 0o100644, 1n),
      () => writer.add('a/b', 2n, 0o100644, 1n),
      () => writer.add('a\0b', 2n, 0o100644, 1n),
      () => writer.add('a', 2n, 0o100644, 0n),
      () => writer.add('a', 2n, 0o100644, 1n << 63n),
      () => writer.add('a', -1n, 0o100644, 1n),
      () => writer.addEntry('a', 0n, 0o100644, 1n, entry),
      () => writer.addEntry('a', 2n, 0o100644, 1n, { ...entry, attributes: { ...attributes, mode: 0o644 } }),
      () => writer.addEntry('a', 2n, 0o100644, 1n, { ...entry, attrTimeoutMs: -1 }),
      () => new DirectoryWriter(64, false).addEntry('a', 2n, 0o100644, 1n, entry),
    ];
    expect(refusals.map(codeOf)).toEqual(refusals.map(() => 'ERR_FUSE_INVALID_REPLY'));
    expect(writer.bytes().length).toBe(0);
    expect(writer.add('a'.repeat(255), 2n, 0o100644, 1n)).toBe(true);
    expect(writer.add('日'.repeat(85), 3n, 0o100644, 2n)).toBe(true);
  });

  it('leaves no byte of an entry whose attributes it refused midway', () => {
    const writer = new DirectoryWriter(4_096, true);
    const bad = { ...entry, attributes: { ...attributes, ctimeNs: 1 as unknown as bigint } };
    expect(codeOf(() => writer.addEntry('a', 2n, 0o100644, 1n, bad))).toBe('ERR_FUSE_INVALID_REPLY');
    expect(writer.add('b', 3n, 0o040755, 2n)).toBe(true);
    const clean = new DirectoryWriter(4_096, true);
    clean.add('b', 3n, 0o040755, 2n);
    expect(writer.bytes().equals(clean.bytes())).toBe(true);
  });
});

/** Names as listings have them: mostly ASCII, some not, a few at the kernel's 255-byte limit. */
const goodName = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 40 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
    fc.constantFrom('a'.repeat(255), '日'.repeat(85), 'f000001'),
  )
  .filter((name) => !/[/\0]/.test(name) && Buffer.byteLength(name) <= 255);

describe('PackedDirents', () => {
  it('serves any listing, from any offset and in any reply size, with the bytes add gives', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: goodName,
            ino: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
            dir: fc.boolean(),
          }),
          {
            maxLength: 300,
          },
        ),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(fc.integer({ min: 0, max: 4_000 }), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        (listing, firstOffset, sizes, split) => {
          const entries = listing.map((entry) => ({ ...entry, mode: entry.dir ? 0o040000 : 0o100000 }));
          // Some packed at once (none: an empty listing), the rest pushed one by one.
          const packedAtOnce = split % (entries.length + 1);
          const packed =
            packedAtOnce === 0
              ? PackedDirents.empty(firstOffset)
              : PackedDirents.pack(entries.slice(0, packedAtOnce), firstOffset);
          for (const entry of entries.slice(packedAtOnce)) packed.push(entry.name, entry.ino, entry.mode);
          expect(packed.count).toBe(entries.length);
          let from = 0;
          for (const size of sizes) {
            const reply = new DirectoryWriter(size, false);
            const next = reply.addPacked(packed, from);
            const expected = new DirectoryWriter(size, false);
            let index = from;
            while (index < entries.length) {
              const entry = entries[index]!;
              if (!expected.add(entry.name, entry.ino, entry.mode, BigInt(firstOffset + index))) break;
              index += 1;
            }
            expect(next).toBe(index);
            expect(reply.count).toBe(index - from);
            expect(reply.bytes().equals(expected.bytes())).toBe(true);
            from = next;
          }
          // A reply exactly the size of the records left takes every one of them.
          const end = packed.starts[packed.count]!;
          const rest = end - packed.starts[from]!;
          const last = new DirectoryWriter(rest, false);
          expect(last.addPacked(packed, from)).toBe(entries.length);
          expect(last.bytes().equals(packed.bytes.subarray(packed.starts[from]!, end))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a listing with a name the kernel would refuse, as add does', () => {
    for (const bad of ['', 'a/b', 'a\0b', 'a'.repeat(256), '日'.repeat(86)]) {
      const entries = [
        { name: 'ok', ino: 2n, mode: 0o100000 },
        { name: bad, ino: 3n, mode: 0o100000 },
      ];
      expect(codeOf(() => PackedDirents.pack(entries, 3))).toBe('ERR_FUSE_INVALID_REPLY');
    }
    expect(codeOf(() => PackedDirents.pack([{ name: 'a', ino: -1n, mode: 0o100000 }], 3))).toBe(
      'ERR_FUSE_INVALID_REPLY',
    );
    expect(codeOf(() => PackedDirents.pack([{ name: 'a', ino: 2n, mode: 0o100000 }], 0))).toBe(
      'ERR_FUSE_INVALID_REPLY',
    );
    expect(codeOf(() => new DirectoryWriter(4_096, true).addPacked(PackedDirents.pack([], 3), 0))).toBe(
      'ERR_FUSE_INVALID_REPLY',
    );
  });

  it('refuses to push a bad entry, and keeps the records it had', () => {
    const packed = PackedDirents.empty(3);
    packed.push('ok', 2n, 0o100000);
    const before = Buffer.from(packed.bytes.subarray(0, packed.starts[1]!));
    for (const bad of ['', 'a/b', 'a\0b', 'a'.repeat(256)]) {
      expect(codeOf(() => packed.push(bad, 3n, 0o100000))).toBe('ERR_FUSE_INVALID_REPLY');
    }
    expect(codeOf(() => packed.push('a', -1n, 0o100000))).toBe('ERR_FUSE_INVALID_REPLY');
    expect(packed.count).toBe(1);
    expect(packed.bytes.subarray(0, packed.starts[1]!).equals(before)).toBe(true);
    packed.push('next', 4n, 0o040000);
    const reply = new DirectoryWriter(4_096, false);
    expect(reply.addPacked(packed, 0)).toBe(2);
    const expected = new DirectoryWriter(4_096, false);
    expected.add('ok', 2n, 0o100000, 3n);
    expected.add('next', 4n, 0o040000, 4n);
    expect(reply.bytes().equals(expected.bytes())).toBe(true);
  });
});

describe('warmDirectoryWriters', () => {
  it('runs every writer on made-up entries and returns the replies they wrote', () => {
    const { plain, plus, packed } = warmDirectoryWriters();
    const names = ['.', ...Array.from({ length: 32 }, (_, index) => `warm-${index}`)];
    const record = (nameOffset: number, name: string) => (nameOffset + name.length + 7) & ~7;
    expect(plain.length).toBe(names.reduce((sum, name) => sum + record(24, name), 0));
    expect(plus.length).toBe(names.reduce((sum, name) => sum + record(152, name), 0));
    // The packed listing holds the same names with the same offsets, "." aside.
    expect(packed.equals(plain.subarray(record(24, '.')))).toBe(true);
    // "." goes out without attributes (node id 0), the others with their inode as node id.
    expect(plus.readBigUInt64LE(0)).toBe(0n);
    expect(plus.readBigUInt64LE(record(152, '.'))).toBe(2n);
  });
});
