/**
 * A mounted FUSE file system: FuseSession.mount() checks the environment, mounts through the
 * native binding, waits for the kernel's INIT, and returns a session that serves `operations`
 * until unmount(), an external unmount (fusermount3 -u), a signal, or process exit.
 *
 * Invariants: one session, one mount; a session that ended never serves again. unmount() stops
 * reading requests, lets those in flight finish (bounded), answers the rest with EIO, then unmounts.
 */
import { resolve as resolvePath } from 'node:path';

import { systemClock, type Clock } from '../../common/clock.js';
import { FsError } from '../../common/errors.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { CommonCode } from '../../common/status-code.js';
import { startAutoUnmountSentinel, type AutoUnmountSentinel } from './auto-unmount-sentinel.js';
import { fuseDefaults } from './defaults.js';
import { warmDirectoryWriters, type PackedDirents } from './directory-writer.js';
import { RequestDispatcher } from './dispatcher.js';
import {
  checkFuseDevice,
  fusermountDetach,
  isRoot,
  isStaleMount,
  prepareMountpoint,
} from './mount-checks.js';
import {
  loadNativeBinding,
  type FastReadsNative,
  type NativeBinding,
  type NativeSession,
  type NativeSessionOptions,
} from './native-binding.js';
import { ReaddirplusMode } from './opcodes.js';
import { registerSession, unregisterSession, type Unmountable } from './process-hooks.js';
import type { ConnectionInfo, FuseOperations, InodeId, OperationName } from './types.js';

/** How to mount; every field but `mountpoint` has a default (see fuseDefaults). */
export interface MountOptions {
  /** An existing directory. */
  readonly mountpoint: string;
  /** Shown as the source in /proc/mounts; the type shows as fuse.<subtype>. */
  readonly fsName?: string;
  readonly subtype?: string;
  /** Let other users than the mounting one use the mount (a user needs user_allow_other in /etc/fuse.conf). */
  readonly allowOther?: boolean;
  /** Let the kernel check permissions from mode/uid/gid (default true); false: the handlers must. */
  readonly defaultPermissions?: boolean;
  readonly readOnly?: boolean;
  /** fusermount3 unmounts when this process dies, even by SIGKILL (default true). */
  readonly autoUnmount?: boolean;
  readonly maxWriteBytes?: number;
  readonly maxReadBytes?: number;
  readonly maxReadaheadBytes?: number;
  readonly maxBackground?: number;
  readonly congestionThreshold?: number;
  /** Let the kernel cache writes and send them later (default false). */
  readonly writebackCache?: boolean;
  readonly asyncRead?: boolean;
  readonly parallelDirops?: boolean;
  /** O_TRUNC arrives with open instead of a separate setattr (default true). */
  readonly atomicOTrunc?: boolean;
  readonly cacheSymlinks?: boolean;
  /** Receive requests through a pipe: saves a copy of large writes, costs syscalls (default false). */
  readonly spliceRead?: boolean;
  /** With a readdirplus handler: 'auto' lets the kernel choose per listing (default). */
  readonly readdirplus?: keyof typeof ReaddirplusMode;
  /** Forward POSIX locks / flock to the handlers when they exist (default true). */
  readonly posixLocks?: boolean;
  readonly flockLocks?: boolean;
  /**
   * POSIX ACLs (default false): the kernel caches and enforces them, and passes create modes
   * without applying the umask (RequestContext.umask carries it); the handlers keep modes in step
   * with ACLs, apply default ACLs to new inodes, and apply the umask where none does.
   */
  readonly posixAcl?: boolean;
  /**
   * The flush handler has nothing to do for a file handle while nothing was written, allocated,
   * truncated (through setattr) or locked on its inode since the inode's first handle opened here
   * (default false). The binding then answers such a FLUSH itself, without calling the handler:
   * close(2) of a file only created or read costs no trip to JavaScript.
   */
  readonly flushOnlyTouched?: boolean;
  readonly threads?: number;
  readonly maxInflight?: number;
  /** Cache lifetimes used when a reply does not give its own. */
  readonly attrTimeoutMs?: number;
  readonly entryTimeoutMs?: number;
  readonly initTimeoutMs?: number;
  /** Unmount on SIGINT/SIGTERM (default true). */
  readonly handleSignals?: boolean;
  /** Clear a stale mount on the mountpoint first (default true). */
  readonly recoverStaleMount?: boolean;
  /** libfuse's request trace on stderr. */
  readonly debug?: boolean;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Maps a handler's error to an errno before the built-in rules (the daemon's status codes). */
  readonly toErrno?: (error: unknown) => number | undefined;
}

