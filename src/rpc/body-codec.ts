/**
 * The body codec: msgpack, configured so that values cross the wire with their JavaScript types.
 *
 * - A number stays a number: safe integers are msgpack integers (those beyond 32 bits are written as
 *   64-bit integers and read back as numbers, exact because they are safe); other numbers are float64.
 * - A bigint stays a bigint, whatever its size: it travels as an extension (type 0), so it never
 *   turns into a number and never wraps silently at 64 bits. Ids and versions rely on this.
 * - `undefined` object properties are left out, so optional fields decode as absent rather than null.
 * - Uint8Array (and Buffer) bodies decode as Uint8Array views of the received bytes.
 *
 * Bodies are plain data: objects, arrays, strings, numbers, bigints, booleans, null, Uint8Array.
 */
import { Decoder, Encoder, ExtensionCodec } from '@msgpack/msgpack';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { CommonCode, RpcCode } from '../common/status-code.js';

const bigintExtensionType = 0;
/** Extension data of exactly 8 bytes is an unsigned 64-bit value, the common case for ids. */
const unsignedWordBytes = 8;
const unsignedWordMax = (1n << 64n) - 1n;

/**
 * Encodes a bigint: 8 bytes big-endian for 0..2^64-1, otherwise a sign byte (0 or 1) followed by
 * the magnitude, big-endian, padded to a multiple of 8 bytes (so its length is never exactly 8).
 */
function encodeBigint(value: bigint): Uint8Array {
  if (value >= 0n && value <= unsignedWordMax) {
    const data = Buffer.allocUnsafe(unsignedWordBytes);
    data.writeBigUInt64BE(value);
    return data;
  }
  const negative = value < 0n;
  const hex = (negative ? -value : value).toString(16);
  const magnitudeBytes = Math.ceil(hex.length / 16) * 8;
  const data = Buffer.alloc(1 + magnitudeBytes);
  data[0] = negative ? 1 : 0;
  Buffer.from(hex.padStart(magnitudeBytes * 2, '0'), 'hex').copy(data, 1);
  return data;
}

function decodeBigint(data: Uint8Array): bigint {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length === unsignedWordBytes) return bytes.readBigUInt64BE();
  const sign = bytes[0];
  if (
    bytes.length < 1 + unsignedWordBytes ||
    (bytes.length - 1) % unsignedWordBytes !== 0 ||
    sign === undefined ||
    sign > 1
  ) {
    throw new Error(`bad bigint extension of ${bytes.length} bytes`);
  }
  const magnitude = BigInt(`0x${bytes.subarray(1).toString('hex')}`);
  return sign === 1 ? -magnitude : magnitude;
}

const extensionCodec = new ExtensionCodec();
extensionCodec.register({
  type: bigintExtensionType,
  encode: (input) => (typeof input === 'bigint' ? encodeBigint(input) : null),
  decode: (data) => decodeBigint(data),
});

// useBigInt64 stays off on both sides: bigints take the extension above, and 64-bit msgpack
// integers (which only this encoder writes, for safe integers) decode as numbers.
const encoder = new Encoder({ extensionCodec, ignoreUndefined: true });
// Every element takes at least one byte, so no count in a valid body exceeds the body limit;
// refusing bigger counts early keeps a hostile body from making the decoder allocate.
const decoder = new Decoder({
  extensionCodec,
  maxArrayLength: limits.rpcBodyBytesMax,
  maxMapLength: limits.rpcBodyBytesMax,
  maxStrLength: limits.rpcBodyBytesMax,
  maxBinLength: limits.rpcBodyBytesMax,
  maxExtLength: limits.rpcBodyBytesMax,
});

/**
 * Encodes a body. Throws FsError(InvalidArgument) for a value msgpack cannot carry (e.g. a function)
 * or one larger than the body limit: that is a bug of the caller, reported as a typed error.
 */
export function encodeBody(value: unknown): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = encoder.encode(value);
  } catch (error) {
    throw new FsError(CommonCode.InvalidArgument, `body cannot be encoded: ${describeError(error)}`, {
      cause: error,
    });
  }
  if (bytes.byteLength > limits.rpcBodyBytesMax) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `encoded body of ${bytes.byteLength} bytes exceeds the limit of ${limits.rpcBodyBytesMax} bytes; send bulk bytes as a payload`,
    );
  }
  return bytes;
}

/** Decodes a received body; bytes that are not exactly one msgpack value throw FsError(MalformedFrame). */
export function decodeBody(bytes: Uint8Array): unknown {
  try {
    return decoder.decode(bytes);
  } catch (error) {
    throw new FsError(RpcCode.MalformedFrame, `frame body does not decode: ${describeError(error)}`, {
      cause: error,
    });
  }
}
