// Chains and local states written compactly, for the mgmtd chain tests.
import type { ChainInfo, LocalState, PublicState } from '../../../src/mgmtd/protocol/index.js';

/** Chain 7 at `version` of [target, public state, chain version it served until (down targets)]. */
export function chain(version: number, ...targets: [number, PublicState, number?][]): ChainInfo {
  return {
    chainId: 7,
    chainVersion: version,
    targets: targets.map(([targetId, publicState, servedUntil]) =>
      servedUntil === undefined
        ? { targetId, publicState }
        : { targetId, publicState, servedUntilChainVersion: servedUntil },
    ),
  };
}

/** Each target's local state (a target left out is offline). */
export function locals(...entries: [number, LocalState][]): Map<number, LocalState> {
  return new Map(entries);
}
