/**
 * The public-state transition table of DESIGN §7 (3FS's target state machine), as one pure
 * function. mgmtd applies it to every target of every chain on each chain-update tick.
 */
import { LocalState, PublicState } from '../protocol/index.js';

/** What the table needs to know about a target's predecessor in the chain. */
export const Predecessor = {
  /** The target is the chain's head (no predecessor). */
  None: 'none',
  Serving: 'serving',
  NotServing: 'not-serving',
} as const;
export type Predecessor = (typeof Predecessor)[keyof typeof Predecessor];

/** The next public state of a target from its local state, public state and predecessor. */
export function nextPublicState(
  local: LocalState,
  current: PublicState,
  predecessor: Predecessor,
): PublicState {
  switch (local) {
    case LocalState.UpToDate:
      return upToDateNext(current);
    case LocalState.Online:
      return onlineNext(current, predecessor);
    case LocalState.Offline:
      return offlineNext(current, predecessor);
  }
}

function upToDateNext(current: PublicState): PublicState {
  switch (current) {
    case PublicState.Serving:
    case PublicState.Syncing:
    case PublicState.LastServing:
      return PublicState.Serving;
    case PublicState.Waiting:
    case PublicState.Offline:
      // An up-to-date claim from a target that was not part of the chain's serving set is not
      // trusted: it has to go through recovery like any returning target.
      return PublicState.Waiting;
  }
}

function onlineNext(current: PublicState, predecessor: Predecessor): PublicState {
  switch (current) {
    case PublicState.Serving:
    case PublicState.LastServing:
      return PublicState.Serving;
    case PublicState.Syncing:
    case PublicState.Waiting:
      // Recovery is driven by the predecessor; it can only run while that predecessor serves.
      return predecessor === Predecessor.Serving ? PublicState.Syncing : PublicState.Waiting;
    case PublicState.Offline:
      return PublicState.Waiting;
  }
}

function offlineNext(current: PublicState, predecessor: Predecessor): PublicState {
  switch (current) {
    case PublicState.Serving:
      // The last serving target keeps every acknowledged write; it must come back first.
      return predecessor === Predecessor.None ? PublicState.LastServing : PublicState.Offline;
    case PublicState.Syncing:
    case PublicState.Waiting:
    case PublicState.Offline:
      return PublicState.Offline;
    case PublicState.LastServing:
      return PublicState.LastServing;
  }
}
