// Proves read-ahead: a sequential reader is served from prefetched blocks fetched ahead of it, a jump drops the window, blocks of an older data version are never served, and pooled block buffers go back to their pool only once both the window and the reader have let go.
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../../src/client/limiter.js';
import { ReadAhead } from '../../../src/client/read-ahead.js';
import { PayloadPool, releasePayload } from '../../../src/rpc/payload-pool.js';

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

  describe('with blocks in pooled buffers', () => {
    const pooledBlock = 64 * 1024;
    const pooledFile = 16 * pooledBlock;
    const pooledContent = Buffer.from(Array.from({ length: pooledFile }, (_, index) => (index * 7) % 253));
    const pooledState = { version: 0, fileLength: BigInt(pooledFile) };

    /** A window whose fetches fill buffers of a real pool; `gate` holds fetches back while set. */
    function pooledReadAhead(windowBytes = 2 * pooledBlock) {
      const pool = new PayloadPool({ minBytes: 1, maxBytes: pooledBlock, keptBytesMax: 64 * pooledBlock });
      const gates: Array<() => void> = [];
      const control = { hold: false };
      const readAhead = new ReadAhead({
        blockBytes: pooledBlock,
        windowBytes,
        budget: new ByteBudget(1 << 30),
        fetch: async (offset, length) => {
          if (control.hold) await new Promise<void>((resolve) => gates.push(resolve));
          const buffer = pool.take(length)!;
          pooledContent.copy(buffer, 0, Number(offset), Number(offset) + length);
          return buffer;
        },
      });
      const openGates = (): void => {
        control.hold = false;
        for (const open of gates.splice(0)) open();
      };
      return { readAhead, pool, control, openGates };
    }

    it('lends a one-block read a view its reader lets go of, and reuses the buffer only after both let go', async () => {
      const { readAhead, pool } = pooledReadAhead();
      const first = (await readAhead.read(0n, 1000, pooledState))!;
      expect(first).toEqual(pooledContent.subarray(0, 1000));
      // A jump drops the window, and with it the window's hold on block 0: the reader's remains.
      expect(await readAhead.read(10n * BigInt(pooledBlock), 10, pooledState)).toBeUndefined();
      await new Promise((resolve) => setImmediate(resolve));
      const fresh = pool.take(pooledBlock)!;
      expect(fresh.buffer).not.toBe(first.buffer);
      releasePayload(fresh);
      expect(first).toEqual(pooledContent.subarray(0, 1000));
      // Once the reader lets go, the buffer is handed out again.
      releasePayload(first);
      const taken = [pool.take(pooledBlock)!, pool.take(pooledBlock)!, pool.take(pooledBlock)!];
      expect(taken.some((buffer) => buffer.buffer === first.buffer)).toBe(true);
    });

    it('holds each block a spanning read takes, so a block dropped while it waits is not reused under it', async () => {
      const { readAhead, pool, control, openGates } = pooledReadAhead();
      // Blocks 0 to 2 come in; block 3 is prefetched but held back.
      await readAhead.read(0n, 10, pooledState);
      control.hold = true;
      await readAhead.read(10n, pooledBlock - 10, pooledState);
      // A read over blocks 2 and 3 takes its part of block 2 and waits for block 3.
      const spanning = readAhead.read(BigInt(3 * pooledBlock - 100), 200, pooledState);
      await new Promise((resolve) => setImmediate(resolve));
      // A read inside block 3 moves the window past block 2, which lets go of it.
      const inside = readAhead.read(BigInt(3 * pooledBlock + 100), 100, pooledState);
      await new Promise((resolve) => setImmediate(resolve));
      // Every free buffer is taken and scribbled on, as new replies would.
      const scribbles: Buffer[] = [];
      for (let index = 0; index < 8; index++) scribbles.push(pool.take(pooledBlock)!.fill(0xee));
      openGates();
      expect(await spanning).toEqual(pooledContent.subarray(3 * pooledBlock - 100, 3 * pooledBlock + 100));
      expect(await inside).toEqual(pooledContent.subarray(3 * pooledBlock + 100, 3 * pooledBlock + 200));
      // Now block 2's buffer is free again: the copy above held it only while it needed it.
      const reused = pool.stats().reused;
      for (const scribble of scribbles) releasePayload(scribble);
      pool.take(pooledBlock);
      expect(pool.stats().reused).toBe(reused + 1);
    });

    it('lets go of every block when cleared, so their buffers serve later fetches', async () => {
      const { readAhead, pool } = pooledReadAhead();
      const served = (await readAhead.read(0n, 100, pooledState))!;
      releasePayload(served);
      const taken = pool.stats().taken;
      readAhead.clear();
      await new Promise((resolve) => setImmediate(resolve));
      await readAhead.read(0n, 100, pooledState);
      await readAhead.read(100n, 100, pooledState);
      expect(pool.stats().taken).toBeGreaterThan(taken);
      expect(pool.stats().reused).toBeGreaterThanOrEqual(taken);
    });
  });
});
