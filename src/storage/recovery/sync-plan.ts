/**
 * The decisions of recovery (DESIGN §7), pure, shared by the storage service and the simulation
 * test. A syncing target sits right behind its predecessor, the last serving target before it;
 * the predecessor holds every acknowledged write, so for each chunk it makes the syncing target
 * hold exactly its own committed version:
 *
 * - `decideChunkSync` compares the two sides' metadata: a chunk missing on the syncing target, or
 *   at another version, length or checksum (an older one, or one from before a remove that reset
 *   the chunk's versions), or with an update left pending there, is copied whole; a chunk only the
 *   syncing target has is removed; identical chunks are skipped.
 * - `decideSyncApply` is the syncing target's side: it takes the predecessor's version as it is,
 *   even when its own copy carries a higher version number (a stale copy from before a remove).
 * - `planSyncSend` and `planSyncReceive` check, from routing info, that the two targets are still
 *   predecessor and syncing successor under the chain version the recovery runs with; any change
 *   of the chain ends that recovery and a new one starts from the new routing info.
 * - `copyRetryDelayMs` says whether a copy that failed is tried again within the pass, and when.
 */
import { FsError } from '../../common/errors.js';
import { RpcCode, StorageCode, type StatusCode } from '../../common/status-code.js';
import { PublicState, type ChainInfo } from '../../mgmtd/protocol/index.js';
import type { SyncChunkState } from '../protocol/index.js';

/** The metadata of one committed chunk, as the comparison sees it. */
export interface ChunkMetaView {
  readonly version: number;
  readonly length: number;
  readonly checksum: number;
  /** The version of an update in flight (or left pending by a failure), when there is one. */
  readonly pendingVersion?: number | undefined;
}

export type ChunkSyncAction = 'skip' | 'copy' | 'remove';

/** What recovery does with one chunk, from the predecessor's (`local`) and the syncing target's (`remote`) metadata. */
export function decideChunkSync(
  local: ChunkMetaView | undefined,
  remote: ChunkMetaView | undefined,
): ChunkSyncAction {
  if (local === undefined) return remote === undefined ? 'skip' : 'remove';
  // An update in flight on the predecessor: decided again under the chunk's lock once it settled.
  if (local.pendingVersion !== undefined) return 'copy';
  if (remote === undefined) return 'copy';
  const same =
    remote.version === local.version &&
    remote.length === local.length &&
    remote.checksum === local.checksum &&
    remote.pendingVersion === undefined;
  return same ? 'skip' : 'copy';
}

export type SyncApply = 'skip' | 'replace' | 'reset-and-replace' | 'remove' | 'discard-pending';

/**
 * What the syncing target does to make its chunk equal to `incoming`. `reset-and-replace` removes
 * the local copy first, because a committed version can only be followed by a higher one.
 */
export function decideSyncApply(input: {
  committed: ChunkMetaView | undefined;
  hasPending: boolean;
  incoming: SyncChunkState;
}): SyncApply {
  const { committed, hasPending, incoming } = input;
  if (!incoming.exists) {
    if (committed !== undefined) return 'remove';
    return hasPending ? 'discard-pending' : 'skip';
  }
  if (committed === undefined) return 'replace';
  const same =
    committed.version === incoming.version &&
    committed.length === incoming.length &&
    committed.checksum === incoming.checksum;
  if (same && !hasPending) return 'skip';
  return committed.version >= incoming.version ? 'reset-and-replace' : 'replace';
}

export type SyncPlanResult =
  { readonly ok: true } | { readonly ok: false; readonly code: StatusCode; readonly message: string };

function refuse(code: StatusCode, message: string): SyncPlanResult {
  return { ok: false, code, message };
}

const ok: SyncPlanResult = { ok: true };

/** The writable members of a chain (serving, then syncing), in chain order. */
function writableMembers(chain: ChainInfo) {
  return chain.targets.filter(
    (member) => member.publicState === PublicState.Serving || member.publicState === PublicState.Syncing,
  );
}

type CheckedChain =
  | { readonly ok: true; readonly chain: ChainInfo }
  | { readonly ok: false; readonly code: StatusCode; readonly message: string };

