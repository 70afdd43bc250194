// Proves every row of the public-state transition table (DESIGN §7), and chain reordering and
// version bumps on top of it.
import { describe, expect, it } from 'vitest';
import { Predecessor, nextPublicState } from '../../../src/mgmtd/chain/target-state.js';
import { updateChain } from '../../../src/mgmtd/chain/chain-update.js';
import type { LocalState, PublicState } from '../../../src/mgmtd/protocol/index.js';
import { chain, locals } from './chain-fixtures.js';

const anyPredecessor = [Predecessor.None, Predecessor.Serving, Predecessor.NotServing];

// local | public now | predecessor(s) | next public — one line per row of the design's table.
const table: [LocalState, PublicState[], Predecessor[], PublicState][] = [
  ['up-to-date', ['serving', 'syncing', 'lastsrv'], anyPredecessor, 'serving'],
  ['up-to-date', ['waiting', 'offline'], anyPredecessor, 'waiting'],
  ['online', ['serving', 'lastsrv'], anyPredecessor, 'serving'],
  ['online', ['syncing', 'waiting'], [Predecessor.Serving], 'syncing'],
  ['online', ['syncing', 'waiting'], [Predecessor.NotServing, Predecessor.None], 'waiting'],
  ['online', ['offline'], anyPredecessor, 'waiting'],
  ['offline', ['serving'], [Predecessor.None], 'lastsrv'],
  ['offline', ['serving'], [Predecessor.Serving, Predecessor.NotServing], 'offline'],
  ['offline', ['syncing', 'waiting', 'offline'], anyPredecessor, 'offline'],
  ['offline', ['lastsrv'], anyPredecessor, 'lastsrv'],
];

describe('the public-state transition table', () => {
  for (const [local, currents, predecessors, expected] of table) {
    for (const current of currents) {
      for (const predecessor of predecessors) {
        it(`moves a ${local} target from ${current} with predecessor ${predecessor} to ${expected}`, () => {
          expect(nextPublicState(local, current, predecessor)).toBe(expected);
        });
      }
    }
  }

  it('covers every combination of local state, public state and predecessor', () => {
    const locals: LocalState[] = ['up-to-date', 'online', 'offline'];
    const publics: PublicState[] = ['serving', 'syncing', 'waiting', 'lastsrv', 'offline'];
    for (const local of locals) {
      for (const current of publics) {
        for (const predecessor of anyPredecessor) {
          const rows = table.filter(
            ([l, c, p]) => l === local && c.includes(current) && p.includes(predecessor),
          );
          expect(rows, `${local}/${current}/${predecessor}`).toHaveLength(1);
        }
      }
    }
  });
});

describe('a chain update', () => {
  it('leaves a healthy chain and its version alone', () => {
    const before = chain(3, [1, 'serving'], [2, 'serving'], [3, 'serving']);
    const result = updateChain(before, locals([1, 'up-to-date'], [2, 'up-to-date'], [3, 'online']));
    expect(result.changed).toBe(false);
    expect(result.chain).toBe(before);
  });

  it('marks a dead head offline, moves it to the end and bumps the version', () => {
    const result = updateChain(
      chain(3, [1, 'serving'], [2, 'serving'], [3, 'serving']),
      locals([2, 'up-to-date'], [3, 'up-to-date']),
    );
    expect(result.changed).toBe(true);
    expect(result.chain).toEqual(chain(4, [2, 'serving'], [3, 'serving'], [1, 'offline', 3]));
  });

  it('keeps the only serving target that dies as lastsrv', () => {
    const result = updateChain(chain(5, [2, 'serving'], [1, 'offline', 4], [3, 'offline', 2]), locals());
    expect(result.chain).toEqual(chain(6, [2, 'lastsrv', 5], [1, 'offline', 4], [3, 'offline', 2]));
  });

  it('keeps the earliest of several serving targets lost at once as lastsrv', () => {
    const result = updateChain(chain(1, [1, 'serving'], [2, 'serving'], [3, 'serving']), locals());
    expect(result.chain).toEqual(chain(2, [1, 'lastsrv', 1], [2, 'offline', 1], [3, 'offline', 1]));
  });

  it('brings a returning target through waiting, then syncing, then serving', () => {
    let current = chain(4, [2, 'serving'], [3, 'serving'], [1, 'offline']);
    const up = locals([2, 'up-to-date'], [3, 'up-to-date'], [1, 'online']);
    current = updateChain(current, up).chain;
    expect(current).toEqual(chain(5, [2, 'serving'], [3, 'serving'], [1, 'waiting']));
    current = updateChain(current, up).chain;
    expect(current).toEqual(chain(6, [2, 'serving'], [3, 'serving'], [1, 'syncing']));
    expect(updateChain(current, up).changed).toBe(false);
    current = updateChain(current, locals([2, 'up-to-date'], [3, 'up-to-date'], [1, 'up-to-date'])).chain;
    expect(current).toEqual(chain(7, [2, 'serving'], [3, 'serving'], [1, 'serving']));
  });

  it('recovers one returning target at a time', () => {
    let current = chain(1, [1, 'serving'], [2, 'offline'], [3, 'offline']);
    const up = locals([1, 'up-to-date'], [2, 'online'], [3, 'online']);
    current = updateChain(current, up).chain;
    current = updateChain(current, up).chain;
    expect(current.targets.map((target) => target.publicState)).toEqual(['serving', 'syncing', 'waiting']);
  });

  it('lets a chain with a lastsrv target recover only after that target returns', () => {
    let current = chain(9, [1, 'lastsrv'], [2, 'offline'], [3, 'offline']);
    current = updateChain(current, locals([2, 'online'], [3, 'online'])).chain;
    expect(current).toEqual(chain(10, [2, 'waiting'], [3, 'waiting'], [1, 'lastsrv']));
    expect(updateChain(current, locals([2, 'online'], [3, 'online'])).changed).toBe(false);
    current = updateChain(current, locals([1, 'online'], [2, 'online'], [3, 'online'])).chain;
    expect(current).toEqual(chain(11, [1, 'serving'], [2, 'syncing'], [3, 'waiting']));
  });

  it('stops a syncing target whose predecessor died and lets it wait', () => {
    const result = updateChain(chain(2, [1, 'serving'], [2, 'syncing']), locals([2, 'online']));
    expect(result.chain).toEqual(chain(3, [2, 'waiting'], [1, 'lastsrv', 2]));
  });

  it('remembers the version each target last served under, whatever order it moves to', () => {
    let current = chain(1, [1, 'serving'], [2, 'serving'], [3, 'serving']);
    // 3 dies, then 2: the most recent failure stands first among the down targets.
    current = updateChain(current, locals([1, 'up-to-date'], [2, 'up-to-date'])).chain;
    current = updateChain(current, locals([1, 'up-to-date'])).chain;
    expect(current).toEqual(chain(3, [1, 'serving'], [2, 'offline', 2], [3, 'offline', 1]));
    // 1 dies last; then 3 comes back first and is ordered ahead: the versions still tell the story.
    current = updateChain(current, locals()).chain;
    current = updateChain(current, locals([3, 'online'])).chain;
    expect(current).toEqual(chain(5, [3, 'waiting', 1], [1, 'lastsrv', 3], [2, 'offline', 2]));
    // Serving again drops it.
    current = updateChain(current, locals([1, 'online'], [3, 'online'])).chain;
    expect(current.targets[0]).toEqual({ targetId: 1, publicState: 'serving' });
  });
});
