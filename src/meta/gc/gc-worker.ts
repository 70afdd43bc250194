/**
 * The meta service's GC worker (DESIGN §6): deletes from storage the chunks of removed files (GCQU)
 * and cuts the chunks of truncated files (TRNC). Every `intervalMs` it walks both queues, claims
 * the entries no other meta service works on (gc-claims.ts), and works on up to `concurrency` of
 * them at once. A record is deleted only after storage confirmed the work, in a transaction that
 * checks the claim is still this service's and the record unchanged; a failure leaves the record
 * for a later round (or another service), so the queues survive restarts and crashes.
 *
 * Safety: chunks of a file are removed only while its inode does not exist (gc-plan.ts); chunks are
 * cut only while the file has no write sessions and is unchanged from when the cut was planned,
 * and each cut is conditional on the chunk version the worker saw, so a write that lands after the
 * truncate is never cut (truncate versions and mtimes tell whether the file changed since).
 */
import {
  ChunkClient,
  RoutingCache,
  type ChunkTarget,
  type ListedChunk,
  type MgmtdClient,
} from '../../cluster/index.js';
import type { Clock, TimerHandle } from '../../common/clock.js';
import { FsError, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import type { KvEngine } from '../../kv/index.js';
import type { Random } from '../../common/random.js';
import { StorageCode } from '../../common/status-code.js';
import type { RpcClient } from '../../rpc/index.js';
import type { GcEntry, InodeId, PendingTruncation } from '../protocol/index.js';
import { keys } from '../store/keys.js';
import { MetaReader } from '../store/meta-store.js';
import { releaseClaim, holdsClaim, tryClaim, type GcQueueKind } from './gc-claims.js';
import { chunkIndexRange, planChunkCut, planTruncation, sameFileState, type ChunkCut } from './gc-plan.js';

export interface GcWorkerOptions {
  readonly kv: KvEngine;
  readonly rpc: RpcClient;
  readonly mgmtd: MgmtdClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: Random;
  /** This meta service's node id: the owner of its claims. */
  readonly nodeId: number;
  readonly intervalMs: number;
  readonly concurrency: number;
  /** How long a claim lasts (limits.metaGcClaimMs by default). */
  readonly claimMs?: number;
}

/** What one pass did (tests and logs). */
export interface GcPassReport {
  filesCollected: number;
  chunksRemoved: number;
  truncationsDone: number;
  chunksCut: number;
  deferred: number;
  failed: number;
}

type Outcome = 'done' | 'deferred' | 'failed';

/** One of the two queues, and how to read a page of it. */
interface QueueReader<T> {
  readonly kind: GcQueueKind;
  readonly list: (reader: MetaReader, after: InodeId | undefined) => Promise<T[]>;
}

/** Entries listed per claim transaction. */
const claimPageEntries = 64;

export class GcWorker {
  private readonly logger: Logger;
  private readonly routing: RoutingCache;
  /** Chunk I/O on chains (the cluster layer's, with its retries); each RPC within the GC's deadline. */
  private readonly chunks: ChunkClient;
  private readonly claimMs: number;
  private timer: TimerHandle | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: GcWorkerOptions) {
    this.logger = options.logger.child({ component: 'gc' });
    this.claimMs = options.claimMs ?? limits.metaGcClaimMs;
    this.routing = new RoutingCache({ source: options.mgmtd, clock: options.clock, logger: this.logger });
    this.chunks = new ChunkClient({
      rpc: options.rpc,
      routing: this.routing,
      clock: options.clock,
      logger: this.logger,
      random: options.random,
      chunkTimeoutMs: limits.metaGcChunkOpTimeoutMs,
      attemptsMax: limits.metaGcChunkOpAttemptsMax,
    });
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Stops scheduling passes and waits for the one running; claims it held expire on their own. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running.catch(() => undefined);
  }

  /** One pass over both queues. */
  async runOnce(): Promise<GcPassReport> {
    const report: GcPassReport = {
      filesCollected: 0,
      chunksRemoved: 0,
      truncationsDone: 0,
      chunksCut: 0,
      deferred: 0,
      failed: 0,
    };
    // The routing info the service's heartbeats keep fresh; failed chunk operations refresh it too.
    const cached = this.options.mgmtd.cachedRoutingInfo();
    if (cached !== undefined) this.routing.update(cached);
    await this.walkFiles(report);
    await this.walk<PendingTruncation>(
      { kind: 'truncation', list: (reader, after) => reader.truncations(after, claimPageEntries) },
      (entry) => this.truncate(entry, report),
      report,
    );
    return report;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.options.intervalMs, () => {
      const pass = this.runOnce().then(
        (report) => {
          if (report.filesCollected + report.truncationsDone + report.failed > 0)
            this.logger.info(report, 'GC pass');
        },
        (error: unknown) => this.logger.warn({ err: error }, `GC pass failed: ${describeError(error)}`),
      );
      this.running = pass;
      void pass.finally(() => this.schedule());
    });
  }

  /** Claims the queue's entries page by page and works on them, `concurrency` at a time. */
  private async walk<T extends { ino: InodeId }>(
    queue: QueueReader<T>,
    work: (entry: T) => Promise<Outcome>,
    report: GcPassReport,
  ): Promise<void> {
    const { kind } = queue;
    let after: InodeId | undefined;
    for (;;) {
      if (this.stopped) return;
      const page = await this.claimPage(queue, after);
      await runBounded(page.claimed, this.options.concurrency, async (entry) => {
        let outcome: Outcome;
        try {
          outcome = await work(entry);
        } catch (error) {
          this.logger.warn(
            { err: error, kind, ino: entry.ino },
            `GC work failed; retried later: ${describeError(error)}`,
          );
          outcome = 'failed';
        }
        if (outcome === 'deferred') report.deferred += 1;
        if (outcome === 'failed') report.failed += 1;
        await this.options.kv
          .transact((tx) => releaseClaim(tx, { kind, ino: entry.ino, owner: this.options.nodeId }))
          .catch((error: unknown) =>
            this.logger.warn({ err: error }, 'cannot release a GC claim; it expires'),
          );
      });
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  /** Lists one page of the queue after `after` and claims what nobody else works on. */
  private claimPage<T extends { ino: InodeId }>(
    queue: QueueReader<T>,
    after: InodeId | undefined,
  ): Promise<{ claimed: T[]; next: InodeId | undefined }> {
    return this.options.kv.transact(async (tx) => {
      const entries = await queue.list(new MetaReader(tx), after);
      const claimed: T[] = [];
      const nowMs = this.options.clock.nowMs();
      const owner = this.options.nodeId;
      for (const entry of entries) {
        const claim = { kind: queue.kind, ino: entry.ino, owner, nowMs, claimMs: this.claimMs };
        if (await tryClaim(tx, claim)) claimed.push(entry);
      }
      const last = entries[entries.length - 1];
      return {
        claimed,
        next: entries.length < claimPageEntries || last === undefined ? undefined : last.ino,
      };
    });
  }

  // --- removed files --------------------------------------------------------------------

  /**
   * Claims the removed files page by page and collects each page as one batch: storage is listed
   * once per chain and page (not per file), and the records of the collected files are cleared
   * and every claim released in one transaction.
   */
  private async walkFiles(report: GcPassReport): Promise<void> {
    const queue: QueueReader<GcEntry> = {
      kind: 'file',
      list: (reader, after) => reader.gcEntries(after, claimPageEntries),
    };
    let after: InodeId | undefined;
    for (;;) {
      if (this.stopped) return;
      const page = await this.claimPage(queue, after);
      if (page.claimed.length > 0) await this.collectFiles(page.claimed, report);
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  private async collectFiles(entries: readonly GcEntry[], report: GcPassReport): Promise<void> {
    const failed = new Set<InodeId>();
    let removed = 0;
    try {
      const live = await this.options.kv.read(async (tx) => {
        const reader = new MetaReader(tx);
        const found = new Set<InodeId>();
        for (const entry of entries) if ((await reader.inode(entry.ino)) !== undefined) found.add(entry.ino);
        return found;
      });
      for (const ino of live) {
        this.logger.error(
          { ino },
          'a GC queue entry names an inode that exists; its chunks are left alone (run the invariant checker)',
        );
        failed.add(ino);
      }
      const byChain = new Map<number, GcEntry[]>();
      for (const entry of entries) {
        if (live.has(entry.ino)) continue;
        for (const chainId of new Set(entry.layout.chains)) {
          const files = byChain.get(chainId) ?? [];
          files.push(entry);
          byChain.set(chainId, files);
        }
      }
      await runBounded([...byChain], this.options.concurrency, async ([chainId, files]) => {
        try {
          removed += await this.clearChain(chainId, files);
        } catch (error) {
          this.logger.warn(
            { err: error, chainId, files: files.length },
            `GC of removed files failed on a chain; retried later: ${describeError(error)}`,
          );
          for (const file of files) failed.add(file.ino);
        }
      });
    } catch (error) {
      this.logger.warn({ err: error }, `GC of removed files failed; retried later: ${describeError(error)}`);
      for (const entry of entries) failed.add(entry.ino);
    }
    const owner = this.options.nodeId;
    const collected = await this.options.kv
      .transact(async (tx) => {
        let count = 0;
        for (const entry of entries) {
          const claim = { kind: 'file' as const, ino: entry.ino, owner };
          if (!(await holdsClaim(tx, claim))) continue;
          if (!failed.has(entry.ino)) {
            tx.clear(keys.gc(entry.ino));
            count += 1;
          }
          await releaseClaim(tx, claim);
        }
        return count;
      })
      .catch((error: unknown) => {
        this.logger.warn(
          { err: error },
          `cannot record collected files; retried later: ${describeError(error)}`,
        );
        return 0;
      });
    report.filesCollected += collected;
    report.chunksRemoved += removed;
    report.failed += entries.length - collected;
  }

  /** Removes every chunk of `files` from the chain and confirms none is left; the chunks removed. */
  private async clearChain(chainId: number, files: readonly GcEntry[]): Promise<number> {
    const inos = new Set(files.map((file) => file.ino));
    const chunkSizes = new Map(files.map((file) => [file.ino, file.layout.chunkSizeBytes]));
    const found = await this.chunks.listChunksOfInodes(chainId, inos);
    const work = [...found].flatMap(([ino, chunks]) => chunks.map((chunk) => ({ ino, index: chunk.index })));
    await runBounded(work, limits.metaGcChunkOpsConcurrency, async ({ ino, index }) => {
      await this.chunks.remove({
        chainId,
        chunkId: { inode: ino, index },
        chunkSizeBytes: chunkSizes.get(ino) ?? 0,
      });
    });
    // Confirmed: nothing of these files is left on the chain's serving targets.
    const left = await this.chunks.listChunksOfInodes(chainId, inos);
    if (left.size > 0) {
      const [ino, chunks] = [...left][0] ?? [0n, []];
      throw new Error(`${chunks.length} chunk(s) of inode ${ino} reappeared on chain ${chainId}`);
    }
    return work.length;
  }

  // --- truncated files ------------------------------------------------------------------

  private async truncate(entry: PendingTruncation, report: GcPassReport): Promise<Outcome> {
    const decided = await this.options.kv.read(async (tx) => {
      const reader = new MetaReader(tx);
      const record = await reader.truncation(entry.ino);
      const inode = await reader.inode(entry.ino);
      const writeSessions = (await reader.sessions(entry.ino, 1)).length;
      return {
        record,
        plan: record === undefined ? undefined : planTruncation({ record, inode, writeSessions }),
      };
    });
    const { record, plan } = decided;
    if (record === undefined || plan === undefined) return 'done';
    if (plan.action === 'defer') return 'deferred';
    if (plan.action === 'drop') return (await this.finishTruncation(record)) ? 'done' : 'failed';
    const { chunkSizeBytes } = record.layout;
    const range = chunkIndexRange({ fromBytes: plan.fromBytes, toBytes: plan.toBytes, chunkSizeBytes });
    const found: Array<{ chainId: number; chunk: ListedChunk }> = [];
    for (const chainId of new Set(record.layout.chains)) {
      for (const chunk of await this.chunks.listChunks(chainId, record.ino, range))
        found.push({ chainId, chunk });
    }
    // The versions above were read after the file was seen unchanged and without writers; if that
    // still holds, any write from now on changes a version and its chunk is left alone.
    const stillValid = await this.options.kv.read(async (tx) => {
      const reader = new MetaReader(tx);
      const current = await reader.truncation(record.ino);
      return (
        current?.truncateVersion === record.truncateVersion &&
        sameFileState(plan.file, await reader.inode(record.ino)) &&
        (await reader.sessions(record.ino, 1)).length === 0
      );
    });
    if (!stillValid) return 'deferred';
    let cut = 0;
    await runBounded(found, limits.metaGcChunkOpsConcurrency, async ({ chainId, chunk }) => {
      const op = planChunkCut({
        index: chunk.index,
        length: chunk.length,
        chunkSizeBytes,
        cutFromBytes: plan.fromBytes,
      });
      if (op === undefined) return;
      const cutDone = await this.cutChunk(op, {
        chainId,
        chunkId: { inode: record.ino, index: chunk.index },
        chunkSizeBytes,
        expectedVersion: chunk.version,
      });
      if (cutDone) cut += 1;
    });
    if (!(await this.finishTruncation(record))) return 'failed';
    report.truncationsDone += 1;
    report.chunksCut += cut;
    return 'done';
  }

  /**
   * Removes or truncates the chunk if it is still at `expectedVersion`; false (and nothing changed)
   * when a write moved it on since it was listed.
   */
  private async cutChunk(
    op: NonNullable<ChunkCut>,
    target: ChunkTarget & { expectedVersion: number },
  ): Promise<boolean> {
    try {
      if (op.kind === 'remove') await this.chunks.remove(target);
      else await this.chunks.truncate({ ...target, length: op.length });
      return true;
    } catch (error) {
      if (error instanceof FsError && error.code === StorageCode.ChunkVersionMismatch) return false;
      throw error;
    }
  }

  /** Deletes the truncation record if it is still the one worked on and the claim still ours. */
  private finishTruncation(record: PendingTruncation): Promise<boolean> {
    return this.options.kv.transact(async (tx) => {
      if (!(await holdsClaim(tx, { kind: 'truncation', ino: record.ino, owner: this.options.nodeId })))
        return false;
      const current = await new MetaReader(tx).truncation(record.ino);
      if (current === undefined) return true;
      if (
        current.truncateVersion !== record.truncateVersion ||
        current.requestedAtNs !== record.requestedAtNs
      ) {
        return false;
      }
      tx.clear(keys.truncation(record.ino));
      return true;
    });
  }
}

/** Runs `work` on every item, at most `concurrency` at once; the first failure is thrown at the end. */
async function runBounded<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
