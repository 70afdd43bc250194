/**
 * The MOUNT protocol, version 3 (RFC 1813 appendix I): how an NFSv3 client gets the handle of the
 * directory it mounts. MNT takes an export's path or any directory below it (as Linux's server
 * does), checks that the export allows the client's address, and walks down with the caller's
 * squashed credentials, so a directory the caller may not search cannot be mounted either. The
 * gateway keeps no list of mounts (it is stateless): DUMP lists none, UMNT and UMNTALL do nothing.
 */
import { describeError } from '../common/errors.js';
import type { Inode } from '../client/index.js';
import { callerOf, exportHandle, type GatewayContext } from './gateway-context.js';
import { pathComponents } from './exports.js';
import { NfsStatus, nfsError, nfsStatusOf } from './nfs-status.js';
import { AuthFlavor, type RpcCall } from './rpc-message.js';
import type { Peer, ProgramReply, RpcProgram } from './rpc-server.js';
import type { XdrReader, XdrWriter } from './xdr.js';

export const mountProgram = 100005;
export const mountVersion = 3;
/** MNTPATHLEN. */
const dirPathBytesMax = 1024;

export const MountProcedure = { Null: 0, Mnt: 1, Dump: 2, Umnt: 3, Umntall: 4, Export: 5 } as const;

/** mountstat3: the NFS codes a MOUNT reply may use. */
const mountStatuses: ReadonlySet<number> = new Set([
  NfsStatus.Ok,
  NfsStatus.Perm,
  NfsStatus.NoEnt,
  NfsStatus.Io,
  NfsStatus.Access,
  NfsStatus.NotDir,
  NfsStatus.Inval,
  NfsStatus.NameTooLong,
  NfsStatus.NotSupp,
  NfsStatus.ServerFault,
]);

const procedureNames = ['null', 'mnt', 'dump', 'umnt', 'umntall', 'export'];

/** The MOUNT program; see the file comment. */
export class MountProgram implements RpcProgram {
  readonly program = mountProgram;
  readonly versionLow = mountVersion;
  readonly versionHigh = mountVersion;

  constructor(private readonly context: GatewayContext) {}

  async call(call: RpcCall, peer: Peer, writer: XdrWriter): Promise<ProgramReply> {
    const name = procedureNames[call.procedure];
    if (name === undefined) return { kind: 'procedure-unavailable' };
    const startedMs = performance.now();
    let status: number = NfsStatus.Ok;
    try {
      switch (call.procedure) {
        case MountProcedure.Mnt:
          status = await this.mnt(call.args, call, peer, writer);
          break;
        case MountProcedure.Export:
          this.exportList(writer);
          break;
        case MountProcedure.Dump:
          // No mounts are recorded: an empty list.
          writer.bool(false);
          break;
        case MountProcedure.Umnt:
          call.args.string(dirPathBytesMax, 'directory path');
          break;
        default:
          break;
      }
    } finally {
      this.context.metrics.operation('mount', name, status, (performance.now() - startedMs) / 1000);
    }
    return { kind: 'success' };
  }

  private async mnt(args: XdrReader, call: RpcCall, peer: Peer, writer: XdrWriter): Promise<number> {
    const path = args.string(dirPathBytesMax, 'directory path');
    let status: number = NfsStatus.Ok;
    let handle: Buffer | undefined;
    try {
      handle = await this.mountHandle(path, call, peer);
    } catch (error) {
      const mapped = nfsStatusOf(error);
      if (mapped === undefined) {
        this.context.logger.error({ err: error, path }, `MNT failed with a bug: ${describeError(error)}`);
      }
      status = mapped !== undefined && mountStatuses.has(mapped) ? mapped : NfsStatus.ServerFault;
      this.context.logger.info({ client: peer.address, path, status }, 'mount refused');
    }
    writer.u32(status);
    if (handle !== undefined) {
      writer.opaque(handle);
      writer.u32(1).u32(AuthFlavor.Sys);
    }
    return status;
  }

  private async mountHandle(path: string, call: RpcCall, peer: Peer): Promise<Buffer> {
    const components = pathComponents(path).filter((part) => part !== '.');
    if (components.includes('..')) throw nfsError(NfsStatus.Inval, 'a mount path with ".."');
    const { exports, fs } = this.context;
    const found = exports.resolveMount(components, peer.address);
    if (found === undefined) {
      const anyExport = exports.exports.some((entry) =>
        entry.components.every((part, index) => components[index] === part),
      );
      throw nfsError(
        anyExport ? NfsStatus.Access : NfsStatus.NoEnt,
        `no export of ${path} for ${peer.address}`,
      );
    }
    const caller = callerOf(found.entry, call.credential);
    let inode: Inode = await fs.resolveRoot(found.entry);
    for (const part of found.rest) inode = await fs.lookup(caller, inode.ino, Buffer.from(part, 'utf8'));
    if (inode.type !== 'directory') throw nfsError(NfsStatus.NotDir, `${path} is not a directory`);
    this.context.logger.info({ client: peer.address, path, export: found.entry.path }, 'mounted');
    return exportHandle(this.context, found.entry, inode.ino);
  }

  /** exports: each export's path and the client networks it allows. */
  private exportList(writer: XdrWriter): void {
    for (const entry of this.context.exports.exports) {
      writer.bool(true);
      writer.string(entry.path);
      for (const client of entry.clients) {
        writer.bool(true);
        writer.string(client);
      }
      writer.bool(false);
    }
    writer.bool(false);
  }
}
