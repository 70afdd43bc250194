// Proves the start-up and fencing decisions: a restarted process waits until its chain targets
// are shown down (fresh targets do not wait), reports online until recovery and up-to-date when
// serving, and fences itself when a target it saw alive is shown offline or lastsrv, or mgmtd is
// silent for half the heartbeat timeout.
import { describe, expect, it } from 'vitest';
import type { PublicState, RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import {
  fenceReason,
  freshStoreRefusal,
  initialLocalState,
  isAliveInChain,
  mgmtdLost,
  nextLocalState,
  targetsNotYetDown,
} from '../../../src/storage/fencing.js';

function routing(targets: Array<[targetId: number, chainId: number, state: PublicState]>): RoutingInfo {
  return {
    clusterId: 'test',
    routingVersion: 9,
    nodes: [],
    chains: [],
    chainTables: [],
    targets: targets.map(([targetId, chainId, publicState]) => ({
      targetId,
      nodeId: 1,
      chainId,
      localState: 'offline',
      publicState,
      usedBytes: 0,
      capacityBytes: 0,
    })),
  };
}

describe('rejoining and fencing', () => {
  it('waits until every chain target is shown down; targets in no chain do not wait', () => {
    expect(
      targetsNotYetDown(
        routing([
          [101, 1, 'serving'],
          [102, 2, 'offline'],
        ]),
        [101, 102],
      ),
    ).toEqual([101]);
    expect(
      targetsNotYetDown(
        routing([
          [101, 1, 'lastsrv'],
          [102, 2, 'offline'],
        ]),
        [101, 102],
      ),
    ).toEqual([]);
    expect(targetsNotYetDown(routing([[101, 0, 'offline']]), [101, 103])).toEqual([]);
  });

  it('starts chain targets online and fresh targets up-to-date', () => {
    const info = routing([
      [101, 1, 'offline'],
      [102, 0, 'offline'],
    ]);
    expect(initialLocalState(info, 101)).toBe('online');
    expect(initialLocalState(info, 102)).toBe('up-to-date');
    expect(initialLocalState(info, 103)).toBe('up-to-date');
    expect(nextLocalState('online', 'syncing')).toBe('online');
    expect(nextLocalState('online', 'serving')).toBe('up-to-date');
  });

  it('fences when a target seen alive is shown offline or lastsrv', () => {
    const down = routing([
      [101, 1, 'offline'],
      [102, 2, 'lastsrv'],
    ]);
    expect(fenceReason(down, [{ targetId: 101, seenAlive: false }])).toBeUndefined();
    expect(fenceReason(down, [{ targetId: 101, seenAlive: true }])).toMatch(/target 101 offline/);
    expect(fenceReason(down, [{ targetId: 102, seenAlive: true }])).toMatch(/target 102 lastsrv/);
    const fresh = routing([[103, 0, 'offline']]);
    expect(fenceReason(fresh, [{ targetId: 103, seenAlive: true }])).toBeUndefined();
    expect(isAliveInChain(routing([[101, 1, 'waiting']]), 101)).toBe(true);
    expect(isAliveInChain(fresh, 103)).toBe(false);
  });

  it('fences after half the heartbeat timeout without mgmtd', () => {
    expect(mgmtdLost(749, 1_500)).toBe(false);
    expect(mgmtdLost(750, 1_500)).toBe(true);
  });

  it("keeps a target with an empty store out when it is its chain's last serving target", () => {
    const info = routing([
      [101, 1, 'lastsrv'],
      [102, 1, 'offline'],
    ]);
    expect(freshStoreRefusal(info, 101, true)).toMatch(
      /empty store but is the last serving target of chain 1/,
    );
    expect(freshStoreRefusal(info, 101, false)).toBeUndefined();
    expect(freshStoreRefusal(info, 102, true)).toBeUndefined();
  });
});