const operationNames: readonly OperationName[] = [
  'lookup',
  'forget',
  'getattr',
  'setattr',
  'readlink',
  'mknod',
  'mkdir',
  'unlink',
  'rmdir',
  'symlink',
  'rename',
  'link',
  'open',
  'read',
  'write',
  'flush',
  'release',
  'fsync',
  'opendir',
  'readdir',
  'readdirplus',
  'releasedir',
  'fsyncdir',
  'statfs',
  'setxattr',
  'getxattr',
  'listxattr',
  'removexattr',
  'access',
  'create',
  'getlk',
  'setlk',
  'flock',
  'fallocate',
  'copyFileRange',
  'lseek',
];

type State = 'mounted' | 'unmounting' | 'ended';

export class FuseSession implements Unmountable {
  private state: State = 'mounted';
  private endedResolve: () => void = () => {};
  /** Resolves once the session ended, however it ended. */
  readonly ended: Promise<void>;
  /** Holds fusermount3's socket past this process's death (auto-unmount-sentinel.ts). */
  sentinel: AutoUnmountSentinel | undefined;

  private constructor(
    readonly mountpoint: string,
    readonly connection: ConnectionInfo,
    private readonly native: NativeSession,
    private readonly binding: NativeBinding,
    private readonly operations: FuseOperations,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {
    this.ended = new Promise((resolve) => {
      this.endedResolve = resolve;
    });
  }

  /** Mounts `operations` on `options.mountpoint`; resolves once the kernel's INIT is done. */
  static async mount(operations: FuseOperations, options: MountOptions): Promise<FuseSession> {
    const binding = loadNativeBinding();
    const logger = options.logger ?? createLogger({ component: 'fuse' });
    const clock = options.clock ?? systemClock;
    const mountpoint = resolvePath(options.mountpoint);
    const autoUnmount = options.autoUnmount ?? true;
    // Users mount through fusermount3; so does root with autoUnmount (fusermount3 watches the session).
    await checkFuseDevice({ viaFusermount: !isRoot() || autoUnmount });
    await prepareMountpoint(mountpoint, {
      recoverStale: options.recoverStaleMount ?? true,
      detach: (path) => detachMount(binding, path),
    });

    // The first listing after the mount would otherwise also run the reply writers' code first.
    warmDirectoryWriters();
    const native = createNativeSession(binding, operations, options, autoUnmount);
    // Filled once mounted; an unmount from outside may be reported before that.
    const mounted: { session?: FuseSession; endedEarly?: boolean } = {};
    const initialized = new Promise<ConnectionInfo>((resolve) => {
      const dispatcher = new RequestDispatcher({
        operations,
        logger,
        attrTimeoutMs: options.attrTimeoutMs ?? fuseDefaults.attrTimeoutMs,
        entryTimeoutMs: options.entryTimeoutMs ?? fuseDefaults.entryTimeoutMs,
        toErrno: options.toErrno,
        capabilityBits: binding.capabilities,
        onInit: (connection) => {
          operations.init?.(connection);
          resolve(connection);
        },
        onEnded: () => {
          if (mounted.session === undefined) mounted.endedEarly = true;
          else mounted.session.onExternalUnmount();
        },
      });
      try {
        native.mount(mountpoint, dispatcher.dispatch);
      } catch (error) {
        native.close();
        throw new FsError(CommonCode.IoError, (error as Error).message, { cause: error });
      }
    });
    const connection = await withTimeout(
      initialized,
      options.initTimeoutMs ?? fuseDefaults.initTimeoutMs,
      clock,
    ).catch((error: unknown) => {
      native.close();
      throw error;
    });
    const session = new FuseSession(mountpoint, connection, native, binding, operations, logger, clock);
    mounted.session = session;
    session.sentinel = startAutoUnmountSentinel(native.autoUnmountSocket(), logger);
    registerSession(session, {
      handleSignals: options.handleSignals ?? true,
      signalDrainTimeoutMs: fuseDefaults.signalDrainTimeoutMs,
    });
    logger.info({ mountpoint, maxWriteBytes: connection.maxWriteBytes }, 'FUSE file system mounted');
    if (mounted.endedEarly === true) {
      session.closeSync();
      throw new FsError(
        CommonCode.IoError,
        `the FUSE session on ${mountpoint} ended while starting (see the log)`,
      );
    }
    return session;
  }

  /** Requests handed to JavaScript and not answered yet. */
  get inflight(): number {
    return this.state === 'ended' ? 0 : this.native.pendingCount();
  }

  /** FLUSH requests the binding answered without the flush handler (flushOnlyTouched). */
  get flushesAnswered(): number {
    return this.native.flushesAnswered;
  }

  /** READDIR requests the binding answered from served listings, without the readdir handler. */
  get readdirsAnswered(): number {
    return this.native.readdirsAnswered;
  }

  /**
   * Lets the binding answer the later plain READDIRs of directory handle `fh` (past "." and "..")
   * from `packed`, copied now, until `dropListing(fh)` or the handle's release. The records must be
   * what the readdir handler would answer for that handle: a handle over a listing that changes
   * drops it first.
   */
  serveListing(fh: bigint, packed: PackedDirents): void {
    if (this.state === 'ended') return;
    this.native.serveListing(fh, packed.bytes, packed.starts, packed.count, packed.firstOffset);
  }

  /** Stops the binding answering READDIRs of `fh` from a served listing. */
  dropListing(fh: bigint): void {
    if (this.state === 'ended') return;
    this.native.dropListing(fh);
  }

  /** True until the session ended. */
  get mounted(): boolean {
    return this.state !== 'ended';
  }

  /**
   * Stops taking requests, waits up to `drainTimeoutMs` for those in flight, answers the rest with
   * EIO, and unmounts. Resolves when the session ended; calling it again just waits for that.
   */
  async unmount(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.state !== 'mounted') return this.ended;
    this.state = 'unmounting';
    this.native.stopWorkers();
    const drainTimeoutMs = options.drainTimeoutMs ?? fuseDefaults.drainTimeoutMs;
    const deadline = this.clock.monotonicMs() + drainTimeoutMs;
    while (this.native.pendingCount() > 0 && this.clock.monotonicMs() < deadline) {
      await this.clock.sleep(fuseDefaults.drainPollMs);
    }
    const abandoned = this.native.pendingCount();
    if (abandoned > 0)
      this.logger.warn({ abandoned }, 'FUSE requests still in flight at unmount answered EIO');
    this.finish();
  }

