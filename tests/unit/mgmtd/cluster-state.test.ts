// Proves how the primary's state takes heartbeats and timeouts: registration, refusing a node id
// reused by another type or a target claimed by another node, and offline declaration.
import { describe, expect, it } from 'vitest';
import { applyHeartbeat, applyTimeoutsAndChains, StateDraft } from '../../../src/mgmtd/cluster-state.js';
import type { StoredState } from '../../../src/mgmtd/store/mgmtd-store.js';

const empty: StoredState = { routingVersion: 4, nodes: [], targets: [], chains: [], chainTables: [] };
const storageNode = { nodeId: 10, type: 'storage' as const, address: '127.0.0.1:1', hostname: 'a', tags: [] };

describe('heartbeats in the cluster state', () => {
  it('registers a new node and its targets and bumps the routing version once', () => {
    const draft = new StateDraft(empty);
    applyHeartbeat(draft, storageNode, [
      { targetId: 101, localState: 'online', usedBytes: 0, capacityBytes: 0 },
    ]);
    const changes = draft.changes();
    expect(changes?.routingVersion).toBe(5);
    expect(changes?.nodes.map((node) => node.nodeId)).toEqual([10]);
    expect(changes?.targets).toEqual([
      {
        targetId: 101,
        nodeId: 10,
        chainId: 0,
        localState: 'online',
        publicState: 'offline',
        usedBytes: 0,
        capacityBytes: 0,
      },
    ]);
  });

  it('changes nothing for a repeated identical heartbeat', () => {
    const first = new StateDraft(empty);
    applyHeartbeat(first, storageNode, [
      { targetId: 101, localState: 'online', usedBytes: 0, capacityBytes: 0 },
    ]);
    const state = first.toState(5);
    const second = new StateDraft(state);
    applyHeartbeat(second, storageNode, [
      { targetId: 101, localState: 'online', usedBytes: 5, capacityBytes: 9 },
    ]);
    expect(second.changes()).toBeUndefined();
  });

  it('refuses a node id claimed by a node of another type, and a target of another node', () => {
    const draft = new StateDraft(empty);
    applyHeartbeat(draft, storageNode, [
      { targetId: 101, localState: 'online', usedBytes: 0, capacityBytes: 0 },
    ]);
    expect(() => applyHeartbeat(draft, { ...storageNode, type: 'meta' }, [])).toThrow(
      /registered as storage/,
    );
    expect(() =>
      applyHeartbeat(draft, { ...storageNode, nodeId: 11 }, [
        { targetId: 101, localState: 'online', usedBytes: 0, capacityBytes: 0 },
      ]),
    ).toThrow(/target 101 belongs to node 10/);
  });

  it('declares a node offline only after the timeout, with its targets, never the primary itself', () => {
    const draft = new StateDraft(empty);
    applyHeartbeat(draft, storageNode, [
      { targetId: 101, localState: 'up-to-date', usedBytes: 0, capacityBytes: 0 },
    ]);
    applyHeartbeat(draft, { ...storageNode, nodeId: 1, type: 'mgmtd' }, []);
    const state = draft.toState(5);
    const lastHeartbeatMs = new Map([[10, 1_000]]);

    const early = new StateDraft(state);
    applyTimeoutsAndChains(early, {
      nowMs: 1_000 + 5_000,
      heartbeatTimeoutMs: 5_000,
      lastHeartbeatMs,
      selfNodeId: 1,
    });
    expect(early.changes()).toBeUndefined();

    const late = new StateDraft(state);
    applyTimeoutsAndChains(late, {
      nowMs: 1_000 + 5_001,
      heartbeatTimeoutMs: 5_000,
      lastHeartbeatMs,
      selfNodeId: 1,
    });
    expect(late.nodes.get(10)?.status).toBe('offline');
    expect(late.targets.get(101)?.localState).toBe('offline');
    expect(late.nodes.get(1)?.status).toBe('online');
  });
});
