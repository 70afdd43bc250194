/**
 * The meta service's operations behind the RPC methods: each mutation runs as one KV transaction
 * (retried by the KV on conflict, invisibly to the caller), each read in one read-only
 * transaction. The service holds no namespace state of its own (only its batch of inode ids and
 * its chain-picking position), so any number of services may run against one KV.
 *
 * A mutation that carries a request id records what each of its transactions returned inside that
 * transaction (REQD keys); a retry with the same id, on any service, gets the recorded results
 * instead of applying the mutation again. So a client may retry every call after a lost reply.
 *
 * Tests call `call(method, request)`, which validates the request exactly as the RPC server does;
 * the RPC server gets the same handlers through `register`.
 */
import type { Clock } from '../common/clock.js';
import { formatIssues } from '../common/config.js';
import { decodeRecord, encodeRecord } from '../common/record-codec.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import { MetaCode, RpcCode } from '../common/status-code.js';
import { keyAfter, type KvEngine } from '../kv/index.js';
import type { MethodDef, RpcServer } from '../rpc/index.js';
import { ChainPicker, type ChainTableSource } from './chain-picker.js';
import { ChangeLog, ChangeSet, originOf } from './change-log.js';
import type { OpContext } from './ops/context.js';
import { squashCredentials, type RootSquash } from './permissions.js';
import { requestIdTimeMs, rootInodeId, type Credentials, type DirectoryLayout } from './protocol/index.js';
import { InodeIdAllocator } from './store/inode-alloc.js';
import type { UsableSpace } from './usable-space.js';
import { keys, tags } from './store/keys.js';
import { requestRecordSchema } from './store/records.js';
import { MetaReader, MetaWriter } from './store/meta-store.js';
import { ensureInodeCounts, ensureRoot } from './store/root.js';
import { actingAs, metaMethodAccess } from './caller-access.js';
import { registerHandlers, type HandlerTable } from './meta-handlers.js';

export interface MetaServiceOptions {
  kv: KvEngine;
  clock: Clock;
  /** Layout seeds and each chain table's first pick. */
  random: Random;
  logger: Logger;
  rootSquash: RootSquash;
  inodeIdBatch: number;
  /** Chain tables of the latest routing info. */
  chainTables: ChainTableSource;
  /** Fetches fresh routing info; called once when a chain table is missing before giving up. */
  refreshRouting?: () => Promise<void>;
  /** Usable storage space in bytes (one copy per chain, see usable-space.ts), for statfs. */
  capacity: () => UsableSpace;
}

/** How a mutation runs. */
export interface MutationOptions {
  /** Inode ids the operation may create. */
  ids: number;
  /** False for operator calls that root squash, meant for file system users, does not apply to. */
  squash?: boolean;
}

type AnyHandler = (request: unknown) => Promise<unknown>;

/**
 * Who asks for a mutation: a request's credentials and, for a retryable one, its request id; an
 * idempotent one may name its client as origin instead.
 */
export interface Caller {
  readonly cred: Credentials;
  readonly requestId?: string | undefined;
  readonly origin?: string | undefined;
}

export class MetaService {
  readonly chains: ChainPicker;
  /** What this service committed lately, for clients that cache metadata. */
  readonly changeLog: ChangeLog;
  private readonly ids: InodeIdAllocator;
  private readonly handlers = new Map<string, { method: MethodDef<unknown, unknown>; handler: AnyHandler }>();
  /** Transactions each request has run so far: the step of its next record. */
  private readonly steps = new WeakMap<Caller, number>();

  constructor(readonly options: MetaServiceOptions) {
    checkLimitRelations();
    this.chains = new ChainPicker(options.chainTables, options.random);
    this.ids = new InodeIdAllocator(options.kv, options.inodeIdBatch);
    this.changeLog = new ChangeLog({ startMs: options.clock.nowMs(), random: options.random });
    const table: HandlerTable = {
      on: (method, handler) => {
        assert(!this.handlers.has(method.name), `${method.name} has one handler`);
        this.handlers.set(method.name, {
          method: method as unknown as MethodDef<unknown, unknown>,
          handler: handler as AnyHandler,
        });
      },
    };
    registerHandlers(this, table);
  }