function checkChain(chain: ChainInfo | undefined, chainId: number, chainVersion: number): CheckedChain {
  if (chain === undefined) {
    return {
      ok: false,
      code: StorageCode.ChainNotFound,
      message: `chain ${chainId} is not in the routing info`,
    };
  }
  if (chain.chainVersion !== chainVersion) {
    return {
      ok: false,
      code: StorageCode.ChainVersionMismatch,
      message: `chain ${chainId} is at version ${chain.chainVersion}, the recovery runs under version ${chainVersion}`,
    };
  }
  return { ok: true, chain };
}

/** Whether `fromTargetId` may copy to `syncingTargetId`: it serves, and the syncing target is the next writable member. */
export function planSyncSend(input: {
  chain: ChainInfo | undefined;
  chainId: number;
  chainVersion: number;
  fromTargetId: number;
  syncingTargetId: number;
}): SyncPlanResult {
  const checked = checkChain(input.chain, input.chainId, input.chainVersion);
  if (!checked.ok) return checked;
  const writable = writableMembers(checked.chain);
  const position = writable.findIndex((member) => member.targetId === input.fromTargetId);
  const self = writable[position];
  if (self?.publicState !== PublicState.Serving) {
    return refuse(
      StorageCode.TargetNotServing,
      `target ${input.fromTargetId} is not serving in chain ${input.chainId} version ${input.chainVersion}`,
    );
  }
  const next = writable[position + 1];
  if (next?.targetId !== input.syncingTargetId || next.publicState !== PublicState.Syncing) {
    return refuse(
      StorageCode.TargetNotServing,
      `target ${input.syncingTargetId} is not the syncing successor of target ${input.fromTargetId} in chain ${input.chainId} version ${input.chainVersion}`,
    );
  }
  return ok;
}

/** Whether `targetId` accepts recovery from `fromTargetId`: it is syncing right behind it. */
export function planSyncReceive(input: {
  chain: ChainInfo | undefined;
  chainId: number;
  chainVersion: number;
  targetId: number;
  fromTargetId: number;
}): SyncPlanResult {
  const checked = checkChain(input.chain, input.chainId, input.chainVersion);
  if (!checked.ok) return checked;
  const writable = writableMembers(checked.chain);
  const position = writable.findIndex((member) => member.targetId === input.targetId);
  const self = writable[position];
  if (self?.publicState !== PublicState.Syncing) {
    const member = checked.chain.targets.find((candidate) => candidate.targetId === input.targetId);
    return refuse(
      member === undefined ? StorageCode.ChainNotFound : StorageCode.TargetNotServing,
      `target ${input.targetId} is ${member?.publicState ?? 'not a member'} in chain ${input.chainId} version ${input.chainVersion}, not syncing`,
    );
  }
  if (writable[position - 1]?.targetId !== input.fromTargetId) {
    return refuse(
      StorageCode.ChainVersionMismatch,
      `target ${input.fromTargetId} is not the predecessor of target ${input.targetId} in chain ${input.chainId} version ${input.chainVersion}`,
    );
  }
  return ok;
}

/** Failures after which copying the same chunk again may succeed within a pass. */
const copyRetryCodes: ReadonlySet<number> = new Set<number>([
  StorageCode.ChunkBusy,
  StorageCode.ForwardFailed,
  RpcCode.Timeout,
  RpcCode.ConnectionClosed,
  RpcCode.ConnectFailed,
  RpcCode.Overloaded,
]);

/**
 * The wait before copying a chunk again after attempt `attempt` (1 for the first) failed with
 * `error`, doubling from 100 ms up to 1 s; undefined when the failure ends the pass (it is not
 * transient, or `attemptsMax` attempts were made).
 */
export function copyRetryDelayMs(error: unknown, attempt: number, attemptsMax: number): number | undefined {
  const transient = error instanceof FsError && copyRetryCodes.has(error.code);
  if (!transient || attempt >= attemptsMax) return undefined;
  return Math.min(1_000, 50 * 2 ** attempt);
}
