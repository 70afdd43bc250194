// Proves read-ahead: a sequential reader is served from prefetched blocks fetched ahead of it, a jump drops the window, and blocks of an older data version are never served.
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../../src/client/limiter.js';
import { ReadAhead } from '../../../src/client/read-ahead.js';

const block = 1000;
const fileBytes = 10_000;
const content = Buffer.from(Array.from({ length: fileBytes }, (_, index) => index % 251));

function makeReadAhead(budgetBytes = 100_000) {
  const fetches: Array<[number, number]> = [];
  const budget = new ByteBudget(budgetBytes);
  const readAhead = new ReadAhead({
    blockBytes: block,
    windowBytes: 3 * block,
    budget,
    fetch: async (offset, length, fileLength) => {
      fetches.push([Number(offset), length]);
      const end = Math.min(Number(offset) + length, Number(fileLength));
      return content.subarray(Number(offset), end);
    },
  });
  return { readAhead, fetches, budget };
}

const state = { version: 0, fileLength: BigInt(fileBytes) };

describe('ReadAhead', () => {
  it('serves sequential reads from blocks fetched ahead', async () => {
    const { readAhead, fetches } = makeReadAhead();
    expect(await readAhead.read(0n, 500, state)).toEqual(content.subarray(0, 500));
    expect(fetches.map(([offset]) => offset)).toEqual([0, 1000, 2000, 3000]);
    expect(await readAhead.read(500n, 1000, state)).toEqual(content.subarray(500, 1500));
    expect(await readAhead.read(1500n, 2000, state)).toEqual(content.subarray(1500, 3500));
    expect(fetches.map(([offset]) => offset)).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000]);
  });

  it('cuts the last read at the end of the file', async () => {
    const { readAhead } = makeReadAhead();
    const short = { version: 0, fileLength: 1_500n };
    expect(await readAhead.read(0n, 1000, short)).toEqual(content.subarray(0, 1000));
    expect(await readAhead.read(1000n, 1000, short)).toEqual(content.subarray(1000, 1500));
  });

  it('drops the window when a read jumps elsewhere, and gives its budget back', async () => {
    const { readAhead, budget } = makeReadAhead();
    await readAhead.read(0n, 100, state);
    expect(budget.inUse).toBeGreaterThan(0);
    expect(await readAhead.read(7000n, 100, state)).toBeUndefined();
    expect(budget.inUse).toBe(0);
  });

  it('never serves a block of an older data version', async () => {
    const { readAhead } = makeReadAhead();
    await readAhead.read(0n, 100, state);
    expect(await readAhead.read(100n, 100, { ...state, version: 1 })).toEqual(content.subarray(100, 200));
    const { readAhead: stale } = makeReadAhead();
    await stale.read(0n, 100, state);
    // Blocks fetched under version 0 are replaced, not served, once the version moved.
    expect(await stale.read(100n, 100, { ...state, version: 2 })).toEqual(content.subarray(100, 200));
  });

  it('prefetches only what the client budget leaves room for', async () => {
    const { readAhead, fetches, budget } = makeReadAhead(block);
    expect(await readAhead.read(0n, 100, state)).toEqual(content.subarray(0, 100));
    expect(fetches).toEqual([[0, block]]);
    expect(budget.inUse).toBe(block);
    // The next block is not prefetched: the read goes to storage itself.
    expect(await readAhead.read(100n, 1000, state)).toBeUndefined();
  });
});
