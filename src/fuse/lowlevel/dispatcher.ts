/**
 * Turns the addon's raw requests into FuseOperations calls and their results into replies.
 * Invariants:
 *  - Every request is answered exactly once: with the handler's result, with the errno its error
 *    carries, or with EIO (logged) when the handler throws something else or returns a reply the
 *    addon refuses. The dispatcher itself never throws into the addon.
 *  - A reply the kernel did not take (its caller was interrupted) is undone: an entry's lookup
 *    reference is forgotten and an opened file handle released, as the file system would expect.
 */
import type { Logger } from '../../common/logger.js';
import { describeError } from '../../common/errors.js';
import { Errno, errnoOf, fuseError } from './errno.js';
import { fuseDefaults } from './defaults.js';
import { DirectoryWriter } from './directory-writer.js';
import type { NativeDispatch, NativeRequest } from './native-binding.js';
import { FlockOperation, OpenFlag, Opcode, SetattrField } from './opcodes.js';
import type {
  ConnectionInfo,
  DirectoryPlusSink,
  DirectorySink,
  Entry,
  FuseOperations,
  LockType,
  OpenReply,
  RequestContext,
  SetattrRequest,
} from './types.js';

export interface DispatcherOptions {
  readonly operations: FuseOperations;
  readonly logger: Logger;
  readonly attrTimeoutMs: number;
  readonly entryTimeoutMs: number;
  /** Maps an error to an errno first (the daemon's status-code table); undefined falls through. */
  readonly toErrno: ((error: unknown) => number | undefined) | undefined;
  /** FUSE_CAP_* bits by name, to report capabilities by name. */
  readonly capabilityBits: Readonly<Record<string, number>>;
  readonly onInit: (connection: ConnectionInfo) => void;
  readonly onEnded: () => void;
}

const opNames = new Map<number, string>(Object.entries(Opcode).map(([name, value]) => [value, name]));

/** The caller of one request. */
class Context implements RequestContext {
  constructor(
    private readonly handle: NativeRequest,
    readonly uid: number,
    readonly gid: number,
    readonly pid: number,
    readonly umask: number,
  ) {}

  groups(): readonly number[] | undefined {
    // The groups are read from the caller's /proc entry, which is only right while it waits.
    return this.handle.answered() ? undefined : this.handle.groups();
  }
}

/** Open-reply options as the addon's flag bits. */
function openFlags(reply: OpenReply): number {
  return (
    (reply.directIo === true ? OpenFlag.directIo : 0) |
    (reply.keepCache === true ? OpenFlag.keepCache : 0) |
    (reply.nonSeekable === true ? OpenFlag.nonSeekable : 0) |
    (reply.cacheDirectory === true ? OpenFlag.cacheDirectory : 0) |
    (reply.noFlush === true ? OpenFlag.noFlush : 0)
  );
}

function namesOf(bits: number, table: Readonly<Record<string, number>>): string[] {
  return Object.entries(table)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => name);
}

function setattrRequest(ino: bigint, args: readonly unknown[]): SetattrRequest {
  const [toSet, mode, uid, gid, size, atimeNs, mtimeNs, ctimeNs, fh] = args as [
    number,
    number,
    number,
    number,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint | undefined,
  ];
  const has = (field: number): boolean => (toSet & field) !== 0;
  return {
    ino,
    fh,
    ...(has(SetattrField.mode) ? { mode } : {}),
    ...(has(SetattrField.uid) ? { uid } : {}),
    ...(has(SetattrField.gid) ? { gid } : {}),
    ...(has(SetattrField.size) ? { size } : {}),
    ...(has(SetattrField.atimeNow)
      ? { atimeNs: 'now' as const }
      : has(SetattrField.atime)
        ? { atimeNs }
        : {}),
    ...(has(SetattrField.mtimeNow)
      ? { mtimeNs: 'now' as const }
      : has(SetattrField.mtime)
        ? { mtimeNs }
        : {}),
    ...(has(SetattrField.ctime) ? { ctimeNs } : {}),
  };
}