  /** Unmounts now: requests in flight are answered with EIO. For exit paths that cannot wait. */
  closeSync(): void {
    if (this.state === 'ended') return;
    this.finish();
  }

  /**
   * Drops what the kernel caches for `ino` because it changed elsewhere: its attributes, and the
   * byte range (all data when omitted). Resolves false when the kernel had nothing cached.
   */
  invalidateInode(ino: InodeId, range: { offset: bigint; length: bigint } | 'attributes' | 'all' = 'all') {
    const [offset, length] =
      range === 'attributes' ? [-1n, 0n] : range === 'all' ? [0n, 0n] : [range.offset, range.length];
    return this.native.notifyInvalidateInode(ino, offset, length);
  }

  /**
   * Starts the reads the binding answers without JavaScript (src/fuse/fast-reads.ts); undefined
   * when the session reads /dev/fuse on worker threads, where they do not run.
   */
  enableFastReads(options: Parameters<NativeSession['enableFastReads']>[0]): FastReadsNative | undefined {
    const native = this.native;
    if (this.state !== 'mounted' || !native.enableFastReads(options)) return undefined;
    return {
      connect: (address, fd) => native.fastReadsConnect(address, fd),
      hasConnection: (address) => native.fastReadsHasConnection(address),
      setTarget: (targetId, address) => native.fastReadsSetTarget(targetId, address),
      setChain: (chainId, groups) => native.fastReadsSetChain(chainId, groups),
      setFile: (fh, inode, chunkBytes, length, chains) =>
        native.fastReadsSetFile(fh, inode, chunkBytes, length, chains),
      forgetFile: (fh) => native.fastReadsForgetFile(fh),
      forgetInode: (inode) => native.fastReadsForgetInode(inode),
      stats: () => native.fastReadsStats(),
    };
  }

