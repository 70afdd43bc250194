// Proves the placement math clients and the meta service share (a frozen permutation per seed,
// chunk -> chain) and the round-robin pick of a new file's chains.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { seededRandom } from '../../../src/common/random.js';
import { MetaCode } from '../../../src/common/status-code.js';
import { ChainPicker, type ChainTableView } from '../../../src/meta/chain-picker.js';
import {
  Placement,
  chunkIndexOf,
  consecutiveChains,
  shuffleOrder,
  type FileLayout,
} from '../../../src/meta/protocol/index.js';

const layout = (chains: number[], seed: number): FileLayout => ({
  chainTableId: 1,
  chainTableVersion: 1,
  chunkSizeBytes: 1 << 20,
  stripeSize: chains.length,
  chains,
  seed,
});

describe('the chain permutation', () => {
  it('is a permutation of 0..size-1 for every seed and size (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 1, max: 256 }),
        (seed, size) => {
          const order = shuffleOrder(seed, size);
          expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: size }, (_, index) => index));
        },
      ),
    );
  });

  it('never changes: files written under it must keep their placement', () => {
    // Pinned outputs; a change here moves every existing file's chunks.
    expect(shuffleOrder(1, 1)).toEqual([0]);
    expect(shuffleOrder(12345, 8)).toEqual([7, 3, 2, 0, 1, 6, 5, 4]);
    expect(shuffleOrder(0xffff_ffff, 5)).toEqual([1, 4, 3, 2, 0]);
  });

  it('differs between seeds, so files spread their first chunks', () => {
    const firsts = new Set(Array.from({ length: 64 }, (_, seed) => shuffleOrder(seed, 8)[0]));
    expect(firsts.size).toBe(8);
  });
});

describe('placement of chunks', () => {
  it('puts stripeSize consecutive chunks on stripeSize distinct chains, repeating with period stripeSize', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (stripe, seed) => {
          const chains = Array.from({ length: stripe }, (_, index) => 100 + index);
          const placement = new Placement(layout(chains, seed));
          const first = Array.from({ length: stripe }, (_, index) => placement.chainOf(BigInt(index)));
          expect(new Set(first).size).toBe(stripe);
          for (let index = 0; index < stripe; index++) {
            expect(placement.chainOf(BigInt(index + stripe * 7))).toBe(first[index]);
          }
        },
      ),
    );
  });

  it('maps byte offsets to chunk indexes by the chunk size', () => {
    expect(chunkIndexOf(0n, 4096)).toBe(0n);
    expect(chunkIndexOf(4095n, 4096)).toBe(0n);
    expect(chunkIndexOf(4096n, 4096)).toBe(1n);
    const placement = new Placement({ ...layout([5, 6], 9), chunkSizeBytes: 4096 });
    expect(placement.chainAt(4096n * 3n + 1n)).toBe(placement.chainOf(3n));
  });
});

describe('round-robin chain picking', () => {
  it('takes consecutive chains, wrapping around the table', () => {
    expect(consecutiveChains([1, 2, 3, 4, 5], 3, 3)).toEqual([4, 5, 1]);
    expect(consecutiveChains([1, 2, 3], 7, 3)).toEqual([2, 3, 1]);
  });

  it('moves on by one stripe per file and spreads files evenly over the table', () => {
    const table: ChainTableView = { chainTableId: 1, chainTableVersion: 3, chains: [10, 11, 12, 13, 14, 15] };
    const picker = new ChainPicker(() => table, seededRandom(1));
    const uses = new Map<number, number>();
    let previous: number[] | undefined;
    for (let file = 0; file < 60; file++) {
      const picked = picker.fileLayout({ chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 2 });
      expect(picked.chainTableVersion).toBe(3);
      expect(picked.stripeSize).toBe(2);
      if (previous !== undefined) {
        const start = table.chains.indexOf(previous[0] as number);
        expect(picked.chains[0]).toBe(table.chains[(start + 2) % 6]);
      }
      previous = picked.chains;
      for (const chain of picked.chains) uses.set(chain, (uses.get(chain) ?? 0) + 1);
    }
    expect([...uses.values()]).toEqual([20, 20, 20, 20, 20, 20]);
  });

  it('shrinks the stripe to the table size', () => {
    const picker = new ChainPicker(
      () => ({ chainTableId: 1, chainTableVersion: 1, chains: [1, 2] }),
      seededRandom(1),
    );
    const picked = picker.fileLayout({ chainTableId: 1, chunkSizeBytes: 4096, stripeSize: 8 });
    expect(picked.stripeSize).toBe(2);
    expect([...picked.chains].sort()).toEqual([1, 2]);
  });

  it('answers NoChainTable for a table that routing info does not have or that is empty', () => {
    const empty = new ChainPicker(
      () => ({ chainTableId: 2, chainTableVersion: 1, chains: [] }),
      seededRandom(1),
    );
    const missing = new ChainPicker(() => undefined, seededRandom(1));
    for (const picker of [empty, missing]) {
      expect(() => picker.fileLayout({ chainTableId: 2, chunkSizeBytes: 4096, stripeSize: 1 })).toThrow(
        FsError,
      );
      try {
        picker.table(2);
      } catch (error) {
        expect((error as FsError).code).toBe(MetaCode.NoChainTable);
      }
    }
  });
});
