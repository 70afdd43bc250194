// Proves the mapping of file ranges onto chunks and chains: pieces cover a range exactly, never cross a chunk, follow the layout's placement, truncates cut at the right chunk, and a clone's chunks go in bounded batches of one chain each.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkIndexAt, chunkPieces, cloneBatches, truncatePlan } from '../../../src/client/chunk-ranges.js';
import { ClientCode } from '../../../src/common/status-code.js';
import { Placement, type FileLayout } from '../../../src/meta/protocol/index.js';

function layoutOf(chunkSizeBytes: number, chains: number[], seed = 7): FileLayout {
  return {
    chainTableId: 1,
    chainTableVersion: 1,
    chunkSizeBytes,
    stripeSize: chains.length,
    chains,
    seed,
  };
}

describe('chunk pieces', () => {
  it('cuts an unaligned range at chunk boundaries', () => {
    const layout = layoutOf(4096, [10, 20, 30]);
    const pieces = chunkPieces(layout, new Placement(layout), 4000n, 10_000);
    expect(
      pieces.map((piece) => [piece.chunkIndex, piece.offsetInChunk, piece.length, piece.bufferOffset]),
    ).toEqual([
      [0, 4000, 96, 0],
      [1, 0, 4096, 96],
      [2, 0, 4096, 4192],
      [3, 0, 1712, 8288],
    ]);
  });

  it('gives no pieces for an empty range', () => {
    const layout = layoutOf(4096, [1]);
    expect(chunkPieces(layout, new Placement(layout), 123n, 0)).toEqual([]);
  });

  it('covers any range exactly, piece by piece inside one chunk, on the placement chain', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4096, 65_536, 1 << 20),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 6 }),
        fc.bigInt({ min: 0n, max: 1n << 40n }),
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (chunkSize, chains, offset, length, seed) => {
          const layout = layoutOf(chunkSize, chains, seed);
          const placement = new Placement(layout);
          const pieces = chunkPieces(layout, placement, offset, length);
          let covered = 0;
          for (const piece of pieces) {
            expect(piece.bufferOffset).toBe(covered);
            expect(piece.fileOffset).toBe(offset + BigInt(covered));
            expect(piece.offsetInChunk + piece.length).toBeLessThanOrEqual(chunkSize);
            expect(BigInt(piece.chunkIndex) * BigInt(chunkSize) + BigInt(piece.offsetInChunk)).toBe(
              piece.fileOffset,
            );
            expect(piece.chainId).toBe(placement.chainOf(BigInt(piece.chunkIndex)));
            covered += piece.length;
          }
          expect(covered).toBe(length);
        },
      ),
    );
  });

  it('refuses offsets whose chunk index a chunk id cannot hold', () => {
    const layout = layoutOf(4096, [1]);
    const beyond = 4096n * 0x1_0000_0000n;
    expect(() => chunkIndexAt(beyond, 4096)).toThrow(
      expect.objectContaining({ code: ClientCode.OffsetTooLarge }),
    );
    expect(() => chunkPieces(layout, new Placement(layout), beyond - 10n, 20)).toThrow(
      expect.objectContaining({ code: ClientCode.OffsetTooLarge }),
    );
    expect(chunkIndexAt(beyond - 1n, 4096)).toBe(0xffff_ffff);
  });
});

describe('truncate plan', () => {
  it('keeps part of the chunk holding an unaligned end and removes the rest', () => {
    expect(truncatePlan(10_000n, 4096)).toEqual({
      boundary: { chunkIndex: 2, keepBytes: 1808 },
      firstRemovedIndex: 3,
    });
  });

  it('removes whole chunks from an aligned end on', () => {
    expect(truncatePlan(8192n, 4096)).toEqual({ boundary: undefined, firstRemovedIndex: 2 });
    expect(truncatePlan(0n, 4096)).toEqual({ boundary: undefined, firstRemovedIndex: 0 });
  });
});

describe('clone batches', () => {
  it('cover the chunks exactly once, each batch of one chain, ascending and bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 70 }),
        (chains, first, count, batchMax) => {
          const placement = new Placement(layoutOf(4096, chains));
          const batches = cloneBatches({
            source: placement,
            target: placement,
            first,
            end: first + count,
            batchMax,
          });
          const covered = batches.flatMap((batch) => batch.indexes).sort((a, b) => a - b);
          expect(covered).toEqual(Array.from({ length: count }, (_, at) => first + at));
          for (const batch of batches) {
            expect(batch.indexes.length).toBeGreaterThanOrEqual(1);
            expect(batch.indexes.length).toBeLessThanOrEqual(batchMax);
            for (const index of batch.indexes) expect(placement.chainOf(BigInt(index))).toBe(batch.chainId);
            expect([...batch.indexes].sort((a, b) => a - b)).toEqual(batch.indexes);
          }
        },
      ),
    );
  });

  it('refuses a target placed differently from its source', () => {
    const source = new Placement(layoutOf(4096, [1, 2], 7));
    const target = new Placement(layoutOf(4096, [2, 1], 7));
    expect(() => cloneBatches({ source, target, first: 0, end: 2, batchMax: 8 })).toThrow(
      /chain of the source/,
    );
  });
});
