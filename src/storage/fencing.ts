/**
 * When a storage process may take part in the cluster, and when it must stop (DESIGN §7). Pure
 * decisions over routing info; storage-node.ts acts on them.
 *
 * - Start-up: a process that restarts pulls routing info but sends no heartbeat until every one
 *   of its targets that belongs to a chain is shown down (`offline`, or `lastsrv`, which a down
 *   target keeps until it returns). Otherwise mgmtd could take the restarted process for the old
 *   one and keep its targets serving without recovery. Targets in no chain yet (a new cluster,
 *   a new disk) hold nothing anyone relies on and do not wait.
 * - Local state reported in heartbeats: `online` for a target of a chain after a restart, until
 *   recovery is done; `up-to-date` for a target in no chain yet (it joins fresh chains as an
 *   empty, agreeing replica) and for a target routing info shows serving.
 * - A target whose store starts empty does not rejoin as its chain's last serving target; it does
 *   once routing info shows it otherwise (after `admin rotate-lastsrv`).
 * - Fencing: a target that routing info once showed alive (serving, syncing, waiting) and now
 *   shows `offline` or `lastsrv` has been given up by mgmtd; the process must stop serving and
 *   exit, and come back through recovery.
 */
import { LocalState, PublicState, type RoutingInfo } from '../mgmtd/protocol/index.js';

function chainMember(routing: RoutingInfo, targetId: number) {
  const target = routing.targets.find((candidate) => candidate.targetId === targetId);
  return target === undefined || target.chainId === 0 ? undefined : target;
}

function isDown(state: string): boolean {
  return state === PublicState.Offline || state === PublicState.LastServing;
}

/** Targets of this process that routing info does not show down yet (empty: heartbeats may start). */
export function targetsNotYetDown(routing: RoutingInfo, targetIds: readonly number[]): number[] {
  return targetIds.filter((targetId) => {
    const member = chainMember(routing, targetId);
    return member !== undefined && !isDown(member.publicState);
  });
}

/** The local state a target starts with once heartbeats begin. */
export function initialLocalState(routing: RoutingInfo, targetId: number): LocalState {
  return chainMember(routing, targetId) === undefined ? LocalState.UpToDate : LocalState.Online;
}

/** The local state after routing info shows the target in `publicState`. */
export function nextLocalState(current: LocalState, publicState: string | undefined): LocalState {
  return publicState === PublicState.Serving ? LocalState.UpToDate : current;
}

/** True when routing info shows the target alive in a chain (it may be fenced from now on). */
export function isAliveInChain(routing: RoutingInfo, targetId: number): boolean {
  const member = chainMember(routing, targetId);
  return member !== undefined && !isDown(member.publicState);
}

/** Why the process must fence itself given this routing info, or undefined when it need not. */
export function fenceReason(
  routing: RoutingInfo,
  targets: ReadonlyArray<{ targetId: number; seenAlive: boolean }>,
): string | undefined {
  for (const { targetId, seenAlive } of targets) {
    const member = chainMember(routing, targetId);
    if (seenAlive && member !== undefined && isDown(member.publicState)) {
      return `routing version ${routing.routingVersion} shows target ${targetId} ${member.publicState} in chain ${member.chainId}`;
    }
  }
  return undefined;
}

/**
 * Why a target whose store starts empty (a replaced disk, a directory that disappeared) must not
 * rejoin, or undefined when it may. It may, through recovery, unless routing info shows it as its
 * chain's last serving target: then it would serve its empty store as the chain's only copy, while
 * the other replicas that hold the data wait for it. It stays out (offline) for an operator, who
 * restores the disk or gives its writes up with `admin rotate-lastsrv`; once routing info no
 * longer shows it as the last serving target, it rejoins through recovery.
 */
export function freshStoreRefusal(
  routing: RoutingInfo,
  targetId: number,
  freshStore: boolean,
): string | undefined {
  const member = chainMember(routing, targetId);
  if (!freshStore || member?.publicState !== PublicState.LastServing) return undefined;
  return `target ${targetId} starts with an empty store but is the last serving target of chain ${member.chainId}: it would serve no data; restore its disk, or make another replica the last serving target with "admin rotate-lastsrv ${member.chainId}" (writes only this target held are lost)`;
}

/** True when mgmtd has been unreachable for half the heartbeat timeout: stop before it gives us up. */
export function mgmtdLost(unreachableForMs: number, heartbeatTimeoutMs: number): boolean {
  return unreachableForMs >= heartbeatTimeoutMs / 2;
}
