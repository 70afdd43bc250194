// Proves CopyObject clones exactly when the source's layout agrees with what an upload gets (chain table, chunk size, a stripe no wider) and copies byte by byte with a reason otherwise.
import { describe, expect, it } from 'vitest';
import type { FileLayout } from '../../../src/client/index.js';
import { copyMethod } from '../../../src/s3/copy-plan.js';

const staging = { chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 2 };
const source: FileLayout = {
  chainTableId: 1,
  chainTableVersion: 3,
  chunkSizeBytes: 1 << 20,
  stripeSize: 2,
  chains: [101, 102],
  seed: 7,
};

describe('the method of a copy', () => {
  it('clones a source laid out as an upload would be, whatever its chains and seed', () => {
    expect(copyMethod({ source, staging })).toEqual({ method: 'clone' });
    expect(copyMethod({ source: { ...source, chains: [102, 101], seed: 9 }, staging })).toEqual({
      method: 'clone',
    });
    // A table of one chain narrows every new file's stripe to one.
    expect(copyMethod({ source: { ...source, stripeSize: 1, chains: [101] }, staging })).toEqual({
      method: 'clone',
    });
  });

  it('copies bytes from a source of another chunk size, chain table or a wider stripe, saying why', () => {
    const cases: Array<[Partial<FileLayout>, RegExp]> = [
      [{ chunkSizeBytes: 4 << 20 }, /chunk size/],
      [{ chainTableId: 2 }, /chain table/],
      [{ stripeSize: 3, chains: [101, 102, 103] }, /stripe/],
    ];
    for (const [change, reason] of cases) {
      const plan = copyMethod({ source: { ...source, ...change }, staging });
      expect(plan.method).toBe('bytes');
      expect(plan.method === 'bytes' ? plan.reason : '').toMatch(reason);
    }
  });
});
