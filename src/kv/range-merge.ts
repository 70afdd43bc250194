/**
 * Range reads through a transaction's write buffer (read-your-writes): the committed pairs of the
 * range, minus the cleared ranges and the keys the transaction wrote, merged in key order with
 * the transaction's own sets; `limit` and `reverse` apply to the merged result, as FoundationDB
 * does. Storage is read only where cleared ranges leave committed keys visible, in batches no
 * larger than what the caller still needs.
 */
import type { KeyValue } from './kv.js';
import { keyBytes, keyText, type KeyText, type PointWrite, type WriteBuffer } from './write-buffer.js';

/** Reads committed pairs of [begin, end) in the merge's direction, at most `limit` of them. */
export type StorageRangeReader = (begin: Buffer, end: Buffer, limit: number) => Promise<KeyValue[]>;

export interface MergedRangeRequest {
  buffer: WriteBuffer;
  begin: Buffer;
  end: Buffer;
  /** At least 1. */
  limit: number;
  reverse: boolean;
  readStorage: StorageRangeReader;
}

/** The pairs of [begin, end) as this transaction sees them, at most `limit`, in the requested order. */
export async function readMergedRange(request: MergedRangeRequest): Promise<KeyValue[]> {
  const { buffer, limit, reverse } = request;
  const beginText = keyText(request.begin);
  const endText = keyText(request.end);
  const points = buffer.pointsIn(beginText, endText);
  const segments = buffer.unclearedIn(beginText, endText);
  const untouched =
    points.length === 0 &&
    segments.length === 1 &&
    segments[0]?.begin === beginText &&
    segments[0].end === endText;
  if (untouched) return request.readStorage(request.begin, request.end, limit);
  if (reverse) {
    points.reverse();
    segments.reverse();
  }

  const results: KeyValue[] = [];
  const pointCursor = new PointCursor(points, reverse);
  for (const segment of segments) {
    let cursorBegin = segment.begin;
    let cursorEnd = segment.end;
    for (;;) {
      const wanted = limit - results.length;
      if (wanted <= 0) return results;
      const batch = await request.readStorage(keyBytes(cursorBegin), keyBytes(cursorEnd), wanted);
      for (const pair of batch) {
        const key = keyText(pair.key);
        pointCursor.emitBefore(key, results, limit);
        // A key the transaction wrote is decided by its point write, emitted by the cursor.
        if (results.length < limit && !buffer.hasPoint(key)) results.push(pair);
        if (results.length >= limit) return results;
      }
      const last = batch[batch.length - 1];
      if (batch.length < wanted || last === undefined) break;
      if (reverse) cursorEnd = keyText(last.key);
      else cursorBegin = `${keyText(last.key)}\u0000`;
    }
  }
  pointCursor.emitBefore(undefined, results, limit);
  return results;
}

/** Walks the transaction's point writes in the merge's direction, emitting the sets. */
class PointCursor {
  private index = 0;

  constructor(
    private readonly points: readonly PointWrite[],
    private readonly reverse: boolean,
  ) {}

  /** Emits the sets that come strictly before `boundary` in the merge's direction (all when undefined). */
  emitBefore(boundary: KeyText | undefined, results: KeyValue[], limit: number): void {
    while (results.length < limit) {
      const point = this.points[this.index];
      if (point === undefined) return;
      const [key, value] = point;
      if (boundary !== undefined && !(this.reverse ? key > boundary : key < boundary)) return;
      this.index++;
      // A copy, so a caller that changes the returned bytes cannot change the pending write.
      if (value !== undefined) results.push({ key: keyBytes(key), value: Buffer.from(value) });
    }
  }
}
