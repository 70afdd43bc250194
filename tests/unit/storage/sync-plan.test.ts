// Proves recovery's decisions: which chunks the predecessor copies, removes or skips; how the
// syncing target applies a copy whatever version its stale copy carries; and that copying and
// receiving are allowed only between a serving predecessor and its syncing successor under the
// chain version the recovery runs with; a copy that failed transiently is tried again, a bounded
// number of times.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode, StorageCode } from '../../../src/common/status-code.js';
import type { ChainInfo, PublicState } from '../../../src/mgmtd/protocol/index.js';
import {
  copyRetryDelayMs,
  decideChunkSync,
  decideSyncApply,
  planSyncReceive,
  planSyncSend,
  type ChunkMetaView,
} from '../../../src/storage/recovery/sync-plan.js';

const meta = (version: number, checksum = 7, length = 100, pendingVersion?: number): ChunkMetaView => ({
  version,
  length,
  checksum,
  ...(pendingVersion === undefined ? {} : { pendingVersion }),
});

function chain(members: Array<[number, PublicState]>, chainVersion = 5): ChainInfo {
  return {
    chainId: 1,
    chainVersion,
    targets: members.map(([targetId, publicState]) => ({ targetId, publicState })),
  };
}

describe('comparing chunk metadata', () => {
  it('copies missing, older, newer-numbered and different chunks, removes extra ones, skips identical ones', () => {
    expect(decideChunkSync(meta(3), undefined)).toBe('copy');
    expect(decideChunkSync(meta(3), meta(2))).toBe('copy');
    // A higher version on the syncing side is a stale copy from before a remove reset the chunk.
    expect(decideChunkSync(meta(3), meta(9))).toBe('copy');
    expect(decideChunkSync(meta(3, 7), meta(3, 8))).toBe('copy');
    expect(decideChunkSync(meta(3, 7, 100), meta(3, 7, 99))).toBe('copy');
    expect(decideChunkSync(undefined, meta(3))).toBe('remove');
    expect(decideChunkSync(meta(3), meta(3))).toBe('skip');
    expect(decideChunkSync(undefined, undefined)).toBe('skip');
  });

  it('looks again at every chunk the predecessor has an update in flight for, since the update may not reach the syncing target', () => {
    expect(decideChunkSync(meta(0, 0, 0, 1), undefined)).toBe('copy');
    expect(decideChunkSync(meta(3, 7, 100, 4), meta(3, 7, 100))).toBe('copy');
  });

  it('copies a chunk the syncing target holds a pending update of, so nothing stays uncommitted there', () => {
    expect(decideChunkSync(meta(3), meta(3, 7, 100, 4))).toBe('copy');
  });

  it('skips a chunk only when both sides would read the same bytes', () => {
    const side = fc.option(
      fc.record({
        version: fc.integer({ min: 1, max: 4 }),
        length: fc.integer({ min: 0, max: 2 }),
        checksum: fc.integer({ min: 0, max: 2 }),
      }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(side, side, (local, remote) => {
        const action = decideChunkSync(local, remote);
        const identical =
          (local === undefined && remote === undefined) ||
          (local !== undefined &&
            remote !== undefined &&
            local.version === remote.version &&
            local.length === remote.length &&
            local.checksum === remote.checksum);
        expect(action === 'skip').toBe(identical);
        if (local === undefined && remote !== undefined) expect(action).toBe('remove');
      }),
    );
  });
});

describe('applying a copy on the syncing target', () => {
  const incoming = { exists: true as const, version: 4, length: 100, checksum: 7 };

  it('replaces an older or missing chunk and keeps an identical one', () => {
    expect(decideSyncApply({ committed: undefined, hasPending: false, incoming })).toBe('replace');
    expect(decideSyncApply({ committed: meta(3), hasPending: false, incoming })).toBe('replace');
    expect(decideSyncApply({ committed: meta(4), hasPending: false, incoming })).toBe('skip');
  });

  it('resets a stale chunk whose version is not lower, and one with a pending update', () => {
    expect(decideSyncApply({ committed: meta(9, 1), hasPending: false, incoming })).toBe('reset-and-replace');
    expect(decideSyncApply({ committed: meta(4, 1), hasPending: false, incoming })).toBe('reset-and-replace');
    expect(decideSyncApply({ committed: meta(4), hasPending: true, incoming })).toBe('reset-and-replace');
  });

  it('removes a chunk the predecessor does not have, and drops a pending-only one', () => {
    const absent = { exists: false as const };
    expect(decideSyncApply({ committed: meta(2), hasPending: false, incoming: absent })).toBe('remove');
    expect(decideSyncApply({ committed: undefined, hasPending: true, incoming: absent })).toBe(
      'discard-pending',
    );
    expect(decideSyncApply({ committed: undefined, hasPending: false, incoming: absent })).toBe('skip');
  });
});

describe('who may copy to whom', () => {
  const live = chain([
    [1, 'serving'],
    [2, 'serving'],
    [3, 'syncing'],
    [4, 'offline'],
  ]);

  it('lets the last serving target copy to the syncing one under the current chain version', () => {
    expect(
      planSyncSend({ chain: live, chainId: 1, chainVersion: 5, fromTargetId: 2, syncingTargetId: 3 }),
    ).toEqual({ ok: true });
    expect(
      planSyncReceive({ chain: live, chainId: 1, chainVersion: 5, targetId: 3, fromTargetId: 2 }),
    ).toEqual({ ok: true });
  });

  it('refuses a stale chain version, another predecessor, a target that is not syncing, an unknown chain', () => {
    const refused = (result: { ok: boolean; code?: number }) => (result.ok ? undefined : result.code);
    expect(
      refused(
        planSyncSend({ chain: live, chainId: 1, chainVersion: 4, fromTargetId: 2, syncingTargetId: 3 }),
      ),
    ).toBe(StorageCode.ChainVersionMismatch);
    expect(
      refused(
        planSyncSend({ chain: live, chainId: 1, chainVersion: 5, fromTargetId: 1, syncingTargetId: 3 }),
      ),
    ).toBe(StorageCode.TargetNotServing);
    expect(
      refused(
        planSyncSend({ chain: live, chainId: 1, chainVersion: 5, fromTargetId: 2, syncingTargetId: 4 }),
      ),
    ).toBe(StorageCode.TargetNotServing);
    expect(
      refused(planSyncReceive({ chain: live, chainId: 1, chainVersion: 5, targetId: 3, fromTargetId: 1 })),
    ).toBe(StorageCode.ChainVersionMismatch);
    expect(
      refused(planSyncReceive({ chain: live, chainId: 1, chainVersion: 5, targetId: 2, fromTargetId: 1 })),
    ).toBe(StorageCode.TargetNotServing);
    expect(
      refused(planSyncReceive({ chain: live, chainId: 1, chainVersion: 5, targetId: 9, fromTargetId: 2 })),
    ).toBe(StorageCode.ChainNotFound);
    expect(
      refused(
        planSyncReceive({ chain: undefined, chainId: 1, chainVersion: 5, targetId: 3, fromTargetId: 2 }),
      ),
    ).toBe(StorageCode.ChainNotFound);
  });
});

describe('retrying a copy', () => {
  it('tries a copy again after a transient failure, waiting longer each time, until the attempts run out', () => {
    const busy = new FsError(StorageCode.ChunkBusy, 'locked');
    expect(copyRetryDelayMs(busy, 1, 5)).toBe(100);
    expect(copyRetryDelayMs(busy, 2, 5)).toBe(200);
    expect(copyRetryDelayMs(new FsError(RpcCode.Timeout, 'late'), 4, 5)).toBe(800);
    expect(copyRetryDelayMs(busy, 5, 5)).toBeUndefined();
  });

  it('ends the pass at once on a failure that is not transient', () => {
    expect(copyRetryDelayMs(new FsError(StorageCode.NoSpace, 'full'), 1, 5)).toBeUndefined();
    expect(copyRetryDelayMs(new FsError(StorageCode.ChainVersionMismatch, 'moved'), 1, 5)).toBeUndefined();
    expect(copyRetryDelayMs(new Error('a bug'), 1, 5)).toBeUndefined();
  });
});
