/**
 * One recovery pass, driven by the predecessor of a syncing target (DESIGN §7):
 *
 * 1. planning: walk both targets' chunk metadata (the own store, the syncing target's dump) in
 *    chunk id order and count the chunks that differ and the bytes to copy (progress reports);
 * 2. copying: walk them again and, for each chunk that differs, make the syncing target hold the
 *    predecessor's committed version (`Storage.syncWrite`: a full-chunk replace, or a remove),
 *    holding the chunk's lock on the predecessor meanwhile, so a write of that chunk either comes
 *    before the copy (and the copy carries it) or after (and is forwarded whole to the syncing
 *    target); at most `concurrency` chunks at once, and no faster than the bandwidth limiter allows;
 * 3. sync-done: tells the syncing target it is up to date, so mgmtd makes it serving.
 *
 * Writes keep flowing meanwhile: the replicator forwards them to the syncing target whole. The
 * whole pass runs under one chain version; if routing info changes the chain, the pass stops and
 * the recovery manager starts a new one from the new routing info.
 */
import type { Clock } from '../../common/clock.js';
import { FsError, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { StorageCode } from '../../common/status-code.js';
import type { RpcCaller } from '../../rpc/index.js';
import type { Replicator } from '../craq/replicator.js';
import { storageMethods, type ChunkId } from '../protocol/index.js';
import type { RoutingCache } from '../../cluster/index.js';
import type { StorageTarget, TargetRegistry } from '../storage-target.js';
import type { BandwidthLimiter } from './bandwidth-limiter.js';
import { ChunkCursor, pairChunks, type ChunkMetaEntry, type ChunkPair } from './chunk-cursor.js';
import type { RecoveryProgressTracker } from './recovery-progress.js';
import { copyRetryDelayMs, decideChunkSync, planSyncSend } from './sync-plan.js';

export interface ChainSyncOptions {
  readonly chainId: number;
  readonly chainVersion: number;
  /** The predecessor: a target of this process. */
  readonly fromTargetId: number;
  readonly syncingTargetId: number;
  readonly targets: TargetRegistry;
  readonly routing: RoutingCache;
  readonly replicator: Replicator;
  readonly rpc: RpcCaller;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly limiter: BandwidthLimiter;
  readonly concurrency: number;
  /** The chunk size sent with each copy: the largest this process accepts (copies are whole chunks). */
  readonly chunkSizeMaxBytes: number;
  readonly progress: RecoveryProgressTracker;
  readonly signal: AbortSignal;
  /** Deadlines, attempts and waits (defaultRecoveryTimings when absent). */
  readonly timings?: RecoveryTimings;
}

/** The deadlines, attempts and waits of recovery. */
export interface RecoveryTimings {
  /** Deadline of one chunk's copy, of a page of the syncing target's dump, and of sync-done. */
  readonly chunkTimeoutMs: number;
  /** Copies of one chunk tried within a pass before the pass fails. */
  readonly chunkAttemptsMax: number;
  /** How long a failed pass waits before it starts over. */
  readonly retryMs: number;
  /** Time a copy keeps for itself before it sends (as a forward does). */
  readonly forwardMarginMs: number;
}

export const defaultRecoveryTimings: RecoveryTimings = {
  chunkTimeoutMs: limits.storageRecoveryChunkTimeoutMs,
  chunkAttemptsMax: limits.storageRecoveryChunkAttemptsMax,
  retryMs: limits.storageRecoveryRetryMs,
  forwardMarginMs: limits.storageForwardMarginMs,
};

function timingsOf(options: ChainSyncOptions): RecoveryTimings {
  return options.timings ?? defaultRecoveryTimings;
}

/** Runs one pass; resolves once the syncing target has been told it is up to date. */
export async function runChainSync(options: ChainSyncOptions): Promise<void> {
  const { progress, logger } = options;
  checkStillSyncing(options);
  const target = options.targets.get(options.fromTargetId);
  for await (const pair of pairChunks(localCursor(target), remoteCursor(options))) {
    const action = decideChunkSync(pair.local, pair.remote);
    if (action === 'skip') progress.skipped();
    else progress.planned(action === 'copy' ? (pair.local?.length ?? 0) : 0);
  }
  const planned = progress.snapshot();
  logger.info(
    { chunks: planned.chunksTotal, bytes: planned.bytesTotal, identical: planned.chunksSkipped },
    'recovery planned; copying',
  );
  progress.copying();
  await copyAll(options, target);
  checkStillSyncing(options);
  await options.rpc.call(
    addressOf(options),
    storageMethods.syncDone,
    {
      targetId: options.syncingTargetId,
      chainId: options.chainId,
      chainVersion: options.chainVersion,
      fromTargetId: options.fromTargetId,
    },
    { timeoutMs: timingsOf(options).chunkTimeoutMs, signal: options.signal },
  );
}

/** Copies every differing chunk, `concurrency` at a time; the first failure fails the pass. */
async function copyAll(options: ChainSyncOptions, target: StorageTarget): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  for await (const pair of pairChunks(localCursor(target), remoteCursor(options))) {
    if (failure !== undefined) break;
    if (decideChunkSync(pair.local, pair.remote) === 'skip') continue;
    const task: Promise<void> = copyChunk(options, pair)
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => running.delete(task));
    running.add(task);
    if (running.size >= options.concurrency) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure.error;
}

