// Proves the XDR reader and writer agree on every type, and that the reader, fed random or cut-short bytes, only ever fails with MalformedXdr and never allocates more than the message holds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { NfsCode } from '../../../src/common/status-code.js';
import { XdrReader, XdrWriter, paddingOf } from '../../../src/nfs/xdr.js';

type Item =
  | { kind: 'u32'; value: number }
  | { kind: 'i32'; value: number }
  | { kind: 'u64'; value: bigint }
  | { kind: 'i64'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'opaque'; value: Uint8Array }
  | { kind: 'big'; value: Uint8Array }
  | { kind: 'string'; value: string }
  | { kind: 'array'; value: number[] };

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.integer({ min: 0, max: 0xffff_ffff }).map((value) => ({ kind: 'u32' as const, value })),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ kind: 'i32' as const, value })),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((value) => ({ kind: 'u64' as const, value })),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((value) => ({ kind: 'i64' as const, value })),
  fc.boolean().map((value) => ({ kind: 'bool' as const, value })),
  fc.uint8Array({ maxLength: 40 }).map((value) => ({ kind: 'opaque' as const, value })),
  fc.uint8Array({ minLength: 500, maxLength: 3000 }).map((value) => ({ kind: 'big' as const, value })),
  fc.string({ maxLength: 30 }).map((value) => ({ kind: 'string' as const, value })),
  fc
    .array(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: 10 })
    .map((value) => ({ kind: 'array' as const, value })),
);

function write(writer: XdrWriter, entry: Item): void {
  switch (entry.kind) {
    case 'u32':
      writer.u32(entry.value);
      return;
    case 'i32':
      writer.i32(entry.value);
      return;
    case 'u64':
      writer.u64(entry.value);
      return;
    case 'i64':
      writer.i64(entry.value);
      return;
    case 'bool':
      writer.bool(entry.value);
      return;
    case 'opaque':
      writer.opaque(entry.value);
      return;
    case 'big':
      writer.opaqueByReference(Buffer.from(entry.value));
      return;
    case 'string':
      writer.string(entry.value);
      return;
    case 'array':
      writer.u32(entry.value.length);
      for (const value of entry.value) writer.u32(value);
  }
}

function read(reader: XdrReader, entry: Item): unknown {
  switch (entry.kind) {
    case 'u32':
      return reader.u32();
    case 'i32':
      return reader.i32();
    case 'u64':
      return reader.u64();
    case 'i64':
      return reader.i64();
    case 'bool':
      return reader.bool();
    case 'opaque':
    case 'big':
      return new Uint8Array(reader.opaque(4096));
    case 'string':
      return reader.string(4096);
    case 'array':
      return reader.array(16, (inner) => inner.u32());
  }
}

function expectMalformed(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(FsError);
    expect((error as FsError).code).toBe(NfsCode.MalformedXdr);
  }
}

describe('XDR', () => {
  it('reads back whatever was written, item by item, whole or in segments', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 20 }), (items) => {
        const writer = new XdrWriter(1 << 20);
        for (const entry of items) write(writer, entry);
        const bytes = writer.toBuffer();
        expect(bytes.length % 4).toBe(0);
        const reader = new XdrReader(bytes);
        for (const entry of items) {
          const value = read(reader, entry);
          expect(value).toEqual(entry.kind === 'big' || entry.kind === 'opaque' ? entry.value : entry.value);
        }
        expect(reader.remaining).toBe(0);
      }),
    );
  });

  it('fills placeholders after the buffer grew and after a payload segment', () => {
    const writer = new XdrWriter(1 << 20);
    const count = writer.placeholder();
    writer.opaqueByReference(Buffer.alloc(5000, 7));
    for (let index = 0; index < 300; index++) writer.u32(index);
    const second = writer.placeholder();
    for (let index = 0; index < 300; index++) writer.u64(BigInt(index));
    count.set(11);
    second.set(22);
    const reader = new XdrReader(writer.toBuffer());
    expect(reader.u32()).toBe(11);
    expect(reader.opaque(5000).length).toBe(5000);
    for (let index = 0; index < 300; index++) reader.u32();
    expect(reader.u32()).toBe(22);
  });

  it('refuses to write past its bound', () => {
    const writer = new XdrWriter(16);
    writer.u64(1n).u64(2n);
    expect(() => writer.u32(3)).toThrow(FsError);
    expect(() => new XdrWriter(64).opaqueByReference(Buffer.alloc(600))).toThrow(FsError);
  });

  it('pads opaque data to four bytes with zeros', () => {
    expect([0, 1, 2, 3, 4, 5].map(paddingOf)).toEqual([0, 3, 2, 1, 0, 3]);
    const bytes = new XdrWriter(64).opaque(Buffer.from([9])).toBuffer();
    expect([...bytes]).toEqual([0, 0, 0, 1, 9, 0, 0, 0]);
  });

  it('refuses a length beyond the maximum or beyond the bytes left, before allocating', () => {
    const huge = new XdrWriter(64).u32(0xffff_fff0).toBuffer();
    expectMalformed(() => new XdrReader(huge).opaque(0xffff_ffff));
    expect(() => new XdrReader(huge).opaque(0xffff_ffff)).toThrow(FsError);
    expect(() => new XdrReader(new XdrWriter(64).u32(5).toBuffer()).opaque(4)).toThrow(/at most 4/);
    // An array count that could not fit in the bytes left fails before any item is read.
    let itemsRead = 0;
    const counted = new XdrWriter(64).u32(1_000_000).u32(1).toBuffer();
    expect(() =>
      new XdrReader(counted).array(2_000_000, (inner) => {
        itemsRead += 1;
        return inner.u32();
      }),
    ).toThrow(FsError);
    expect(itemsRead).toBe(0);
  });

  it('refuses booleans other than 0 and 1, and enums outside their set', () => {
    expect(() => new XdrReader(new XdrWriter(8).u32(2).toBuffer()).bool()).toThrow(FsError);
    expect(() => new XdrReader(new XdrWriter(8).u32(7).toBuffer()).enumOf([1, 2], 'kind')).toThrow(FsError);
  });

  it('fails only with MalformedXdr on random and truncated input', () => {
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 12 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(),
        (items, noise, cut) => {
          const writer = new XdrWriter(1 << 20);
          for (const entry of items) write(writer, entry);
          const valid = writer.toBuffer();
          const truncated = valid.subarray(0, valid.length === 0 ? 0 : cut % valid.length);
          for (const bytes of [truncated, Buffer.from(noise)]) {
            expectMalformed(() => {
              const reader = new XdrReader(bytes);
              for (const entry of items) read(reader, entry);
            });
          }
        },
      ),
    );
  });
});
