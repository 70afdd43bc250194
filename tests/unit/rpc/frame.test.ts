// Proves the frame header encodes and decodes losslessly and that malformed or oversized headers are refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { RpcCode } from '../../../src/common/status-code.js';
import {
  FrameFlag,
  FrameKind,
  decodeHeader,
  encodeFrameHead,
  encodeHeader,
  frameHeaderBytes,
  payloadChecksumMatches,
  type FrameHeader,
} from '../../../src/rpc/frame.js';

const frameBytesMax = limits.rpcFrameBytesMaxDefault;
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

const headerArbitrary: fc.Arbitrary<FrameHeader> = fc
  .record({
    kind: fc.constantFrom(...Object.values(FrameKind)),
    hasPayload: fc.boolean(),
    status: u32,
    requestId: u32,
    serviceId: u16,
    methodId: u16,
    bodyLength: fc.integer({ min: 0, max: limits.rpcBodyBytesMax }),
    payloadLength: fc.integer({ min: 0, max: 32 * 1024 * 1024 }),
    payloadCrc32c: u32,
  })
  .map((fields) => ({
    kind: fields.kind,
    flags: fields.hasPayload ? FrameFlag.HasPayload : 0,
    status: fields.kind === FrameKind.Request ? 0 : fields.status,
    requestId: fields.requestId,
    serviceId: fields.serviceId,
    methodId: fields.methodId,
    bodyLength: fields.bodyLength,
    payloadLength: fields.hasPayload ? fields.payloadLength : 0,
    payloadCrc32c: fields.hasPayload ? fields.payloadCrc32c : 0,
  }));

function encoded(header: FrameHeader): Buffer {
  const bytes = Buffer.alloc(frameHeaderBytes);
  encodeHeader(header, bytes);
  return bytes;
}

function validHeader(overrides: Partial<FrameHeader> = {}): FrameHeader {
  return {
    kind: FrameKind.Request,
    flags: 0,
    status: 0,
    requestId: 7,
    serviceId: 1,
    methodId: 2,
    bodyLength: 10,
    payloadLength: 0,
    payloadCrc32c: 0,
    ...overrides,
  };
}

function refusal(bytes: Buffer, options = { frameBytesMax }): FsError {
  try {
    decodeHeader(bytes, options);
  } catch (error) {
    if (error instanceof FsError) return error;
    throw error;
  }
  throw new Error('header was accepted');
}

describe('frame header', () => {
  it('decodes every valid header to exactly what was encoded', () => {
    fc.assert(
      fc.property(headerArbitrary, (header) => {
        expect(decodeHeader(encoded(header), { frameBytesMax })).toEqual(header);
      }),
    );
  });

  it('refuses a header with a bad magic', () => {
    const bytes = encoded(validHeader());
    bytes.writeUInt32BE(0x48545450, 0);
    expect(refusal(bytes).code).toBe(RpcCode.MalformedFrame);
  });

  it('refuses a header of another version', () => {
    const bytes = encoded(validHeader());
    bytes.writeUInt8(99, 4);
    expect(refusal(bytes).message).toMatch(/version 99/);
  });

  it('refuses an unknown frame kind', () => {
    const bytes = encoded(validHeader());
    bytes.writeUInt8(200, 5);
    expect(refusal(bytes).code).toBe(RpcCode.MalformedFrame);
  });

  it('refuses unknown flag bits', () => {
    expect(refusal(encoded(validHeader({ flags: 0x8000 }))).message).toMatch(/flags/);
  });

  it('refuses a payload length without the payload flag', () => {
    expect(refusal(encoded(validHeader({ payloadLength: 5 }))).code).toBe(RpcCode.MalformedFrame);
  });

  it('refuses a request that carries a status', () => {
    expect(refusal(encoded(validHeader({ status: 3 }))).code).toBe(RpcCode.MalformedFrame);
  });

  it('refuses a body larger than the body limit', () => {
    const header = validHeader({ bodyLength: limits.rpcBodyBytesMax + 1 });
    expect(refusal(encoded(header)).code).toBe(RpcCode.FrameTooLarge);
  });

  it('refuses a frame larger than the configured frame limit, and accepts one exactly at it', () => {
    const atLimit = validHeader({
      flags: FrameFlag.HasPayload,
      bodyLength: 10,
      payloadLength: 1000 - frameHeaderBytes - 10,
    });
    expect(decodeHeader(encoded(atLimit), { frameBytesMax: 1000 })).toEqual(atLimit);
    const overLimit = { ...atLimit, payloadLength: atLimit.payloadLength + 1 };
    expect(refusal(encoded(overLimit), { frameBytesMax: 1000 }).code).toBe(RpcCode.FrameTooLarge);
  });

  it('refuses a truncated header', () => {
    expect(refusal(encoded(validHeader()).subarray(0, 20)).code).toBe(RpcCode.MalformedFrame);
  });
});

describe('frame head encoding', () => {
  it('puts the payload checksum in the header and the body right after it', () => {
    const payload = Buffer.from('chunk bytes');
    const head = encodeFrameHead({
      kind: FrameKind.Response,
      status: 0,
      requestId: 9,
      serviceId: 3,
      methodId: 4,
      body: Uint8Array.from([1, 2, 3]),
      payload,
    });
    const header = decodeHeader(head, { frameBytesMax });
    expect(header.payloadLength).toBe(payload.length);
    expect([...head.subarray(frameHeaderBytes)]).toEqual([1, 2, 3]);
    expect(payloadChecksumMatches({ header, body: head.subarray(frameHeaderBytes), payload })).toBe(true);
    const corrupted = Buffer.from(payload);
    corrupted[0] = (corrupted[0] ?? 0) ^ 1;
    expect(
      payloadChecksumMatches({ header, body: head.subarray(frameHeaderBytes), payload: corrupted }),
    ).toBe(false);
  });
});
