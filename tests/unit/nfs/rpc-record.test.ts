// Proves record marking hands out exactly the records sent however the stream is cut, and that a stream announcing too much, or of endless empty fragments, or of random bytes, fails without holding more than it received.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { NfsCode } from '../../../src/common/status-code.js';
import { RecordDecoder, encodeRecord } from '../../../src/nfs/rpc-record.js';

const recordBytesMax = 64 * 1024;

/** A record cut into fragments of the given sizes (the rest in a last fragment). */
function fragmented(record: Buffer, sizes: number[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (const size of sizes) {
    if (offset + size >= record.length) break;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(size, 0);
    parts.push(header, record.subarray(offset, offset + size));
    offset += size;
  }
  const header = Buffer.alloc(4);
  header.writeUInt32BE((0x8000_0000 | (record.length - offset)) >>> 0, 0);
  parts.push(header, record.subarray(offset));
  return Buffer.concat(parts);
}

/** `stream` cut at the given points, fed chunk by chunk. */
function feed(decoder: RecordDecoder, stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
  const records: Buffer[] = [];
  let previous = 0;
  for (const point of [...points, stream.length]) {
    records.push(...decoder.push(stream.subarray(previous, point)));
    previous = point;
  }
  return records;
}

describe('record marking', () => {
  it('hands out every record whole, however fragments and chunks fall', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            bytes: fc.uint8Array({ maxLength: 3000 }),
            sizes: fc.array(fc.integer({ min: 0, max: 900 }), { maxLength: 6 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.array(fc.nat(), { maxLength: 20 }),
        (records, cuts) => {
          const stream = Buffer.concat(
            records.map((record) => fragmented(Buffer.from(record.bytes), record.sizes)),
          );
          const decoder = new RecordDecoder({ recordBytesMax, fragmentsMax: 16 });
          const received = feed(decoder, stream, cuts);
          expect(received.map((record) => [...record])).toEqual(records.map((record) => [...record.bytes]));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it('writes one-fragment records that read back', () => {
    const decoder = new RecordDecoder({ recordBytesMax, fragmentsMax: 1 });
    const message = [Buffer.from('abc'), Buffer.from('defgh')];
    const stream = Buffer.concat(encodeRecord(message));
    expect(decoder.push(stream).map((record) => record.toString())).toEqual(['abcdefgh']);
  });

  it('fails at a header announcing a record over the bound, before its bytes arrive', () => {
    const decoder = new RecordDecoder({ recordBytesMax, fragmentsMax: 4 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE((0x8000_0000 | (recordBytesMax + 1)) >>> 0, 0);
    expect(() => decoder.push(header)).toThrow(expect.objectContaining({ code: NfsCode.RecordTooLarge }));
    expect(decoder.bufferedBytes).toBe(0);
    // Once failed, it stays failed.
    expect(() => decoder.push(Buffer.alloc(4))).toThrow(FsError);
  });

  it('counts fragments across a record, so that fragments adding up past the bound fail', () => {
    const decoder = new RecordDecoder({ recordBytesMax: 100, fragmentsMax: 64 });
    const fragment = Buffer.alloc(4 + 60);
    fragment.writeUInt32BE(60, 0);
    expect(decoder.push(fragment)).toEqual([]);
    expect(() => decoder.push(fragment)).toThrow(expect.objectContaining({ code: NfsCode.RecordTooLarge }));
  });

  it('fails on a stream of empty fragments instead of spinning', () => {
    const decoder = new RecordDecoder({ recordBytesMax, fragmentsMax: 8 });
    expect(() => decoder.push(Buffer.alloc(4 * 1000))).toThrow(
      expect.objectContaining({ code: NfsCode.MalformedXdr }),
    );
  });

  it('on random bytes either hands out records or fails, never holding more than it received', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 12 }), (chunks) => {
        const decoder = new RecordDecoder({ recordBytesMax: 1024, fragmentsMax: 4 });
        let received = 0;
        for (const chunk of chunks) {
          received += chunk.length;
          try {
            const records = decoder.push(Buffer.from(chunk));
            for (const record of records) expect(record.length).toBeLessThanOrEqual(1024);
          } catch (error) {
            expect(error).toBeInstanceOf(FsError);
            return;
          }
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(Math.min(received, 1024 + 4));
        }
      }),
    );
  });
});
