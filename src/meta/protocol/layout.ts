/**
 * File placement, pure and shared by the meta service and clients (DESIGN §6): chunk i of a file
 * is chunk id (ino, i) and lives on chain `chains[order[i mod stripeSize]]`, where `order` is a
 * permutation of 0..stripeSize-1 drawn from the layout's seed. The permutation function below is
 * part of the on-disk format: files written under it must keep mapping to the same chains, so it
 * never changes (a new rule would need a new layout field). Unit tests pin its output.
 */
import { assert } from '../../common/errors.js';
import type { FileLayout } from './types.js';

/**
 * The permutation of 0..size-1 for `seed`: a Fisher-Yates shuffle driven by a Weyl sequence
 * finalized with MurmurHash3's fmix32 (a small generator with well-spread 32-bit outputs). The
 * modulo's bias is negligible for sizes up to 256 and, being frozen, harmless.
 */
export function shuffleOrder(seed: number, size: number): number[] {
  assert(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff, 'the seed is a u32');
  assert(Number.isInteger(size) && size >= 1, 'a permutation has at least one element');
  const order = Array.from({ length: size }, (_, index) => index);
  let state = seed >>> 0;
  for (let index = size - 1; index > 0; index--) {
    state = (state + 0x9e37_79b9) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85eb_ca6b);
    mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2_ae35);
    mixed = (mixed ^ (mixed >>> 16)) >>> 0;
    const pick = mixed % (index + 1);
    const held = order[index] as number;
    order[index] = order[pick] as number;
    order[pick] = held;
  }
  return order;
}

/** The index of the chunk holding byte `offset`. */
export function chunkIndexOf(offset: bigint, chunkSizeBytes: number): bigint {
  assert(offset >= 0n, 'offsets are not negative');
  return offset / BigInt(chunkSizeBytes);
}

/** Computes the chain of any chunk of one file; the permutation is drawn once per layout. */
export class Placement {
  private readonly order: number[];

  constructor(private readonly layout: FileLayout) {
    assert(layout.chains.length === layout.stripeSize, 'a layout names stripeSize chains');
    this.order = shuffleOrder(layout.seed, layout.stripeSize);
  }

  /** The chain holding chunk `chunkIndex`. */
  chainOf(chunkIndex: bigint): number {
    assert(chunkIndex >= 0n, 'chunk indexes are not negative');
    const position = Number(chunkIndex % BigInt(this.layout.stripeSize));
    const chain = this.layout.chains[this.order[position] as number];
    assert(chain !== undefined, 'the permutation stays inside the chain list');
    return chain;
  }

  /** The chain holding the byte at `offset`. */
  chainAt(offset: bigint): number {
    return this.chainOf(chunkIndexOf(offset, this.layout.chunkSizeBytes));
  }
}

/**
 * The `count` chains starting at position `start` of a chain table's list, wrapping around: the
 * meta service's round-robin pick (DESIGN §6). `count` is at most the table's size.
 */
export function consecutiveChains(tableChains: readonly number[], start: number, count: number): number[] {
  assert(tableChains.length > 0, 'a chain table to pick from has chains');
  assert(Number.isInteger(count) && count >= 1 && count <= tableChains.length, 'count fits the table');
  assert(Number.isSafeInteger(start) && start >= 0, 'start is a non-negative integer');
  const first = start % tableChains.length;
  return Array.from({ length: count }, (_, index) => {
    const chain = tableChains[(first + index) % tableChains.length];
    assert(chain !== undefined, 'positions wrap inside the table');
    return chain;
  });
}
