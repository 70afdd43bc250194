// The simulated disk of one target and the chunk store over it, with the contract of the real
// stores (store/chunk-store.ts) and the same assertions on how the caller uses it: a pending
// version is numbered above the committed one, the caller serializes the updates of a chunk, a
// commit names the pending version. Updates are planned by the stores' own planUpdate.
//
// What a crash leaves (the real stores' crash tests prove a torn write never shows as a version:
// a crash leaves the old version or the new one, verified by checksums):
// - pending versions live in memory only, as in the real stores, and are gone;
// - a commit in flight when the process dies may have landed or not;
// - committed versions not yet synced survive a process crash (the kernel holds them) but a
//   machine crash keeps only a prefix of them, in commit order; synced versions always survive.
// A store opened `durable` syncs at each commit, so only a commit in flight is ever in doubt.
import type { Clock } from '../../../src/common/clock.js';
import { crc32c } from '../../../src/common/crc32c.js';
import { FsError, assert } from '../../../src/common/errors.js';
import type { Random } from '../../../src/common/random.js';
import { StorageCode } from '../../../src/common/status-code.js';
import { compareChunkIds, formatChunkId, type ChunkId } from '../../../src/storage/protocol/index.js';
import type {
  ChunkInfo,
  ChunkReadResult,
  ChunkStore,
  ChunkUpdate,
  ChunkVersionInfo,
  DiskUsage,
  LastChunkSummary,
  PendingVersionInfo,
} from '../../../src/storage/store/chunk-store.js';
import { checkPayloadChecksum } from '../../../src/storage/store/update-input.js';
import { planUpdate } from '../../../src/storage/store/update-plan.js';

/** A committed (or pending) version with its bytes. */
export interface StoredChunk extends ChunkVersionInfo {
  readonly chunkId: ChunkId;
  readonly data: Buffer;
}

interface PendingChunk extends StoredChunk {
  readonly removed: boolean;
}

/** A commit on its way to the disk: it lands (or not) when the process dies first. */
interface InFlightCommit {
  readonly key: string;
  readonly chunk: StoredChunk | undefined;
}

/** What survives the process: the synced image, and the commits since, in order. */
export class SimDisk {
  /** What a running process sees: the synced image with every later commit applied. */
  readonly current = new Map<string, StoredChunk>();
  private synced = new Map<string, StoredChunk>();
  private log: InFlightCommit[] = [];
  private readonly inFlight = new Set<InFlightCommit>();
  /** Commits a machine crash took back, over the disk's life (the test reports it). */
  commitsLost = 0;
  /** Told after every change of what the disk holds (the checker looks again). */
  onChange: () => void = () => undefined;

  constructor(readonly durable: boolean) {}

  commitStarted(commit: InFlightCommit): void {
    this.inFlight.add(commit);
  }

  commitLanded(commit: InFlightCommit): void {
    this.inFlight.delete(commit);
    this.apply(commit);
    if (this.durable) this.sync();
    else this.log.push(commit);
  }

  sync(): void {
    this.synced = new Map(this.current);
    this.log = [];
  }

  /** The process died: each commit in flight landed or not. */
  processCrash(random: Random): void {
    for (const commit of this.inFlight) if (random.nextInt(2) === 0) this.commitLanded(commit);
    this.inFlight.clear();
  }

  /** The machine lost power: only a prefix of what was not synced is kept. */
  machineCrash(random: Random): void {
    this.processCrash(random);
    const kept = random.nextInt(this.log.length + 1);
    this.commitsLost += this.log.length - kept;
    const survivors = this.log.slice(0, kept);
    this.current.clear();
    for (const [key, chunk] of this.synced) this.current.set(key, chunk);
    for (const commit of survivors) this.apply(commit);
    this.sync();
  }

  private apply(commit: InFlightCommit): void {
    if (commit.chunk === undefined) this.current.delete(commit.key);
    else this.current.set(commit.key, commit.chunk);
    this.onChange();
  }
}

export interface SimStoreFaults {
  /** True when the next pending-version write fails (a transient I/O error, a full disk). */
  prepareFails(): boolean;
  /** Disk latency of one write, in the process's milliseconds (0: at once). */
  latencyMs(): number;
}

/** One process incarnation's store over `disk`. */
export class SimChunkStore implements ChunkStore {
  private readonly pending = new Map<string, PendingChunk>();
  private readonly preparing = new Set<string>();

  constructor(
    private readonly disk: SimDisk,
    private readonly clock: Clock,
    private readonly faults: SimStoreFaults,
    /** False once the process died: its writes never end. */
    private readonly alive: () => boolean,
  ) {}

  stat(chunkId: ChunkId): ChunkInfo | undefined {
    const key = formatChunkId(chunkId);
    const committed = this.disk.current.get(key);
    const pending = this.pending.get(key);
    if (committed === undefined && pending === undefined) return undefined;
    return { chunkId, committed: committed && info(committed), pending: pending && pendingInfo(pending) };
  }

  hasPending(chunkId: ChunkId): boolean {
    return this.pending.has(formatChunkId(chunkId));
  }

