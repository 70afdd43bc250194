// Proves an object's record keeps its ETag and metadata while the file is as it was written and gives way to a derived, non-MD5 ETag once the file changed, that user metadata is bounded, and that the multipart ETag is S3's.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Inode } from '../../../src/client/index.js';
import {
  encodeObjectRecord,
  metadataFromHeaders,
  multipartEtag,
  objectHeaders,
  objectInfo,
} from '../../../src/s3/object-meta.js';

const file = {
  type: 'file',
  ino: 42n,
  mode: 0o644,
  uid: 0,
  gid: 0,
  nlink: 1,
  atimeNs: 0n,
  mtimeNs: 1_700_000_000_000_000_000n,
  ctimeNs: 0n,
  length: 5n,
  truncateVersion: 0,
  layout: {
    chainTableId: 1,
    chainTableVersion: 1,
    chunkSizeBytes: 4096,
    stripeSize: 1,
    chains: [1],
    seed: 0,
  },
} as const satisfies Inode;

describe('object records', () => {
  const metadata = metadataFromHeaders({
    'content-type': 'text/plain',
    'cache-control': 'no-cache',
    'content-encoding': 'aws-chunked,gzip',
    'x-amz-meta-color': 'blue',
    'x-amz-content-sha256': 'ignored',
  });

  it('keeps what the upload said while the file is unchanged', () => {
    expect(metadata).toEqual({
      contentType: 'text/plain',
      headers: { 'cache-control': 'no-cache', 'content-encoding': 'gzip' },
      meta: { color: 'blue' },
    });
    const info = objectInfo(file, encodeObjectRecord(file, 'abc', metadata));
    expect(info.etag).toBe('abc');
    expect(objectHeaders(info)).toMatchObject({
      'content-type': 'text/plain',
      'cache-control': 'no-cache',
      'x-amz-meta-color': 'blue',
      etag: '"abc"',
    });
  });

  it('derives an ETag with a "-" for a file changed since, or without a record', () => {
    const record = encodeObjectRecord(file, 'abc', metadata);
    const changed = objectInfo({ ...file, mtimeNs: file.mtimeNs + 1n }, record);
    expect(changed.etag).toMatch(/^[0-9a-f]{32}-1$/);
    expect(objectInfo({ ...file, length: 6n }, record).etag).not.toBe('abc');
    expect(objectInfo(file, undefined).etag).toMatch(/^[0-9a-f]{32}-1$/);
    expect(objectInfo(file, Buffer.from('not json')).etag).toMatch(/-1$/);
  });

  it('refuses more than 2 KiB of user metadata', () => {
    expect(() => metadataFromHeaders({ 'x-amz-meta-big': 'x'.repeat(2048) })).toThrow(
      expect.objectContaining({ code: 'MetadataTooLarge' }),
    );
  });

  it("computes S3's multipart ETag", () => {
    const parts = ['part one', 'part two'].map((text) => createHash('md5').update(text).digest('hex'));
    const expected = createHash('md5')
      .update(Buffer.concat(parts.map((hex) => Buffer.from(hex, 'hex'))))
      .digest('hex');
    expect(multipartEtag(parts)).toBe(`${expected}-2`);
  });
});
