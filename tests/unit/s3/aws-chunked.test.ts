// Proves the aws-chunked decoder yields exactly the data however the body is split, checks AWS's published chunk signatures, signed and unsigned trailers, and refuses tampered chunks, bad trailers, truncated bodies and lengths that disagree.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChunkSigning } from '../../../src/s3/authenticate.js';
import { decodeAwsChunked, type AwsChunkedOptions } from '../../../src/s3/aws-chunked.js';
import {
  chunkStringToSign,
  sha256Hex,
  sign,
  signingKey,
  trailerStringToSign,
} from '../../../src/s3/sigv4.js';

const scope = { date: '20130524', region: 'us-east-1', service: 's3' };
const signing: ChunkSigning = {
  key: signingKey('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', scope),
  scope,
  amzDate: '20130524T000000Z',
  seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
};

/** An aws-chunked body of `chunks`, signed from the seed when `signed`, with optional trailers. */
function encode(chunks: Buffer[], options: { signed: boolean; trailers?: Record<string, string> }): Buffer {
  const parts: Buffer[] = [];
  let previous = signing.seedSignature;
  for (const chunk of [...chunks, Buffer.alloc(0)]) {
    let header = chunk.length.toString(16);
    if (options.signed) {
      previous = sign(
        signing.key,
        chunkStringToSign({ ...signing, previousSignature: previous, chunkSha256: sha256Hex(chunk) }),
      );
      header += `;chunk-signature=${previous}`;
    }
    parts.push(Buffer.from(`${header}\r\n`), chunk);
    if (chunk.length > 0) parts.push(Buffer.from('\r\n'));
  }
  if (options.trailers !== undefined) {
    const lines = Object.entries(options.trailers).map(([name, value]) => `${name}:${value}\n`);
    for (const line of lines) parts.push(Buffer.from(line.replace('\n', '\r\n')));
    if (options.signed) {
      const signature = sign(
        signing.key,
        trailerStringToSign({ ...signing, previousSignature: previous, trailerText: lines.join('') }),
      );
      parts.push(Buffer.from(`x-amz-trailer-signature:${signature}\r\n`));
    }
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

async function decode(
  pieces: Buffer[],
  options: Partial<AwsChunkedOptions> = {},
): Promise<{ data: Buffer; trailers: ReadonlyMap<string, string> }> {
  async function* source() {
    for (const piece of pieces) yield piece;
  }
  const generator = decodeAwsChunked(source(), {
    signing,
    trailer: false,
    decodedLength: undefined,
    decodedBytesMax: 1 << 30,
    ...options,
  });
  const out: Buffer[] = [];
  for (;;) {
    const next = await generator.next();
    if (next.done === true) return { data: Buffer.concat(out), trailers: next.value };
    out.push(next.value);
  }
}

function split(body: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (body.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(body.subarray(start, point));
    start = point;
  }
  pieces.push(body.subarray(start));
  return pieces;
}

describe('aws-chunked', () => {
  it("verifies AWS's example: 66,560 bytes in chunks of 64 KiB and 1 KiB", async () => {
    const body = encode([Buffer.alloc(65_536, 'a'), Buffer.alloc(1024, 'a')], { signed: true });
    expect(body.length).toBe(66_824);
    expect(body.toString('latin1')).toContain(
      'chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    );
    expect(body.toString('latin1')).toContain(
      '0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
    );
    const { data } = await decode([body], { decodedLength: 66_560 });
    expect(data.equals(Buffer.alloc(66_560, 'a'))).toBe(true);
  });

  it('yields the same data however the body is cut into pieces', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        async (chunks, cuts, signed) => {
          const buffers = chunks.map((chunk) => Buffer.from(chunk));
          const body = encode(buffers, { signed });
          const result = await decode(split(body, cuts), signed ? {} : { signing: undefined });
          expect(result.data.equals(Buffer.concat(buffers))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a changed byte, a dropped signature and a truncated body', async () => {
    const body = encode([Buffer.from('hello world'), Buffer.from('second')], { signed: true });
    const tampered = Buffer.from(body);
    tampered[tampered.indexOf('world')] = 0x57;
    await expect(decode([tampered])).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    const unsigned = encode([Buffer.from('hello')], { signed: false });
    await expect(decode([unsigned])).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    for (const cut of [5, body.length - 40, body.length - 1]) {
      await expect(decode([body.subarray(0, cut)])).rejects.toMatchObject({ code: 'IncompleteBody' });
    }
  });

  it('refuses lengths that disagree with x-amz-decoded-content-length or the bound', async () => {
    const body = encode([Buffer.alloc(100, 1)], { signed: true });
    await expect(decode([body], { decodedLength: 99 })).rejects.toMatchObject({ code: 'InvalidRequest' });
    await expect(decode([body], { decodedLength: 101 })).rejects.toMatchObject({ code: 'IncompleteBody' });
    await expect(decode([body], { decodedBytesMax: 50 })).rejects.toMatchObject({ code: 'EntityTooLarge' });
  });

  it('reads signed and unsigned trailers and refuses a forged trailer', async () => {
    const trailers = { 'x-amz-checksum-crc32': 'AAAAAA==' };
    const signed = encode([Buffer.from('abc')], { signed: true, trailers });
    expect((await decode([signed], { trailer: true })).trailers.get('x-amz-checksum-crc32')).toBe('AAAAAA==');
    const unsigned = encode([Buffer.from('abc')], { signed: false, trailers });
    const read = await decode(split(unsigned, [3, 9, 20]), { trailer: true, signing: undefined });
    expect(read.data.toString()).toBe('abc');
    expect(read.trailers.get('x-amz-checksum-crc32')).toBe('AAAAAA==');
    const forged = Buffer.from(signed.toString('latin1').replace('AAAAAA==', 'BBBBBB=='), 'latin1');
    await expect(decode([forged], { trailer: true })).rejects.toMatchObject({
      code: 'SignatureDoesNotMatch',
    });
  });

  it('refuses malformed framing', async () => {
    const bodies = [
      'zz;chunk-signature=00\r\n',
      `3;chunk-signature=${'0'.repeat(64)}\r\nabcX\r\n`,
      'x'.repeat(5000),
    ];
    for (const body of bodies) {
      await expect(decode([Buffer.from(body)])).rejects.toMatchObject({ status: expect.any(Number) });
    }
  });
});