  /** Creates the root directory when the KV has none yet. */
  async ensureRoot(layout: DirectoryLayout): Promise<void> {
    const { created } = await ensureRoot(this.options.kv, { layout, nowNs: this.nowNs() });
    if (created) this.options.logger.info({ layout }, 'created the root directory');
    try {
      const counted = await ensureInodeCounts(this.options.kv, this.nowNs());
      if (counted !== undefined)
        this.options.logger.info({ inodes: String(counted) }, 'counted the inodes of the namespace');
    } catch (error) {
      // A namespace too large to count in one transaction: statfs shows no inode use until fsck counts it.
      this.options.logger.warn({ err: error }, `counting the inodes failed: ${describeError(error)}`);
    }
  }

  /** Registers every method on an RPC server. */
  register(server: RpcServer): void {
    for (const { method, handler } of this.handlers.values()) {
      server.handle(
        method,
        (request, context) => handler(actingAs(context.caller, request)),
        metaMethodAccess(method.name),
      );
    }
  }

  /** Runs a method in process, validating request and response as the RPC layer would. */
  async call<Req, Res>(method: MethodDef<Req, Res>, request: unknown): Promise<Res> {
    const registered = this.handlers.get(method.name);
    assert(registered !== undefined, `${method.name} is handled`);
    const parsed = method.request.safeParse(request);
    if (!parsed.success) {
      throw new FsError(
        RpcCode.BadRequest,
        `${method.name}: invalid request:\n${formatIssues(parsed.error.issues)}`,
      );
    }
    const response = method.response.safeParse(await registered.handler(parsed.data));
    assert(response.success, `${method.name} answers what its schema allows`);
    return response.data;
  }

  /** The current time in nanoseconds since the epoch. */
  nowNs(): bigint {
    return BigInt(Math.round(this.options.clock.nowMs())) * 1_000_000n;
  }

  /**
   * Runs `operation` in one read-write transaction with the caller's (squashed) credentials. With
   * a request id, the transaction's result is recorded under it (the caller's n-th transaction as
   * step n), and a retry gets the recorded result instead of running the operation again.
   */
  async mutate<T>(
    caller: Caller,
    options: MutationOptions,
    operation: (writer: MetaWriter, ctx: OpContext) => Promise<T>,
  ): Promise<T> {
    const { cred } = caller;
    const effective = options.squash === false ? cred : squashCredentials(cred, this.options.rootSquash);
    const requestId = this.recordable(caller.requestId);
    let recordKey: Buffer | undefined;
    if (requestId !== undefined) {
      const step = this.steps.get(caller) ?? 0;
      this.steps.set(caller, step + 1);
      recordKey = keys.request(requestId, step);
    }
    const reservation = await this.ids.reserve(options.ids);
    let committed = false;
    // What the attempt that committed changed (each attempt starts a new set).
    let changes: ChangeSet | undefined;
    try {
      const result = await this.withFreshRouting(() =>
        this.options.kv.transact(async (tx) => {
          reservation.rewind();
          if (recordKey !== undefined) {
            const recorded = await tx.get(recordKey);
            if (recorded !== undefined) {
              return decodeRecord(requestRecordSchema, recorded, `request ${requestId}`).result as T;
            }
          }
          const ctx: OpContext = {
            cred: effective,
            nowNs: this.nowNs(),
            takeInodeId: () => reservation.take(),
            fileLayout: (directory) => this.chains.fileLayout(directory),
          };
          changes = new ChangeSet();
          const result = await operation(new MetaWriter(tx, changes), ctx);
          if (recordKey !== undefined)
            tx.set(recordKey, encodeRecord(requestRecordSchema, { format: 1, result }));
          return result;
        }),
      );
      committed = true;
      if (changes !== undefined) this.changeLog.record(changes, caller.origin ?? originOf(caller.requestId));
      return result;
    } finally {
      // A failed operation used none of its ids: every one goes back.
      if (!committed) reservation.rewind();
      this.ids.release(reservation);
    }
  }

