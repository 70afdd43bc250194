/**
 * Encoding of stored records (KV values): msgpack, validated with a zod schema before every
 * write and after every read, so a record of the wrong shape is refused with a clear error
 * instead of spreading. Records carry their own format version field for later upgrades.
 */
import { decode, encode } from '@msgpack/msgpack';
import type { z } from 'zod';
import { formatIssues } from './config.js';
import { FsError, assert, describeError } from './errors.js';
import { CommonCode } from './status-code.js';

const codecOptions = { useBigInt64: true } as const;
// Absent optional fields stay absent (not nil), so a record decodes to what was encoded.
const encodeOptions = { ...codecOptions, ignoreUndefined: true } as const;

/** Encodes `value` after checking it against `schema` (a failure is a bug: the caller built it). */
export function encodeRecord<S extends z.ZodType>(schema: S, value: z.input<S>): Buffer {
  const checked = schema.safeParse(value);
  assert(
    checked.success,
    `record to encode does not match its schema: ${checked.error ? formatIssues(checked.error.issues) : ''}`,
  );
  const bytes = encode(checked.data, encodeOptions);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes and validates a stored record; `what` names it in the error (e.g. "node 3"). */
export function decodeRecord<S extends z.ZodType>(schema: S, bytes: Uint8Array, what: string): z.output<S> {
  let raw: unknown;
  try {
    raw = decode(bytes, codecOptions);
  } catch (error) {
    throw new FsError(CommonCode.CorruptRecord, `stored ${what} is not decodable: ${describeError(error)}`, {
      cause: error,
    });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new FsError(
      CommonCode.CorruptRecord,
      `stored ${what} has a bad shape:\n${formatIssues(result.error.issues)}`,
    );
  }
  return result.data;
}
