/**
 * The additional checksums S3 clients may send with a body (x-amz-checksum-<algorithm>, as a
 * header or an aws-chunked trailer, base64 of the big-endian digest): CRC32, CRC32C, CRC64/NVME,
 * SHA-1 and SHA-256, each computed incrementally as the body streams through.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import { crc32c } from '../common/crc32c.js';

export const checksumAlgorithms = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof checksumAlgorithms)[number];

/** The header (and trailer) name of an algorithm's checksum. */
export function checksumHeader(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm}`;
}

/** The algorithm a header or trailer name stands for, if it is one. */
export function checksumAlgorithmOf(name: string): ChecksumAlgorithm | undefined {
  const lower = name.toLowerCase();
  return checksumAlgorithms.find((algorithm) => checksumHeader(algorithm) === lower);
}

/** A checksum being computed over pieces of a body. */
export interface RunningChecksum {
  update(data: Uint8Array): void;
  /** The digest, base64 (as the headers carry it). */
  digest(): string;
}

export function runningChecksum(algorithm: ChecksumAlgorithm): RunningChecksum {
  switch (algorithm) {
    case 'crc32':
      return crc32Running((data, initial) => crc32(data, initial) >>> 0);
    case 'crc32c':
      return crc32Running((data, initial) => crc32c(data, initial));
    case 'crc64nvme':
      return new Crc64Nvme();
    case 'sha1':
    case 'sha256':
      return hashRunning(createHash(algorithm));
  }
}

function crc32Running(step: (data: Uint8Array, initial: number) => number): RunningChecksum {
  let value = 0;
  return {
    update(data) {
      value = step(data, value);
    },
    digest() {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(value >>> 0);
      return bytes.toString('base64');
    },
  };
}

function hashRunning(hash: Hash): RunningChecksum {
  return {
    update: (data) => hash.update(data),
    digest: () => hash.digest('base64'),
  };
}

/** The reflected CRC-64/NVME polynomial as its high and low 32 bits. */
const nvmeHigh = 0x9a6c9329;
const nvmeLow = 0xac4bc9b5;

/** Byte tables of the reflected CRC-64/NVME, split into 32-bit halves (no BigInt per byte). */
const crc64Tables = (() => {
  const high = new Uint32Array(256);
  const low = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let hi = 0;
    let lo = byte;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry !== 0) {
        hi = (hi ^ nvmeHigh) >>> 0;
        lo = (lo ^ nvmeLow) >>> 0;
      }
    }
    high[byte] = hi;
    low[byte] = lo;
  }
  return { high, low };
})();

/** CRC-64/NVME (init and final XOR all ones, reflected), as S3's CRC64NVME checksum. */
class Crc64Nvme implements RunningChecksum {
  private high = 0xffff_ffff;
  private low = 0xffff_ffff;

  update(data: Uint8Array): void {
    const { high: tableHigh, low: tableLow } = crc64Tables;
    let hi = this.high;
    let lo = this.low;
    for (let index = 0; index < data.length; index++) {
      const slot = (lo ^ (data[index] as number)) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ (tableLow[slot] as number);
      hi = (hi >>> 8) ^ (tableHigh[slot] as number);
    }
    this.high = hi >>> 0;
    this.low = lo >>> 0;
  }

  digest(): string {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32BE((this.high ^ 0xffff_ffff) >>> 0, 0);
    bytes.writeUInt32BE((this.low ^ 0xffff_ffff) >>> 0, 4);
    return bytes.toString('base64');
  }
}
