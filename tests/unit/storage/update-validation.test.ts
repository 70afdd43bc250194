// Proves that bad updates are refused at the edge with a status code that names the problem:
// ranges past the chunk size, oversize payloads and chunk sizes, lengths that disagree with the
// payload, and payloads that fail the checksum they were checked against on the way in; a payload
// nobody checked goes on with the checksum the store must check it against.
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { FsError } from '../../../src/common/errors.js';
import { StorageCode } from '../../../src/common/status-code.js';
import { checkReadRange, toChunkUpdate } from '../../../src/storage/craq/update-validation.js';
import type { ChunkUpdateOp } from '../../../src/storage/protocol/index.js';

const data = Buffer.from('payload');
const good: ChunkUpdateOp = { kind: 'write', offset: 10, length: data.length, checksum: crc32c(data) };

function codeOf(run: () => unknown): number | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof FsError) return error.code;
    throw error;
  }
  return undefined;
}

const check = (
  op: ChunkUpdateOp,
  payload: Buffer | undefined,
  chunkSizeBytes = 100,
  chunkSizeMaxBytes = 1_000,
) => codeOf(() => toChunkUpdate({ op, payload, chunkSizeBytes, chunkSizeMaxBytes }));

describe('update validation', () => {
  it('accepts a well-formed update', () => {
    expect(
      toChunkUpdate({
        op: good,
        payload: data,
        payloadCrc32c: crc32c(data),
        chunkSizeBytes: 100,
        chunkSizeMaxBytes: 1_000,
      }),
    ).toEqual({ kind: 'write', offset: 10, data });
    // Not checked on the way in: the store checks it, against the announced checksum.
    expect(toChunkUpdate({ op: good, payload: data, chunkSizeBytes: 100, chunkSizeMaxBytes: 1_000 })).toEqual(
      { kind: 'write', offset: 10, data, checkAgainst: crc32c(data) },
    );
    expect(check({ kind: 'truncate', length: 100 }, undefined)).toBeUndefined();
    expect(check({ kind: 'remove' }, undefined)).toBeUndefined();
    expect(check({ kind: 'zero', offset: 10, length: 90 }, undefined)).toBeUndefined();
  });

  it('refuses ranges past the chunk size', () => {
    expect(check({ ...good, offset: 95 }, data)).toBe(StorageCode.OffsetOutOfRange);
    expect(check({ kind: 'truncate', length: 101 }, undefined)).toBe(StorageCode.OffsetOutOfRange);
    expect(check({ kind: 'zero', offset: 10, length: 91 }, undefined)).toBe(StorageCode.OffsetOutOfRange);
    expect(check({ kind: 'zero', offset: 101, length: 0 }, undefined)).toBe(StorageCode.OffsetOutOfRange);
  });

  it('refuses oversize payloads and chunk sizes', () => {
    const big = Buffer.alloc(101);
    expect(check({ kind: 'replace', length: 101, checksum: crc32c(big) }, big)).toBe(
      StorageCode.PayloadTooLarge,
    );
    expect(check(good, data, 2_000, 1_000)).toBe(StorageCode.PayloadTooLarge);
  });

  it('refuses payloads whose length or checksum disagrees with the request', () => {
    expect(check({ ...good, length: 3 }, data)).toBe(StorageCode.PayloadLengthMismatch);
    // The CRC32C the frame was checked against stands for the payload's: it must agree too.
    const verified = (payloadCrc32c: number): number | undefined =>
      codeOf(() =>
        toChunkUpdate({
          op: good,
          payload: data,
          payloadCrc32c,
          chunkSizeBytes: 100,
          chunkSizeMaxBytes: 1_000,
        }),
      );
    expect(verified(crc32c(data))).toBeUndefined();
    expect(verified(crc32c(data) ^ 1)).toBe(StorageCode.ChecksumMismatch);
    expect(check(good, undefined)).toBe(StorageCode.PayloadLengthMismatch);
    expect(check({ kind: 'remove' }, data)).toBe(StorageCode.PayloadLengthMismatch);
    expect(check({ kind: 'zero', offset: 0, length: 1 }, data)).toBe(StorageCode.PayloadLengthMismatch);
  });

  it('bounds reads by the largest chunk', () => {
    expect(codeOf(() => checkReadRange({ offset: 0, length: 1_000 }, 1_000))).toBeUndefined();
    expect(codeOf(() => checkReadRange({ offset: 0, length: 1_001 }, 1_000))).toBe(
      StorageCode.PayloadTooLarge,
    );
    expect(codeOf(() => checkReadRange({ offset: 1_001, length: 1 }, 1_000))).toBe(
      StorageCode.OffsetOutOfRange,
    );
  });
});
