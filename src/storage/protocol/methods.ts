/**
 * RPC methods served by storage_main (service id 3). Chunk bytes always travel as the frame's raw
 * payload, never inside the body; every body that goes with a payload also names the payload's
 * CRC32C, which each target checks end to end before it applies the bytes.
 *
 * Versions (chunk versions, chain versions) are u32, as in 3FS: a chunk's committed version
 * grows by one per update and never approaches 2^32 in a chunk's life.
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import {
  chainIdSchema,
  localStateSchema,
  nodeIdSchema,
  publicStateSchema,
  targetIdSchema,
} from '../../mgmtd/protocol/index.js';
import { defineMethod } from '../../rpc/index.js';
import { chunkIdSchema, chunkIndexSchema, inodeIdSchema } from './chunk-id.js';

/** Service id of storage in RPC frame headers. */
export const storageServiceId = 3;

const u32 = z.number().int().min(0).max(0xffff_ffff);
/** Offsets and lengths are checked against the chunk size by the handler, which names the problem. */
const byteCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const chainVersionSchema = z.number().int().min(1).max(0xffff_ffff);
const chunkVersionSchema = u32;
/** Remaining time the sender grants the whole call, its forwards included. */
const timeoutMsSchema = z.number().int().min(1).max(600_000);

/**
 * One update of a chunk. `write` puts the payload at `offset` (partial and unaligned writes are
 * fine; bytes between the old end and `offset` read as zeros); `replace` makes the payload the
 * whole chunk; `truncate` sets the length (shrinking, or extending with zeros); `remove` deletes it.
 * `zero` makes [offset, offset + length) read as zeros (fallocate's punch hole and zero range) and
 * frees the whole blocks inside it; it never makes a chunk longer or creates one: a range reaching
 * the chunk's end cuts the chunk there (removing it when the range starts at 0), and a chunk that
 * does not exist stays absent. `clone` makes the chunk a copy of the committed version of chunk
 * `source` on the same target (a chunk of another file with the same layout, so on the same
 * chain): the native engine shares the source's blocks until either side writes them. The head
 * fills in `sourceVersion`, the source's committed version there (0: absent, and the chunk is then
 * removed), and every replica applies the clone only over that same version (else
 * ChunkVersionMismatch, after which the head sends the chunk whole), so replicas agree.
 */
export const chunkUpdateOpSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('write'), offset: byteCount, length: byteCount, checksum: u32 }),
  z.strictObject({ kind: z.literal('replace'), length: byteCount, checksum: u32 }),
  z.strictObject({ kind: z.literal('truncate'), length: byteCount }),
  z.strictObject({ kind: z.literal('remove') }),
  z.strictObject({ kind: z.literal('zero'), offset: byteCount, length: byteCount }),
  z.strictObject({
    kind: z.literal('clone'),
    source: chunkIdSchema,
    sourceVersion: chunkVersionSchema.optional(),
  }),
]);
export type ChunkUpdateOp = z.infer<typeof chunkUpdateOpSchema>;

/** Where an update goes: the target, its chain, and the chain version the sender routed it by. */
const updateTargetFields = {
  targetId: targetIdSchema,
  chainId: chainIdSchema,
  chainVersion: chainVersionSchema,
  chunkId: chunkIdSchema,
  /** The file's chunk size: no update may reach past it. */
  chunkSizeBytes: z.number().int().min(1).max(limits.storageChunkBytesMax),
  op: chunkUpdateOpSchema,
  timeoutMs: timeoutMsSchema,
};

/** The chunk after an update committed: `exists` is false after a remove. */
export const updateReplySchema = z.strictObject({
  exists: z.boolean(),
  version: chunkVersionSchema,
  length: byteCount,
  checksum: u32,
});
export type UpdateReply = z.infer<typeof updateReplySchema>;

/** A client's update, sent to the head of the chain. Not idempotent: a retry makes a new version. */
export const write = defineMethod({
  serviceId: storageServiceId,
  methodId: 1,
  name: 'Storage.write',
  request: z.strictObject({
    ...updateTargetFields,
    /**
     * Apply the update only if the chunk's committed version is this one (0: the chunk does not
     * exist); otherwise fail with ChunkVersionMismatch and change nothing. The meta service's GC
     * worker cuts truncated files this way, so a write that raced the truncate is never cut.
     */
    expectedVersion: chunkVersionSchema.optional(),
  }),
  response: updateReplySchema,
  idempotent: false,
  // The chunk engine checks the payload against op.checksum in its prepare (update-validation.ts).
  payloadCheckedByHandler: true,
});

