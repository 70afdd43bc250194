// Proves a request body is checked at its end against what the request promised (length, signed SHA-256, Content-MD5, x-amz-checksum headers and trailers, CRC64/NVME and the CRC32s by their standard check values) and that oversized or short bodies are refused.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PayloadCheck } from '../../../src/s3/authenticate.js';
import { runningChecksum } from '../../../src/s3/checksums.js';
import { RequestBody, planBody } from '../../../src/s3/request-body.js';

async function* pieces(...parts: string[]) {
  for (const part of parts) yield Buffer.from(part);
}

function read(
  headers: Record<string, string>,
  payload: PayloadCheck,
  parts: string[],
  bytesMax = 1 << 20,
): Promise<Buffer> {
  const plan = planBody(headers, payload, { bytesMax, lengthRequired: true });
  return new RequestBody(pieces(...parts), plan).readAll();
}

const unsigned: PayloadCheck = { kind: 'unsigned' };

function checksumOf(algorithm: Parameters<typeof runningChecksum>[0], text: string): string {
  const running = runningChecksum(algorithm);
  running.update(Buffer.from(text));
  return running.digest();
}

describe('checksums', () => {
  it('computes the standard check values of "123456789"', () => {
    const hex = (algorithm: Parameters<typeof runningChecksum>[0]) =>
      Buffer.from(checksumOf(algorithm, '123456789'), 'base64').toString('hex');
    expect(hex('crc32')).toBe('cbf43926');
    expect(hex('crc32c')).toBe('e3069283');
    expect(hex('crc64nvme')).toBe('ae8b14860a799888');
    expect(hex('sha1')).toBe(createHash('sha1').update('123456789').digest('hex'));
  });

  it('gives the same CRC64/NVME in pieces as in one', () => {
    const running = runningChecksum('crc64nvme');
    for (const part of ['1234', '5', '6789']) running.update(Buffer.from(part));
    expect(running.digest()).toBe(checksumOf('crc64nvme', '123456789'));
  });
});

describe('request bodies', () => {
  it('passes a body that matches its length, hash, Content-MD5 and checksum, and gives its MD5', async () => {
    const text = 'hello world';
    const headers = {
      'content-length': String(text.length),
      'content-md5': createHash('md5').update(text).digest('base64'),
      'x-amz-checksum-crc32c': checksumOf('crc32c', text),
    };
    const payload: PayloadCheck = {
      kind: 'sha256',
      expected: createHash('sha256').update(text).digest('hex'),
    };
    const plan = planBody(headers, payload, { bytesMax: 100, lengthRequired: true });
    const body = new RequestBody(pieces('hello ', 'world'), plan);
    expect((await body.readAll()).toString()).toBe(text);
    expect(body.md5Hex()).toBe(createHash('md5').update(text).digest('hex'));
  });

  it('refuses each broken promise with its S3 code', async () => {
    const text = 'hello world';
    const length = { 'content-length': String(text.length) };
    await expect(read(length, { kind: 'sha256', expected: '0'.repeat(64) }, [text])).rejects.toMatchObject({
      code: 'XAmzContentSHA256Mismatch',
    });
    await expect(
      read({ ...length, 'content-md5': createHash('md5').update('other').digest('base64') }, unsigned, [
        text,
      ]),
    ).rejects.toMatchObject({ code: 'BadDigest' });
    await expect(
      read({ ...length, 'x-amz-checksum-sha256': checksumOf('sha256', 'other') }, unsigned, [text]),
    ).rejects.toMatchObject({ code: 'BadDigest' });
    await expect(read(length, unsigned, ['hello'])).rejects.toMatchObject({ code: 'IncompleteBody' });
  });

  it('refuses up front what the headers already condemn', () => {
    const plan = (headers: Record<string, string>) =>
      planBody(headers, unsigned, { bytesMax: 1000, lengthRequired: true });
    expect(() => plan({ 'content-length': '1000000000000000' })).toThrow(
      expect.objectContaining({ code: 'EntityTooLarge' }),
    );
    expect(() => plan({})).toThrow(expect.objectContaining({ code: 'MissingContentLength' }));
    expect(() => plan({ 'content-length': '-1' })).toThrow(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
    expect(() => plan({ 'content-length': '1', 'content-md5': 'abc' })).toThrow(
      expect.objectContaining({ code: 'InvalidDigest' }),
    );
    expect(() => plan({ 'content-length': '1', 'x-amz-trailer': 'x-amz-checksum-crc32' })).toThrow(
      expect.objectContaining({ code: 'InvalidRequest' }),
    );
  });

  it('stops a body without a length at the bound', async () => {
    const plan = planBody({ 'transfer-encoding': 'chunked' }, unsigned, {
      bytesMax: 8,
      lengthRequired: true,
    });
    await expect(new RequestBody(pieces('12345', '67890'), plan).readAll()).rejects.toMatchObject({
      code: 'EntityTooLarge',
    });
  });

  it('turns a broken connection into IncompleteBody', async () => {
    async function* broken() {
      yield Buffer.from('abc');
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    }
    const plan = planBody({ 'content-length': '10' }, unsigned, { bytesMax: 100, lengthRequired: true });
    await expect(new RequestBody(broken(), plan).readAll()).rejects.toMatchObject({ code: 'IncompleteBody' });
  });
});
