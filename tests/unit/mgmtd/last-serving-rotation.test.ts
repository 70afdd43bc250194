// Proves rotate-lastsrv's decision: a dead last serving target moves to the end of its chain as
// offline and the target that served last takes its place (serving at once when alive), then the state table
// brings everyone back; and every refusal (unknown chain, a chain that serves, no lastsrv, a
// lastsrv that is alive, a single target, a stale chain version) leaves the state untouched.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { updateChain } from '../../../src/mgmtd/chain/chain-update.js';
import {
  rotateLastServing,
  rotateLastServingTarget,
} from '../../../src/mgmtd/chain/last-serving-rotation.js';
import { StateDraft } from '../../../src/mgmtd/cluster-state.js';
import type { LocalState, PublicState, TargetInfo } from '../../../src/mgmtd/protocol/index.js';
import { chain, locals } from './chain-fixtures.js';
import { FsError } from '../../../src/common/errors.js';
import { MgmtdCode } from '../../../src/common/status-code.js';

/** The status code `run` throws with. */
function refusal(run: () => unknown): number {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(FsError);
    return (error as FsError).code;
  }
  throw new Error('expected a refusal');
}

describe('rotating a dead last serving target', () => {
  it('moves it to the end as offline and makes the target that failed last the new lastsrv', () => {
    const rotation = rotateLastServing(chain(7, [1, 'lastsrv'], [2, 'offline'], [3, 'offline']), locals());
    expect(rotation.chain).toEqual(chain(8, [2, 'lastsrv'], [3, 'offline'], [1, 'offline']));
    expect(rotation.previousLastServing).toBe(1);
    expect(rotation.nextLastServing).toBe(2);
  });

  it('picks the replica that served last, not one that failed earlier and came back first', () => {
    // 3 failed at version 1, 2 at version 2, then 1 alone until it died; 3 returned first.
    const stuck = chain(5, [3, 'waiting', 1], [1, 'lastsrv', 3], [2, 'offline', 2]);
    const rotation = rotateLastServing(stuck, locals([3, 'online']));
    expect(rotation.nextLastServing).toBe(2);
    // 2 is down: the chain waits for it, with 3 behind; the lost one goes to the end.
    expect(rotation.chain).toEqual(chain(6, [3, 'waiting', 1], [2, 'lastsrv', 2], [1, 'offline', 3]));
    // Once 2 is back it serves, and 3 recovers from it.
    const back = updateChain(rotation.chain, locals([2, 'online'], [3, 'online'])).chain;
    expect(back).toEqual(chain(7, [2, 'serving'], [3, 'syncing', 1], [1, 'offline', 3]));
  });

  it('brings the chain back through the state table once the new lastsrv reports online', () => {
    let current = rotateLastServing(
      chain(7, [1, 'lastsrv'], [2, 'offline'], [3, 'offline']),
      locals([1, 'offline']),
    ).chain;
    // The new lastsrv serves its older data; the others, the replaced one included, recover from it.
    const up = locals([1, 'online'], [2, 'online'], [3, 'online']);
    current = updateChain(current, up).chain;
    expect(current).toEqual(chain(9, [2, 'serving'], [3, 'waiting'], [1, 'waiting']));
    current = updateChain(current, up).chain;
    expect(current).toEqual(chain(10, [2, 'serving'], [3, 'syncing'], [1, 'waiting']));
    current = updateChain(current, locals([1, 'online'], [2, 'up-to-date'], [3, 'up-to-date'])).chain;
    expect(current).toEqual(chain(11, [2, 'serving'], [3, 'serving'], [1, 'syncing']));
    current = updateChain(current, locals([1, 'up-to-date'], [2, 'up-to-date'], [3, 'up-to-date'])).chain;
    expect(current).toEqual(chain(12, [2, 'serving'], [3, 'serving'], [1, 'serving']));
  });

  it('makes an alive waiting target serve at once, so it is never shown lastsrv while alive', () => {
    const rotation = rotateLastServing(
      chain(10, [2, 'waiting'], [3, 'waiting'], [1, 'lastsrv']),
      locals([2, 'online'], [3, 'online']),
    );
    expect(rotation.chain).toEqual(chain(11, [2, 'serving'], [3, 'syncing'], [1, 'offline']));
    expect(rotation.nextLastServing).toBe(2);
  });

  it('keeps the next target lastsrv while its service is down, and lets alive ones wait behind it', () => {
    const rotation = rotateLastServing(
      chain(4, [1, 'lastsrv'], [2, 'offline'], [3, 'offline']),
      locals([3, 'online']),
    );
    expect(rotation.chain).toEqual(chain(5, [3, 'waiting'], [2, 'lastsrv'], [1, 'offline']));
    expect(rotation.nextLastServing).toBe(2);
  });

  it('keeps every target, bumps the version once and never shows an alive target lastsrv', () => {
    const down: PublicState[] = ['waiting', 'offline'];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...down), { minLength: 1, maxLength: 5 }),
        fc.array(fc.constantFrom<LocalState>('up-to-date', 'online', 'offline'), {
          minLength: 5,
          maxLength: 5,
        }),
        fc.nat({ max: 5 }),
        (states, localStates, position) => {
          const members: [number, PublicState][] = states.map((state, index) => [index + 2, state]);
          members.splice(Math.min(position, members.length), 0, [1, 'lastsrv']);
          const before = chain(3, ...members);
          // Target 1, the lastsrv one, is dead; the others report anything (a waiting target's
          // service may have died since the last chain update).
          const local = new Map<number, LocalState>(
            states.map((_, index) => [index + 2, localStates[index] ?? 'offline']),
          );
          const { chain: after, previousLastServing } = rotateLastServing(before, local);
          expect(after.chainVersion).toBe(4);
          expect(after.targets.map((target) => target.targetId).sort()).toEqual(
            members.map(([targetId]) => targetId).sort(),
          );
          expect(previousLastServing).toBe(1);
          expect(after.targets.at(-1)).toEqual({ targetId: 1, publicState: 'offline' });
          for (const target of after.targets) {
            if (target.publicState === 'lastsrv')
              expect(local.get(target.targetId) ?? 'offline').toBe('offline');
          }
        },
      ),
    );
  });
});

