/**
 * Where a write goes, decided from routing info alone (pure; forwarder.ts acts on it). A chain
 * lists its targets head first; the writable ones are `serving` and `syncing` targets, in chain
 * order. A client write must reach the head (the first serving target) under the chain version the
 * target knows; a forwarded write must come from the writable target just before the receiver. The
 * receiver passes the write to the next writable target, whole chunk at a time when that target
 * is `syncing` (its copy may lack earlier updates), and is the tail when there is none.
 */
import { StorageCode, type StatusCode } from '../../common/status-code.js';
import {
  PublicState,
  type ChainInfo,
  type PublicState as PublicStateType,
} from '../../mgmtd/protocol/index.js';

/** How the write reached this target. */
export type WriteEntry =
  { readonly kind: 'client' } | { readonly kind: 'forward'; readonly fromTargetId: number };

export interface Successor {
  readonly targetId: number;
  /** Send the whole chunk rather than the update (the successor is syncing). */
  readonly fullChunk: boolean;
}

export interface WritePlan {
  /** Undefined when this target is the tail. */
  readonly successor: Successor | undefined;
}

export type PlanResult =
  | { readonly ok: true; readonly plan: WritePlan }
  | { readonly ok: false; readonly code: StatusCode; readonly message: string };

function isWritable(state: PublicStateType): boolean {
  return state === PublicState.Serving || state === PublicState.Syncing;
}

function refuse(code: StatusCode, message: string): PlanResult {
  return { ok: false, code, message };
}

/** Plans a write of chain `chainId` under `chainVersion` arriving at `targetId`. */
export function planWrite(input: {
  chain: ChainInfo | undefined;
  chainId: number;
  chainVersion: number;
  targetId: number;
  entry: WriteEntry;
}): PlanResult {
  const { chain, chainId, targetId, entry } = input;
  if (chain === undefined)
    return refuse(StorageCode.ChainNotFound, `chain ${chainId} is not in the routing info`);
  if (input.chainVersion !== chain.chainVersion) {
    return refuse(
      StorageCode.ChainVersionMismatch,
      `chain ${chainId} is at version ${chain.chainVersion}, the request was routed by version ${input.chainVersion}`,
    );
  }
  const writable = chain.targets.filter((member) => isWritable(member.publicState));
  const position = writable.findIndex((member) => member.targetId === targetId);
  if (position < 0) {
    const member = chain.targets.find((candidate) => candidate.targetId === targetId);
    return member === undefined
      ? refuse(StorageCode.ChainNotFound, `target ${targetId} is not a member of chain ${chainId}`)
      : refuse(
          StorageCode.TargetNotServing,
          `target ${targetId} is ${member.publicState} in chain ${chainId}`,
        );
  }
  const self = writable[position];
  if (entry.kind === 'client') {
    if (position !== 0 || self?.publicState !== PublicState.Serving) {
      return refuse(
        StorageCode.NotChainHead,
        `target ${targetId} is not the head of chain ${chainId} (the head is ${writable[0]?.targetId ?? 'none'})`,
      );
    }
  } else {
    const predecessor = writable[position - 1];
    if (predecessor?.targetId !== entry.fromTargetId) {
      return refuse(
        StorageCode.ChainVersionMismatch,
        `target ${entry.fromTargetId} is not the predecessor of target ${targetId} in chain ${chainId} version ${chain.chainVersion}`,
      );
    }
  }
  const next = writable[position + 1];
  return {
    ok: true,
    plan: {
      successor:
        next === undefined
          ? undefined
          : { targetId: next.targetId, fullChunk: next.publicState === PublicState.Syncing },
    },
  };
}

/** Whether a target in `state` answers reads: only serving targets hold every committed write. */
export function isReadable(state: PublicStateType | undefined): boolean {
  return state === PublicState.Serving;
}