/** An update passed from a target to its successor, with the version the head assigned. */
export const forward = defineMethod({
  serviceId: storageServiceId,
  methodId: 2,
  name: 'Storage.forward',
  request: z.strictObject({
    ...updateTargetFields,
    updateVersion: chunkVersionSchema.min(1),
    fromTargetId: targetIdSchema,
  }),
  response: updateReplySchema,
  idempotent: false,
  // The chunk engine checks the payload against op.checksum in its prepare (update-validation.ts).
  payloadCheckedByHandler: true,
});

/**
 * How one update of a batch ended: its reply, or the status code it failed with (and the message),
 * exactly as the same update sent alone would have answered.
 */
export const updateResultSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), reply: updateReplySchema }),
  z.strictObject({
    ok: z.literal(false),
    code: z.number().int().min(1).max(0xffff),
    message: z.string().max(4096),
  }),
]);
export type UpdateResult = z.infer<typeof updateResultSchema>;

/**
 * Clones chunks `indexes` of file `source` into the same chunks of file `inode` (a clone's
 * destination, with the source's layout: chunk i of both is on this chain), at the head of the
 * chain. Each chunk is cloned exactly as `write` with a `clone` op would (own lock, version, source
 * version filled by the head, forward and commits), so a result per chunk comes back, in order;
 * the batch only spares the per-chunk messages between the client and the head (and the head
 * forwards the chunks' updates in batches too: `forwardBatch`). Not idempotent, as `write`.
 */
export const cloneChunks = defineMethod({
  serviceId: storageServiceId,
  methodId: 12,
  name: 'Storage.cloneChunks',
  request: z.strictObject({
    targetId: targetIdSchema,
    chainId: chainIdSchema,
    chainVersion: chainVersionSchema,
    source: inodeIdSchema,
    inode: inodeIdSchema,
    indexes: z.array(chunkIndexSchema).min(1).max(limits.storageUpdateBatchMax),
    chunkSizeBytes: z.number().int().min(1).max(limits.storageChunkBytesMax),
    timeoutMs: timeoutMsSchema,
  }),
  response: z.strictObject({ results: z.array(updateResultSchema).max(limits.storageUpdateBatchMax) }),
  idempotent: false,
});

/**
 * Updates without a payload passed from a target to its successor together (each as `forward`
 * would pass it, with its own deadline), a result per update in order. The forwarder batches the
 * forwards to one successor that leave in the same turn of the event loop.
 */
export const forwardBatch = defineMethod({
  serviceId: storageServiceId,
  methodId: 13,
  name: 'Storage.forwardBatch',
  request: z.strictObject({
    updates: z
      .array(
        z.strictObject({
          ...updateTargetFields,
          updateVersion: chunkVersionSchema.min(1),
          fromTargetId: targetIdSchema,
        }),
      )
      .min(1)
      .max(limits.storageUpdateBatchMax),
  }),
  response: z.strictObject({ results: z.array(updateResultSchema).max(limits.storageUpdateBatchMax) }),
  idempotent: false,
});

/** Reads a range of a chunk's committed version (or its pending version, when `relaxed`). */
export const read = defineMethod({
  serviceId: storageServiceId,
  methodId: 3,
  name: 'Storage.read',
  request: z.strictObject({
    targetId: targetIdSchema,
    chunkId: chunkIdSchema,
    offset: byteCount,
    length: byteCount,
    /** Return a pending version instead of answering ChunkNotCommitted. */
    relaxed: z.boolean().default(false),
  }),
  response: z.strictObject({
    version: chunkVersionSchema,
    /** Length of the whole version read; the payload stops at its end. */
    chunkLength: byteCount,
    /** Bytes in the payload and their CRC32C. */
    length: byteCount,
    checksum: u32,
    /** True when a relaxed read returned a version that is not committed yet. */
    uncommitted: z.boolean(),
  }),
  idempotent: true,
});

/** Committed chunk metadata as recovery compares it. */
export const chunkMetaSchema = z.strictObject({
  chunkId: chunkIdSchema,
  version: chunkVersionSchema,
  chainVersion: u32,
  length: byteCount,
  checksum: u32,
  /** The pending version's number, when an update is in flight. */
  pendingVersion: chunkVersionSchema.optional(),
});
export type ChunkMetaRecord = z.infer<typeof chunkMetaSchema>;

