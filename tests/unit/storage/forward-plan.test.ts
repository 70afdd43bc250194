// Proves the CRAQ write plan: client writes only at the head under the current chain version,
// forwards only from the writable predecessor, the next writable target is the successor (whole
// chunks for a syncing one), and targets that are down are skipped.
import { describe, expect, it } from 'vitest';
import { StorageCode } from '../../../src/common/status-code.js';
import type { ChainInfo, PublicState } from '../../../src/mgmtd/protocol/index.js';
import { isReadable, planWrite, type WriteEntry } from '../../../src/storage/craq/forward-plan.js';

function chain(...members: Array<[number, PublicState]>): ChainInfo {
  return {
    chainId: 1,
    chainVersion: 4,
    targets: members.map(([targetId, publicState]) => ({ targetId, publicState })),
  };
}

const client: WriteEntry = { kind: 'client' };
const from = (fromTargetId: number): WriteEntry => ({ kind: 'forward', fromTargetId });

function plan(info: ChainInfo | undefined, targetId: number, entry: WriteEntry, chainVersion = 4) {
  return planWrite({ chain: info, chainId: 1, chainVersion, targetId, entry });
}

describe('the CRAQ write plan', () => {
  const healthy = chain([101, 'serving'], [201, 'serving'], [301, 'serving']);

  it('runs head to tail along the serving targets', () => {
    expect(plan(healthy, 101, client)).toEqual({
      ok: true,
      plan: { successor: { targetId: 201, fullChunk: false } },
    });
    expect(plan(healthy, 201, from(101))).toEqual({
      ok: true,
      plan: { successor: { targetId: 301, fullChunk: false } },
    });
    expect(plan(healthy, 301, from(201))).toEqual({ ok: true, plan: { successor: undefined } });
  });

  it('refuses a stale or future chain version', () => {
    expect(plan(healthy, 101, client, 3)).toMatchObject({
      ok: false,
      code: StorageCode.ChainVersionMismatch,
    });
    expect(plan(healthy, 201, from(101), 5)).toMatchObject({
      ok: false,
      code: StorageCode.ChainVersionMismatch,
    });
  });

  it('refuses client writes anywhere but at the head', () => {
    expect(plan(healthy, 201, client)).toMatchObject({ ok: false, code: StorageCode.NotChainHead });
  });

  it('refuses forwards from a target that is not the predecessor', () => {
    expect(plan(healthy, 301, from(101))).toMatchObject({
      ok: false,
      code: StorageCode.ChainVersionMismatch,
    });
    expect(plan(healthy, 101, from(301))).toMatchObject({
      ok: false,
      code: StorageCode.ChainVersionMismatch,
    });
  });

  it('skips targets that are down and sends whole chunks to a syncing one', () => {
    const degraded = chain([201, 'serving'], [301, 'syncing'], [101, 'offline']);
    expect(plan(degraded, 201, client)).toEqual({
      ok: true,
      plan: { successor: { targetId: 301, fullChunk: true } },
    });
    expect(plan(degraded, 301, from(201))).toEqual({ ok: true, plan: { successor: undefined } });
    expect(plan(degraded, 101, from(301))).toMatchObject({ ok: false, code: StorageCode.TargetNotServing });
    const waiting = chain([201, 'serving'], [101, 'waiting']);
    expect(plan(waiting, 201, client)).toEqual({ ok: true, plan: { successor: undefined } });
  });

  it('refuses unknown chains and targets outside the chain', () => {
    expect(plan(undefined, 101, client)).toMatchObject({ ok: false, code: StorageCode.ChainNotFound });
    expect(plan(healthy, 999, client)).toMatchObject({ ok: false, code: StorageCode.ChainNotFound });
  });

  it('lets only serving targets answer reads', () => {
    expect(isReadable('serving')).toBe(true);
    for (const state of ['syncing', 'waiting', 'lastsrv', 'offline', undefined] as const) {
      expect(isReadable(state)).toBe(false);
    }
  });
});