  /** Removes the request records whose ids are older than the records' time to live; returns how many. */
  async sweepRequestRecords(pageMax: number = limits.metaRequestSweepPageMax): Promise<number> {
    assert(Number.isInteger(pageMax) && pageMax >= 1, 'a sweep page holds at least one record');
    const end = keys.requestsBefore(this.options.clock.nowMs() - limits.metaRequestRecordTtlMs);
    let swept = 0;
    // One bounded page per transaction, so a backlog never outgrows a transaction's limits.
    for (;;) {
      const cleared = await this.options.kv.transact(async (tx) => {
        const page = await tx.getRange(tags.request, end, { limit: pageMax });
        const last = page[page.length - 1];
        if (last !== undefined) tx.clearRange(tags.request, keyAfter(last.key));
        return page.length;
      });
      swept += cleared;
      if (cleared < pageMax) return swept;
    }
  }

  /**
   * The request id to record under, when there is one whose time is close enough to this service's
   * clock that its records outlive any retry but not the sweep.
   */
  private recordable(requestId: string | undefined): string | undefined {
    if (requestId === undefined) return undefined;
    const skewMs = Math.abs(requestIdTimeMs(requestId) - this.options.clock.nowMs());
    if (skewMs <= limits.metaRequestRecordTtlMs / 2) return requestId;
    this.options.logger.debug({ requestId, skewMs }, 'request id too far from this clock: not recorded');
    return undefined;
  }

  /** Runs `operation` in one read-only transaction with the caller's (squashed) credentials. */
  async read<T>(
    cred: Credentials,
    operation: (reader: MetaReader, cred: Credentials) => Promise<T>,
  ): Promise<T> {
    const effective = squashCredentials(cred, this.options.rootSquash);
    return this.options.kv.read((tx) => operation(new MetaReader(tx), effective));
  }

  /** Inodes in use, or undefined while the namespace is not counted (see store/root.ts). */
  async inodesInUse(): Promise<bigint | undefined> {
    return this.options.kv.read((tx) => new MetaReader(tx).inodesInUse());
  }

  /** The root directory's default chunk size, reported by statfs as the block size. */
  async rootChunkSizeBytes(): Promise<number> {
    const root = await this.options.kv.read((tx) => new MetaReader(tx).requireDirectory(rootInodeId));
    return root.layout.chunkSizeBytes;
  }

  /**
   * Runs `attempt`; when it fails for a chain table missing from the cached routing info, fetches
   * fresh routing info once and tries again (a chain table created moments ago is then found).
   */
  private async withFreshRouting<T>(attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (error) {
      const refresh = this.options.refreshRouting;
      if (!(error instanceof FsError) || error.code !== MetaCode.NoChainTable || refresh === undefined)
        throw error;
      await refresh();
      return attempt();
    }
  }
}

/** The relationships between the meta limits and the KV's that the operations rely on. */
function checkLimitRelations(): void {
  // Each of these is read as one bounded range read, so it must fit in one.
  assert(limits.metaReaddirPageMax < limits.kvRangeReadPairsMax, 'a readdir page fits one range read');
  assert(
    limits.metaRecursiveRemoveInodesMax < limits.kvRangeReadPairsMax,
    'a removed tree level fits one range read',
  );
  assert(limits.metaSessionsPerInodeMax < limits.kvRangeReadPairsMax, 'a file’s sessions fit one range read');
  assert(limits.metaXattrsPerInodeMax < limits.kvRangeReadPairsMax, 'an inode’s xattrs fit one range read');
  // A full xattr value stays inside one KV value, with room for the record around it.
  assert(
    limits.metaXattrValueBytesMax + 1_024 <= limits.kvValueBytesMax,
    'an xattr record fits one KV value',
  );
  // A symlink record (its target plus fixed fields) fits one KV value too.
  assert(limits.metaPathBytesMax + 1_024 <= limits.kvValueBytesMax, 'a symlink record fits one KV value');
}
