/**
 * The deterministic update sequence of the kill -9 test: update `version` of chunk `index` is a
 * function of the two alone, so the test can rebuild the content of any committed version and
 * check that a chunk came back from a crash at exactly one of them.
 */
import type { ChunkUpdate } from '../../../../src/storage/store/chunk-store.js';

/** A small seeded generator (mulberry32): the same seed gives the same numbers everywhere. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The update that makes version `version` (from 1) of chunk `index`; `scale` multiplies its sizes
 * and offsets (for stores with larger blocks).
 */
export function crashUpdate(index: number, version: number, scale = 1): ChunkUpdate {
  const random = generator(index * 1_000_003 + version);
  const next = () => random();
  const size = (bound: number): number => Math.floor(random() * bound * scale);
  const bytes = (length: number): Buffer => {
    const data = Buffer.alloc(length);
    for (let at = 0; at < length; at++) data[at] = Math.floor(next() * 256);
    return data;
  };
  const pick = next();
  if (version === 1 || pick < 0.15) return { kind: 'replace', data: bytes(size(3000)) };
  if (pick < 0.3) return { kind: 'truncate', length: size(3000) };
  // Zeroing from offset 1 on never removes the chunk, so versions keep counting up.
  if (pick < 0.45) return { kind: 'zero', offset: 1 + size(2500), length: size(2000) };
  return { kind: 'write', offset: size(2500), data: bytes(1 + size(1500)) };
}

/**
 * A `zero` update on a byte-array model of a chunk (undefined: no chunk): the range reads as zeros,
 * nothing gets longer, a range reaching the end cuts the chunk there, and one from 0 to the end (or
 * any range of an absent chunk) leaves no chunk.
 */
export function zeroedModel(model: Buffer | undefined, offset: number, length: number): Buffer | undefined {
  if (model === undefined) return undefined;
  const end = Math.min(model.length, offset + length);
  if (offset >= end) return model;
  if (end === model.length) return offset === 0 ? undefined : Buffer.from(model.subarray(0, offset));
  const next = Buffer.from(model);
  next.fill(0, offset, end);
  return next;
}

/** Applies an update to a byte-array model of a chunk. */
export function applyToModel(model: Buffer, update: ChunkUpdate): Buffer {
  switch (update.kind) {
    case 'write': {
      const next = Buffer.alloc(Math.max(model.length, update.offset + update.data.length));
      model.copy(next);
      update.data.copy(next, update.offset);
      return next;
    }
    case 'replace':
      return Buffer.from(update.data);
    case 'truncate': {
      const next = Buffer.alloc(update.length);
      model.copy(next, 0, 0, Math.min(model.length, update.length));
      return next;
    }
    case 'remove':
      return Buffer.alloc(0);
    case 'zero':
      return zeroedModel(model, update.offset, update.length) ?? Buffer.alloc(0);
    case 'clone':
      throw new Error('the crash workload clones no chunk');
  }
}

/** The content of version `version` of chunk `index` (sizes scaled by `scale`). */
export function crashContent(index: number, version: number, scale = 1): Buffer {
  let model: Buffer = Buffer.alloc(0);
  for (let step = 1; step <= version; step++) model = applyToModel(model, crashUpdate(index, step, scale));
  return model;
}

export const crashChunks = 4;
