/**
 * The client library (DESIGN §9): one object that talks to mgmtd (routing info), the meta
 * services (namespace, with failover) and the storage services (file data), for the FUSE daemon
 * and for any Node program. Two faces:
 *  - inode-based calls with explicit credentials (statInode, openInode, createAt, setAttr), which
 *    the FUSE daemon maps its requests onto;
 *  - path-based calls with the client's own credentials (stat, readdir, mkdir, readFile,
 *    writeFile, open, ...), for programs and the admin CLI.
 *
 * Files opened here keep their writes in a bounded buffer until flush, fsync or close, read ahead
 * for sequential readers, and report their length to meta periodically and on fsync and close.
 */
import { randomInt } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import { FsError, assert, describeError, hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { metricDefs, type MetricsRegistry } from '../common/metrics/index.js';
import { seededRandom, type Random } from '../common/random.js';
import { ClientCode, CommonCode, MetaCode } from '../common/status-code.js';
import {
  metaMethods,
  type Credentials,
  type DeviceNumber,
  type DirectoryEntry,
  type FileInode,
  type Inode,
  type InodeId,
  type PathAt,
  type RequestOf,
  type ResponseOf,
  type TimeSpec,
} from '../meta/protocol/index.js';
import { PayloadPool, RpcClient, parseToken, releasePayload, type RpcClientOptions } from '../rpc/index.js';
import { mgmtdMethods } from '../mgmtd/protocol/index.js';
import { ChunkClient, MgmtdClient, RoutingCache } from '../cluster/index.js';
import { cloneTree, type CloneSummary } from './clone.js';
import { resolveTuning, type ClientTuning } from './client-tuning.js';
import { FileDataIo, fileRef } from './file-data.js';
import { SessionIds, processClientId, processCredentials } from './identity.js';
import { ByteBudget, Limiter } from './limiter.js';
import { MetaClient } from './meta-client.js';
import { OpenFile } from './open-file.js';
import { SessionCloser } from './session-closer.js';
import { OpenInodes, type OpenInode } from './open-inodes.js';
import { ReadAhead } from './read-ahead.js';
import { storageMethods } from '../storage/protocol/index.js';

export interface FsClientOptions {
  readonly mgmtdAddresses: readonly string[];
  /**
   * The cluster secret, or a process's secrets that follow its secret file (a rotation): a client
   * holding it is a node of the cluster, trusted with every uid. Not needed with `token`.
   */
  readonly clusterSecret?: RpcClientOptions['clusterSecret'];
  /**
   * A user token (`admin user-add` prints one), in place of the secret: the cluster then acts
   * for this client only as the token's user allows (a token's user acts as itself unless it is
   * trusted or an admin, whatever `credentials` say).
   */
  readonly token?: string;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
  /**
   * Who path-based calls speak for; by default the token's user, else the process's own uid, gid
   * and groups.
   */
  readonly credentials?: Credentials;
  /** The client id of write sessions; unique to this process by default. */
  readonly clientId?: string;
  readonly tuning?: Partial<ClientTuning>;
  /** Sees every RPC call (metrics). */
  readonly rpcObserver?: RpcClientOptions['observer'];
  /** Where the client library's metrics go (checksum failures of reads); none without it. */
  readonly metrics?: MetricsRegistry;
  /** Deadline of each call to mgmtd. */
  readonly mgmtdTimeoutMs?: number;
  /**
   * Large reply payloads land in buffers from this pool (RpcClientOptions.replyPayloadPool): for a
   * caller that lets go of what reads return (`releasePayload`) once done with the bytes.
   */
  readonly replyPayloadPool?: RpcClientOptions['replyPayloadPool'];
  /** Told the inode id when what a read of an open file returns may change (OpenInode.onChange). */
  readonly onOpenFileChange?: (ino: InodeId) => void;
}

/** How to open a file by path. */
export interface OpenOptions {
  readonly read?: boolean;
  readonly write?: boolean;
  /** O_CREAT, with `mode` (default 0o644). */
  readonly create?: boolean;
  readonly exclusive?: boolean;
  readonly truncate?: boolean;
  readonly mode?: number;
}

/** Changes of one setattr; `length` truncates or extends a file. */
export interface AttributeChanges {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly atime?: TimeSpec;
  readonly mtime?: TimeSpec;
  readonly length?: bigint;
}

/** A special file to make: a FIFO, a socket, or a device node with its device number. */
export type SpecialFile =
  | { readonly type: 'fifo' | 'socket'; readonly mode: number }
  | { readonly type: 'charDevice' | 'blockDevice'; readonly mode: number; readonly device: DeviceNumber };

/** A layout change of a directory (for files created in it from now on). */
export interface LayoutChanges {
  readonly chainTableId?: number;
  readonly chunkSizeBytes?: number;
  readonly stripeSize?: number;
}

export class FsClient {
  readonly meta: MetaClient;
  readonly routing: RoutingCache;
  readonly mgmtd: MgmtdClient;
  readonly tuning: ClientTuning;
  private ownCredentials: Credentials;
  readonly clientId: string;
  private readonly rpc: RpcClient;
  private readonly io: FileDataIo;
  private readonly replyPayloadPool: RpcClientOptions['replyPayloadPool'];
  private readonly inodes: OpenInodes;
  private readonly readAheadBudget: ByteBudget;
  private readonly sessions: SessionIds;
  private readonly closer: SessionCloser;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private reportTimer: TimerHandle | undefined;
  private openHandles = 0;
  private closed = false;

  private constructor(options: FsClientOptions) {
    this.logger = (options.logger ?? silentLogger()).child({ component: 'client' });
    this.clock = options.clock ?? systemClock;
    const random = options.random ?? seededRandom(randomInt(0x7fff_ffff));
    this.tuning = resolveTuning(options.tuning);
    this.ownCredentials = options.credentials ?? processCredentials();
    this.clientId = options.clientId ?? processClientId();
    this.sessions = new SessionIds(this.clientId, this.clock.nowMs());
    if ((options.clusterSecret === undefined) === (options.token === undefined)) {
      throw new FsError(
        CommonCode.InvalidArgument,
        'the client connects with either the cluster secret or a user token (exactly one of them)',
      );
    }
    this.replyPayloadPool = options.replyPayloadPool;
    this.rpc = new RpcClient({
      clusterSecret: options.clusterSecret ?? '',
      ...(options.token === undefined ? {} : { token: parseToken(options.token, 'the client token') }),
      logger: this.logger,
      random,
      ...(options.rpcObserver === undefined ? {} : { observer: options.rpcObserver }),
      ...(options.replyPayloadPool === undefined ? {} : { replyPayloadPool: options.replyPayloadPool }),
    });
    this.mgmtd = new MgmtdClient({
      addresses: options.mgmtdAddresses,
      rpc: this.rpc,
      clock: this.clock,
      logger: this.logger,
      timeoutMs: options.mgmtdTimeoutMs ?? 5_000,
    });
    this.routing = new RoutingCache({
      source: this.mgmtd,
      clock: this.clock,
      logger: this.logger,
      ...(this.tuning.routingRefreshMs === undefined
        ? {}
        : { refreshIntervalMs: this.tuning.routingRefreshMs }),
    });
    const common = { rpc: this.rpc, routing: this.routing, clock: this.clock, logger: this.logger, random };
    this.meta = new MetaClient({
      ...common,
      timeoutMs: this.tuning.metaTimeoutMs,
      outageWaitMs: this.tuning.metaOutageWaitMs,
      clientId: this.clientId,
    });
    const checksumFailures = options.metrics?.counter(metricDefs.clientReadChecksumFailures);
    const chunks = new ChunkClient({
      ...common,
      chunkTimeoutMs: this.tuning.chunkTimeoutMs,
      ioDeadlineMs: this.tuning.ioDeadlineMs,
      ...(checksumFailures === undefined
        ? {}
        : { onReadChecksumFailure: (targetId: number) => checksumFailures.inc({ target: targetId }) }),
    });
    this.io = new FileDataIo({
      chunks,
      limiter: new Limiter(this.tuning.ioConcurrency),
      requestConcurrency: this.tuning.requestIoConcurrency,
      pool: options.replyPayloadPool,
    });
    this.closer = new SessionCloser({
      meta: this.meta,
      clock: this.clock,
      logger: this.logger,
      delayMs: limits.clientSessionCloseDelayMs,
    });
    this.inodes = new OpenInodes({
      closer: this.closer,
      meta: this.meta,
      io: this.io,
      writeBudget: new ByteBudget(this.tuning.writeBufferBytesTotal),
      perFileBytesMax: this.tuning.writeBufferBytesPerFile,
      extentsMax: limits.clientWriteExtentsPerFileMax,
      staging: new PayloadPool({
        minBytes: limits.clientWriteStagingBytesMin,
        maxBytes: limits.storageChunkBytesMax,
        keptBytesMax: limits.clientWriteStagingKeptBytesMax,
      }),
      logger: this.logger,
      ...(options.onOpenFileChange === undefined
        ? {}
        : { onChange: (record: OpenInode) => options.onOpenFileChange?.(record.file.ino) }),
    });
    this.readAheadBudget = new ByteBudget(limits.clientReadAheadBytesTotalMax);
  }

  /**
   * Hands an authenticated connection of its own to the storage service at `address` to
   * `takeOver` (RpcClient.handOverConnection), made a read channel first where the service has
   * one (Storage.openReadChannel).
   */
  handOverStorageConnection(address: string, takeOver: (fd: number) => void): Promise<void> {
    // A storage service with a read server answers the connection's reads without JavaScript.
    return this.rpc.handOverConnection(address, takeOver, {
      method: storageMethods.openReadChannel,
      request: {},
    });
  }

  /** Who path-based calls speak for. */
  get credentials(): Credentials {
    return this.ownCredentials;
  }

  /**
   * Makes a client and fetches routing info (fails when mgmtd cannot be reached or refuses the
   * token). With a token, path-based calls speak for the token's user unless `credentials` were
   * given (which count only for a trusted or admin user's token).
   */
  static async connect(options: FsClientOptions): Promise<FsClient> {
    const client = new FsClient(options);
    try {
      if (options.token !== undefined) {
        const me = await client.mgmtd.call(mgmtdMethods.whoAmI, {});
        const user = me.user;
        if (options.credentials === undefined && user !== undefined) {
          client.ownCredentials = { uid: user.root ? 0 : user.uid, gid: user.gid, groups: user.groups };
        }
      }
      await client.routing.refresh();
    } catch (error) {
      await client.rpc.close();
      throw error;
    }
    client.routing.start();
    client.scheduleReports();
    return client;
  }

  // --- inode-based calls (the FUSE daemon) ------------------------------------------------

  /** One poll of one meta service's change log (the FUSE daemon's metadata cache). */
  async metaChanges(
    address: string,
    request: RequestOf<typeof metaMethods.changes>,
    timeoutMs: number,
  ): Promise<ResponseOf<typeof metaMethods.changes>> {
    return this.rpc.call(address, metaMethods.changes, request, { timeoutMs, retries: 0 });
  }

  /** The inode `ino`, with this client's view of a file's length. */
  async statInode(ino: InodeId, cred: Credentials): Promise<Inode> {
    try {
      return await this.withFreshLength(ino, () =>
        this.meta
          .call(metaMethods.stat, { cred, at: { parent: ino, path: '' } })
          .then((reply) => reply.inode),
      );
    } catch (error) {
      // A file open here whose last name went is gone from meta unless a write session kept it
      // (an orphan); its handles still stat it, as POSIX says (fstat after unlink), with no links.
      const record = this.inodes.get(ino);
      if (record === undefined || !hasCode(error, MetaCode.NotFound)) throw error;
      return { ...record.lastKnown, nlink: 0, length: record.length() };
    }
  }

  /** The entry `name` of directory `parent` (never follows a symlink). */
  async lookup(parent: InodeId, name: string, cred: Credentials): Promise<Inode> {
    const { inode } = await this.meta.call(metaMethods.lookup, { cred, parent, name });
    return this.withLocalLength(inode);
  }

  /**
   * A file inode's length as this client sees it (its own buffered writes included). `fresh`:
   * the inode is meta's latest answer, which the open file then takes in; a cached copy is not.
   */
  withLocalLength(inode: Inode, fresh = true): Inode {
    if (inode.type !== 'file') return inode;
    const record = this.inodes.get(inode.ino);
    if (record === undefined) return inode;
    if (fresh) record.observe(inode);
    return { ...inode, length: record.length(inode.length) };
  }

  /** Opens an existing file: `at` names it (an inode id with an empty path, or a path). */
  async openAt(options: {
    at: PathAt;
    cred: Credentials;
    read: boolean;
    write: boolean;
    truncate?: boolean;
  }): Promise<OpenFile> {
    this.reserveHandle();
    try {
      const session = options.write ? this.sessions.take() : undefined;
      const { inode } = await this.meta.call(metaMethods.open, {
        cred: options.cred,
        at: options.at,
        read: options.read,
        write: options.write,
        truncate: options.truncate ?? false,
        ...(session === undefined ? {} : { session }),
      });
      requireFile(inode);
      return await this.handleFor(inode, { ...options, truncated: options.truncate ?? false, session });
    } catch (error) {
      this.openHandles -= 1;
      throw error;
    }
  }

  /**
   * Creates (or, without `exclusive`, opens) the file `path` relative to `parent`. `umask`, when
   * given, is applied by meta unless the directory has a default ACL (which replaces it).
   */
  async createAt(options: {
    parent?: InodeId;
    path: string;
    mode: number;
    umask?: number;
    cred: Credentials;
    exclusive: boolean;
    truncate: boolean;
    read: boolean;
    write: boolean;
  }): Promise<{ file: OpenFile; inode: Inode; created: boolean }> {
    this.reserveHandle();
    try {
      const session = options.write ? this.sessions.take() : undefined;
      const at: PathAt =
        options.parent === undefined
          ? { path: options.path }
          : { parent: options.parent, path: options.path };
      const { inode, created } = await this.meta.call(metaMethods.create, {
        cred: options.cred,
        at,
        mode: options.mode,
        ...(options.umask === undefined ? {} : { umask: options.umask }),
        exclusive: options.exclusive,
        truncate: options.truncate,
        read: options.read,
        write: options.write,
        ...(session === undefined ? {} : { session }),
      });
      requireFile(inode);
      const truncated = options.truncate && !created;
      const file = await this.handleFor(inode, { ...options, truncated, session });
      return { file, inode: this.withLocalLength(inode), created };
    } catch (error) {
      this.openHandles -= 1;
      throw error;
    }
  }

  /**
   * chmod, chown, utimes and truncate in one call. Buffered writes of the file are sent first, so
   * they come before the change; a time change is made after meta was told about those writes,
   * so a later report does not undo it; a truncate cuts the data in storage after meta took it.
   */
  async setAttr(
    options: {
      at: PathAt;
      cred: Credentials;
      followLast?: boolean;
      /** The open file the change comes through (ftruncate): its write permission holds. */
      through?: OpenFile;
    } & AttributeChanges,
  ) {
    const record = options.at.path === '' ? this.inodes.get(options.at.parent ?? 1n) : undefined;
    const setsTimes = options.atime !== undefined || options.mtime !== undefined;
    if (record?.writer !== undefined && (setsTimes || options.length !== undefined)) {
      await record.writer.settle();
      if (setsTimes && record.reportDue) await this.inodes.report(record, record.reportCred ?? options.cred);
    }
    const { at, cred, followLast, through, ...changes } = options;
    const session = through?.session;
    const { inode } = await this.meta.call(metaMethods.setAttr, {
      cred,
      at,
      ...(followLast === undefined ? {} : { followLast }),
      ...(session === undefined ? {} : { session }),
      ...changes,
    });
    if (inode.type === 'file') {
      const current = this.inodes.get(inode.ino);
      if (options.length !== undefined) await this.truncated(inode, options.length, current);
      if (setsTimes && current?.writer !== undefined) current.reportedWriteCount = current.writer.writeCount;
    }
    return this.withLocalLength(inode);
  }

  /** Makes a FIFO, socket or device node `path` relative to `parent` (mknod(2)); `umask` as in createAt. */
  async mknodAt(
    options: { parent?: InodeId; path: string; cred: Credentials; umask?: number } & SpecialFile,
  ): Promise<Inode> {
    const at: PathAt =
      options.parent === undefined ? { path: options.path } : { parent: options.parent, path: options.path };
    const { inode } = await this.meta.call(metaMethods.mknod, {
      cred: options.cred,
      at,
      type: options.type,
      mode: options.mode,
      ...(options.umask === undefined ? {} : { umask: options.umask }),
      ...('device' in options ? { device: options.device } : {}),
    });
    return inode;
  }

  // --- path-based calls (programs, admin) ---------------------------------------------------

  /** mknod(2) with the client's credentials: a FIFO, a socket or a device node (root only). */
  async mknod(path: string, special: SpecialFile): Promise<Inode> {
    return this.mknodAt({ path, cred: this.credentials, ...special });
  }

  /** stat(2): follows a symlink as the last component. */
  async stat(path: string): Promise<Inode> {
    const { inode } = await this.meta.call(metaMethods.stat, { cred: this.credentials, at: { path } });
    return this.withLocalLength(inode);
  }

  /** lstat(2). */
  async lstat(path: string): Promise<Inode> {
    const { inode } = await this.meta.call(metaMethods.stat, {
      cred: this.credentials,
      at: { path },
      followLast: false,
    });
    return this.withLocalLength(inode);
  }

  /** Every entry of a directory, page by page ("." and ".." are not listed). */
  async readdir(path: string | PathAt): Promise<DirectoryEntry[]> {
    const at = typeof path === 'string' ? { path } : path;
    const entries: DirectoryEntry[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.meta.call(metaMethods.readDir, {
        cred: this.credentials,
        at,
        limit: limits.clientReaddirPageEntries,
        ...(cursor === undefined ? {} : { cursor }),
      });
      entries.push(...page.entries);
      if (page.nextCursor === null) return entries;
      cursor = page.nextCursor;
    }
  }

  async mkdir(path: string, options: { mode?: number; recursive?: boolean } = {}): Promise<Inode> {
    const { inode } = await this.meta.call(metaMethods.mkdirs, {
      cred: this.credentials,
      at: { path },
      mode: options.mode ?? 0o755,
      recursive: options.recursive ?? false,
    });
    return inode;
  }

  async rmdir(path: string): Promise<void> {
    await this.meta.call(metaMethods.rmdir, { cred: this.credentials, at: { path } });
  }

  async unlink(path: string): Promise<void> {
    await this.meta.call(metaMethods.unlink, { cred: this.credentials, at: { path } });
  }

  async rename(source: string, target: string, options: { noReplace?: boolean } = {}): Promise<void> {
    await this.meta.call(metaMethods.rename, {
      cred: this.credentials,
      source: { path: source },
      target: { path: target },
      noReplace: options.noReplace ?? false,
    });
  }

  async symlink(target: string, path: string): Promise<Inode> {
    const { inode } = await this.meta.call(metaMethods.symlink, {
      cred: this.credentials,
      at: { path },
      target,
    });
    return inode;
  }

  async readlink(path: string): Promise<string> {
    return (await this.meta.call(metaMethods.readlink, { cred: this.credentials, at: { path } })).target;
  }

  async link(existing: string, path: string): Promise<Inode> {
    const { inode } = await this.meta.call(metaMethods.hardLink, {
      cred: this.credentials,
      source: { path: existing },
      target: { path },
    });
    return inode;
  }

  async chmod(path: string, mode: number): Promise<Inode> {
    return this.setAttr({ at: { path }, cred: this.credentials, mode });
  }

  async chown(path: string, uid: number, gid: number): Promise<Inode> {
    return this.setAttr({ at: { path }, cred: this.credentials, uid, gid });
  }

  async utimes(path: string, atime: TimeSpec, mtime: TimeSpec): Promise<Inode> {
    return this.setAttr({ at: { path }, cred: this.credentials, atime, mtime });
  }

  async truncate(path: string, length: bigint): Promise<Inode> {
    return this.setAttr({ at: { path }, cred: this.credentials, length });
  }

  /** Removes a file, or a directory with everything under it, in one meta transaction. */
  async removeRecursive(path: string): Promise<number> {
    const reply = await this.meta.call(metaMethods.removeRecursive, { cred: this.credentials, at: { path } });
    return reply.removedInodes;
  }

  /** Opens (or creates) a file by path; read-only unless `write`. */
  async open(path: string, options: OpenOptions = {}): Promise<OpenFile> {
    const read = options.read ?? true;
    const write = options.write ?? false;
    if (options.create === true) {
      const created = await this.createAt({
        path,
        mode: options.mode ?? 0o644,
        cred: this.credentials,
        exclusive: options.exclusive ?? false,
        truncate: options.truncate ?? false,
        read,
        write,
      });
      return created.file;
    }
    return this.openAt({
      at: { path },
      cred: this.credentials,
      read,
      write,
      truncate: options.truncate ?? false,
    });
  }

  /**
   * fallocate(2) on a file, by path (opened for writing for the call) or through an open handle:
   * `mode` 0 or FallocateFlag.keepSize promise space (ENOSPC when the file system lacks it),
   * punchHole | keepSize and zeroRange (with or without keepSize) make the range read as zeros and
   * free its whole blocks; other modes fail with NotImplemented (EOPNOTSUPP). See fallocate.ts.
   */
  async fallocate(target: string | OpenFile, mode: number, offset: bigint, length: bigint): Promise<void> {
    if (typeof target !== 'string') return target.fallocate(mode, offset, length);
    const file = await this.open(target, { read: false, write: true });
    try {
      await file.fallocate(mode, offset, length);
    } catch (error) {
      await file.close().catch(() => undefined);
      throw error;
    }
    await file.close();
  }

  /**
   * Clones a file, or a directory with everything under it, to `target` (which must not exist):
   * each file shares its chunks with its source until either side writes them, so the clone costs
   * metadata time, not data time (see clone.ts). This client's buffered writes are flushed first.
   */
  async clone(
    source: string,
    target: string,
    options: { onProgress?: (path: string) => void } = {},
  ): Promise<CloneSummary> {
    await this.flushAll();
    const cred = this.credentials;
    return cloneTree(
      {
        stat: (path, { follow }) => (follow ? this.stat(path) : this.lstat(path)),
        readdir: (path) => this.readdir(path),
        mkdir: async (path, mode) => {
          await this.mkdir(path, { mode });
        },
        readlink: (path) => this.readlink(path),
        symlink: async (linkTarget, path) => {
          await this.symlink(linkTarget, path);
        },
        createClone: (from, to) => this.createClone({ cred, source: { path: from }, target: to, umask: 0 }),
        cloneChunks: (from, to) => this.cloneChunks(from, to),
        unlink: (path) => this.unlink(path),
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      },
      source,
      target,
    );
  }

  /**
   * Clones one file as `cred` (inode-based callers such as the gateways act for their callers):
   * meta makes `target` with the source's layout and length, checking read permission on the source
   * and write permission on `target`'s directory as a create does, then every chunk is cloned. A
   * target whose chunks could not all be cloned is removed again. Returns the source's inode as meta
   * saw it when the clone began, and the new file's. Writes this client still buffers for the source
   * are not flushed first: callers close what they wrote before cloning it.
   */
  async cloneFile(request: {
    cred: Credentials;
    source: PathAt;
    target: string;
    mode?: number;
    umask: number;
  }): Promise<{ source: FileInode; inode: FileInode }> {
    const created = await this.createClone(request);
    try {
      await this.cloneChunks(created.source, created.inode);
    } catch (error) {
      await this.meta
        .call(metaMethods.unlink, { cred: request.cred, at: { path: request.target } })
        .catch((cleanup: unknown) => {
          throw new AggregateError(
            [error, cleanup],
            `cloning into ${request.target} failed (${describeError(error)}) and the partial clone could not be removed`,
          );
        });
      throw error;
    }
    return created;
  }

  private async createClone(request: {
    cred: Credentials;
    source: PathAt;
    target: string;
    mode?: number;
    umask: number;
  }): Promise<{ source: FileInode; inode: FileInode }> {
    const reply = await this.meta.call(metaMethods.cloneFile, {
      cred: request.cred,
      source: request.source,
      target: { path: request.target },
      ...(request.mode === undefined ? {} : { mode: request.mode }),
      umask: request.umask,
    });
    const { source, inode } = reply;
    assert(source.type === 'file' && inode.type === 'file', 'a clone is made of files');
    return { source, inode };
  }

  private cloneChunks(source: FileInode, target: FileInode): Promise<void> {
    return this.io.clone(
      fileRef(source.ino, source.layout),
      fileRef(target.ino, target.layout),
      source.length,
    );
  }

  /** The whole content of a file. */
  async readFile(path: string): Promise<Buffer> {
    const file = await this.open(path);
    try {
      const parts: Buffer[] = [];
      let offset = 0n;
      for (;;) {
        const part = await file.read(offset, 4 * 1024 * 1024);
        if (part.length === 0) break;
        parts.push(part);
        offset += BigInt(part.length);
      }
      const whole = Buffer.concat(parts);
      // Copied out: pooled reads (replyPayloadPool) go back for later replies.
      for (const part of parts) releasePayload(part);
      return whole;
    } finally {
      await file.close();
    }
  }

  /** Creates or replaces the content of a file. */
  async writeFile(path: string, data: Buffer, options: { mode?: number } = {}): Promise<void> {
    const file = await this.open(path, {
      read: false,
      write: true,
      create: true,
      truncate: true,
      mode: options.mode ?? 0o644,
    });
    try {
      await file.write(0n, data);
    } catch (error) {
      await file.close().catch(() => undefined);
      throw error;
    }
    await file.close();
  }

  /** Changes a directory's default layout (root only, as operators do). */
  async setLayout(path: string, changes: LayoutChanges): Promise<Inode> {
    const { inode } = await this.meta.call(metaMethods.setDirLayout, {
      cred: this.credentials,
      at: { path },
      ...changes,
    });
    return inode;
  }

  async statfs() {
    return this.meta.call(metaMethods.statFs, { cred: this.credentials });
  }

  async getXattr(path: string, name: string): Promise<Buffer> {
    const { value } = await this.meta.call(metaMethods.getXattr, {
      cred: this.credentials,
      at: { path },
      name,
    });
    return Buffer.from(value);
  }

  async setXattr(path: string, name: string, value: Buffer): Promise<void> {
    await this.meta.call(metaMethods.setXattr, { cred: this.credentials, at: { path }, name, value });
  }

  async listXattr(path: string): Promise<string[]> {
    return (await this.meta.call(metaMethods.listXattr, { cred: this.credentials, at: { path } })).names;
  }

  async removeXattr(path: string, name: string): Promise<void> {
    await this.meta.call(metaMethods.removeXattr, { cred: this.credentials, at: { path }, name });
  }

  /** Asks meta to drop the write sessions a previous life of this client left open. */
  async pruneOwnSessions(): Promise<{ removedSessions: number; reclaimedInodes: number }> {
    return this.meta.call(metaMethods.pruneSessions, { clientId: this.clientId });
  }

  /** Sends buffered writes and owed length reports of every file (shutdown, tests). */
  async flushAll(): Promise<void> {
    for (const record of this.inodes.all()) await record.writer?.settle();
    await this.inodes.reportAll();
    await this.closer.flush();
  }

  /** Stops timers, reports what is owed, and closes connections. Open handles are not closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reportTimer?.cancel();
    this.routing.stop();
    await this.flushAll().catch((error: unknown) =>
      this.logger.warn({ err: error }, `final flush failed: ${describeError(error)}`),
    );
    await this.rpc.close();
  }

  // --- internals ---------------------------------------------------------------------------

  private reserveHandle(): void {
    if (this.closed) throw new FsError(ClientCode.BadFileHandle, 'the client is closed');
    if (this.openHandles >= this.tuning.openFilesMax) {
      throw new FsError(ClientCode.TooManyOpenFiles, `${this.openHandles} files are open in this client`);
    }
    this.openHandles += 1;
  }

  /** The handle of an opened file; after an O_TRUNC of an existing file, its data is cut first. */
  private async handleFor(
    inode: FileInode,
    options: {
      cred: Credentials;
      read: boolean;
      write: boolean;
      truncated: boolean;
      session: OpenFileSession;
    },
  ): Promise<OpenFile> {
    const existing = this.inodes.get(inode.ino);
    const record = this.inodes.open(existing?.file ?? fileRef(inode.ino, inode.layout), inode);
    record.adopt(inode);
    try {
      if (options.truncated) await this.truncated(inode, 0n, record);
    } catch (error) {
      this.inodes.closed(record);
      if (options.session !== undefined) {
        await this.inodes.closeSession(record, options.cred, options.session).catch(() => undefined);
      }
      throw error;
    }
    if (options.write) record.reportCred = options.cred;
    return new OpenFile({
      record,
      inodes: this.inodes,
      io: this.io,
      cred: options.cred,
      readable: options.read,
      writable: options.write,
      session: options.session,
      readAhead: options.read && this.tuning.readAheadBytes > 0 ? this.readAheadFor(record) : undefined,
      onClosed: () => {
        this.openHandles -= 1;
      },
    });
  }

  private readAheadFor(record: OpenInode): ReadAhead {
    return new ReadAhead({
      blockBytes: Math.min(record.file.layout.chunkSizeBytes, 4 * 1024 * 1024),
      windowBytes: this.tuning.readAheadBytes,
      budget: this.readAheadBudget,
      fetch: (offset, length, fileLength) => this.io.read(record.file, offset, length, fileLength),
      pool: this.replyPayloadPool,
    });
  }

  /** After meta truncated `inode` to `length`: cut the data in storage, update the record. */
  private async truncated(inode: FileInode, length: bigint, record: OpenInode | undefined): Promise<void> {
    await record?.writer?.settle();
    await this.io.cut(record?.file ?? fileRef(inode.ino, inode.layout), length);
    if (record !== undefined) {
      record.writer?.truncated(length);
      record.adopt(inode);
      record.touchData();
      record.truncateGeneration += 1;
    }
  }

  /** Runs a stat and adds this client's view of the length, retrying when a truncate raced it. */
  private async withFreshLength(ino: InodeId, stat: () => Promise<Inode>): Promise<Inode> {
    for (let attempt = 0; ; attempt++) {
      const record = this.inodes.get(ino);
      const generation = record?.truncateGeneration;
      const localEnd = record?.writer?.localEnd ?? 0n;
      const inode = await stat();
      if (inode.type !== 'file') return inode;
      const now = this.inodes.get(ino);
      if (now !== undefined && now.truncateGeneration !== generation && attempt < 3) continue;
      now?.observe(inode);
      const seen = now?.length(inode.length) ?? inode.length;
      // A close that finished during the stat took its record along: the snapshot still counts.
      return { ...inode, length: seen > localEnd ? seen : localEnd };
    }
  }

  private scheduleReports(): void {
    if (this.closed) return;
    this.reportTimer = this.clock.setTimer(this.tuning.lengthReportIntervalMs, () => {
      this.inodes.reportAll().then(
        () => this.scheduleReports(),
        (error: unknown) => {
          this.logger.warn({ err: error }, `length reports failed: ${describeError(error)}`);
          this.scheduleReports();
        },
      );
    });
  }
}

type OpenFileSession = ReturnType<SessionIds['take']> | undefined;

/**
 * Refuses to open what is not a regular file here: a directory, or a special file, whose I/O only
 * the kernel (or a driver) of a machine that mounts the file system can do.
 */
function requireFile(inode: Inode): asserts inode is FileInode {
  if (inode.type === 'file') return;
  if (inode.type === 'directory' || inode.type === 'symlink')
    throw new FsError(MetaCode.IsDirectory, `inode ${inode.ino} is not a file`);
  throw new FsError(
    MetaCode.NotSupported,
    `inode ${inode.ino} is a ${inode.type}: open it through a mount, whose kernel does its I/O`,
  );
}