/** Makes one chunk of the syncing target equal to the local one, retrying transient failures. */
async function copyChunk(options: ChainSyncOptions, pair: ChunkPair): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    options.signal.throwIfAborted();
    checkStillSyncing(options);
    await options.limiter.take(pair.local?.length ?? 0, options.signal);
    try {
      const route = {
        targetId: options.fromTargetId,
        chainId: options.chainId,
        chainVersion: options.chainVersion,
        chunkId: pair.chunkId,
        chunkSizeBytes: options.chunkSizeMaxBytes,
        timeoutMs: timingsOf(options).chunkTimeoutMs,
      };
      const deadlineMs = options.clock.monotonicMs() + route.timeoutMs;
      const sent = await options.replicator.withSettledChunk(route, options.syncingTargetId, (target) =>
        syncOne(options, target, { chunkId: pair.chunkId, remote: pair.remote, deadlineMs }),
      );
      options.progress.copied(sent);
      return;
    } catch (error) {
      const delayMs = copyRetryDelayMs(error, attempt, timingsOf(options).chunkAttemptsMax);
      if (delayMs === undefined) throw error;
      options.logger.debug(
        { err: error, attempt },
        `copying a chunk failed; retrying: ${describeError(error)}`,
      );
      await options.clock.sleep(delayMs, options.signal);
    }
  }
}

/** Under the chunk's lock: sends the committed version (or its absence); returns the bytes sent. */
async function syncOne(
  options: ChainSyncOptions,
  target: StorageTarget,
  chunk: { chunkId: ChunkId; remote: ChunkMetaEntry | undefined; deadlineMs: number },
): Promise<number> {
  checkStillSyncing(options);
  const committed = target.store.stat(chunk.chunkId)?.committed;
  if (decideChunkSync(committed, chunk.remote) === 'skip') return 0;
  const timeoutMs = Math.floor(
    chunk.deadlineMs - options.clock.monotonicMs() - timingsOf(options).forwardMarginMs,
  );
  if (timeoutMs < 1) throw new FsError(StorageCode.ChunkBusy, 'no time left to copy the chunk');
  const request = {
    targetId: options.syncingTargetId,
    chainId: options.chainId,
    chainVersion: options.chainVersion,
    fromTargetId: options.fromTargetId,
    chunkId: chunk.chunkId,
    chunkSizeBytes: options.chunkSizeMaxBytes,
    timeoutMs,
  };
  const call = { timeoutMs: timeoutMs + 100, retries: 0, signal: options.signal };
  if (committed === undefined) {
    await options.rpc.call(
      addressOf(options),
      storageMethods.syncWrite,
      { ...request, state: { exists: false } },
      call,
    );
    return 0;
  }
  const { data, checksum } = await target.store.read(chunk.chunkId, {
    offset: 0,
    length: committed.length,
    pending: false,
  });
  await options.rpc.call(
    addressOf(options),
    storageMethods.syncWrite,
    { ...request, state: { exists: true, version: committed.version, length: data.length, checksum } },
    // The store summed these bytes while verifying them: the frame reuses that CRC32C.
    { ...call, payload: data, payloadCrc32c: checksum },
  );
  return data.length;
}

/** Throws when routing info no longer shows the pair as predecessor and syncing successor. */
function checkStillSyncing(options: ChainSyncOptions): void {
  options.signal.throwIfAborted();
  const result = planSyncSend({
    chain: options.routing.chain(options.chainId),
    chainId: options.chainId,
    chainVersion: options.chainVersion,
    fromTargetId: options.fromTargetId,
    syncingTargetId: options.syncingTargetId,
  });
  if (!result.ok) throw new FsError(result.code, result.message);
}

function addressOf(options: ChainSyncOptions): string {
  const address = options.routing.addressOfTarget(options.syncingTargetId);
  if (address === undefined) {
    throw new FsError(
      StorageCode.ForwardFailed,
      `routing info has no address for target ${options.syncingTargetId}`,
    );
  }
  return address;
}

function localCursor(target: StorageTarget): ChunkCursor {
  const pageSize = limits.storageDumpChunksMax;
  return new ChunkCursor(async (after) => {
    const page = target.store.list({ after, limit: pageSize });
    // A chunk with an update in flight is listed with its pending version, even one that has no
    // committed version yet: the update may have been sent down the chain by routing info from
    // before the successor was syncing, so it never reached the successor, and it commits after
    // this listing. Listed so, the chunk is looked at again under its lock once the update settled.
    const chunks = page.flatMap((info): ChunkMetaEntry[] =>
      info.committed === undefined && info.pending === undefined
        ? []
        : [
            {
              chunkId: info.chunkId,
              version: info.committed?.version ?? 0,
              length: info.committed?.length ?? 0,
              checksum: info.committed?.checksum ?? 0,
              pendingVersion: info.pending?.version,
            },
          ],
    );
    const last = page[page.length - 1];
    return { chunks, next: page.length < pageSize || last === undefined ? undefined : last.chunkId };
  });
}

function remoteCursor(options: ChainSyncOptions): ChunkCursor {
  return new ChunkCursor(async (after) => {
    const page = await options.rpc.call(
      addressOf(options),
      storageMethods.dumpChunkMeta,
      { targetId: options.syncingTargetId, after: after ?? null, limit: limits.storageDumpChunksMax },
      { timeoutMs: timingsOf(options).chunkTimeoutMs, signal: options.signal },
    );
    return {
      chunks: page.chunks.map((chunk) => ({
        chunkId: chunk.chunkId,
        version: chunk.version,
        length: chunk.length,
        checksum: chunk.checksum,
        pendingVersion: chunk.pendingVersion,
      })),
      next: page.next ?? undefined,
    };
  });
}
