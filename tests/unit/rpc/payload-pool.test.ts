// The payload pool hands a buffer out again only once every holder has let go of it.
import { describe, expect, it } from 'vitest';
import { PayloadPool, holdPayload, releasePayload } from '../../../src/rpc/payload-pool.js';

const mib = 1024 * 1024;

function pool(keptBytesMax = 16 * mib): PayloadPool {
  return new PayloadPool({ minBytes: 64 * 1024, maxBytes: 8 * mib, keptBytesMax });
}

describe('PayloadPool', () => {
  it('pools only payloads in its size range', () => {
    const payloads = pool();
    expect(payloads.take(64 * 1024 - 1)).toBeUndefined();
    expect(payloads.take(8 * mib + 1)).toBeUndefined();
    const taken = payloads.take(100_000);
    expect(taken?.length).toBe(100_000);
  });

  it('makes new buffers with the allocator it was given, in whole size steps, and reuses them', () => {
    const sizes: number[] = [];
    const payloads = new PayloadPool({
      minBytes: 64 * 1024,
      maxBytes: 8 * mib,
      keptBytesMax: 16 * mib,
      allocate: (size) => {
        sizes.push(size);
        return new ArrayBuffer(size);
      },
    });
    const first = payloads.take(100_000)!;
    expect(first.byteOffset).toBe(0);
    expect(first.length).toBe(100_000);
    releasePayload(first);
    expect(payloads.take(120_000)!.buffer).toBe(first.buffer);
    payloads.take(mib);
    expect(sizes).toEqual([128 * 1024, mib]);
    // An allocator that returns the wrong size is a bug, caught at once.
    const wrong = new PayloadPool({
      minBytes: 1,
      maxBytes: mib,
      keptBytesMax: mib,
      allocate: (size) => new ArrayBuffer(size - 1),
    });
    expect(() => wrong.take(1_000)).toThrow(/size asked for/);
  });

  it('hands a buffer out again once its receiver lets go, and not before', () => {
    const payloads = pool();
    const first = payloads.take(mib)!;
    const second = payloads.take(mib)!;
    expect(second.buffer).not.toBe(first.buffer);
    releasePayload(first);
    const third = payloads.take(mib)!;
    expect(third.buffer).toBe(first.buffer);
    expect(payloads.stats()).toMatchObject({ taken: 3, reused: 1 });
  });

  it('waits for every hold, each let go once however often it is called', () => {
    const payloads = pool();
    const taken = payloads.take(mib)!;
    const letGoA = holdPayload(taken.subarray(10, 20));
    const letGoB = holdPayload(taken);
    releasePayload(taken);
    letGoA();
    letGoA();
    expect(payloads.take(mib)!.buffer).not.toBe(taken.buffer);
    letGoB();
    expect(payloads.take(mib)!.buffer).toBe(taken.buffer);
  });

  it('keeps at most its bound of free buffers, and ignores buffers it did not make', () => {
    const payloads = pool(2 * mib);
    const taken = [payloads.take(mib)!, payloads.take(mib)!, payloads.take(mib)!];
    for (const buffer of taken) releasePayload(buffer);
    expect(payloads.stats().keptBytes).toBe(2 * mib);
    const other = Buffer.alloc(mib);
    releasePayload(other);
    holdPayload(other)();
    expect(payloads.stats().keptBytes).toBe(2 * mib);
  });
});
