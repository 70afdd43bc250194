/**
 * NFSv3 (RFC 1813): a table of procedures, each a decoder of its arguments, a handler on the
 * shared namespace operations (export-fs.ts), and the shape of its failure reply. Arguments are
 * decoded whole before anything runs, so a malformed call changes nothing (GARBAGE_ARGS).
 *
 * Weak cache consistency: operations that change a directory report its attributes before and
 * after (two stats around the change), so a client can tell its own change from another's; WRITE
 * reports the file's attributes after it (with this gateway's view of its length). READ reports
 * none (clients fetch attributes when they need them), which keeps a read at one client-library
 * call.
 */
import { describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Inode, InodeId } from '../../client/index.js';
import {
  AccessBits,
  Stability,
  accessOf,
  type AttributeChanges,
  type Caller,
  type CreateHow,
  type ListedEntry,
} from '../export-fs.js';
import {
  exportHandle,
  fsidOf,
  resolveHandle,
  type GatewayContext,
  type ResolvedHandle,
} from '../gateway-context.js';
import { NfsStatus, nfsError, nfsStatusOf } from '../nfs-status.js';
import { AuthStatus, type Credential, type RpcCall } from '../rpc-message.js';
import type { Peer, ProgramReply, RpcProgram } from '../rpc-server.js';
import type { XdrReader, XdrWriter } from '../xdr.js';
import {
  FileType3,
  Nfs3Procedure,
  cookieVerifierBytes,
  createVerifierBytes,
  ioBytes,
  nfs3Version,
  nfsProgram,
  pathBytesMax,
  readHandle3,
  readName3,
  readSattr3,
  readTime3,
  writeFattr3,
  writePostOpAttr,
  writePostOpFh,
  writeTime3,
  writeWcc,
} from './nfs3-types.js';

/** What a handler has to work with. */
interface Request {
  readonly peer: Peer;
  readonly credential: Credential;
}

type Encode = (writer: XdrWriter) => void;

/** One procedure: decode, run (returning the OK body's encoder), and its failure body's shape. */
interface Procedure<A> {
  readonly name: string;
  decode(reader: XdrReader): A;
  run(request: Request, args: A): Promise<Encode>;
  /** Empty attributes of the failure body, in order: post_op_attr or wcc_data. */
  readonly failure: ReadonlyArray<'post' | 'wcc'>;
}

const inodesFreeShown = 2 ** 31;
const fsinfoProperties = 0x1 | 0x2 | 0x8 | 0x10;
const readdirPreferredBytes = 64 * 1024;
/** Bytes of a READDIR reply besides its entries: status, attributes, verifier, list end, eof. */
const readdirFixedBytes = 4 + 4 + 84 + 8 + 4 + 4;
/** Bytes of a READDIRPLUS entry besides its name: list marker, fileid, cookie, attributes, handle. */
const readdirplusEntryFixedBytes = 4 + 8 + 4 + 8 + 4 + 84 + 4 + 4 + 64;

/** Adds a procedure to the table. */
type Add = (procedure: number, definition: Procedure<unknown>) => void;

function define<A>(procedure: Procedure<A>): Procedure<unknown> {
  return procedure as Procedure<unknown>;
}

/** The NFSv3 program; see the file comment. */
export class Nfs3Program implements RpcProgram {
  readonly program = nfsProgram;
  readonly versionLow = nfs3Version;
  readonly versionHigh = nfs3Version;
  private readonly procedures: ReadonlyMap<number, Procedure<unknown>>;

  constructor(private readonly context: GatewayContext) {
    this.procedures = this.table();
  }

  async call(call: RpcCall, peer: Peer, writer: XdrWriter): Promise<ProgramReply> {
    if (call.procedure === Nfs3Procedure.Null) return { kind: 'success' };
    const procedure = this.procedures.get(call.procedure);
    if (procedure === undefined) return { kind: 'procedure-unavailable' };
    if (call.credential.flavor === 'other') return { kind: 'auth-error', status: AuthStatus.TooWeak };
    const args = procedure.decode(call.args);
    const startedMs = performance.now();
    const request: Request = { peer, credential: call.credential };
    let status: number = NfsStatus.Ok;
    let body: Encode;
    try {
      body = await procedure.run(request, args);
    } catch (error) {
      status = this.statusOf(error, procedure.name);
      body = (out) => {
        for (const shape of procedure.failure) {
          if (shape === 'post') out.bool(false);
          else out.bool(false).bool(false);
        }
      };
    }
    writer.u32(status);
    body(writer);
    this.context.metrics.operation('3', procedure.name, status, (performance.now() - startedMs) / 1000);
    return { kind: 'success' };
  }