  /** Drops the kernel's cached name `name` in `parent` (it was removed or renamed elsewhere). */
  invalidateEntry(parent: InodeId, name: string): Promise<boolean> {
    return this.native.notifyInvalidateEntry(parent, name);
  }

  /** Like invalidateEntry, and also tells the kernel that `child` behind the name was deleted. */
  notifyDelete(parent: InodeId, child: InodeId, name: string): Promise<boolean> {
    return this.native.notifyDelete(parent, child, name);
  }

  private onExternalUnmount(): void {
    if (this.state === 'ended') return;
    this.logger.warn({ mountpoint: this.mountpoint }, 'FUSE file system was unmounted from outside');
    this.finish();
    // An aborted connection can leave the mount itself behind; clear it so the path works again.
    void isStaleMount(this.mountpoint).then((stale) =>
      stale ? detachMount(this.binding, this.mountpoint) : undefined,
    );
  }

  private finish(): void {
    this.state = 'ended';
    this.sentinel?.release();
    try {
      this.native.close();
    } finally {
      unregisterSession(this);
      try {
        this.operations.destroy?.();
      } catch (error) {
        this.logger.error({ err: error }, 'FUSE destroy handler threw');
      }
      this.logger.info({ mountpoint: this.mountpoint }, 'FUSE file system unmounted');
      this.endedResolve();
    }
  }
}

function createNativeSession(
  binding: NativeBinding,
  operations: FuseOperations,
  options: MountOptions,
  autoUnmount: boolean,
): NativeSession {
  const nativeOptions: NativeSessionOptions = {
    operations: operationNames.filter((name) => typeof operations[name] === 'function'),
    fsName: options.fsName ?? 'fuse-ts',
    ...(options.subtype !== undefined ? { subtype: options.subtype } : {}),
    allowOther: options.allowOther ?? false,
    defaultPermissions: options.defaultPermissions ?? true,
    readOnly: options.readOnly ?? false,
    autoUnmount,
    debug: options.debug ?? false,
    maxReadBytes: options.maxReadBytes ?? fuseDefaults.maxReadBytes,
    maxWriteBytes: options.maxWriteBytes ?? fuseDefaults.maxWriteBytes,
    maxReadaheadBytes: options.maxReadaheadBytes ?? fuseDefaults.maxReadaheadBytes,
    maxBackground: options.maxBackground ?? fuseDefaults.maxBackground,
    ...(options.congestionThreshold !== undefined
      ? { congestionThreshold: options.congestionThreshold }
      : {}),
    writebackCache: options.writebackCache ?? false,
    asyncRead: options.asyncRead ?? true,
    parallelDirops: options.parallelDirops ?? true,
    atomicOTrunc: options.atomicOTrunc ?? true,
    cacheSymlinks: options.cacheSymlinks ?? false,
    spliceRead: options.spliceRead ?? false,
    readdirplus: ReaddirplusMode[options.readdirplus ?? 'auto'],
    posixLocks: options.posixLocks ?? true,
    flockLocks: options.flockLocks ?? true,
    posixAcl: options.posixAcl ?? false,
    flushOnlyTouched: options.flushOnlyTouched ?? false,
    threads: options.threads ?? fuseDefaults.threads,
    maxInflight: options.maxInflight ?? fuseDefaults.maxInflight,
  };
  try {
    return new binding.FuseSession(nativeOptions);
  } catch (error) {
    throw new FsError(CommonCode.InvalidArgument, (error as Error).message, { cause: error });
  }
}

/** Detaches a mount: directly as root, through fusermount3 as a user. */
async function detachMount(binding: NativeBinding, mountpoint: string): Promise<void> {
  if (isRoot()) {
    const errno = binding.detachMount(mountpoint);
    if (errno !== 0) throw new FsError(CommonCode.IoError, `detaching ${mountpoint} failed (errno ${errno})`);
    return;
  }
  await fusermountDetach(mountpoint, fuseDefaults.fusermountTimeoutMs);
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, clock: Clock): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimer(timeoutMs, () =>
      reject(
        new FsError(CommonCode.IoError, `the kernel did not start the FUSE session within ${timeoutMs} ms`),
      ),
    );
    promise.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error: unknown) => {
        timer.cancel();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
