/**
 * `admin fsck`: checks the whole cluster, read-only unless asked to repair, and safe on a live
 * cluster.
 *
 * - The namespace: meta's invariant checker over one snapshot of the KV (Meta.checkInvariants).
 * - The data: every serving replica of every chain lists its committed chunks, reading each from
 *   disk against its checksum (Storage.scrubChunks; `--no-scrub` lists metadata only, with
 *   Storage.dumpChunkMeta). Replicas of one chain are compared chunk by chunk: a chunk some replicas
 *   lack, replicas that hold different versions or bytes of it, a replica whose bytes fail their
 *   checksum. Whatever differs is looked at once more after a pause, so a write in flight is not
 *   taken for damage.
 * - Chunks against their files: a chunk whose inode does not exist and is not waiting for GC, or
 *   that sits on another chain than its file's layout puts it, is an orphan; a chunk reaching
 *   past its file's length (with no truncation pending) is reported, as a writer may not have
 *   reported its length yet.
 *
 * A chunk missing from every replica cannot be told from a hole (files are sparse), so it is not
 * reported. With `repair`: dangling directory entries are removed (Meta.removeDanglingEntries),
 * orphan chunks are removed through their chains, and a chunk whose replicas differ is written
 * whole through its chain from an intact copy (the one most replicas agree on, the tail's on a
 * tie), so every replica ends equal under a new version. Everything else is reported for an
 * operator to decide.
 */