  private statusOf(error: unknown, operation: string): number {
    const status = nfsStatusOf(error);
    if (status !== undefined) {
      this.context.logger.debug({ operation, status, err: error }, 'nfs3 operation failed');
      return status;
    }
    this.context.logger.error(
      { operation, err: error },
      `nfs3 ${operation} failed with a bug: ${describeError(error)}`,
    );
    return NfsStatus.ServerFault;
  }

  private resolve(request: Request, handle: Buffer): ResolvedHandle {
    return resolveHandle(this.context, handle, request.peer, request.credential);
  }

  private fsid(caller: Caller): bigint {
    return fsidOf(this.context.clusterId, caller.entry.tag);
  }

  /** Attributes of `ino`, or undefined when they cannot be had (for wcc data). */
  private async attributesOrNone(caller: Caller, ino: InodeId): Promise<Inode | undefined> {
    try {
      return await this.context.fs.getattr(caller, ino);
    } catch {
      return undefined;
    }
  }

  /** Runs a change of directory `dir` between two stats of it (wcc data). */
  private async changingDirectory<T>(
    caller: Caller,
    dir: InodeId,
    change: () => Promise<T>,
  ): Promise<{ result: T; before: Inode | undefined; after: Inode | undefined }> {
    const before = await this.context.fs.getattr(caller, dir);
    const result = await change();
    const after = await this.attributesOrNone(caller, dir);
    return { result, before, after };
  }

  /** The OK body of CREATE, MKDIR, SYMLINK and MKNOD. */
  private created(caller: Caller, inode: Inode, before?: Inode, after?: Inode): Encode {
    const handle = exportHandle(this.context, caller.entry, inode.ino);
    const fsid = this.fsid(caller);
    return (writer) => {
      writePostOpFh(writer, handle);
      writePostOpAttr(writer, inode, fsid);
      writeWcc(writer, before, after, fsid);
    };
  }

  private table(): Map<number, Procedure<unknown>> {
    const table = new Map<number, Procedure<unknown>>();
    const add: Add = (procedure, definition) => {
      table.set(procedure, definition);
    };
    this.lookupProcedures(add);
    this.dataProcedures(add);
    this.nameProcedures(add);
    this.fileSystemProcedures(add);
    return table;
  }

  /** GETATTR, SETATTR, LOOKUP, ACCESS, READLINK: reading names and attributes. */
  private lookupProcedures(add: Add): void {
    const { fs } = this.context;
    add(
      Nfs3Procedure.Getattr,
      define({
        name: 'getattr',
        failure: [],
        decode: (reader) => readHandle3(reader),
        run: async (request, handle) => {
          const { caller, ino } = this.resolve(request, handle);
          const inode = await fs.getattr(caller, ino);
          return (writer) => writeFattr3(writer, inode, this.fsid(caller));
        },
      }),
    );

    add(
      Nfs3Procedure.Setattr,
      define({
        name: 'setattr',
        failure: ['wcc'],
        decode: (reader) => ({
          handle: readHandle3(reader),
          changes: readSattr3(reader),
          guard: reader.optional(readTime3, 'guard'),
        }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.handle);
          const before = await fs.getattr(caller, ino);
          if (args.guard !== undefined && before.ctimeNs !== args.guard) {
            throw nfsError(NfsStatus.NotSync, `inode ${ino} changed since the guard's ctime`);
          }
          const after = await fs.setattr(caller, ino, args.changes);
          return (writer) => writeWcc(writer, before, after, this.fsid(caller));
        },
      }),
    );

