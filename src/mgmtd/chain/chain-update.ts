/**
 * One chain-update step: applies the transition table to every target of a chain, keeps the
 * chain ordered (serving targets first, then syncing, waiting, and down targets at the end),
 * and bumps the chain version when anything visible changed. Pure; mgmtd persists the result.
 *
 * The table's "predecessor" is read against the chain as this step reorders it: targets that keep
 * serving move ahead of the others. Hence a serving target that goes offline has "no predecessor"
 * (becomes `lastsrv`) only when no other target of the chain keeps serving; if several serving
 * targets are lost at once, the earliest in chain order is the one kept as `lastsrv`. And only the
 * first target after the serving ones can be `syncing`: recovery runs one target at a time.
 *
 * Each target that stops serving keeps the chain version under which it last served
 * (`servedUntilChainVersion`), whatever order it is moved to later: the down replica with the
 * highest one holds the chain's newest writes (last-serving-rotation.ts relies on it).
 */
import { assert } from '../../common/errors.js';
import {
  LocalState,
  PublicState,
  type ChainInfo,
  type ChainTarget,
  type TargetId,
} from '../protocol/index.js';
import { Predecessor, nextPublicState } from './target-state.js';

/** Result of one step for one chain. */
export interface ChainUpdate {
  chain: ChainInfo;
  changed: boolean;
}

const orderRank: Record<PublicState, number> = {
  serving: 0,
  syncing: 1,
  waiting: 2,
  lastsrv: 3,
  offline: 4,
};

/** Applies the state table to `chain` given each target's local state (missing means offline). */
export function updateChain(chain: ChainInfo, localStates: ReadonlyMap<TargetId, LocalState>): ChainUpdate {
  const localOf = (targetId: TargetId): LocalState => localStates.get(targetId) ?? LocalState.Offline;

  // Targets that serve after this step whatever their position: serving or lastsrv targets that
  // are up, and syncing targets whose recovery finished (up-to-date).
  const keepsServing = chain.targets.map((target) => {
    const local = localOf(target.targetId);
    if (local === LocalState.Offline) return false;
    const next = nextPublicState(local, target.publicState, Predecessor.Serving);
    return next === PublicState.Serving;
  });
  let servingRemains = keepsServing.some(Boolean);

  // Down targets: decided before reordering, since their next state depends only on whether a
  // serving target remains ahead of them.
  const decided: ChainTarget[] = chain.targets.map((target, index) => {
    const local = localOf(target.targetId);
    if (keepsServing[index]) return { targetId: target.targetId, publicState: PublicState.Serving };
    if (local !== LocalState.Offline) return { ...target };
    const predecessor = servingRemains ? Predecessor.Serving : Predecessor.None;
    const next = nextPublicState(local, target.publicState, predecessor);
    if (next === PublicState.LastServing) servingRemains = true;
    return { targetId: target.targetId, publicState: next };
  });

  // Returning targets: walk the reordered chain, each one judged by the state just given to the
  // target before it.
  const result: ChainTarget[] = [];
  for (const target of stableSortByRank(decided)) {
    const local = localOf(target.targetId);
    const index = chain.targets.findIndex((original) => original.targetId === target.targetId);
    if (local === LocalState.Offline || keepsServing[index]) {
      result.push(target);
      continue;
    }
    const previous = result[result.length - 1];
    const predecessor =
      previous === undefined
        ? Predecessor.None
        : previous.publicState === PublicState.Serving
          ? Predecessor.Serving
          : Predecessor.NotServing;
    result.push({
      targetId: target.targetId,
      publicState: nextPublicState(local, target.publicState, predecessor),
    });
  }
  const finalOrder = stableSortByRank(result).map((target) => withServedUntil(chain, target));
  assert(finalOrder.length === chain.targets.length, 'a chain update keeps every target');

  const changed = finalOrder.some((target, index) => {
    const before = chain.targets[index];
    return (
      before === undefined || before.targetId !== target.targetId || before.publicState !== target.publicState
    );
  });
  if (!changed) return { chain, changed: false };
  return {
    chain: { chainId: chain.chainId, chainVersion: chain.chainVersion + 1, targets: finalOrder },
    changed: true,
  };
}

/**
 * `target` (its new state) with the chain version under which it last served: set when it stops
 * serving in this step (the chain's version before the step), dropped when it serves, kept else.
 */
function withServedUntil(chain: ChainInfo, target: ChainTarget): ChainTarget {
  const before = chain.targets.find((original) => original.targetId === target.targetId);
  const { servedUntilChainVersion: _dropped, ...bare } = target;
  if (target.publicState === PublicState.Serving) return bare;
  if (before?.publicState === PublicState.Serving) {
    return { ...bare, servedUntilChainVersion: chain.chainVersion };
  }
  const kept = before?.servedUntilChainVersion;
  return kept === undefined ? bare : { ...bare, servedUntilChainVersion: kept };
}

function stableSortByRank(targets: readonly ChainTarget[]): ChainTarget[] {
  return targets
    .map((target, index) => ({ target, index }))
    .sort((a, b) => orderRank[a.target.publicState] - orderRank[b.target.publicState] || a.index - b.index)
    .map(({ target }) => target);
}
