// What a writer expects a chunk to hold, computed on its own (not by the stores' planUpdate, so a
// bug there is not shared): contents are latin1 strings, each write's bytes a unique token, zeros
// '\0'; undefined is a chunk that does not exist.

/** An update a simulated writer sends, with string bytes. */
export type WriterOp =
  | { readonly kind: 'write'; readonly offset: number; readonly data: string }
  | { readonly kind: 'truncate'; readonly length: number }
  | { readonly kind: 'zero'; readonly offset: number; readonly length: number }
  | { readonly kind: 'remove' };

const zero = '\0';

/** The content after `op` (undefined: the chunk does not exist). */
export function applyOp(base: string | undefined, op: WriterOp): string | undefined {
  const current = base ?? '';
  switch (op.kind) {
    case 'write': {
      const padded = current.padEnd(op.offset, zero);
      return padded.slice(0, op.offset) + op.data + padded.slice(op.offset + op.data.length);
    }
    case 'truncate':
      return current.length >= op.length ? current.slice(0, op.length) : current.padEnd(op.length, zero);
    case 'zero': {
      // Never creates or lengthens a chunk; a range reaching the end cuts it there.
      if (base === undefined) return undefined;
      const end = Math.min(base.length, op.offset + op.length);
      if (op.offset >= end) return base;
      if (end === base.length) return op.offset === 0 ? undefined : base.slice(0, op.offset);
      return base.slice(0, op.offset) + zero.repeat(end - op.offset) + base.slice(end);
    }
    case 'remove':
      return undefined;
  }
}

/** Marks "the chunk does not exist" among possible contents. */
export const absent = '(absent)';

/** A content as the checker compares it. */
export function describeContent(content: string | undefined): string {
  return content ?? absent;
}
