/**
 * An in-memory stand-in for the npm `foundationdb` binding, so that the foundationdb engine's own
 * code (prefixes, the binding's retry loop, error mapping, the age limit) runs where no
 * FoundationDB cluster does. It models what the engine relies on: multi-version reads at a read
 * version taken at the first read, optimistic concurrency (a commit whose read conflict ranges
 * were written by a later commit fails with not_committed, 1020), snapshot reads that add no
 * conflict, the client's key and value size limits (the key limit settable by the network knob),
 * cancellation, and doTn's loop: on a retryable error, back off and run the body again, up to
 * retry_limit. It is a model for tests, not a FoundationDB.
 */
import type {
  FdbBinding,
  FdbDatabase,
  FdbTransaction,
  FdbTransactionOptions,
} from '../../../src/kv/foundationdb-binding.js';

export class FakeFdbError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'FDBError';
  }
}

/** The codes doTn retries (FoundationDB's onError retries these). */
const retryableCodes = new Set([1007, 1009, 1020, 1021, 1037, 1038, 1039]);
/** Committed versions a read version may lag behind before it is too old. */
const versionsKept = 256;

type KeyText = string;
const text = (key: Buffer): KeyText => key.toString('latin1');
const bytesOf = (key: KeyText): Buffer => Buffer.from(key, 'latin1');

interface Commit {
  version: number;
  writes: Array<[KeyText, KeyText]>;
}

/** One database: its committed versions and the conflict ranges of recent commits. */
class FakeCluster {
  version = 0;
  states = new Map<number, Map<KeyText, Buffer>>([[0, new Map()]]);
  commits: Commit[] = [];
  /** Errors the next reads throw (tests inject failures). */
  readFailures: number[] = [];
  bodyRuns = 0;
}

type Mutation =
  | { kind: 'set'; key: KeyText; value: Buffer }
  | { kind: 'clear'; key: KeyText }
  | { kind: 'clearRange'; begin: KeyText; end: KeyText };

/** A transaction's state, shared by its snapshot view. */
interface TransactionCore {
  cluster: FakeCluster;
  binding: FakeFdbBinding;
  readVersion: number | undefined;
  readRanges: Array<[KeyText, KeyText]>;
  mutations: Mutation[];
  cancelled: boolean;
}

class FakeTransaction implements FdbTransaction {
  constructor(
    private readonly core: TransactionCore,
    private readonly prefix: Buffer,
    private readonly isSnapshot: boolean,
  ) {}

  async getReadVersion(): Promise<number> {
    // A round trip to the cluster in FoundationDB: the caller resumes on a later turn.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.core.cancelled)
      throw new FakeFdbError('Operation aborted because the transaction was cancelled', 1025);
    this.core.readVersion ??= this.core.cluster.version;
    return this.core.readVersion;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const state = this.readState();
    const full = text(Buffer.concat([this.prefix, key]));
    if (!this.isSnapshot) this.core.readRanges.push([full, `${full}\u0000`]);
    await Promise.resolve();
    const value = state.get(full);
    return value === undefined ? undefined : Buffer.from(value);
  }

  async getRangeAll(
    begin: Buffer,
    end: Buffer,
    options: { limit?: number; reverse?: boolean },
  ): Promise<Array<[Buffer, Buffer]>> {
    const state = this.readState();
    const low = text(Buffer.concat([this.prefix, begin]));
    const high = text(Buffer.concat([this.prefix, end]));
    if (!this.isSnapshot) this.core.readRanges.push([low, high]);
    await Promise.resolve();
    const keys = [...state.keys()].filter((key) => key >= low && key < high).sort();
    if (options.reverse === true) keys.reverse();
    const limited = options.limit === undefined || options.limit === 0 ? keys : keys.slice(0, options.limit);
    return limited.map((key) => [
      bytesOf(key).subarray(this.prefix.length),
      Buffer.from(state.get(key) as Buffer),
    ]);
  }

  set(key: Buffer, value: Buffer): void {
    const full = Buffer.concat([this.prefix, key]);
    if (full.length > this.core.binding.keySizeLimit)
      throw new FakeFdbError('Key length exceeds limit', 2102);
    if (value.length > 100_000) throw new FakeFdbError('Value length exceeds limit', 2103);
    this.core.mutations.push({ kind: 'set', key: text(full), value: Buffer.from(value) });
  }

  clear(key: Buffer): void {
    this.core.mutations.push({ kind: 'clear', key: text(Buffer.concat([this.prefix, key])) });
  }

  clearRange(begin: Buffer, end: Buffer): void {
    this.core.mutations.push({
      kind: 'clearRange',
      begin: text(Buffer.concat([this.prefix, begin])),
      end: text(Buffer.concat([this.prefix, end])),
    });
  }

  snapshot(): FdbTransaction {
    return new FakeTransaction(this.core, this.prefix, true);
  }

  rawCancel(): void {
    this.core.cancelled = true;
  }

