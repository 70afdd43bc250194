/**
 * CRC32C (Castagnoli) of byte ranges in hardware (SSE4.2 / ARMv8 CRC instructions): the chunk
 * engine's addon where it is built (three interleaved streams on long inputs, about four times
 * @node-rs/crc32's rate on 1 MiB), @node-rs/crc32 otherwise. Never a byte-at-a-time JavaScript
 * loop on the data path.
 *
 * `crc32cCombine` joins the CRC32Cs of two adjacent ranges into the CRC32C of both without looking
 * at the bytes (the GF(2) polynomial arithmetic of zlib's crc32_combine), so a pass that sums each
 * block of a chunk yields the whole chunk's CRC32C too, instead of summing every byte twice.
 */
import { crc32c as packagedCrc32c } from '@node-rs/crc32';
import { assert } from './errors.js';
import { findNativeAddon, loadNativeAddon } from './native-addon.js';

type Crc32cFunction = (data: Buffer, initial: number) => number;

/** The chunk engine addon's crc32c when it is built, the packaged one otherwise. */
function pickImplementation(): Crc32cFunction {
  if (findNativeAddon('chunk-engine') === undefined) return packagedCrc32c;
  return (loadNativeAddon('chunk-engine') as { crc32c?: Crc32cFunction }).crc32c ?? packagedCrc32c;
}

const implementation = pickImplementation();

/** The CRC32C of `data`, continuing from `initial` when checksumming in pieces. */
export function crc32c(data: Uint8Array, initial = 0): number {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return implementation(buffer, initial >>> 0) >>> 0;
}

/** The reflected Castagnoli polynomial. */
const polynomial = 0x82f63b78;

/** a * b modulo the polynomial, both as reflected 32-bit polynomials (x^0 in the top bit). */
function multiplyModulo(a: number, b: number): number {
  if (a === 0) return 0;
  let mask = 0x8000_0000;
  let product = 0;
  let factor = b;
  for (;;) {
    if ((a & mask) !== 0) {
      product ^= factor;
      if ((a & (mask - 1)) === 0) break;
    }
    mask >>>= 1;
    factor = (factor & 1) !== 0 ? (factor >>> 1) ^ polynomial : factor >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the polynomial, for k = 0..31. */
const powersOfX: readonly number[] = (() => {
  const table: number[] = [];
  let power = 0x4000_0000; // x^1
  for (let k = 0; k < 32; k++) {
    table.push(power);
    power = multiplyModulo(power, power);
  }
  return table;
})();

/** x^(8 * bytes) modulo the polynomial: the operator that shifts a CRC past `bytes` zero bytes. */
function shiftOperator(bytes: number): number {
  let result = 0x8000_0000; // x^0
  let remaining = bytes;
  // 8 * bytes = 2^3 * bytes: start at x^(2^3) and walk the bits of `bytes`.
  for (let k = 3; remaining > 0; k++) {
    if (remaining % 2 === 1) result = multiplyModulo(powersOfX[k % 32] as number, result);
    remaining = Math.floor(remaining / 2);
  }
  return result;
}

/**
 * The CRC32C of A followed by B, from `first` = CRC32C(A), `second` = CRC32C(B) and B's length,
 * without reading A or B.
 */
export function crc32cCombine(first: number, second: number, secondLength: number): number {
  assert(Number.isSafeInteger(secondLength) && secondLength >= 0, 'a length is a non-negative integer');
  if (secondLength === 0) return first >>> 0;
  return (multiplyModulo(shiftOperator(secondLength), first >>> 0) ^ second) >>> 0;
}