/**
 * The size of a directory reply's buffer: what the kernel asked for, which it bounds by its
 * largest request (fuseDefaults.maxReadBytes); a larger number would be a bug, not a reason to
 * allocate more.
 */
function replySizeBytes(requested: number): number {
  return Math.min(requested, fuseDefaults.maxReadBytes);
}

/** Names of an xattr list as the kernel wants them: each followed by a NUL byte. */
function encodeXattrNames(names: readonly string[]): Buffer {
  return Buffer.concat(names.map((name) => Buffer.from(`${name}\0`, 'utf8')));
}

/** EIO answers logged one by one, then one in every failuresLoggedEvery. */
const failuresLoggedEach = 20;
const failuresLoggedEvery = 1_000;

export class RequestDispatcher {
  /** Abort controllers of blocking lock waits, by request id, for the kernel's interrupts. */
  private readonly waits = new Map<number, AbortController>();
  /** Requests answered EIO for an error that carried it (a failure behind the file system). */
  private failuresAnsweredEio = 0;

  constructor(private readonly options: DispatcherOptions) {}

  /** The function the addon calls for every request and event. */
  readonly dispatch: NativeDispatch = (handle, op, ...args) => {
    try {
      if (handle === null) {
        this.event(op, args);
      } else if (op === Opcode.forget || op === Opcode.forgetMulti) {
        this.forget(handle, op, args);
      } else {
        const [ino, uid, gid, pid, umask, ...rest] = args as [bigint, number, number, number, number];
        const context = new Context(handle, uid, gid, pid, umask);
        this.run(handle, op, context, ino, rest).catch((error: unknown) => this.fail(handle, op, error));
      }
    } catch (error) {
      // Only a bug in this file gets here; the request must still be answered.
      if (handle !== null) this.fail(handle, op, error);
      else this.options.logger.error({ op, err: error }, 'FUSE event handling failed');
    }
  };

  private event(op: number, args: readonly unknown[]): void {
    if (op === Opcode.init) {
      const [major, minor, capable, want, maxWrite, maxRead, maxReadahead, maxBackground, congestion, gran] =
        args as number[];
      const bits = this.options.capabilityBits;
      this.options.onInit({
        protocolMajor: major ?? 0,
        protocolMinor: minor ?? 0,
        capable: namesOf(capable ?? 0, bits),
        enabled: namesOf(want ?? 0, bits),
        maxWriteBytes: maxWrite ?? 0,
        maxReadBytes: maxRead ?? 0,
        maxReadaheadBytes: maxReadahead ?? 0,
        maxBackground: maxBackground ?? 0,
        congestionThreshold: congestion ?? 0,
        timeGranularityNs: gran ?? 0,
      });
    } else if (op === Opcode.interrupt) {
      this.waits.get(args[0] as number)?.abort(fuseError(Errno.EINTR, 'interrupted by the kernel'));
    } else if (op === Opcode.ended) {
      this.options.onEnded();
    }
  }

  private forget(handle: NativeRequest, op: number, args: readonly unknown[]): void {
    const forget = this.options.operations.forget;
    try {
      if (forget !== undefined && op === Opcode.forget) {
        forget.call(this.options.operations, { ino: args[0] as bigint, count: args[5] as bigint });
      } else if (forget !== undefined) {
        const pairs = args[5] as BigUint64Array;
        for (let i = 0; i + 1 < pairs.length; i += 2) {
          forget.call(this.options.operations, { ino: pairs[i] as bigint, count: pairs[i + 1] as bigint });
        }
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'FUSE forget handler threw');
    } finally {
      handle.replyNone();
    }
  }

