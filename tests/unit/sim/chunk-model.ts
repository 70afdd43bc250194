// Chunks of the simulation: contents are strings (each write's bytes are a unique token, so any
// two contents the checker compares differ unless they came from the same writes), and a store
// keeps the contract of the real chunk store: a durable committed version and at most one
// pending version per chunk, kept in memory only, numbered above the committed one.
import { assert } from '../../../src/common/errors.js';
import type { ChunkUpdateOp } from '../../../src/storage/protocol/index.js';

/** An update of a chunk, as the real protocol's ChunkUpdateOp with string bytes. */
export type SimOp =
  | { readonly kind: 'write'; readonly offset: number; readonly data: string }
  | { readonly kind: 'replace'; readonly data: string }
  | { readonly kind: 'truncate'; readonly length: number }
  | { readonly kind: 'remove' };

/** The same update in the shape of the real protocol (for the real decision functions). */
export function wireOp(op: SimOp): ChunkUpdateOp {
  switch (op.kind) {
    case 'write':
      return { kind: 'write', offset: op.offset, length: op.data.length, checksum: 0 };
    case 'replace':
      return { kind: 'replace', length: op.data.length, checksum: 0 };
    case 'truncate':
      return { kind: 'truncate', length: op.length };
    case 'remove':
      return { kind: 'remove' };
  }
}

/** The content after `op` (undefined: the chunk does not exist). Bytes past the end read as '0'. */
export function applyOp(base: string | undefined, op: SimOp): string | undefined {
  const current = base ?? '';
  switch (op.kind) {
    case 'write': {
      const padded = current.padEnd(op.offset, '0');
      return padded.slice(0, op.offset) + op.data + padded.slice(op.offset + op.data.length);
    }
    case 'replace':
      return op.data;
    case 'truncate':
      return current.length >= op.length ? current.slice(0, op.length) : current.padEnd(op.length, '0');
    case 'remove':
      return undefined;
  }
}

export interface SimVersion {
  readonly version: number;
  readonly chainVersion: number;
  readonly content: string;
}

export interface SimPending extends SimVersion {
  readonly removed: boolean;
}

/** A chunk store with the real store's contract; `committed` survives crashes, `pending` does not. */
export class SimChunkStore {
  readonly committed = new Map<string, SimVersion>();
  pending = new Map<string, SimPending>();

  /** A crash: pending versions are gone. */
  crash(): void {
    this.pending = new Map();
  }

  prepare(chunk: string, op: SimOp, options: { version: number; chainVersion: number }): SimPending {
    const committed = this.committed.get(chunk);
    assert(
      options.version > (committed?.version ?? 0),
      `a pending version of ${chunk} is newer than the committed one`,
    );
    const content = applyOp(committed?.content, op);
    const pending: SimPending = {
      version: options.version,
      chainVersion: options.chainVersion,
      content: content ?? '',
      removed: content === undefined,
    };
    this.pending.set(chunk, pending);
    return pending;
  }

  commit(chunk: string, version: number): SimVersion | undefined {
    const pending = this.pending.get(chunk);
    assert(pending !== undefined && pending.version === version, `${chunk} has pending version ${version}`);
    this.pending.delete(chunk);
    if (pending.removed) {
      this.committed.delete(chunk);
      return undefined;
    }
    const committed = {
      version: pending.version,
      chainVersion: pending.chainVersion,
      content: pending.content,
    };
    this.committed.set(chunk, committed);
    return committed;
  }

  discardPending(chunk: string): void {
    this.pending.delete(chunk);
  }
}

/** A stand-in checksum of a content: the content itself is unique enough to compare. */
export function checksumOf(content: string): number {
  let hash = 2_166_136_261;
  for (let index = 0; index < content.length; index++) {
    hash = Math.imul(hash ^ content.charCodeAt(index), 16_777_619) >>> 0;
  }
  return hash;
}
