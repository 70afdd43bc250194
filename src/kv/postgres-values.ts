/**
 * How keys and values travel to PostgreSQL at commit: grouped into a few array statements,
 * bounded in rows and bytes, instead of one round trip per key. (Reads use node-postgres' text
 * results, where bytea arrives hex-encoded and is parsed back into a Buffer: its binary results
 * decode every field as UTF-8 text, which would corrupt arbitrary bytes.)
 */
import { assert } from '../common/errors.js';
import { limits } from '../common/limits.js';

/** One write statement's worth of point writes: upserts, or deletes. */
export type WriteBatch =
  { kind: 'upsert'; keys: Buffer[]; values: Buffer[] } | { kind: 'delete'; keys: Buffer[] };

/**
 * Groups point writes (a value to set, or undefined to clear the key) into batches of one kind,
 * each within kvPostgresWriteBatchRowsMax rows and about kvPostgresWriteBatchBytesMax bytes. The
 * keys are distinct (one write per key), so the order between batches does not matter.
 */
export function* writeBatches(
  points: ReadonlyArray<{ key: Buffer; value: Buffer | undefined }>,
): Generator<WriteBatch> {
  let upsert: { keys: Buffer[]; values: Buffer[]; bytes: number } = { keys: [], values: [], bytes: 0 };
  let remove: { keys: Buffer[]; bytes: number } = { keys: [], bytes: 0 };
  const full = (rows: number, bytes: number): boolean =>
    rows >= limits.kvPostgresWriteBatchRowsMax || bytes >= limits.kvPostgresWriteBatchBytesMax;
  for (const point of points) {
    if (point.value === undefined) {
      remove.keys.push(point.key);
      remove.bytes += point.key.length;
      if (full(remove.keys.length, remove.bytes)) {
        yield { kind: 'delete', keys: remove.keys };
        remove = { keys: [], bytes: 0 };
      }
    } else {
      upsert.keys.push(point.key);
      upsert.values.push(point.value);
      upsert.bytes += point.key.length + point.value.length;
      if (full(upsert.keys.length, upsert.bytes)) {
        yield { kind: 'upsert', keys: upsert.keys, values: upsert.values };
        upsert = { keys: [], values: [], bytes: 0 };
      }
    }
  }
  if (remove.keys.length > 0) yield { kind: 'delete', keys: remove.keys };
  if (upsert.keys.length > 0) {
    assert(upsert.keys.length === upsert.values.length, 'an upsert batch pairs every key with a value');
    yield { kind: 'upsert', keys: upsert.keys, values: upsert.values };
  }
}
