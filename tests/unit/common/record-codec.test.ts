// Proves that stored records round-trip, and that undecodable or misshapen bytes are refused
// with a clear CorruptRecord error rather than returned.
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
});
