/**
 * CRC32C (Castagnoli) of byte ranges, hardware-accelerated through @node-rs/crc32 (SSE4.2 / ARMv8
 * CRC instructions). Never a byte-at-a-time JavaScript loop on the data path.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** The CRC32C of `data`, continuing from `initial` when checksumming in pieces. */
export function crc32c(data: Uint8Array, initial = 0): number {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return nativeCrc32c(buffer, initial) >>> 0;
}
