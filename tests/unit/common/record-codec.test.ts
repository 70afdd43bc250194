// Proves that stored records round-trip, that undecodable or misshapen bytes are refused
// with a clear CorruptRecord error rather than returned, and that the same bytes decode to one
// frozen record that no caller can change for another (records holding bytes decode afresh).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { z } from 'zod';
import { decodeRecord, encodeRecord } from '../../../src/common/record-codec.js';
import { FsError } from '../../../src/common/errors.js';
import { CommonCode } from '../../../src/common/status-code.js';

const schema = z.strictObject({ format: z.literal(1), id: z.bigint(), name: z.string(), size: z.number() });

describe('record encoding', () => {
  it('round-trips records, keeping bigints as bigints', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.string(),
        fc.integer(),
        (id, name, size) => {
          const record = { format: 1 as const, id, name, size };
          expect(decodeRecord(schema, encodeRecord(schema, record), 'test')).toEqual(record);
        },
      ),
    );
  });

  it('refuses bytes that do not decode, and records of the wrong shape', () => {
    const garbage = (): unknown => decodeRecord(schema, Buffer.from([0xc1]), 'node 3');
    expect(garbage).toThrow(/stored node 3 is not decodable/);
    const wrong = encodeRecord(z.object({ format: z.number() }), { format: 2 });
    let caught: unknown;
    try {
      decodeRecord(schema, wrong, 'node 3');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FsError);
    expect((caught as FsError).code).toBe(CommonCode.CorruptRecord);
    expect((caught as FsError).message).toContain('stored node 3 has a bad shape');
  });

  it('decodes the same bytes to one frozen record, and the same bytes under another schema by that schema', () => {
    const nested = z.strictObject({
      format: z.literal(1),
      chains: z.array(z.strictObject({ id: z.number() })),
    });
    const bytes = encodeRecord(nested, { format: 1, chains: [{ id: 1 }, { id: 2 }] });
    const first = decodeRecord(nested, bytes, 'layout');
    const again = decodeRecord(nested, Buffer.from(bytes), 'layout');
    expect(again).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.chains)).toBe(true);
    expect(Object.isFrozen(first.chains[0])).toBe(true);
    expect(() => {
      (first.chains as Array<{ id: number }>).push({ id: 3 });
    }).toThrow(TypeError);
    expect(decodeRecord(nested, bytes, 'layout').chains).toEqual([{ id: 1 }, { id: 2 }]);
    // The same bytes refused by a stricter schema stay refused, whatever was decoded before.
    const stricter = z.strictObject({
      format: z.literal(1),
      chains: z.array(z.strictObject({ id: z.string() })),
    });
    expect(() => decodeRecord(stricter, bytes, 'layout')).toThrow(/has a bad shape/);
  });

  it('decodes records holding bytes afresh every time, unfrozen', () => {
    const withBytes = z.strictObject({ format: z.literal(1), value: z.instanceof(Uint8Array) });
    const bytes = encodeRecord(withBytes, { format: 1, value: Buffer.from('abc') });
    // Each read decodes its own copy of the stored bytes, as a KV read returns.
    const first = decodeRecord(withBytes, Buffer.from(bytes), 'xattr');
    const again = decodeRecord(withBytes, Buffer.from(bytes), 'xattr');
    expect(again).not.toBe(first);
    expect(Object.isFrozen(first)).toBe(false);
    first.value[0] = 0x7a;
    expect(Buffer.from(again.value).toString()).toBe('abc');
  });
});