    add(
      Nfs3Procedure.Lookup,
      define({
        name: 'lookup',
        failure: ['post'],
        decode: (reader) => ({ dir: readHandle3(reader), name: readName3(reader) }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.dir);
          const inode = await fs.lookup(caller, ino, args.name);
          const handle = exportHandle(this.context, caller.entry, inode.ino);
          return (writer) => {
            writer.opaque(handle);
            writePostOpAttr(writer, inode, this.fsid(caller));
            writer.bool(false);
          };
        },
      }),
    );

    add(
      Nfs3Procedure.Access,
      define({
        name: 'access',
        failure: ['post'],
        decode: (reader) => ({ handle: readHandle3(reader), access: reader.u32('access') }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.handle);
          const inode = await fs.getattr(caller, ino);
          let granted = accessOf(inode, caller.cred, args.access);
          if (caller.entry.readOnly) granted &= ~(AccessBits.Modify | AccessBits.Extend | AccessBits.Delete);
          return (writer) => {
            writePostOpAttr(writer, inode, this.fsid(caller));
            writer.u32(granted);
          };
        },
      }),
    );

    add(
      Nfs3Procedure.Readlink,
      define({
        name: 'readlink',
        failure: ['post'],
        decode: (reader) => readHandle3(reader),
        run: async (request, handle) => {
          const { caller, ino } = this.resolve(request, handle);
          const inode = await fs.getattr(caller, ino);
          if (inode.type !== 'symlink')
            throw nfsError(NfsStatus.Inval, `inode ${ino} is not a symbolic link`);
          return (writer) => {
            writePostOpAttr(writer, inode, this.fsid(caller));
            writer.string(inode.target);
          };
        },
      }),
    );

    add(
      Nfs3Procedure.Read,
      define({
        name: 'read',
        failure: ['post'],
        decode: (reader) => ({
          handle: readHandle3(reader),
          offset: reader.u64('offset'),
          count: reader.u32('count'),
        }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.handle);
          const { data, eof } = await fs.read(caller, ino, args.offset, ioBytes(args.count));
          this.context.metrics.read(data.length);
          return (writer) => {
            writer.bool(false);
            writer.u32(data.length);
            writer.bool(eof);
            writer.opaqueByReference(data);
          };
        },
      }),
    );
  }

  /** READ, WRITE, COMMIT: file data. */
  private dataProcedures(add: Add): void {
    const { fs } = this.context;
    add(
      Nfs3Procedure.Write,
      define({
        name: 'write',
        failure: ['wcc'],
        decode: (reader) => {
          const handle = readHandle3(reader);
          const offset = reader.u64('offset');
          const count = reader.u32('count');
          const stable = reader.enumOf(
            [Stability.Unstable, Stability.DataSync, Stability.FileSync],
            'stable',
          );
          const data = reader.opaque(limits.nfsIoBytesMax, 'data');
          return { handle, offset, stable, data: data.subarray(0, Math.min(count, data.length)) };
        },
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.handle);
          const written = await fs.write(caller, ino, args.offset, args.data, args.stable);
          this.context.metrics.written(written.count);
          // The attributes after the write (its length included), so the client keeps its cache.
          const after = await this.attributesOrNone(caller, ino);
          const verifier = this.context.verifier.bytes;
          return (writer) => {
            writeWcc(writer, undefined, after, this.fsid(caller));
            writer.u32(written.count);
            writer.u32(written.committed);
            writer.fixedOpaque(verifier);
          };
        },
      }),
    );

    add(
      Nfs3Procedure.Commit,
      define({
        name: 'commit',
        failure: ['wcc'],
        decode: (reader) => ({
          handle: readHandle3(reader),
          offset: reader.u64('offset'),
          count: reader.u32('count'),
        }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.handle);
          await fs.commit(caller, ino);
          const after = await this.attributesOrNone(caller, ino);
          const verifier = this.context.verifier.bytes;
          return (writer) => {
            writeWcc(writer, undefined, after, this.fsid(caller));
            writer.fixedOpaque(verifier);
          };
        },
      }),
    );
  }

  /** CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK: changes of directories. */
  private nameProcedures(add: Add): void {
    const { fs } = this.context;
    add(
      Nfs3Procedure.Create,
      define({
        name: 'create',
        failure: ['wcc'],
        decode: (reader) => {
          const dir = readHandle3(reader);
          const name = readName3(reader);
          const mode = reader.enumOf([0, 1, 2], 'create mode');
          const how: CreateHow =
            mode === 2
              ? {
                  kind: 'exclusive',
                  verifier: Buffer.from(reader.fixedOpaque(createVerifierBytes, 'verifier')),
                }
              : { kind: mode === 0 ? 'unchecked' : 'guarded', attributes: readSattr3(reader) };
          return { dir, name, how };
        },
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.dir);
          const { result, before, after } = await this.changingDirectory(caller, ino, () =>
            fs.create(caller, ino, args.name, args.how),
          );
          return this.created(caller, result, before, after);
        },
      }),
    );

    add(
      Nfs3Procedure.Mkdir,
      define({
        name: 'mkdir',
        failure: ['wcc'],
        decode: (reader) => ({
          dir: readHandle3(reader),
          name: readName3(reader),
          attributes: readSattr3(reader),
        }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.dir);
          const { result, before, after } = await this.changingDirectory(caller, ino, () =>
            fs.mkdir(caller, ino, args.name, args.attributes),
          );
          return this.created(caller, result, before, after);
        },
      }),
    );

    add(
      Nfs3Procedure.Symlink,
      define({
        name: 'symlink',
        failure: ['wcc'],
        decode: (reader) => ({
          dir: readHandle3(reader),
          name: readName3(reader),
          attributes: readSattr3(reader),
          target: reader.string(pathBytesMax, 'symlink target'),
        }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.dir);
          const { result, before, after } = await this.changingDirectory(caller, ino, () =>
            fs.symlink(caller, ino, args.name, args.target, args.attributes),
          );
          return this.created(caller, result, before, after);
        },
      }),
    );

    add(
      Nfs3Procedure.Mknod,
      define({
        name: 'mknod',
        failure: ['wcc'],
        decode: (reader) => {
          const dir = readHandle3(reader);
          const name = readName3(reader);
          const type = reader.u32('file type');
          if (type === FileType3.Chr || type === FileType3.Blk) {
            const attributes = readSattr3(reader);
            const device = { major: reader.u32('major'), minor: reader.u32('minor') };
            return { dir, name, type, attributes, device };
          }
          if (type === FileType3.Sock || type === FileType3.Fifo) {
            return { dir, name, type, attributes: readSattr3(reader), device: undefined };
          }
          return { dir, name, type, attributes: {} as AttributeChanges, device: undefined };
        },
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.dir);
          const special = specialOf(args.type, args.device);
          const { result, before, after } = await this.changingDirectory(caller, ino, () =>
            fs.mknod(caller, ino, args.name, special, args.attributes),
          );
          return this.created(caller, result, before, after);
        },
      }),
    );

    const removal = (name: 'remove' | 'rmdir'): Procedure<unknown> =>
      define({
        name,
        failure: ['wcc'],
        decode: (reader) => ({ dir: readHandle3(reader), name: readName3(reader) }),
        run: async (request, args) => {
          const { caller, ino } = this.resolve(request, args.dir);
          const { before, after } = await this.changingDirectory(caller, ino, () =>
            name === 'remove' ? fs.remove(caller, ino, args.name, false) : fs.rmdir(caller, ino, args.name),
          );
          return (writer) => writeWcc(writer, before, after, this.fsid(caller));
        },
      });
    add(Nfs3Procedure.Remove, removal('remove'));
    add(Nfs3Procedure.Rmdir, removal('rmdir'));

    add(
      Nfs3Procedure.Rename,
      define({
        name: 'rename',
        failure: ['wcc', 'wcc'],
        decode: (reader) => ({
          fromDir: readHandle3(reader),
          fromName: readName3(reader),
          toDir: readHandle3(reader),
          toName: readName3(reader),
        }),
        run: async (request, args) => {
          const from = this.resolve(request, args.fromDir);
          const to = this.resolve(request, args.toDir);
          if (from.caller.entry.tag !== to.caller.entry.tag) {
            throw nfsError(NfsStatus.XDev, 'a rename across exports');
          }
          const caller = from.caller;
          const fromBefore = await fs.getattr(caller, from.ino);
          const toBefore = from.ino === to.ino ? fromBefore : await fs.getattr(caller, to.ino);
          await fs.rename(caller, { dir: from.ino, name: args.fromName }, { dir: to.ino, name: args.toName });
          const fromAfter = await this.attributesOrNone(caller, from.ino);
          const toAfter = from.ino === to.ino ? fromAfter : await this.attributesOrNone(caller, to.ino);
          const fsid = this.fsid(caller);
          return (writer) => {
            writeWcc(writer, fromBefore, fromAfter, fsid);
            writeWcc(writer, toBefore, toAfter, fsid);
          };
        },
      }),
    );

    add(
      Nfs3Procedure.Link,
      define({
        name: 'link',
        failure: ['post', 'wcc'],
        decode: (reader) => ({
          file: readHandle3(reader),
          dir: readHandle3(reader),
          name: readName3(reader),
        }),
        run: async (request, args) => {
          const file = this.resolve(request, args.file);
          const dir = this.resolve(request, args.dir);
          if (file.caller.entry.tag !== dir.caller.entry.tag)
            throw nfsError(NfsStatus.XDev, 'a link across exports');
          const caller = dir.caller;
          const { result, before, after } = await this.changingDirectory(caller, dir.ino, () =>
            fs.link(caller, file.ino, dir.ino, args.name),
          );
          const fsid = this.fsid(caller);
          return (writer) => {
            writePostOpAttr(writer, result, fsid);
            writeWcc(writer, before, after, fsid);
          };
        },
      }),
    );
  }

  /** READDIR, READDIRPLUS, FSSTAT, FSINFO, PATHCONF: listings and the file system. */
  private fileSystemProcedures(add: Add): void {
    const { fs } = this.context;
    add(
      Nfs3Procedure.Readdir,
      define({
        name: 'readdir',
        failure: ['post'],
        decode: (reader) => ({
          dir: readHandle3(reader),
          cookie: reader.u64('cookie'),
          verifier: reader.fixedOpaque(cookieVerifierBytes, 'cookie verifier'),
          count: reader.u32('count'),
        }),
        run: async (request, args) => this.readdir(request, { ...args, maxBytes: args.count, plus: false }),
      }),
    );

    add(
      Nfs3Procedure.Readdirplus,
      define({
        name: 'readdirplus',
        failure: ['post'],
        decode: (reader) => ({
          dir: readHandle3(reader),
          cookie: reader.u64('cookie'),
          verifier: reader.fixedOpaque(cookieVerifierBytes, 'cookie verifier'),
          dirCount: reader.u32('dircount'),
          maxCount: reader.u32('maxcount'),
        }),
        run: async (request, args) => this.readdir(request, { ...args, maxBytes: args.maxCount, plus: true }),
      }),
    );

    add(
      Nfs3Procedure.Fsstat,
      define({
        name: 'fsstat',
        failure: ['post'],
        decode: (reader) => readHandle3(reader),
        run: async (request, handle) => {
          const { caller, ino } = this.resolve(request, handle);
          const inode = await fs.getattr(caller, ino);
          const stats = await fs.statfs(caller.cred);
          const files = BigInt(inodesFreeShown + (stats.inodesInUse ?? 0));
          return (writer) => {
            writePostOpAttr(writer, inode, this.fsid(caller));
            writer.u64(BigInt(stats.capacityBytes)).u64(BigInt(stats.freeBytes)).u64(BigInt(stats.freeBytes));
            writer.u64(files).u64(BigInt(inodesFreeShown)).u64(BigInt(inodesFreeShown));
            writer.u32(0);
          };
        },
      }),
    );

    add(
      Nfs3Procedure.Fsinfo,
      define({
        name: 'fsinfo',
        failure: ['post'],
        decode: (reader) => readHandle3(reader),
        run: async (request, handle) => {
          const { caller, ino } = this.resolve(request, handle);
          const inode = await fs.getattr(caller, ino);
          return (writer) => {
            writePostOpAttr(writer, inode, this.fsid(caller));
            const io = limits.nfsIoBytesMax;
            writer.u32(io).u32(io).u32(4096);
            writer.u32(io).u32(io).u32(4096);
            writer.u32(readdirPreferredBytes);
            writer.u64((1n << 63n) - 1n);
            writeTime3(writer, 1n);
            writer.u32(fsinfoProperties);
          };
        },
      }),
    );

    add(
      Nfs3Procedure.Pathconf,
      define({
        name: 'pathconf',
        failure: ['post'],
        decode: (reader) => readHandle3(reader),
        run: async (request, handle) => {
          const { caller, ino } = this.resolve(request, handle);
          const inode = await fs.getattr(caller, ino);
          return (writer) => {
            writePostOpAttr(writer, inode, this.fsid(caller));
            writer.u32(limits.metaLinksMax).u32(limits.metaNameBytesMax);
            writer.bool(true).bool(true).bool(false).bool(true);
          };
        },
      }),
    );
  }

  /** READDIR and READDIRPLUS: "." and ".." first, then the directory's entries, within `maxBytes`. */
  private async readdir(
    request: Request,
    args: { dir: Buffer; cookie: bigint; maxBytes: number; plus: boolean },
  ): Promise<Encode> {
    const { fs } = this.context;
    const { caller, ino } = this.resolve(request, args.dir);
    const directory = await fs.getattr(caller, ino);
    if (directory.type !== 'directory') throw nfsError(NfsStatus.NotDir, `inode ${ino} is not a directory`);
    const entryBytesMin = args.plus ? readdirplusEntryFixedBytes + 8 : 24 + 8;
    const budget = Math.min(args.maxBytes, limits.nfsReplyBytesMax) - readdirFixedBytes;
    if (budget < entryBytesMin)
      throw nfsError(NfsStatus.TooSmall, `a reply of ${args.maxBytes} bytes holds no entry`);
    const entriesMax = Math.min(limits.nfsReaddirEntriesMax, Math.floor(budget / entryBytesMin) + 1);
    const dots: ListedEntry[] = [];
    if (args.cookie < 1n) dots.push({ name: '.', ino, type: 'directory', cookie: 1n });
    if (args.cookie < 2n) {
      const parent = await fs.parentOf(caller, ino);
      dots.push({ name: '..', ino: parent.ino, type: 'directory', cookie: 2n });
    }
    const listed = await fs.readdir(caller, ino, { cookie: args.cookie, firstCookie: 3n, entriesMax });
    const entries = [...dots, ...listed.entries];
    const attributes = args.plus
      ? await fs.getattrs(
          caller,
          entries.map((entry) => entry.ino),
        )
      : [];
    const fsid = this.fsid(caller);
    return (writer) => {
      writePostOpAttr(writer, directory, fsid);
      writer.fixedOpaque(Buffer.alloc(cookieVerifierBytes));
      let left = budget;
      let all = true;
      for (const [index, entry] of entries.entries()) {
        const name = Buffer.from(entry.name, 'utf8');
        const size = (args.plus ? readdirplusEntryFixedBytes : 24) + name.length + 3;
        if (size > left) {
          all = false;
          break;
        }
        left -= size;
        writer.bool(true);
        writer.u64(entry.ino);
        writer.opaque(name);
        writer.u64(entry.cookie);
        if (args.plus) {
          const inode = attributes[index] ?? undefined;
          writePostOpAttr(writer, inode, fsid);
          writePostOpFh(
            writer,
            inode === undefined ? undefined : exportHandle(this.context, caller.entry, entry.ino),
          );
        }
      }
      writer.bool(false);
      writer.bool(all && listed.eof);
    };
  }
}

/** The special file MKNOD makes for an ftype3, or BADTYPE. */
function specialOf(
  type: number,
  device: { major: number; minor: number } | undefined,
):
  | { type: 'fifo' | 'socket' }
  | { type: 'charDevice' | 'blockDevice'; device: { major: number; minor: number } } {
  if (type === FileType3.Fifo) return { type: 'fifo' };
  if (type === FileType3.Sock) return { type: 'socket' };
  if ((type === FileType3.Chr || type === FileType3.Blk) && device !== undefined) {
    return { type: type === FileType3.Chr ? 'charDevice' : 'blockDevice', device };
  }
  throw nfsError(NfsStatus.BadType, `MKNOD cannot make file type ${type}`);
}
