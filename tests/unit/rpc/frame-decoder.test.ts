// Proves the streaming decoder reassembles the same frames however the byte stream is split, and refuses bad streams.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode } from '../../../src/common/status-code.js';
import {
  FrameKind,
  encodeFrameHead,
  frameHeaderBytes,
  type Frame,
  type OutgoingFrame,
} from '../../../src/rpc/frame.js';
import { FrameDecoder } from '../../../src/rpc/frame-decoder.js';

const frameBytesMax = 1024 * 1024;

const outgoingArbitrary: fc.Arbitrary<OutgoingFrame> = fc.record({
  kind: fc.constantFrom(FrameKind.Request, FrameKind.Response),
  status: fc.constant(0),
  requestId: fc.integer({ min: 0, max: 0xffff_ffff }),
  serviceId: fc.integer({ min: 0, max: 0xffff }),
  methodId: fc.integer({ min: 0, max: 0xffff }),
  body: fc.uint8Array({ maxLength: 300 }),
  payload: fc.option(
    fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes)),
    { nil: undefined },
  ),
});

/** Frames whose payloads are often large enough to be received in place (100 bytes and more). */
const largePayloadArbitrary: fc.Arbitrary<OutgoingFrame> = outgoingArbitrary.chain((frame) =>
  fc
    .option(fc.uint8Array({ maxLength: 3000, size: 'max' }), { nil: undefined })
    .map((payload) => ({ ...frame, payload: payload === undefined ? undefined : Buffer.from(payload) })),
);

function wireBytes(frame: OutgoingFrame): Buffer {
  const head = encodeFrameHead(frame);
  return frame.payload === undefined ? head : Buffer.concat([head, frame.payload]);
}

/** Splits `bytes` at the given cut points (taken modulo the length). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => (bytes.length === 0 ? 0 : cut % bytes.length)))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) frames.push(frame);
  }
  return frames;
}

describe('frame decoder', () => {
  it('returns the same frames for any split of the byte stream into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(outgoingArbitrary, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map(wireBytes));
          const decoded = decodeAll(new FrameDecoder({ frameBytesMax }), split(stream, cuts));
          expect(decoded).toHaveLength(frames.length);
          decoded.forEach((frame, index) => {
            const sent = frames[index];
            if (sent === undefined) throw new Error('frame count checked above');
            expect(frame.header.requestId).toBe(sent.requestId);
            expect(frame.header.serviceId).toBe(sent.serviceId);
            expect(frame.header.methodId).toBe(sent.methodId);
            expect([...frame.body]).toEqual([...sent.body]);
            expect(frame.payload === undefined ? undefined : [...frame.payload]).toEqual(
              sent.payload === undefined ? undefined : [...sent.payload],
            );
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('returns the same frames when large payloads are read in place, wherever the reads stop', () => {
    fc.assert(
      fc.property(
        fc.array(largePayloadArbitrary, { maxLength: 8 }),
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 700 }), elsewhere: fc.boolean() }), {
          minLength: 1,
          maxLength: 40,
        }),
        (frames, reads) => {
          const stream = Buffer.concat(frames.map(wireBytes));
          // Payloads of 100 bytes or more are received in place.
          const decoder = new FrameDecoder({ frameBytesMax, directPayloadMinBytes: 100 });
          const decoded: Frame[] = [];
          let sent = 0;
          for (let turn = 0; sent < stream.length; turn++) {
            const read = reads[turn % reads.length] as { size: number; elsewhere: boolean };
            const region = read.elsewhere ? undefined : decoder.directRegion();
            const count = Math.min(read.size, stream.length - sent, region?.length ?? Infinity);
            if (region === undefined) {
              decoder.push(Buffer.from(stream.subarray(sent, sent + count)));
            } else {
              stream.copy(region, 0, sent, sent + count);
              decoder.receivedDirect(count);
            }
            sent += count;
            for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) decoded.push(frame);
          }
          expect(decoded).toHaveLength(frames.length);
          decoded.forEach((frame, index) => {
            const expected = frames[index] as OutgoingFrame;
            expect(frame.header.requestId).toBe(expected.requestId);
            // Compared as buffers: a failure (and its shrinking) stays fast on 3000-byte payloads.
            expect(Buffer.from(expected.body).equals(frame.body)).toBe(true);
            expect(frame.payload === undefined).toBe(expected.payload === undefined);
            if (expected.payload !== undefined)
              expect(expected.payload.equals(frame.payload as Buffer)).toBe(true);
          });
          expect(decoder.directRegion()).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hands out a payload inside one chunk as a view of that chunk, not a copy', () => {
    const payload = Buffer.alloc(5000, 3);
    const bytes = wireBytes({
      kind: FrameKind.Request,
      status: 0,
      requestId: 1,
      serviceId: 1,
      methodId: 1,
      body: new Uint8Array([0xc0]),
      payload,
    });
    const decoder = new FrameDecoder({ frameBytesMax });
    decoder.push(bytes);
    const frame = decoder.next();
    expect(frame?.payload?.buffer).toBe(bytes.buffer);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('reassembles a 16 MiB payload from 64 KiB chunks in linear time', () => {
    const payload = Buffer.alloc(16 * 1024 * 1024, 9);
    const bytes = wireBytes({
      kind: FrameKind.Request,
      status: 0,
      requestId: 1,
      serviceId: 1,
      methodId: 1,
      body: new Uint8Array([0xc0]),
      payload,
    });
    const decoder = new FrameDecoder({ frameBytesMax: 32 * 1024 * 1024 });
    const started = performance.now();
    const frames = decodeAll(
      decoder,
      split(
        bytes,
        Array.from({ length: bytes.length / 65536 }, (_, index) => index * 65536),
      ),
    );
    // Quadratic concatenation would copy about 2 TiB here; a linear decoder copies 16 MiB once.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(frames).toHaveLength(1);
    expect(frames[0]?.payload?.equals(payload)).toBe(true);
  });

  it('refuses an oversized frame as soon as its header arrives, before its bytes are buffered', () => {
    const decoder = new FrameDecoder({ frameBytesMax: 1000 });
    const head = encodeFrameHead({
      kind: FrameKind.Request,
      status: 0,
      requestId: 1,
      serviceId: 1,
      methodId: 1,
      body: new Uint8Array(2000),
      payload: undefined,
    });
    decoder.push(head.subarray(0, frameHeaderBytes));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: RpcCode.FrameTooLarge }) as Error);
  });

  it('stays failed after a malformed header and refuses further input', () => {
    const decoder = new FrameDecoder({ frameBytesMax });
    decoder.push(Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'));
    let first: unknown;
    try {
      decoder.next();
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(FsError);
    expect((first as FsError).code).toBe(RpcCode.MalformedFrame);
    expect(() => decoder.push(Buffer.from([1]))).toThrow(FsError);
    expect(() => decoder.next()).toThrow(FsError);
  });

  it('waits for more bytes while a frame is incomplete', () => {
    const bytes = wireBytes({
      kind: FrameKind.Request,
      status: 0,
      requestId: 1,
      serviceId: 1,
      methodId: 1,
      body: new Uint8Array([1, 2, 3]),
      payload: Buffer.alloc(10),
    });
    const decoder = new FrameDecoder({ frameBytesMax });
    decoder.push(bytes.subarray(0, bytes.length - 1));
    expect(decoder.next()).toBeUndefined();
    decoder.push(bytes.subarray(bytes.length - 1));
    expect(decoder.next()?.payload?.length).toBe(10);
  });
});