import { SingleBar, Presets } from 'cli-progress';
import { MetaClient } from '../../client/index.js';
import { ChunkClient, RoutingCache, type MgmtdClient } from '../../cluster/index.js';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { crc32c } from '../../common/crc32c.js';
import { FsError, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { seededRandom } from '../../common/random.js';
import { CommonCode } from '../../common/status-code.js';
import { PublicState, type RoutingInfo } from '../../mgmtd/protocol/index.js';
import {
  Placement,
  metaMethods,
  type Credentials,
  type Inode,
  type InodeId,
} from '../../meta/protocol/index.js';
import type { DanglingEntry } from '../../meta/protocol/methods.js';
import type { RpcClient } from '../../rpc/index.js';
import { formatChunkId, storageMethods, type ChunkId } from '../../storage/protocol/index.js';
import { printTable, type Output } from '../output.js';

export type FindingKind =
  | 'namespace'
  | 'dangling-entry'
  | 'orphan-chunk'
  | 'missing-replica'
  | 'replicas-disagree'
  | 'corrupt-replica'
  | 'data-past-length'
  | 'unreachable';

export interface Finding {
  kind: FindingKind;
  /** What it is about: a path-like name of the entry, chunk or target. */
  where: string;
  detail: string;
  /** Whether `--repair` repairs this kind. */
  repairable: boolean;
  /** With `--repair`: whether it was repaired (false with `error` when the repair failed). */
  repaired?: boolean;
  error?: string;
}

export interface FsckReport {
  findings: Finding[];
  /** True when meta listed fewer namespace problems than it found. */
  namespaceTruncated: boolean;
  inodes: number;
  entries: number;
  chains: number;
  replicasScanned: number;
  chunksScanned: number;
  /** Whether the chunks' bytes were read and checked (scrub) or only their metadata listed. */
  scrubbed: boolean;
  /** True when nothing was found (or everything found was repaired). */
  clean: boolean;
}

export interface FsckOptions {
  readonly mgmtd: MgmtdClient;
  readonly rpc: RpcClient;
  readonly logger: Logger;
  readonly output: Output;
  /** Deadline of each call. */
  readonly timeoutMs: number;
  readonly repair: boolean;
  /** Read every chunk's bytes against its checksum (default true). */
  readonly scrub?: boolean;
  /** Where the progress bar goes when it is a terminal (stderr by default). */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Pause before a difference between replicas is looked at again (1 s by default). */
  readonly recheckDelayMs?: number;
  readonly clock?: Clock;
}

/** What one replica says about one chunk. */
interface ReplicaChunk {
  version: number;
  length: number;
  checksum: number;
  /** False when its bytes fail their checksum (scrub only). */
  intact: boolean;
}

/** One chunk of one chain, by the replicas that hold it. */
interface ChainChunk {
  chainId: number;
  chunkId: ChunkId;
  replicas: Map<number, ReplicaChunk>;
}

const root: Credentials = { uid: 0, gid: 0, groups: [] };
const pageSize = 1_024;

/** The chunk id just before `id` in chunk id order, as a listing cursor; null before the first. */
function before(id: ChunkId): ChunkId | null {
  if (id.index > 0) return { inode: id.inode, index: id.index - 1 };
  if (id.inode > 0n) return { inode: id.inode - 1n, index: 0xffff_ffff };
  return null;
}

const sameCopy = (a: ReplicaChunk, b: ReplicaChunk): boolean =>
  a.version === b.version && a.length === b.length && a.checksum === b.checksum;

class Fsck {
  readonly findings: Finding[] = [];
  private readonly routing: RoutingCache;
  private readonly meta: MetaClient;
  private readonly chunks: ChunkClient;
  private readonly clock: Clock;
  private readonly scrub: boolean;
  private replicasScanned = 0;
  private chunksScanned = 0;

  constructor(private readonly options: FsckOptions) {
    this.clock = options.clock ?? systemClock;
    this.scrub = options.scrub ?? true;
    const common = {
      rpc: options.rpc,
      clock: this.clock,
      logger: options.logger,
      random: seededRandom(1),
    };
    this.routing = new RoutingCache({ source: options.mgmtd, clock: this.clock, logger: options.logger });
    this.meta = new MetaClient({ ...common, routing: this.routing, timeoutMs: options.timeoutMs });
    this.chunks = new ChunkClient({ ...common, routing: this.routing, chunkTimeoutMs: options.timeoutMs });
  }

  async run(): Promise<FsckReport> {
    const routing = await this.routing.refresh();
    const namespace = await this.meta.call(metaMethods.checkInvariants, {});
    const dangling = new Map((namespace.danglingEntries ?? []).map((entry) => [danglingName(entry), entry]));
    for (const problem of namespace.problems) {
      const entry = [...dangling.values()].find((candidate) =>
        problem.startsWith(`entry ${danglingName(candidate)} `),
      );
      this.findings.push(
        entry === undefined
          ? { kind: 'namespace', where: 'namespace', detail: problem, repairable: false }
          : { kind: 'dangling-entry', where: danglingName(entry), detail: problem, repairable: true },
      );
    }
    const suspicious = await this.scanChains(routing);
    const confirmed = await this.recheck(suspicious);
    const inconsistent = this.compareReplicas(confirmed);
    const orphans = await this.checkAgainstFiles(confirmed);
    if (this.options.repair) {
      await this.repairDangling([...dangling.values()]);
      await this.repairOrphans(orphans);
      // A removed orphan's replicas are gone with it, whatever they held.
      const removed = new Set(
        this.findings
          .filter((finding) => finding.kind === 'orphan-chunk' && finding.repaired === true)
          .map((finding) => finding.where),
      );
      for (const finding of this.findings) {
        if (finding.kind !== 'orphan-chunk' && removed.has(finding.where)) finding.repaired = true;
      }
      const orphaned = new Set(orphans.map((chunk) => chunkWhere(chunk)));
      await this.resync(inconsistent.filter((chunk) => !orphaned.has(chunkWhere(chunk))));
    }
    return {
      findings: this.findings,
      namespaceTruncated: namespace.truncated,
      inodes: namespace.inodes,
      entries: namespace.entries,
      chains: routing.chains.length,
      replicasScanned: this.replicasScanned,
      chunksScanned: this.chunksScanned,
      scrubbed: this.scrub,
      clean: this.findings.every((finding) => finding.repaired === true),
    };
  }

  /** Lists every serving replica of every chain; returns every chunk by chain. */
  private async scanChains(routing: RoutingInfo): Promise<ChainChunk[]> {
    const work = routing.chains.flatMap((chain) =>
      chain.targets
        .filter((target) => target.publicState === PublicState.Serving)
        .map((target) => ({ chainId: chain.chainId, targetId: target.targetId })),
    );
    const bar = this.progressBar(work.length);
    const byChunk = new Map<string, ChainChunk>();
    for (const { chainId, targetId } of work) {
      try {
        for await (const [chunkId, replica] of this.listReplica(targetId, null, undefined)) {
          this.chunksScanned += 1;
          const key = `${chainId}/${formatChunkId(chunkId)}`;
          let chunk = byChunk.get(key);
          if (chunk === undefined) {
            chunk = { chainId, chunkId, replicas: new Map() };
            byChunk.set(key, chunk);
          }
          chunk.replicas.set(targetId, replica);
        }
        this.replicasScanned += 1;
      } catch (error) {
        this.findings.push({
          kind: 'unreachable',
          where: `target ${targetId}`,
          detail: `could not list chain ${chainId}'s chunks there: ${describeError(error)}`,
          repairable: false,
        });
      }
      bar?.increment({ chunks: this.chunksScanned });
    }
    bar?.stop();
    return [...byChunk.values()];
  }

  /** Pages through one replica's chunks from after `after`, at most `limit` of them. */
  private async *listReplica(
    targetId: number,
    after: ChunkId | null,
    limit: number | undefined,
  ): AsyncGenerator<[ChunkId, ReplicaChunk]> {
    const address = this.routing.addressOfTarget(targetId);
    if (address === undefined)
      throw new FsError(CommonCode.InvalidArgument, `no address for target ${targetId}`);
    let cursor = after;
    let left = limit ?? Number.POSITIVE_INFINITY;
    for (;;) {
      const asked = Math.min(
        pageSize,
        left,
        this.scrub ? limits.storageScrubChunksMax : limits.storageDumpChunksMax,
      );
      const timeout = { timeoutMs: this.options.timeoutMs };
      const page = this.scrub
        ? await this.options.rpc.call(
            address,
            storageMethods.scrubChunks,
            { targetId, after: cursor, limit: asked },
            timeout,
          )
        : await this.options.rpc.call(
            address,
            storageMethods.dumpChunkMeta,
            { targetId, after: cursor, limit: asked },
            timeout,
          );
      for (const chunk of page.chunks) {
        const intact = 'intact' in chunk ? chunk.intact : true;
        yield [
          chunk.chunkId,
          { version: chunk.version, length: chunk.length, checksum: chunk.checksum, intact },
        ];
      }
      left -= page.chunks.length;
      if (page.next === null || left <= 0 || page.chunks.length === 0) return;
      cursor = page.next;
    }
  }

  /** Chunks whose serving replicas differ, looked at once more after a pause; the rest as they were. */
  private async recheck(chunks: ChainChunk[]): Promise<ChainChunk[]> {
    const routing = this.routing;
    const differs = (chunk: ChainChunk): boolean => {
      const serving = this.servingTargets(chunk.chainId);
      const copies = serving.map((targetId) => chunk.replicas.get(targetId));
      const first = copies[0];
      return copies.some(
        (copy) => copy === undefined || !copy.intact || first === undefined || !sameCopy(copy, first),
      );
    };
    const suspicious = chunks.filter(differs);
    if (suspicious.length === 0) return chunks;
    await this.clock.sleep(this.options.recheckDelayMs ?? 1_000);
    await routing.refresh();
    for (const chunk of suspicious) {
      const fresh = new Map<number, ReplicaChunk>();
      for (const targetId of this.servingTargets(chunk.chainId)) {
        try {
          for await (const [chunkId, replica] of this.listReplica(targetId, before(chunk.chunkId), 1)) {
            if (chunkId.inode === chunk.chunkId.inode && chunkId.index === chunk.chunkId.index)
              fresh.set(targetId, replica);
          }
        } catch {
          // Unreachable now: keep what the first listing saw.
          const seen = chunk.replicas.get(targetId);
          if (seen !== undefined) fresh.set(targetId, seen);
        }
      }
      chunk.replicas = fresh;
    }
    return chunks.filter((chunk) => chunk.replicas.size > 0);
  }

  private servingTargets(chainId: number): number[] {
    const chain = this.routing.chain(chainId);
    return (chain?.targets ?? [])
      .filter((target) => target.publicState === PublicState.Serving)
      .map((target) => target.targetId);
  }

  /** Records the chunks whose replicas still differ; returns them. */
  private compareReplicas(chunks: ChainChunk[]): ChainChunk[] {
    const inconsistent: ChainChunk[] = [];
    for (const chunk of chunks) {
      const serving = this.servingTargets(chunk.chainId);
      const where = chunkWhere(chunk);
      const before = this.findings.length;
      const missing = serving.filter((targetId) => !chunk.replicas.has(targetId));
      if (missing.length > 0 && missing.length < serving.length) {
        this.findings.push({
          kind: 'missing-replica',
          where,
          detail: `target(s) ${missing.join(', ')} lack it; ${[...chunk.replicas.keys()].join(', ')} hold it`,
          repairable: true,
        });
      }
      for (const [targetId, copy] of chunk.replicas) {
        if (!copy.intact) {
          this.findings.push({
            kind: 'corrupt-replica',
            where,
            detail: `target ${targetId}'s bytes of version ${copy.version} fail their checksum`,
            repairable: true,
          });
        }
      }
      const versions = new Set(
        [...chunk.replicas.values()].map((copy) => `${copy.version}/${copy.length}/${copy.checksum}`),
      );
      if (versions.size > 1) {
        this.findings.push({
          kind: 'replicas-disagree',
          where,
          detail: [...chunk.replicas]
            .map(
              ([targetId, copy]) =>
                `target ${targetId}: v${copy.version}, ${copy.length} bytes, crc ${copy.checksum.toString(16)}`,
            )
            .join('; '),
          repairable: true,
        });
      }
      if (this.findings.length > before) inconsistent.push(chunk);
    }
    return inconsistent;
  }

  /** Orphan chunks and chunks past their file's length; returns the orphans. */
  private async checkAgainstFiles(chunks: ChainChunk[]): Promise<ChainChunk[]> {
    const inos = [...new Set(chunks.map((chunk) => chunk.chunkId.inode))];
    const inodes = new Map<InodeId, Inode | null>();
    for (let start = 0; start < inos.length; start += limits.metaBatchStatMax) {
      const batch = inos.slice(start, start + limits.metaBatchStatMax);
      const { inodes: found } = await this.meta.call(metaMethods.batchStat, { cred: root, inos: batch });
      batch.forEach((ino, index) => inodes.set(ino, found[index] ?? null));
    }
    const queued = await this.listQueued('gc');
    const truncating = await this.listQueued('truncations');
    const orphans: ChainChunk[] = [];
    for (const chunk of chunks) {
      const where = chunkWhere(chunk);
      const inode = inodes.get(chunk.chunkId.inode) ?? null;
      if (inode === null || inode.type !== 'file') {
        if (inode === null && queued.has(chunk.chunkId.inode)) continue;
        orphans.push(chunk);
        this.findings.push({
          kind: 'orphan-chunk',
          where,
          detail:
            inode === null
              ? `inode ${chunk.chunkId.inode} does not exist and is not waiting for GC`
              : `inode ${chunk.chunkId.inode} is a ${inode.type}, which has no chunks`,
          repairable: true,
        });
        continue;
      }
      const placed = new Placement(inode.layout).chainOf(BigInt(chunk.chunkId.index));
      if (placed !== chunk.chainId) {
        orphans.push(chunk);
        this.findings.push({
          kind: 'orphan-chunk',
          where,
          detail: `inode ${inode.ino}'s layout puts chunk ${chunk.chunkId.index} on chain ${placed}: this copy is never read`,
          repairable: true,
        });
        continue;
      }
      if (truncating.has(inode.ino)) continue;
      const longest = Math.max(...[...chunk.replicas.values()].map((copy) => copy.length));
      const end = BigInt(chunk.chunkId.index) * BigInt(inode.layout.chunkSizeBytes) + BigInt(longest);
      if (end > inode.length) {
        this.findings.push({
          kind: 'data-past-length',
          where,
          detail: `reaches byte ${end} of inode ${inode.ino}, whose length is ${inode.length} (a writer may not have reported its length yet)`,
          repairable: false,
        });
      }
    }
    return orphans;
  }

  /** The inodes the GC queue (or the pending truncations) list. */
  private async listQueued(which: 'gc' | 'truncations'): Promise<Set<InodeId>> {
    const found = new Set<InodeId>();
    let after: InodeId | undefined;
    for (;;) {
      const request = { ...(after === undefined ? {} : { after }), limit: limits.metaGcListMax };
      const page =
        which === 'gc'
          ? await this.meta.call(metaMethods.listGcQueue, request)
          : await this.meta.call(metaMethods.listPendingTruncations, request);
      for (const entry of page.entries) found.add(entry.ino);
      const last = page.entries.at(-1);
      if (!page.more || last === undefined) return found;
      after = last.ino;
    }
  }

  private async repairDangling(entries: DanglingEntry[]): Promise<void> {
    const removed = new Set<string>();
    for (let start = 0; start < entries.length; start += limits.metaFsckRepairsPerCallMax) {
      const batch = entries.slice(start, start + limits.metaFsckRepairsPerCallMax);
      try {
        const reply = await this.meta.call(metaMethods.removeDanglingEntries, { cred: root, entries: batch });
        for (const entry of reply.removed) removed.add(danglingName(entry));
      } catch (error) {
        for (const entry of batch)
          this.markRepair('dangling-entry', danglingName(entry), describeError(error));
      }
    }
    for (const finding of this.findings) {
      if (finding.kind === 'dangling-entry' && finding.repaired === undefined) {
        finding.repaired = removed.has(finding.where);
        if (!finding.repaired) finding.error = 'changed since it was found; left alone';
      }
    }
  }

  private async repairOrphans(orphans: ChainChunk[]): Promise<void> {
    for (const chunk of orphans) {
      const where = chunkWhere(chunk);
      try {
        await this.chunks.remove({
          chainId: chunk.chainId,
          chunkId: chunk.chunkId,
          chunkSizeBytes: limits.storageChunkBytesMax,
        });
        this.markRepair('orphan-chunk', where);
      } catch (error) {
        this.markRepair('orphan-chunk', where, describeError(error));
      }
    }
  }

  /** Writes each inconsistent chunk whole through its chain from an intact copy. */
  private async resync(chunks: ChainChunk[]): Promise<void> {
    for (const chunk of chunks) {
      const where = chunkWhere(chunk);
      const kinds: FindingKind[] = ['missing-replica', 'corrupt-replica', 'replicas-disagree'];
      try {
        const serving = this.servingTargets(chunk.chainId);
        const sourceId = pickSource(chunk, serving);
        const source = sourceId === undefined ? undefined : chunk.replicas.get(sourceId);
        if (sourceId === undefined || source === undefined) {
          const intact = [...chunk.replicas].filter(([, copy]) => copy.intact).map(([targetId]) => targetId);
          throw new Error(
            `no serving replica holds an intact copy (serving: ${serving.join(', ') || 'none'}; intact on: ${intact.join(', ') || 'none'})`,
          );
        }
        const address = this.routing.addressOfTarget(sourceId);
        if (address === undefined) throw new Error(`no address for target ${sourceId}`);
        const { response, payload } = await this.options.rpc.callWithPayload(
          address,
          storageMethods.read,
          { targetId: sourceId, chunkId: chunk.chunkId, offset: 0, length: source.length, relaxed: false },
          { timeoutMs: this.options.timeoutMs },
        );
        const data = payload ?? Buffer.alloc(0);
        if (data.length !== source.length || response.checksum !== source.checksum)
          throw new Error(`target ${sourceId}'s copy changed while it was read`);
        await this.writeWhole(chunk, data);
        for (const kind of kinds) this.markRepair(kind, where);
      } catch (error) {
        for (const kind of kinds) this.markRepair(kind, where, describeError(error));
      }
    }
  }

  /**
   * Makes `data` the chunk on every replica under one version above every replica's. A replace at
   * the head alone would be numbered from the head's own version, and a replica already holding
   * that number with other bytes must not see it (the replicator stops on such a disagreement). So
   * the head's successor gets the copy first, as a whole chunk forwarded under the new version
   * (it applies it and passes it down the chain); then the head replaces until it reaches that
   * version, which the replicas below acknowledge as held, with the same bytes.
   */
  private async writeWhole(chunk: ChainChunk, data: Buffer): Promise<void> {
    const chain = await this.routing.requireChain(chunk.chainId);
    const version = Math.max(...[...chunk.replicas.values()].map((copy) => copy.version)) + 1;
    const [head, successor] = chain.targets;
    if (head === undefined || head.publicState !== PublicState.Serving)
      throw new Error('the chain has no serving head');
    const target = {
      chainId: chunk.chainId,
      chunkId: chunk.chunkId,
      chunkSizeBytes: limits.storageChunkBytesMax,
    };
    if (
      successor !== undefined &&
      (successor.publicState === PublicState.Serving || successor.publicState === PublicState.Syncing)
    ) {
      const address = this.routing.addressOfTarget(successor.targetId);
      if (address === undefined) throw new Error(`no address for target ${successor.targetId}`);
      const checksum = crc32c(data);
      await this.options.rpc.call(
        address,
        storageMethods.forward,
        {
          ...target,
          targetId: successor.targetId,
          chainVersion: chain.chainVersion,
          op: { kind: 'replace', length: data.length, checksum },
          timeoutMs: this.options.timeoutMs,
          updateVersion: version,
          fromTargetId: head.targetId,
        },
        { timeoutMs: this.options.timeoutMs + 100, payload: data, payloadCrc32c: checksum },
      );
    }
    for (let attempt = 0; ; attempt++) {
      const reply = await this.chunks.replace({ ...target, data });
      if (reply.version >= version) return;
      if (attempt + 1 >= limits.adminFsckReplacesMax)
        throw new Error(`the head's version stays at ${reply.version}, below ${version}`);
    }
  }

  private markRepair(kind: FindingKind, where: string, error?: string): void {
    for (const finding of this.findings) {
      if (finding.kind !== kind || finding.where !== where) continue;
      finding.repaired = error === undefined;
      if (error !== undefined) finding.error = error;
    }
  }

  private progressBar(total: number): SingleBar | undefined {
    const stream = this.options.stream ?? process.stderr;
    if (stream.isTTY !== true || this.options.output.json) return undefined;
    const bar = new SingleBar(
      {
        stream,
        format: 'replicas {bar} {value}/{total} | {chunks} chunks',
        hideCursor: true,
        clearOnComplete: true,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { chunks: 0 });
    return bar;
  }
}

/**
 * The replica to copy from: among the intact copies, one of those most replicas agree on; on a
 * tie, the one nearest the tail (CRAQ commits at the tail first).
 */
function pickSource(chunk: ChainChunk, serving: readonly number[]): number | undefined {
  const votes = new Map<string, number>();
  const key = (copy: ReplicaChunk): string => `${copy.version}/${copy.length}/${copy.checksum}`;
  for (const copy of chunk.replicas.values())
    if (copy.intact) votes.set(key(copy), (votes.get(key(copy)) ?? 0) + 1);
  let best: number | undefined;
  let bestVotes = 0;
  for (const targetId of [...serving].reverse()) {
    const copy = chunk.replicas.get(targetId);
    if (copy === undefined || !copy.intact) continue;
    const count = votes.get(key(copy)) ?? 0;
    if (count > bestVotes) {
      best = targetId;
      bestVotes = count;
    }
  }
  return best;
}

function chunkWhere(chunk: ChainChunk): string {
  return `chain ${chunk.chainId} chunk ${formatChunkId(chunk.chunkId)}`;
}

function danglingName(entry: DanglingEntry): string {
  return `${entry.parent}/${JSON.stringify(entry.name)}`;
}

/** Runs fsck, prints the report (a table, or JSON), and returns it. */
export async function fsckCommand(options: FsckOptions): Promise<FsckReport> {
  const report = await new Fsck(options).run();
  const { output } = options;
  if (output.json) {
    output.write(
      `${JSON.stringify(report, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)}\n`,
    );
    return report;
  }
  if (report.findings.length > 0) {
    printTable(
      output,
      report.findings,
      ['KIND', 'WHERE', 'DETAIL', options.repair ? 'REPAIRED' : 'REPAIRABLE'],
      report.findings.map((finding) => [
        finding.kind,
        finding.where,
        finding.detail,
        options.repair
          ? finding.repaired === true
            ? 'yes'
            : `no${finding.error === undefined ? '' : ` (${finding.error})`}`
          : finding.repairable
            ? 'yes'
            : 'no',
      ]),
    );
  }
  const scanned = `${report.inodes} inodes, ${report.entries} entries, ${report.chunksScanned} chunk replicas on ${report.replicasScanned} targets of ${report.chains} chains${report.scrubbed ? ' (bytes checked)' : ''}`;
  output.write(
    report.findings.length === 0
      ? `clean: ${scanned}\n`
      : `${report.findings.length} problem(s)${options.repair ? `, ${report.findings.filter((finding) => finding.repaired === true).length} repaired` : ''}: ${scanned}\n`,
  );
  return report;
}
