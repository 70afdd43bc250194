// Proves that syncs of one store are shared: a caller waits for a sync that began after its call,
// callers that arrive while one runs share the next, at most one runs at a time, and a failed sync
// fails only the callers it served.
import { describe, expect, it } from 'vitest';
import { SharedSync } from '../../../src/storage/shared-sync.js';

/** A sync the test finishes by hand, counting how many started and how many ran at once. */
function manualSync() {
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  let running = 0;
  let runningMax = 0;
  let started = 0;
  const sync = () =>
    new Promise<void>((resolve, reject) => {
      started += 1;
      running += 1;
      runningMax = Math.max(runningMax, running);
      pending.push({
        resolve: () => {
          running -= 1;
          resolve();
        },
        reject: (error) => {
          running -= 1;
          reject(error);
        },
      });
    });
  return {
    sync,
    pending,
    started: () => started,
    runningMax: () => runningMax,
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('shared syncs of a store', () => {
  it('serves callers that arrive during a sync with one more sync, never two at once', async () => {
    const store = manualSync();
    let synced = 0;
    const shared = new SharedSync(store.sync, () => (synced += 1));
    const first = shared.request();
    const during = [shared.request(), shared.request(), shared.request()];
    expect(store.started()).toBe(1);
    let duringDone = false;
    void Promise.all(during).then(() => (duringDone = true));
    store.pending.shift()?.resolve();
    await first;
    await turn();
    // The callers that came during the first sync wait for the second, which began after them.
    expect(duringDone).toBe(false);
    expect(store.started()).toBe(2);
    store.pending.shift()?.resolve();
    await Promise.all(during);
    expect(store.started()).toBe(2);
    expect(store.runningMax()).toBe(1);
    expect(synced).toBe(2);
    expect(shared.busy).toBe(false);
  });

  it('fails the callers of a failed sync and starts afresh for the next caller', async () => {
    const store = manualSync();
    const shared = new SharedSync(store.sync);
    const failed = shared.request();
    store.pending.shift()?.reject(new Error('EIO'));
    await expect(failed).rejects.toThrow('EIO');
    const next = shared.request();
    expect(store.started()).toBe(2);
    store.pending.shift()?.resolve();
    await expect(next).resolves.toBeUndefined();
  });

  it('runs the next sync after a failed one for callers that were waiting', async () => {
    const store = manualSync();
    const shared = new SharedSync(store.sync);
    const first = shared.request();
    const waiting = shared.request();
    store.pending.shift()?.reject(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await turn();
    expect(store.started()).toBe(2);
    store.pending.shift()?.resolve();
    await expect(waiting).resolves.toBeUndefined();
  });
});
