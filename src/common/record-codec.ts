/**
 * Encoding of stored records (KV values): msgpack, validated with a zod schema before every
 * write and after every read, so a record of the wrong shape is refused with a clear error
 * instead of spreading. Records carry their own format version field for later upgrades.
 *
 * The same stored bytes are decoded and validated once: a decoded record is kept (frozen, so no
 * caller can change what another gets) by its schema and bytes, and a later read of the same
 * bytes (a directory's inode on every create in it, an inode stat after stat) returns it again.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type { z } from 'zod';
import { formatIssues } from './config.js';
import { FsError, assert, describeError } from './errors.js';
import { limits } from './limits.js';
import { CommonCode } from './status-code.js';

const codecOptions = { useBigInt64: true } as const;
// Absent optional fields stay absent (not nil), so a record decodes to what was encoded.
const encoder = new Encoder({ ...codecOptions, ignoreUndefined: true });
const decoder = new Decoder(codecOptions);

/** Decoded records by schema and bytes, oldest first (a Map keeps insertion order). */
const decoded = new Map<string, unknown>();
/** A short tag per schema, so one map holds every schema's records. */
const schemaTags = new WeakMap<z.ZodType, string>();
let nextSchemaTag = 0;

/** Encodes `value` after checking it against `schema` (a failure is a bug: the caller built it). */
export function encodeRecord<S extends z.ZodType>(schema: S, value: z.input<S>): Buffer {
  const checked = schema.safeParse(value);
  assert(
    checked.success,
    `record to encode does not match its schema: ${checked.error ? formatIssues(checked.error.issues) : ''}`,
  );
  const bytes = encoder.encode(checked.data);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes and validates a stored record; `what` names it in the error (e.g. "node 3"). */
export function decodeRecord<S extends z.ZodType>(schema: S, bytes: Uint8Array, what: string): z.output<S> {
  const key = bytes.byteLength <= limits.recordDecodeCacheKeyBytesMax ? keyOf(schema, bytes) : undefined;
  if (key !== undefined) {
    const hit = decoded.get(key);
    if (hit !== undefined) return hit as z.output<S>;
  }
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
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
  // Records holding bytes (which cannot be frozen) are decoded afresh every time.
  if (key !== undefined && freezable(result.data)) {
    deepFreeze(result.data);
    if (decoded.size >= limits.recordDecodeCacheEntriesMax)
      decoded.delete(decoded.keys().next().value as string);
    decoded.set(key, result.data);
  }
  return result.data;
}

function keyOf(schema: z.ZodType, bytes: Uint8Array): string {
  let tag = schemaTags.get(schema);
  if (tag === undefined) {
    tag = `${nextSchemaTag.toString(36)}:`;
    nextSchemaTag += 1;
    schemaTags.set(schema, tag);
  }
  return tag + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** True when `value` holds no binary data, which cannot be frozen. */
function freezable(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return false;
  return Object.values(value).every(freezable);
}

/** Freezes `value` and everything in it (so one caller cannot change what another gets). */
function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  for (const inner of Object.values(value)) deepFreeze(inner);
  Object.freeze(value);
}