  async prepare(
    chunkId: ChunkId,
    update: ChunkUpdate,
    options: { version: number; chainVersion: number },
  ): Promise<PendingVersionInfo> {
    const key = formatChunkId(chunkId);
    checkPayloadChecksum(update);
    assert(!this.preparing.has(key), 'the caller serializes updates of a chunk');
    this.preparing.add(key);
    try {
      this.pending.delete(key);
      const committed = this.disk.current.get(key);
      assert(
        options.version > (committed?.version ?? 0),
        'a pending version is newer than the committed one',
      );
      const fails = this.faults.prepareFails();
      await this.diskWrite();
      if (fails) throw new FsError(StorageCode.NoSpace, `writing chunk ${key} failed`);
      assert(this.disk.current.get(key)?.version === committed?.version, 'the committed version held still');
      assert(!this.pending.has(key), 'no other pending version appeared');
      const data = applyPlan(committed?.data, update);
      const pending: PendingChunk = {
        chunkId,
        version: options.version,
        chainVersion: options.chainVersion,
        length: data?.length ?? 0,
        checksum: data === undefined ? 0 : crc32c(data),
        data: data ?? Buffer.alloc(0),
        removed: data === undefined,
      };
      this.pending.set(key, pending);
      return pendingInfo(pending);
    } finally {
      this.preparing.delete(key);
    }
  }

  async commit(chunkId: ChunkId, version: number): Promise<ChunkVersionInfo | undefined> {
    const key = formatChunkId(chunkId);
    const pending = this.pending.get(key);
    assert(
      pending !== undefined && pending.version === version,
      `chunk ${key} has pending version ${version}`,
    );
    const chunk: StoredChunk | undefined = pending.removed
      ? undefined
      : {
          chunkId,
          version: pending.version,
          chainVersion: pending.chainVersion,
          length: pending.length,
          checksum: pending.checksum,
          data: pending.data,
        };
    const commit: InFlightCommit = { key, chunk };
    this.disk.commitStarted(commit);
    await this.diskWrite();
    this.disk.commitLanded(commit);
    if (this.pending.get(key) === pending) this.pending.delete(key);
    return chunk && info(chunk);
  }

  async discardPending(chunkId: ChunkId): Promise<void> {
    this.pending.delete(formatChunkId(chunkId));
  }

  async read(
    chunkId: ChunkId,
    range: { offset: number; length: number; pending: boolean },
  ): Promise<ChunkReadResult> {
    const key = formatChunkId(chunkId);
    const pending = range.pending ? this.pending.get(key) : undefined;
    const source = pending !== undefined && !pending.removed ? pending : this.disk.current.get(key);
    if (source === undefined) throw new FsError(StorageCode.ChunkNotFound, `chunk ${key} does not exist`);
    const data = Buffer.from(source.data.subarray(range.offset, range.offset + range.length));
    return { data, checksum: crc32c(data), info: info(source), uncommitted: source === pending };
  }

  list(options: { after: ChunkId | undefined; limit: number }): ChunkInfo[] {
    const keys = new Set([...this.disk.current.keys(), ...this.pending.keys()]);
    const infos: ChunkInfo[] = [];
    for (const key of keys) {
      const chunk = this.disk.current.get(key) ?? this.pending.get(key);
      assert(chunk !== undefined, 'a listed chunk exists');
      const chunkId = chunk.chunkId;
      if (options.after !== undefined && compareChunkIds(chunkId, options.after) <= 0) continue;
      const stat = this.stat(chunkId);
      if (stat !== undefined) infos.push(stat);
    }
    infos.sort((a, b) => compareChunkIds(a.chunkId, b.chunkId));
    return infos.slice(0, options.limit);
  }

  lastChunk(): LastChunkSummary {
    throw new Error('the simulation does not query last chunks');
  }

  totals(): { chunkCount: number; committedBytes: number } {
    let committedBytes = 0;
    for (const chunk of this.disk.current.values()) committedBytes += chunk.length;
    return { chunkCount: this.disk.current.size, committedBytes };
  }

  async diskUsage(): Promise<DiskUsage> {
    return { usedBytes: 0, capacityBytes: 1 << 30, freeBytes: 1 << 30 };
  }

  async sync(): Promise<void> {
    await this.diskWrite();
    this.disk.sync();
  }

  async close(): Promise<void> {}

  /** Waits for the disk; never resolves for a process that died meanwhile. */
  private diskWrite(): Promise<void> {
    const latencyMs = this.faults.latencyMs();
    const settled = new Promise<void>((resolve) =>
      latencyMs === 0 ? resolve() : this.clock.setTimer(latencyMs, resolve),
    );
    return settled.then(() => (this.alive() ? undefined : new Promise<void>(() => undefined)));
  }
}

function info(chunk: StoredChunk): ChunkVersionInfo {
  return {
    version: chunk.version,
    chainVersion: chunk.chainVersion,
    length: chunk.length,
    checksum: chunk.checksum,
  };
}

function pendingInfo(chunk: PendingChunk): PendingVersionInfo {
  return { ...info(chunk), removed: chunk.removed };
}

/** The bytes after `update` as the real stores plan it; undefined when the chunk goes away. */
function applyPlan(base: Buffer | undefined, update: ChunkUpdate): Buffer | undefined {
  const plan = planUpdate(base?.length, update);
  const committed = base ?? Buffer.alloc(0);
  switch (plan.kind) {
    case 'remove':
      return undefined;
    case 'shrink':
      return Buffer.from(committed.subarray(0, plan.newLength));
    case 'append':
      return Buffer.concat([committed, Buffer.alloc(plan.zeroFillBytes), plan.data]);
    case 'rewrite': {
      const data = Buffer.alloc(plan.newLength);
      committed.copy(data, 0, 0, Math.min(plan.keepBytes, plan.newLength));
      plan.data.copy(data, plan.patchOffset);
      return data;
    }
    case 'zero': {
      const data = Buffer.from(committed.subarray(0, plan.newLength));
      data.fill(0, plan.zeroOffset, plan.zeroOffset + plan.zeroLength);
      return data;
    }
  }
}
