// Proves bodies keep their JavaScript types across the wire: bigint stays bigint, safe integers stay numbers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { CommonCode, RpcCode } from '../../../src/common/status-code.js';
import { decodeBody, encodeBody } from '../../../src/rpc/body-codec.js';

const roundTrip = (value: unknown): unknown => decodeBody(encodeBody(value));

describe('body codec', () => {
  it('keeps bigints as bigints at every size', () => {
    const values = [
      0n,
      1n,
      255n,
      2n ** 32n,
      2n ** 53n + 1n,
      2n ** 63n,
      2n ** 64n - 1n,
      2n ** 64n,
      -1n,
      -(2n ** 63n),
      2n ** 200n + 7n,
      -(2n ** 130n),
    ];
    for (const value of values) expect(roundTrip({ value })).toEqual({ value });
  });

  it('keeps safe integers as numbers, including those beyond 32 bits', () => {
    const values = [
      0,
      1,
      -1,
      127,
      128,
      -33,
      65_536,
      2 ** 32,
      2 ** 40,
      -(2 ** 40),
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ];
    for (const value of values) {
      const decoded = roundTrip(value);
      expect(typeof decoded).toBe('number');
      expect(decoded).toBe(value);
    }
  });

  it('round-trips any mix of numbers and bigints with their types', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.bigInt(),
            fc.maxSafeInteger(),
            // MessagePack has one integer zero: -0 arrives as 0, which no caller can tell apart.
            fc.double({ noNaN: true }).map((value) => (Object.is(value, -0) ? 0 : value)),
            fc.string(),
            fc.boolean(),
            fc.constant(null),
          ),
        ),
        (values) => {
          expect(roundTrip({ values })).toEqual({ values });
        },
      ),
    );
  });

  it('leaves out undefined properties so optional fields decode as absent', () => {
    expect(roundTrip({ present: 1, absent: undefined })).toStrictEqual({ present: 1 });
  });

  it('carries bytes as Uint8Array', () => {
    const decoded = roundTrip({ bytes: Buffer.from([1, 2, 3]) }) as { bytes: Uint8Array };
    expect(decoded.bytes).toBeInstanceOf(Uint8Array);
    expect([...decoded.bytes]).toEqual([1, 2, 3]);
  });

  it('refuses bytes that are not one msgpack value as a malformed frame', () => {
    for (const bytes of [
      new Uint8Array(),
      Uint8Array.from([0xc1]),
      Uint8Array.from([0x01, 0x02]),
      Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
    ]) {
      expect(() => decodeBody(bytes)).toThrow(
        expect.objectContaining({ code: RpcCode.MalformedFrame }) as Error,
      );
    }
  });

  it('refuses a malformed bigint extension', () => {
    // fixext 4 (0xd6), type 0, four bytes: neither the 8-byte form nor sign + magnitude.
    expect(() => decodeBody(Uint8Array.from([0xd6, 0x00, 1, 2, 3, 4]))).toThrow(FsError);
  });

  it('refuses a __proto__ key rather than polluting prototypes', () => {
    const bytes = Uint8Array.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]);
    expect(() => decodeBody(bytes)).toThrow(FsError);
  });

  it('reports a value msgpack cannot carry as an invalid argument', () => {
    expect(() => encodeBody({ run: () => 1 })).toThrow(
      expect.objectContaining({ code: CommonCode.InvalidArgument }) as Error,
    );
    expect(() => encodeBody(Symbol('nope'))).toThrow(
      expect.objectContaining({ code: CommonCode.InvalidArgument }) as Error,
    );
  });
});