/** The committed chunks of a file on one target: the last one and how much the file holds there. */
export const queryLastChunk = defineMethod({
  serviceId: storageServiceId,
  methodId: 4,
  name: 'Storage.queryLastChunk',
  request: z.strictObject({
    targetId: targetIdSchema,
    inode: inodeIdSchema,
    /** Chunk indexes considered: [beginIndex, endIndex). */
    beginIndex: chunkIndexSchema.default(0),
    endIndex: z.number().int().min(0).max(0x1_0000_0000).default(0x1_0000_0000),
  }),
  response: z.strictObject({
    last: z
      .strictObject({ index: chunkIndexSchema, version: chunkVersionSchema, length: byteCount })
      .nullable(),
    chunkCount: byteCount,
    totalBytes: byteCount,
    /** Chunks of the range with an update in flight; their length may still change. */
    uncommittedCount: byteCount,
  }),
  idempotent: true,
});

/** A page of a target's chunk metadata in chunk id order, for recovery. */
export const dumpChunkMeta = defineMethod({
  serviceId: storageServiceId,
  methodId: 5,
  name: 'Storage.dumpChunkMeta',
  request: z.strictObject({
    targetId: targetIdSchema,
    /** Start after this chunk id; null for the first page. */
    after: chunkIdSchema.nullable(),
    limit: z.number().int().min(1).max(limits.storageDumpChunksMax),
  }),
  response: z.strictObject({
    chunks: z.array(chunkMetaSchema).max(limits.storageDumpChunksMax),
    /** The cursor of the next page; null when this page is the last. */
    next: chunkIdSchema.nullable(),
  }),
  idempotent: true,
});

/** Reads a page of committed chunks from disk and verifies their checksums (scrubbing). */
export const scrubChunks = defineMethod({
  serviceId: storageServiceId,
  methodId: 6,
  name: 'Storage.scrubChunks',
  request: z.strictObject({
    targetId: targetIdSchema,
    after: chunkIdSchema.nullable(),
    limit: z.number().int().min(1).max(limits.storageScrubChunksMax),
  }),
  response: z.strictObject({
    chunks: z
      .array(
        z.strictObject({
          chunkId: chunkIdSchema,
          version: chunkVersionSchema,
          length: byteCount,
          checksum: u32,
          /** False when the data on disk fails its checksum. */
          intact: z.boolean(),
        }),
      )
      .max(limits.storageScrubChunksMax),
    next: chunkIdSchema.nullable(),
  }),
  idempotent: true,
});

/** Per-target counters of one process; a counter only grows while the process lives. */
export const targetCountersSchema = z.strictObject({
  clientWrites: byteCount,
  forwardedWrites: byteCount,
  reads: byteCount,
  bytesWritten: byteCount,
  bytesRead: byteCount,
  checksumFailures: byteCount,
  /** Syncs of the target's chunk store to stable storage (`syncTargets`, a client's fsync). */
  syncs: byteCount,
});
export type TargetCounters = z.infer<typeof targetCountersSchema>;

/** The targets this process serves, as it sees them. */
export const listTargets = defineMethod({
  serviceId: storageServiceId,
  methodId: 7,
  name: 'Storage.listTargets',
  request: z.strictObject({}),
  response: z.strictObject({
    nodeId: nodeIdSchema,
    targets: z
      .array(
        z.strictObject({
          targetId: targetIdSchema,
          path: z.string(),
          localState: localStateSchema,
          /** As in this process's routing info; absent before the target is known to mgmtd. */
          publicState: publicStateSchema.optional(),
          chainId: u32,
          chunkCount: byteCount,
          committedBytes: byteCount,
          usedBytes: byteCount,
          capacityBytes: byteCount,
          counters: targetCountersSchema,
        }),
      )
      .max(limits.storageTargetsPerNodeMax),
  }),
  idempotent: true,
});

/**
 * The committed state a recovery copy gives a syncing target for one chunk: the predecessor's
 * committed version (its bytes in the payload), or none (the chunk is removed there).
 */
export const syncChunkStateSchema = z.discriminatedUnion('exists', [
  z.strictObject({
    exists: z.literal(true),
    version: chunkVersionSchema.min(1),
    length: byteCount,
    checksum: u32,
  }),
  z.strictObject({ exists: z.literal(false) }),
]);
export type SyncChunkState = z.infer<typeof syncChunkStateSchema>;

/**
 * Recovery (DESIGN §7): the predecessor makes one chunk of its syncing successor equal to its own
 * committed version, whatever the successor held (a full-chunk replace, or a remove). Accepted only
 * by a target that is syncing behind `fromTargetId` under `chainVersion`. Not retried by the RPC
 * layer: recovery retries the chunk itself, holding the chunk's lock again.
 */
