/**
 * What the replicator core (replicator-core.ts) and its drivers exchange: the requests it serves,
 * the view of the world it reads, the events it is fed and the actions it asks for. Types only.
 */
import type { ChainInfo } from '../../mgmtd/protocol/index.js';
import type { ChunkId, ChunkUpdateOp } from '../protocol/index.js';
import type { ChunkInfo, ChunkUpdate } from '../store/chunk-store.js';
import type { AssertionError } from '../../common/errors.js';
import type { Issued, Outcome } from './task-runner.js';

export type { Issued, Outcome } from './task-runner.js';

/** Which chunk of which chain on which target, routed by which chain version, with how much time. */
export interface ChunkRoute {
  readonly targetId: number;
  readonly chainId: number;
  readonly chainVersion: number;
  readonly chunkId: ChunkId;
  readonly chunkSizeBytes: number;
  readonly timeoutMs: number;
}

/** The fields every update request carries. */
export interface UpdateRequest extends ChunkRoute {
  readonly op: ChunkUpdateOp;
}

/** A client's update; `expectedVersion` makes it conditional on the chunk's committed version. */
export interface ClientUpdateRequest extends UpdateRequest {
  readonly expectedVersion?: number | undefined;
}

/** An update passed on by a predecessor. */
export interface ForwardedUpdateRequest extends UpdateRequest {
  readonly updateVersion: number;
  readonly fromTargetId: number;
}

/** An update in the form sent on the wire, with its payload. */
export interface WireUpdate {
  readonly op: ChunkUpdateOp;
  readonly payload: Buffer | undefined;
}

/** The body of a forward to a successor (Storage.forward without its payload). */
export interface ForwardBody {
  readonly targetId: number;
  readonly chainId: number;
  readonly chainVersion: number;
  readonly chunkId: ChunkId;
  readonly chunkSizeBytes: number;
  readonly updateVersion: number;
  readonly fromTargetId: number;
  readonly op: ChunkUpdateOp;
  readonly timeoutMs: number;
}

/**
 * What the core reads of the world, synchronously and without side effects: time, routing info,
 * and the chunk store's in-memory index. The same answers give the same decisions.
 */
export interface ReplicatorView {
  /** Monotonic milliseconds. */
  nowMs(): number;
  chain(chainId: number): ChainInfo | undefined;
  addressOfTarget(targetId: number): string | undefined;
  /** Throws TargetNotFound or DiskFailed when this process cannot write `targetId` now. */
  checkTarget(targetId: number): void;
  /** A chunk's versions on a target of this process (undefined: neither); never throws. */
  chunk(targetId: number, chunkId: ChunkId): ChunkInfo | undefined;
}

/** Requests that start a task; `requestId` names its `reply`. */
export type ReplicatorRequest =
  | {
      readonly kind: 'client-update';
      readonly request: ClientUpdateRequest;
      readonly payload: Buffer | undefined;
      /** The CRC32C the RPC layer verified the payload against, if any (spares summing it again). */
      readonly payloadCrc32c?: number | undefined;
    }
  | {
      readonly kind: 'forwarded-update';
      readonly request: ForwardedUpdateRequest;
      readonly payload: Buffer | undefined;
      readonly payloadCrc32c?: number | undefined;
    }
  | {
      /**
       * Recovery's copy of one chunk to a syncing successor: under the chunk's lock, after settling
       * an update left pending there, the driver runs the copy (`copy` action) and replies its value.
       */
      readonly kind: 'copy';
      readonly route: ChunkRoute;
      readonly successorTargetId: number;
    };

/** Events fed to the core. */
export type ReplicatorEvent =
  | { readonly kind: 'request'; readonly requestId: number; readonly request: ReplicatorRequest }
  /** An action the core issued ended (every action but the fire-and-forget ones is answered). */
  | { readonly kind: 'done'; readonly actionId: number; readonly outcome: Outcome }
  | { readonly kind: 'start-settling' }
  | { readonly kind: 'stop-settling' }
  | { readonly kind: 'timer-fired' };

/** Actions the core asks for. Those marked fire-and-forget get no `done` event. */
export type ReplicatorAction =
  /** Takes the chunk's lock, waiting until `deadlineMs` at most; its value is the lock's id. */
  | {
      readonly kind: 'lock';
      readonly targetId: number;
      readonly chunkId: ChunkId;
      readonly deadlineMs: number;
    }
  /** Releases a lock (fire-and-forget). */
  | { readonly kind: 'unlock'; readonly lockId: unknown }
  /** Fetches newer routing info (it may fail; the core judges by what it holds then). */
  | { readonly kind: 'refresh-routing' }
  /** Writes the pending version; value: PendingVersionInfo. */
  | {
      readonly kind: 'prepare';
      readonly targetId: number;
      readonly chunkId: ChunkId;
      readonly update: ChunkUpdate;
      readonly version: number;
      readonly chainVersion: number;
    }
  /** Commits the pending version; value: ChunkVersionInfo | undefined (removed). */
  | {
      readonly kind: 'commit';
      readonly targetId: number;
      readonly chunkId: ChunkId;
      readonly version: number;
    }
  /** Reads the chunk's pending (or committed) version whole; value: `{ data, checksum }`. */
  | {
      readonly kind: 'read';
      readonly targetId: number;
      readonly chunkId: ChunkId;
      readonly length: number;
      readonly pending: boolean;
    }
  /** Sends an update to the successor; value: its UpdateReply. Failures to reach it: ForwardFailed. */
  | {
      readonly kind: 'forward';
      readonly address: string;
      readonly body: ForwardBody;
      readonly payload: Buffer | undefined;
    }
  /** Runs a `copy` request's work under the chunk's lock; its value is the request's reply. */
  | { readonly kind: 'copy'; readonly requestId: number; readonly targetId: number }
  /** Ends request `requestId` (fire-and-forget). */
  | { readonly kind: 'reply'; readonly requestId: number; readonly outcome: Outcome }
  /** Arms (fire-and-forget) the settle timer, which then feeds `timer-fired`, or cancels it. */
  | { readonly kind: 'set-timer'; readonly delayMs: number }
  | { readonly kind: 'cancel-timer' }
  /** A background task broke an invariant: the process must stop (fire-and-forget). */
  | { readonly kind: 'broken-invariant'; readonly error: AssertionError };

export type ReplicatorOutput = Issued<ReplicatorAction>;