describe('refusing a rotation', () => {
  it('refuses a chain that still serves or syncs', () => {
    expect(
      refusal(() => rotateLastServing(chain(3, [2, 'serving'], [1, 'offline']), locals([2, 'up-to-date']))),
    ).toBe(MgmtdCode.ChainStillServes);
    expect(() => rotateLastServing(chain(3, [2, 'serving'], [1, 'offline']), locals())).toThrow(
      /nothing to rotate: chain 7 still serves/,
    );
    expect(
      refusal(() => rotateLastServing(chain(3, [2, 'syncing'], [1, 'lastsrv']), locals([2, 'online']))),
    ).toBe(MgmtdCode.ChainStillServes);
  });

  it('refuses a chain without a lastsrv target', () => {
    expect(refusal(() => rotateLastServing(chain(3, [1, 'offline'], [2, 'offline']), locals()))).toBe(
      MgmtdCode.NothingToRotate,
    );
  });

  it('refuses while the last serving target is alive', () => {
    for (const state of ['online', 'up-to-date'] as const) {
      expect(
        refusal(() => rotateLastServing(chain(3, [1, 'lastsrv'], [2, 'offline']), locals([1, state]))),
      ).toBe(MgmtdCode.LastServingAlive);
    }
  });

  it('refuses a chain of a single target', () => {
    expect(refusal(() => rotateLastServing(chain(3, [1, 'lastsrv']), locals()))).toBe(
      MgmtdCode.NothingToRotate,
    );
  });
});

function target(
  targetId: number,
  chainId: number,
  publicState: PublicState,
  localState: LocalState,
): TargetInfo {
  return { targetId, nodeId: targetId, chainId, localState, publicState, usedBytes: 0, capacityBytes: 0 };
}

function draft(): StateDraft {
  return new StateDraft({
    routingVersion: 20,
    nodes: [],
    targets: [
      target(1, 7, 'lastsrv', 'offline'),
      target(2, 7, 'offline', 'offline'),
      target(3, 7, 'offline', 'offline'),
    ],
    chains: [chain(5, [1, 'lastsrv'], [2, 'offline'], [3, 'offline'])],
    chainTables: [{ chainTableId: 1, chainTableVersion: 1, chains: [7] }],
  });
}

describe('a rotation on the cluster state', () => {
  it("records the chain and its targets' public states under the next routing version", () => {
    const state = draft();
    const rotation = rotateLastServingTarget(state, { chainId: 7, chainVersion: 5 });
    const changes = state.changes();
    expect(changes?.routingVersion).toBe(21);
    expect(changes?.chains).toEqual([rotation.chain]);
    expect(changes?.targets.map((record) => [record.targetId, record.publicState])).toEqual([
      [1, 'offline'],
      [2, 'lastsrv'],
    ]);
  });

  it('refuses an unknown chain and a stale chain version, changing nothing', () => {
    const state = draft();
    expect(refusal(() => rotateLastServingTarget(state, { chainId: 8 }))).toBe(MgmtdCode.ChainNotFound);
    expect(refusal(() => rotateLastServingTarget(state, { chainId: 7, chainVersion: 4 }))).toBe(
      MgmtdCode.ChainVersionMismatch,
    );
    expect(state.changes()).toBeUndefined();
  });

  it('judges liveness by the local state the state table uses', () => {
    const state = new StateDraft({
      ...draft().toState(20),
      targets: [
        target(1, 7, 'lastsrv', 'online'),
        target(2, 7, 'offline', 'offline'),
        target(3, 7, 'offline', 'offline'),
      ],
    });
    expect(refusal(() => rotateLastServingTarget(state, { chainId: 7 }))).toBe(MgmtdCode.LastServingAlive);
    expect(state.changes()).toBeUndefined();
  });
});