export const syncWrite = defineMethod({
  serviceId: storageServiceId,
  methodId: 8,
  name: 'Storage.syncWrite',
  request: z.strictObject({
    targetId: targetIdSchema,
    chainId: chainIdSchema,
    chainVersion: chainVersionSchema,
    fromTargetId: targetIdSchema,
    chunkId: chunkIdSchema,
    chunkSizeBytes: z.number().int().min(1).max(limits.storageChunkBytesMax),
    state: syncChunkStateSchema,
    timeoutMs: timeoutMsSchema,
  }),
  response: updateReplySchema,
  idempotent: false,
});

/**
 * Recovery's last step: the predecessor has made every chunk of the syncing target equal to its
 * own under `chainVersion`; the target reports `up-to-date` from now on, and mgmtd makes it serving.
 */
export const syncDone = defineMethod({
  serviceId: storageServiceId,
  methodId: 9,
  name: 'Storage.syncDone',
  request: z.strictObject({
    targetId: targetIdSchema,
    chainId: chainIdSchema,
    chainVersion: chainVersionSchema,
    fromTargetId: targetIdSchema,
  }),
  response: z.strictObject({}),
  idempotent: true,
});

/** Where one recovery is: planning (comparing metadata), copying, or finished one way or another. */
export const recoveryPhaseSchema = z.enum(['planning', 'copying', 'done', 'failed', 'aborted']);
export type RecoveryPhase = z.infer<typeof recoveryPhaseSchema>;

/** One recovery driven by this process, from its target to the syncing successor. */
export const recoveryProgressSchema = z.strictObject({
  chainId: chainIdSchema,
  chainVersion: chainVersionSchema,
  /** The predecessor: the target of this process that copies. */
  fromTargetId: targetIdSchema,
  /** The syncing target being brought up to date. */
  targetId: targetIdSchema,
  phase: recoveryPhaseSchema,
  /** Chunks that differ (to replace or remove) and the bytes to copy, as counted by planning. */
  chunksTotal: byteCount,
  bytesTotal: byteCount,
  chunksDone: byteCount,
  bytesDone: byteCount,
  /** Chunks found identical on both sides and skipped. */
  chunksSkipped: byteCount,
  /** Copy rate over the last few seconds. */
  bytesPerSecond: z.number().min(0),
  startedAtMs: z.number().int().min(0),
  updatedAtMs: z.number().int().min(0),
  /** Why the recovery failed or was aborted. */
  error: z.string().max(1024).optional(),
});
export type RecoveryProgress = z.infer<typeof recoveryProgressSchema>;

/** The recoveries this process drives now, and the last few it finished. */
export const recoveryProgress = defineMethod({
  serviceId: storageServiceId,
  methodId: 10,
  name: 'Storage.recoveryProgress',
  request: z.strictObject({}),
  response: z.strictObject({
    nodeId: nodeIdSchema,
    recoveries: z
      .array(recoveryProgressSchema)
      .max(limits.storageTargetsPerNodeMax + limits.storageRecoveryFinishedKept),
  }),
  idempotent: true,
});

/** What `syncTargets` says of one target: 0 when it synced, else the status code and why. */
export const targetSyncResultSchema = z.strictObject({
  targetId: targetIdSchema,
  code: u32,
  message: z.string().max(1024).optional(),
});
export type TargetSyncResult = z.infer<typeof targetSyncResultSchema>;

/**
 * Makes everything each named target of this process committed before the call survive power loss
 * (its chunk store's `sync()`): a client's fsync asks every serving target of the file's chains.
 * Concurrent calls for one target share one sync. Each target is answered on its own: one this
 * process does not serve, or that is not serving or syncing in its routing info, gets that status
 * code while the others sync.
 */
export const syncTargets = defineMethod({
  serviceId: storageServiceId,
  methodId: 11,
  name: 'Storage.syncTargets',
  request: z.strictObject({
    targetIds: z.array(targetIdSchema).min(1).max(limits.storageTargetsPerNodeMax),
  }),
  response: z.strictObject({
    targets: z.array(targetSyncResultSchema).max(limits.storageTargetsPerNodeMax),
  }),
  idempotent: true,
});

/**
 * Turns this connection into a read channel: after the reply, the service stops reading the
 * connection itself and serves only Storage.read on it, answered without JavaScript by the chunk
 * engine's read server (native/chunk-engine/src/read-server.h), until either side closes it. The
 * FUSE binding's fast reads open one per storage node. Refused with NotImplemented where the
 * service has no read server (a target not on the native engine, or no io_uring), and the
 * connection then stays an ordinary one.
 */
export const openReadChannel = defineMethod({
  serviceId: storageServiceId,
  methodId: 14,
  name: 'Storage.openReadChannel',
  request: z.strictObject({}),
  response: z.strictObject({}),
  idempotent: false,
});
