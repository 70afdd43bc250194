/**
 * The operator's way out of a chain stuck behind a last serving target that cannot come back
 * (3FS's rotate-lastsrv): when the `lastsrv` target is down for good (typically its disk was
 * replaced, and its storage service refuses to serve the empty store as the chain's only copy),
 * it moves to the end of the chain as `offline` and the next target becomes the last serving one.
 * Writes acknowledged by the old last serving target alone, after the others failed, are lost:
 * that is why only an operator does this, and only on a chain where nothing serves.
 *
 * The next target is the one that served last: the highest `servedUntilChainVersion` (chain
 * order, which puts the most recent failure first among down targets, breaks ties). Chain order
 * alone would not do: a replica that came back alive (`waiting`) is ordered ahead of the down
 * ones, so one that failed early and returned first would be chosen, and recovery would then
 * overwrite the newer replica with its older chunks. The chosen target may be down: the chain then
 * waits for it (or for another rotation, if it is lost too).
 *
 * Invariants: the rotated chain keeps every target; the chain version goes up by one; the rotation
 * is followed, in the same change, by one step of the state table, so an alive target never
 * appears as `lastsrv` (its storage service would take that for mgmtd giving it up, and exit).
 */
import { FsError, assert } from '../../common/errors.js';
import { MgmtdCode } from '../../common/status-code.js';
import {
  LocalState,
  PublicState,
  type ChainInfo,
  type ChainTarget,
  type TargetId,
} from '../protocol/index.js';
import type { StateDraft } from '../cluster-state.js';
import { updateChain } from './chain-update.js';

/** What a rotation did. */
export interface LastServingRotation {
  /** The chain after the rotation and the state-table step that follows it. */
  chain: ChainInfo;
  /** The old last serving target, now offline at the end of the chain. */
  previousLastServing: TargetId;
  /** The target that took its place (serving already when it was alive). */
  nextLastServing: TargetId;
}

/**
 * Rotates `chain`'s last serving target to its end, given each target's local state (missing
 * means offline). Throws an FsError when the chain is not stuck behind a dead lastsrv target.
 */
export function rotateLastServing(
  chain: ChainInfo,
  localStates: ReadonlyMap<TargetId, LocalState>,
): LastServingRotation {
  const localOf = (targetId: TargetId): LocalState => localStates.get(targetId) ?? LocalState.Offline;
  if (chain.targets.length < 2) {
    throw new FsError(
      MgmtdCode.NothingToRotate,
      `chain ${chain.chainId} has a single target: no other replica can take the last serving target's place`,
    );
  }
  const writable = chain.targets.filter(
    (target) => target.publicState === PublicState.Serving || target.publicState === PublicState.Syncing,
  );
  if (writable.length > 0) {
    const described = writable.map((target) => `${target.targetId} ${target.publicState}`).join(', ');
    throw new FsError(
      MgmtdCode.ChainStillServes,
      `nothing to rotate: chain ${chain.chainId} still serves (target ${described})`,
    );
  }
  const lastServing = chain.targets.find((target) => target.publicState === PublicState.LastServing);
  if (lastServing === undefined) {
    throw new FsError(
      MgmtdCode.NothingToRotate,
      `chain ${chain.chainId} has no lastsrv target: every replica is down or waiting, none holds the chain's last writes`,
    );
  }
  const lastLocal = localOf(lastServing.targetId);
  if (lastLocal !== LocalState.Offline) {
    throw new FsError(
      MgmtdCode.LastServingAlive,
      `target ${lastServing.targetId}, the last serving target of chain ${chain.chainId}, is alive (${lastLocal}): it serves again by itself`,
    );
  }
  const others = chain.targets.filter((target) => target.targetId !== lastServing.targetId);
  const servedUntil = (target: ChainTarget): number => target.servedUntilChainVersion ?? 0;
  const next = others.reduce<ChainTarget | undefined>(
    (best, target) => (best === undefined || servedUntil(target) > servedUntil(best) ? target : best),
    undefined,
  );
  assert(next !== undefined, 'a chain of two or more targets has another target than its lastsrv');
  const rest = others.filter((target) => target !== next);
  const rotated: ChainTarget[] = [
    { ...next, publicState: PublicState.LastServing },
    ...rest.map((target) => ({ ...target })),
    { ...lastServing, publicState: PublicState.Offline },
  ];
  const stepped = updateChain({ ...chain, targets: rotated }, localStates).chain;
  assert(stepped.targets.length === chain.targets.length, 'a rotation keeps every target');
  return {
    chain: { chainId: chain.chainId, chainVersion: chain.chainVersion + 1, targets: stepped.targets },
    previousLastServing: lastServing.targetId,
    nextLastServing: next.targetId,
  };
}

/**
 * Rotates the last serving target of chain `chainId` on a state draft (chain and target records).
 * `chainVersion`, when given, must be the chain's current version: a retried or stale request
 * must not rotate a second time.
 */
export function rotateLastServingTarget(
  draft: StateDraft,
  request: { chainId: number; chainVersion?: number | undefined },
): LastServingRotation {
  const chain = draft.chains.get(request.chainId);
  if (chain === undefined) {
    throw new FsError(MgmtdCode.ChainNotFound, `chain ${request.chainId} does not exist`);
  }
  if (request.chainVersion !== undefined && request.chainVersion !== chain.chainVersion) {
    throw new FsError(
      MgmtdCode.ChainVersionMismatch,
      `chain ${chain.chainId} is at version ${chain.chainVersion}, not ${request.chainVersion}: it changed since it was read`,
    );
  }
  const localStates = new Map<TargetId, LocalState>();
  for (const member of chain.targets) {
    const target = draft.targets.get(member.targetId);
    if (target !== undefined) localStates.set(member.targetId, target.localState);
  }
  const rotation = rotateLastServing(chain, localStates);
  draft.putChain(rotation.chain);
  for (const member of rotation.chain.targets) {
    const target = draft.targets.get(member.targetId);
    if (target !== undefined && target.publicState !== member.publicState) {
      draft.putTarget({ ...target, publicState: member.publicState });
    }
  }
  return rotation;
}