  /** Answers `handle` with the errno `error` carries, or EIO (logged) when it carries none. */
  private fail(handle: NativeRequest, op: number, error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_FUSE_SESSION_CLOSED' || handle.answered()) {
      this.options.logger.debug({ op: opNames.get(op), err: error }, 'FUSE request ended with its session');
      return;
    }
    let errno =
      this.options.toErrno?.(error) ?? (code === 'ERR_FUSE_INVALID_REPLY' ? undefined : errnoOf(error));
    if (errno === undefined) {
      errno = Errno.EIO;
      this.options.logger.error(
        { op: opNames.get(op), requestId: handle.id, err: error },
        `FUSE ${opNames.get(op) ?? op} handler failed, answered EIO: ${describeError(error)}`,
      );
    } else if (errno === Errno.EIO) {
      // A program sees only "Input/output error": the cause goes to the log, the first ones each
      // and then one in every failuresLoggedEvery, so a long outage cannot flood it.
      this.failuresAnsweredEio += 1;
      const count = this.failuresAnsweredEio;
      if (count <= failuresLoggedEach || count % failuresLoggedEvery === 0) {
        this.options.logger.warn(
          { op: opNames.get(op), requestId: handle.id, err: error, eioAnswers: count },
          `FUSE ${opNames.get(op) ?? op} answered EIO (${count} so far): ${describeError(error)}`,
        );
      }
    }
    try {
      handle.replyErr(errno);
    } catch (replyError) {
      this.options.logger.debug({ err: replyError }, 'FUSE error reply not sent');
    }
  }

  private replyEntry(handle: NativeRequest, entry: Entry): void {
    const delivered = handle.replyEntry(
      entry.ino,
      entry.generation ?? 0n,
      entry.attributes,
      entry.attrTimeoutMs ?? this.options.attrTimeoutMs,
      entry.entryTimeoutMs ?? this.options.entryTimeoutMs,
    );
    if (!delivered) this.forgetUndelivered(entry.ino);
  }

  /** The kernel did not take an entry: give back the lookup reference the file system counted. */
  private forgetUndelivered(ino: bigint): void {
    try {
      this.options.operations.forget?.({ ino, count: 1n });
    } catch (error) {
      this.options.logger.error({ err: error }, 'FUSE forget handler threw');
    }
  }

  /** The kernel did not take an open reply: release the handle, it will never be closed. */
  private async releaseUndelivered(context: RequestContext, ino: bigint, fh: bigint, directory: boolean) {
    const ops = this.options.operations;
    try {
      if (directory) await ops.releasedir?.(context, { ino, fh, flags: 0 });
      else await ops.release?.(context, { ino, fh, flags: 0, lockOwner: 0n, flockRelease: false });
    } catch (error) {
      this.options.logger.error({ err: error }, 'FUSE release of an undelivered open failed');
    }
  }

  private abortSignal(handle: NativeRequest): AbortController {
    const controller = new AbortController();
    this.waits.set(handle.id, controller);
    // The interrupt may have come before this request reached JavaScript.
    if (handle.interrupted()) controller.abort(fuseError(Errno.EINTR, 'interrupted by the kernel'));
    return controller;
  }

  private async run(
    handle: NativeRequest,
    op: number,
    context: RequestContext,
    ino: bigint,
    args: readonly unknown[],
  ): Promise<void> {
    const ops = this.options.operations;
    const missing = (): never => {
      throw fuseError(Errno.ENOSYS, `no handler for ${opNames.get(op) ?? op}`);
    };
    switch (op) {
      case Opcode.lookup: {
        if (!ops.lookup) return missing();
        const reply = await ops.lookup(context, { parent: ino, name: args[0] as string });
        if ('negative' in reply) handle.replyEntry(0n, 0n, undefined, 0, reply.entryTimeoutMs);
        else this.replyEntry(handle, reply);
        return;
      }
      case Opcode.getattr: {
        if (!ops.getattr) return missing();
        const reply = await ops.getattr(context, { ino, fh: args[0] as bigint | undefined });
        handle.replyAttr(reply.attributes, reply.attrTimeoutMs ?? this.options.attrTimeoutMs);
        return;
      }
      case Opcode.setattr: {
        if (!ops.setattr) return missing();
        const reply = await ops.setattr(context, setattrRequest(ino, args));
        handle.replyAttr(reply.attributes, reply.attrTimeoutMs ?? this.options.attrTimeoutMs);
        return;
      }
      case Opcode.readlink: {
        if (!ops.readlink) return missing();
        handle.replyReadlink(await ops.readlink(context, { ino }));
        return;
      }
      case Opcode.mknod: {
        if (!ops.mknod) return missing();
        const [name, mode, rdev] = args as [string, number, number];
        this.replyEntry(handle, await ops.mknod(context, { parent: ino, name, mode, rdev }));
        return;
      }
      case Opcode.mkdir: {
        if (!ops.mkdir) return missing();
        const [name, mode] = args as [string, number];
        this.replyEntry(handle, await ops.mkdir(context, { parent: ino, name, mode }));
        return;
      }
      case Opcode.symlink: {
        if (!ops.symlink) return missing();
        const [name, target] = args as [string, string];
        this.replyEntry(handle, await ops.symlink(context, { parent: ino, name, target }));
        return;
      }
      case Opcode.link: {
        if (!ops.link) return missing();
        const [newParent, newName] = args as [bigint, string];
        this.replyEntry(handle, await ops.link(context, { ino, newParent, newName }));
        return;
      }
      case Opcode.create: {
        if (!ops.create) return missing();
        const [name, mode, flags] = args as [string, number, number];
        const reply = await ops.create(context, { parent: ino, name, mode, flags });
        const fh = BigInt(reply.open.fh ?? 0n);
        const delivered = handle.replyCreate(
          reply.ino,
          reply.generation ?? 0n,
          reply.attributes,
          reply.attrTimeoutMs ?? this.options.attrTimeoutMs,
          reply.entryTimeoutMs ?? this.options.entryTimeoutMs,
          fh,
          openFlags(reply.open),
        );
        if (!delivered) {
          this.forgetUndelivered(reply.ino);
          await this.releaseUndelivered(context, reply.ino, fh, false);
        }
        return;
      }
      case Opcode.open:
      case Opcode.opendir: {
        const directory = op === Opcode.opendir;
        const open = directory ? ops.opendir : ops.open;
        if (!open) return missing();
        const reply = await open.call(ops, context, { ino, flags: args[0] as number });
        const fh = BigInt(reply.fh ?? 0n);
        if (!handle.replyOpen(fh, openFlags(reply)))
          await this.releaseUndelivered(context, ino, fh, directory);
        return;
      }
      default:
        await this.runData(handle, op, context, ino, args);
    }
  }

  /** Operations on open files and directories, xattrs, locks. */
  private async runData(
    handle: NativeRequest,
    op: number,
    context: RequestContext,
    ino: bigint,
    args: readonly unknown[],
  ): Promise<void> {
    const ops = this.options.operations;
    const missing = (): never => {
      throw fuseError(Errno.ENOSYS, `no handler for ${opNames.get(op) ?? op}`);
    };
    const fh = args[0] as bigint;
    switch (op) {
      case Opcode.read: {
        if (!ops.read) return missing();
        const [, offset, size, flags, lockOwner] = args as [bigint, bigint, number, number, bigint];
        const data = await ops.read(context, { ino, fh, offset, size, flags, lockOwner });
        try {
          handle.replyBuffer(data);
        } finally {
          ops.readReplied?.(data);
        }
        return;
      }
      case Opcode.write: {
        if (!ops.write) return missing();
        const [, offset, data, writepage, flags, lockOwner] = args as [
          bigint,
          bigint,
          Buffer,
          boolean,
          number,
          bigint,
        ];
        handle.replyWrite(await ops.write(context, { ino, fh, offset, data, writepage, flags, lockOwner }));
        return;
      }
      case Opcode.readdir: {
        if (!ops.readdir) return missing();
        const [, offset, size] = args as [bigint, bigint, number];
        const writer = new DirectoryWriter(replySizeBytes(size), false);
        const sink: DirectorySink = {
          add: (entry) => writer.add(entry.name, entry.ino, entry.mode, entry.nextOffset),
          addPacked: (packed, from) => writer.addPacked(packed, from),
        };
        await ops.readdir(context, { ino, fh, offset }, sink);
        handle.replyDirectory(writer.bytes());
        return;
      }
      case Opcode.readdirplus:
        return this.readdirplus(handle, context, ino, args);
      case Opcode.getxattr: {
        if (!ops.getxattr) return missing();
        const [name, size] = args as [string, number];
        return this.replyXattr(handle, size, await ops.getxattr(context, { ino, name }));
      }
      case Opcode.listxattr: {
        if (!ops.listxattr) return missing();
        return this.replyXattr(
          handle,
          args[0] as number,
          encodeXattrNames(await ops.listxattr(context, { ino })),
        );
      }
      case Opcode.statfs: {
        if (!ops.statfs) return missing();
        handle.replyStatfs(await ops.statfs(context, { ino }));
        return;
      }
      case Opcode.getlk: {
        if (!ops.getlk) return missing();
        const [, owner, type, start, length, pid] = args as [
          bigint,
          bigint,
          LockType,
          bigint,
          bigint,
          number,
        ];
        const lock = await ops.getlk(context, { ino, fh, owner, lock: { type, start, length, pid } });
        handle.replyLock(lock.type, lock.start, lock.length, lock.pid);
        return;
      }
      case Opcode.copyFileRange: {
        if (!ops.copyFileRange) return missing();
        const [, offset, targetIno, targetFh, targetOffset, length, flags] = args as [
          bigint,
          bigint,
          bigint,
          bigint,
          bigint,
          bigint,
          number,
        ];
        const copied = await ops.copyFileRange(context, {
          source: { ino, fh, offset },
          target: { ino: targetIno, fh: targetFh, offset: targetOffset },
          length,
          flags,
        });
        handle.replyWrite(copied);
        return;
      }
      case Opcode.lseek: {
        if (!ops.lseek) return missing();
        const [, offset, whence] = args as [bigint, bigint, number];
        handle.replyLseek(await ops.lseek(context, { ino, fh, offset, whence }));
        return;
      }
      default:
        await this.runStatus(handle, op, context, ino, args);
        handle.replyOk();
    }
  }

  /** Operations answered with success or an errno only. */
  private async runStatus(
    handle: NativeRequest,
    op: number,
    context: RequestContext,
    ino: bigint,
    args: readonly unknown[],
  ): Promise<void> {
    const ops = this.options.operations;
    const missing = (): never => {
      throw fuseError(Errno.ENOSYS, `no handler for ${opNames.get(op) ?? op}`);
    };
    const fh = args[0] as bigint;
    switch (op) {
      case Opcode.unlink:
        return ops.unlink ? ops.unlink(context, { parent: ino, name: args[0] as string }) : missing();
      case Opcode.rmdir:
        return ops.rmdir ? ops.rmdir(context, { parent: ino, name: args[0] as string }) : missing();
      case Opcode.rename: {
        const [name, newParent, newName, flags] = args as [string, bigint, string, number];
        return ops.rename ? ops.rename(context, { parent: ino, name, newParent, newName, flags }) : missing();
      }
      case Opcode.flush:
        return ops.flush ? ops.flush(context, { ino, fh, lockOwner: args[1] as bigint }) : missing();
      case Opcode.release: {
        const [, flags, lockOwner, flockRelease] = args as [bigint, number, bigint, boolean];
        return ops.release ? ops.release(context, { ino, fh, flags, lockOwner, flockRelease }) : missing();
      }
      case Opcode.releasedir:
        return ops.releasedir ? ops.releasedir(context, { ino, fh, flags: args[1] as number }) : missing();
      case Opcode.fsync:
        return ops.fsync ? ops.fsync(context, { ino, fh, datasync: args[1] as boolean }) : missing();
      case Opcode.fsyncdir:
        return ops.fsyncdir ? ops.fsyncdir(context, { ino, fh, datasync: args[1] as boolean }) : missing();
      case Opcode.setxattr: {
        const [name, value, flags] = args as [string, Buffer, number];
        return ops.setxattr ? ops.setxattr(context, { ino, name, value, flags }) : missing();
      }
      case Opcode.removexattr:
        return ops.removexattr ? ops.removexattr(context, { ino, name: args[0] as string }) : missing();
      case Opcode.access:
        return ops.access ? ops.access(context, { ino, mask: args[0] as number }) : missing();
      case Opcode.setlk:
        return this.setlk(handle, context, ino, args);
      case Opcode.flock:
        return this.flock(handle, context, ino, args);
      case Opcode.fallocate: {
        const [, mode, offset, length] = args as [bigint, number, bigint, bigint];
        return ops.fallocate ? ops.fallocate(context, { ino, fh, mode, offset, length }) : missing();
      }
      default:
        throw fuseError(Errno.ENOSYS, `unknown opcode ${op}`);
    }
  }

  private async readdirplus(
    handle: NativeRequest,
    context: RequestContext,
    ino: bigint,
    args: readonly unknown[],
  ): Promise<void> {
    const readdirplus = this.options.operations.readdirplus;
    if (!readdirplus) throw fuseError(Errno.ENOSYS, 'no handler for readdirplus');
    const [fh, offset, size] = args as [bigint, bigint, number];
    const writer = new DirectoryWriter(replySizeBytes(size), true);
    // Entries with attributes in the reply: each is a lookup reference once the kernel takes it.
    const referenced: bigint[] = [];
    const { attrTimeoutMs, entryTimeoutMs } = this.options;
    const sink: DirectoryPlusSink = {
      add: (item) => {
        const entry = item.entry;
        if (entry === undefined) return writer.add(item.name, item.ino, item.mode, item.nextOffset);
        const added = writer.addEntry(item.name, item.ino, item.mode, item.nextOffset, {
          generation: entry.generation ?? 0n,
          attributes: entry.attributes,
          attrTimeoutMs: entry.attrTimeoutMs ?? attrTimeoutMs,
          entryTimeoutMs: entry.entryTimeoutMs ?? entryTimeoutMs,
        });
        if (added) referenced.push(item.ino);
        return added;
      },
    };
    let delivered = false;
    try {
      await readdirplus.call(this.options.operations, context, { ino, fh, offset }, sink);
      delivered = handle.replyDirectory(writer.bytes());
    } finally {
      // Not delivered (the caller was interrupted, the handler failed, the reply was refused):
      // the kernel took none of these references.
      if (!delivered) for (const child of referenced) this.forgetUndelivered(child);
    }
  }

  private replyXattr(handle: NativeRequest, size: number, value: Uint8Array): void {
    if (size === 0) handle.replyXattrSize(value.byteLength);
    else if (value.byteLength > size) handle.replyErr(Errno.ERANGE);
    else handle.replyBuffer(value);
  }

  private async setlk(handle: NativeRequest, context: RequestContext, ino: bigint, args: readonly unknown[]) {
    const setlk = this.options.operations.setlk;
    if (!setlk) throw fuseError(Errno.ENOSYS, 'no handler for setlk');
    const [fh, owner, type, start, length, pid, wait] = args as [
      bigint,
      bigint,
      LockType,
      bigint,
      bigint,
      number,
      boolean,
    ];
    const controller = wait ? this.abortSignal(handle) : undefined;
    try {
      await setlk.call(this.options.operations, context, {
        ino,
        fh,
        owner,
        lock: { type, start, length, pid },
        wait,
        signal: controller?.signal,
      });
    } finally {
      this.waits.delete(handle.id);
    }
  }

  private async flock(handle: NativeRequest, context: RequestContext, ino: bigint, args: readonly unknown[]) {
    const flock = this.options.operations.flock;
    if (!flock) throw fuseError(Errno.ENOSYS, 'no handler for flock');
    const [fh, owner, bits] = args as [bigint, bigint, number];
    const operation =
      (bits & FlockOperation.unlock) !== 0
        ? 'unlock'
        : (bits & FlockOperation.exclusive) !== 0
          ? 'exclusive'
          : 'shared';
    const wait = operation !== 'unlock' && (bits & FlockOperation.nonBlocking) === 0;
    const controller = wait ? this.abortSignal(handle) : undefined;
    try {
      await flock.call(this.options.operations, context, {
        ino,
        fh,
        owner,
        operation,
        wait,
        signal: controller?.signal,
      });
    } finally {
      this.waits.delete(handle.id);
    }
  }
}