  private readState(): Map<KeyText, Buffer> {
    const { cluster } = this.core;
    if (this.core.cancelled)
      throw new FakeFdbError('Operation aborted because the transaction was cancelled', 1025);
    const injected = cluster.readFailures.shift();
    if (injected !== undefined) throw new FakeFdbError(`injected failure ${injected}`, injected);
    this.core.readVersion ??= cluster.version;
    const state = cluster.states.get(this.core.readVersion);
    if (state === undefined)
      throw new FakeFdbError('Transaction is too old to perform reads or be committed', 1007);
    return state;
  }
}

class FakeDatabase implements FdbDatabase {
  closed = false;

  constructor(
    private readonly binding: FakeFdbBinding,
    readonly cluster: FakeCluster,
    private readonly prefix: Buffer,
  ) {}

  at(prefix: Buffer): FdbDatabase {
    return new FakeDatabase(this.binding, this.cluster, Buffer.concat([this.prefix, prefix]));
  }

  async doTn<T>(
    body: (transaction: FdbTransaction) => Promise<T>,
    options?: FdbTransactionOptions,
  ): Promise<T> {
    if (this.closed) throw new Error('database closed');
    let retries = 0;
    for (;;) {
      const core: TransactionCore = {
        cluster: this.cluster,
        binding: this.binding,
        readVersion: undefined,
        readRanges: [],
        mutations: [],
        cancelled: false,
      };
      try {
        this.cluster.bodyRuns++;
        const result = await body(new FakeTransaction(core, this.prefix, false));
        this.commit(core);
        return result;
      } catch (error) {
        if (!(error instanceof FakeFdbError) || !retryableCodes.has(error.code)) throw error;
        if (options?.retry_limit !== undefined && retries >= options.retry_limit) throw error;
        retries++;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(2 ** retries, options?.max_retry_delay ?? 1_000)),
        );
      }
    }
  }

  close(): void {
    this.closed = true;
  }

  private commit(core: TransactionCore): void {
    const cluster = this.cluster;
    if (core.cancelled)
      throw new FakeFdbError('Operation aborted because the transaction was cancelled', 1025);
    if (core.mutations.length === 0) return;
    const readVersion = core.readVersion ?? cluster.version;
    for (const commit of cluster.commits) {
      if (commit.version <= readVersion) continue;
      const conflict = commit.writes.some(([writeBegin, writeEnd]) =>
        core.readRanges.some(([readBegin, readEnd]) => writeBegin < readEnd && readBegin < writeEnd),
      );
      if (conflict)
        throw new FakeFdbError('Transaction not committed due to conflict with another transaction', 1020);
    }
    const next = new Map(cluster.states.get(cluster.version));
    const writes: Array<[KeyText, KeyText]> = [];
    for (const mutation of core.mutations) {
      if (mutation.kind === 'set') {
        next.set(mutation.key, mutation.value);
        writes.push([mutation.key, `${mutation.key}\u0000`]);
      } else if (mutation.kind === 'clear') {
        next.delete(mutation.key);
        writes.push([mutation.key, `${mutation.key}\u0000`]);
      } else {
        for (const key of [...next.keys()]) if (key >= mutation.begin && key < mutation.end) next.delete(key);
        writes.push([mutation.begin, mutation.end]);
      }
    }
    cluster.version++;
    cluster.states.set(cluster.version, next);
    cluster.commits.push({ version: cluster.version, writes });
    cluster.states.delete(cluster.version - versionsKept);
    cluster.commits = cluster.commits.filter((commit) => commit.version > cluster.version - versionsKept);
  }
}

/** The stand-in module: one cluster per cluster file path. */
export class FakeFdbBinding implements FdbBinding {
  readonly FDBError = FakeFdbError;
  apiVersion: number | undefined;
  keySizeLimit = 10_000;
  readonly clusters = new Map<string, FakeCluster>();
  networkStarted = false;

  setAPIVersion(version: number): void {
    if (this.apiVersion !== undefined && this.apiVersion !== version)
      throw new Error('API version already set');
    this.apiVersion = version;
  }

  configNetwork(options: { knob?: string }): void {
    if (this.networkStarted)
      throw new Error('configNetwork must be called before FDB connections are opened');
    const match = /^key_size_limit=(\d+)$/.exec(options.knob ?? '');
    if (match?.[1] !== undefined) this.keySizeLimit = Number(match[1]);
  }

  open(clusterFile?: string): FdbDatabase {
    if (this.apiVersion === undefined)
      throw new Error('You must specify an API version to connect to FoundationDB');
    this.networkStarted = true;
    const path = clusterFile ?? 'default';
    let cluster = this.clusters.get(path);
    if (cluster === undefined) {
      cluster = new FakeCluster();
      this.clusters.set(path, cluster);
    }
    return new FakeDatabase(this, cluster, Buffer.alloc(0));
  }
}
