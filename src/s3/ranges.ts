/**
 * The Range header of a GET, as S3 takes it: one range of bytes ("bytes=a-b", "bytes=a-",
 * "bytes=-n"). A header that is not of that form is ignored (the whole object is sent, as HTTP
 * says); a well-formed range that starts at or past the end is unsatisfiable (416, InvalidRange).
 */

/** An inclusive byte range. */
export interface ByteRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** The range asked for an object of `length` bytes; undefined to send it whole. */
export function parseRange(header: string, length: bigint): ByteRange | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d{0,20})-(\d{0,20})$/.exec(header.trim());
  if (match === null) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = BigInt(last);
    if (suffix === 0n || length === 0n) return 'unsatisfiable';
    return { start: suffix >= length ? 0n : length - suffix, end: length - 1n };
  }
  const start = BigInt(first);
  if (last !== '' && BigInt(last) < start) return undefined;
  if (start >= length) return 'unsatisfiable';
  const end = last === '' || BigInt(last) >= length ? length - 1n : BigInt(last);
  return { start, end };
}
