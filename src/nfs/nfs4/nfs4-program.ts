/**
 * NFSv4.0 (RFC 7530): COMPOUND, its operations run in order on a current and a saved file handle,
 * stopping at the first that fails. Each operation decodes its arguments as it comes (an argument
 * that does not decode answers BADXDR), runs on the shared namespace operations (export-fs.ts),
 * and encodes its result.
 *
 * State: none is kept. Client ids and stateids are derived and authenticated (nfs4-state.ts), so
 * RENEW, OPEN_CONFIRM and CLOSE succeed on any gateway of the cluster and after a restart, and no
 * client ever has to reclaim; meta checks access for each READ and WRITE's caller, so opens carry
 * no share reservations and no delegations are given. Byte-range locks (LOCK, LOCKT, LOCKU) are
 * not offered over NFS: they answer NOTSUPP.
 *
 * The namespace is reached through the pseudo file system (pseudo-fs.ts) from PUTROOTFH.
 */
import { describeError, hasCode } from '../../common/errors.js';
import { NfsCode } from '../../common/status-code.js';
import { limits } from '../../common/limits.js';
import type { Inode, InodeId } from '../../client/index.js';
import { AccessBits, Stability, accessOf, nameOf, type Caller, type CreateHow } from '../export-fs.js';
import type { Export } from '../exports.js';
import { callerOf, exportHandle, fsidOf, type GatewayContext } from '../gateway-context.js';
import { HandleKind } from '../handles.js';
import { NfsStatus, nfsError, nfsStatusOf } from '../nfs-status.js';
import { gatewayCredentials } from '../open-files.js';
import { AuthFlavor, AuthStatus, type Credential, type RpcCall } from '../rpc-message.js';
import type { Peer, ProgramReply, RpcProgram } from '../rpc-server.js';
import type { XdrReader } from '../xdr.js';
import { XdrWriter } from '../xdr.js';
import { nfsProgram } from '../nfs3/nfs3-types.js';
import {
  attributeBytes,
  needsStats,
  readSettable,
  writeAttributes,
  type AttributeSource,
  type FsStats,
} from './nfs4-attributes.js';
import { Nfs4State } from './nfs4-state.js';
import {
  Attr,
  FileType4,
  Op,
  componentBytesMax,
  fhSize4Max,
  linkTextBytesMax,
  nfs4Version,
  ownerBytesMax,
  readBitmap,
  readStateId,
  tagBytesMax,
  writeBitmap,
  writeChangeInfo,
  writeStateId,
  type StateId,
} from './nfs4-types.js';
import { PseudoFs } from './pseudo-fs.js';

type Encode = (writer: XdrWriter) => void;
/** One operation: decodes its arguments from the COMPOUND, runs, and returns its result's encoder. */
type OpHandler = (args: XdrReader, compound: Compound) => Promise<Encode | undefined>;

/** A file handle in a COMPOUND: an object of an export, or a pseudo directory. */
type Fh =
  | { readonly kind: 'export'; readonly entry: Export; readonly ino: InodeId; readonly handle: Buffer }
  | {
      readonly kind: 'pseudo';
      readonly components: readonly string[];
      readonly ino: InodeId;
      readonly handle: Buffer;
    };

interface Compound {
  current: Fh | undefined;
  saved: Fh | undefined;
  readonly peer: Peer;
  readonly credential: Credential;
}

const opNames = new Map<number, string>(
  Object.entries(Op).map(([name, value]) => [
    value,
    name.replace(/[A-Z]/g, (letter, index: number) =>
      index === 0 ? letter.toLowerCase() : `_${letter.toLowerCase()}`,
    ),
  ]),
);
const openShareRead = 1;
const openShareWrite = 2;
/** OPEN4_RESULT_LOCKTYPE_POSIX: the client need not confirm opens (no OPEN4_RESULT_CONFIRM). */
const openResultFlags = 4;
const readdirVerifier = Buffer.alloc(8);
/** Bytes of an entry besides its name and attributes: list marker, cookie, name length. */
const readdirEntryFixedBytes = 4 + 8 + 4;

/** The NFSv4 program; see the file comment. */
export class Nfs4Program implements RpcProgram {
  readonly program = nfsProgram;
  readonly versionLow = nfs4Version;
  readonly versionHigh = nfs4Version;
  private readonly state: Nfs4State;
  private readonly pseudo: PseudoFs;
  private readonly handlers: ReadonlyMap<number, OpHandler>;

  constructor(
    private readonly context: GatewayContext,
    clusterSecret: string,
    startSeconds: number,
  ) {
    this.state = new Nfs4State(clusterSecret, startSeconds);
    this.pseudo = new PseudoFs(context.exports, context.fs);
    this.handlers = this.table();
  }

  async call(call: RpcCall, peer: Peer, writer: XdrWriter): Promise<ProgramReply> {
    if (call.procedure === 0) return { kind: 'success' };
    if (call.procedure !== 1) return { kind: 'procedure-unavailable' };
    if (call.credential.flavor === 'other') return { kind: 'auth-error', status: AuthStatus.TooWeak };
    const args = call.args;
    const tag = args.opaque(tagBytesMax, 'tag');
    const minorVersion = args.u32('minor version');
    const count = args.u32('operation count');
    const statusSlot = writer.placeholder();
    writer.opaque(tag);
    const countSlot = writer.placeholder();
    if (minorVersion !== 0) {
      statusSlot.set(NfsStatus.MinorVersMismatch);
      return { kind: 'success' };
    }
    if (count > limits.nfs4CompoundOperationsMax) {
      statusSlot.set(NfsStatus.Resource);
      return { kind: 'success' };
    }
    const compound: Compound = { current: undefined, saved: undefined, peer, credential: call.credential };
    let status: number = NfsStatus.Ok;
    let done = 0;
    for (let index = 0; index < count && status === NfsStatus.Ok; index++) {
      status = await this.operation(args, compound, writer);
      done += 1;
    }
    statusSlot.set(status);
    countSlot.set(done);
    return { kind: 'success' };
  }

  /** Decodes, runs and encodes one operation; returns its status. */
  private async operation(args: XdrReader, compound: Compound, writer: XdrWriter): Promise<number> {
    const startedMs = performance.now();
    let op: number;
    try {
      op = args.u32('operation');
    } catch {
      writer.u32(Op.Illegal).u32(NfsStatus.BadXdr);
      return NfsStatus.BadXdr;
    }
    const name = opNames.get(op);
    if (name === undefined || name === 'illegal') {
      writer.u32(Op.Illegal).u32(NfsStatus.OpIllegal);
      this.context.metrics.operation('4', 'illegal', NfsStatus.OpIllegal, 0);
      return NfsStatus.OpIllegal;
    }
    let status: number = NfsStatus.Ok;
    let body: Encode | undefined;
    try {
      body = await this.run(op, args, compound);
    } catch (error) {
      status = this.statusOf(error, name);
    }
    writer.u32(op).u32(status);
    if (status === NfsStatus.Ok) body?.(writer);
    // SETATTR answers the attributes it set even when it failed: none.
    else if (op === Op.Setattr) writeBitmap(writer, []);
    this.context.metrics.operation('4', name, status, (performance.now() - startedMs) / 1000);
    return status;
  }

  private statusOf(error: unknown, operation: string): number {
    // A malformed argument of an operation is NFSv4's BADXDR.
    if (hasCode(error, NfsCode.MalformedXdr)) return NfsStatus.BadXdr;
    const status = nfsStatusOf(error);
    if (status === undefined) {
      this.context.logger.error(
        { operation, err: error },
        `nfs4 ${operation} failed with a bug: ${describeError(error)}`,
      );
      return NfsStatus.ServerFault;
    }
    this.context.logger.debug({ operation, status, err: error }, 'nfs4 operation failed');
    return status;
  }

  // --- file handles -------------------------------------------------------------------------

  private requireCurrent(compound: Compound): Fh {
    if (compound.current === undefined) throw nfsError(NfsStatus.NoFileHandle, 'no current file handle');
    return compound.current;
  }

  /** The current handle as an export object with its caller; a pseudo directory is read-only. */
  private exportObject(
    compound: Compound,
    pseudoStatus: number = NfsStatus.RoFs,
  ): { fh: Fh & { kind: 'export' }; caller: Caller } {
    const fh = this.requireCurrent(compound);
    if (fh.kind === 'pseudo')
      throw nfsError(pseudoStatus as NfsStatus, 'the pseudo file system is read-only');
    return { fh, caller: callerOf(fh.entry, compound.credential) };
  }

  private exportFh(entry: Export, ino: InodeId): Fh {
    return { kind: 'export', entry, ino, handle: exportHandle(this.context, entry, ino) };
  }

  private async pseudoFh(components: readonly string[]): Promise<Fh> {
    const inode = await this.pseudo.directory(components);
    const handle = this.context.handles.encode({ kind: HandleKind.Pseudo, exportTag: 0, ino: inode.ino });
    return { kind: 'pseudo', components, ino: inode.ino, handle };
  }

  /** The handle PUTROOTFH sets: the export of "/" when allowed, else the pseudo root. */
  private async rootFh(peer: Peer): Promise<Fh> {
    const entry = this.pseudo.rootExport(peer.address);
    if (entry !== undefined) return this.exportFh(entry, (await this.context.fs.resolveRoot(entry)).ino);
    return this.pseudoFh([]);
  }

  private async putfh(bytes: Buffer, peer: Peer): Promise<Fh> {
    const handle = this.context.handles.decode(bytes);
    if (handle === 'malformed' || handle === 'forged')
      throw nfsError(NfsStatus.BadHandle, `a ${handle} file handle`);
    if (handle.kind === HandleKind.Pseudo) {
      const components = await this.pseudo.pathOf(handle.ino, peer.address);
      if (components === undefined)
        throw nfsError(NfsStatus.Stale, 'a pseudo directory that leads nowhere now');
      return { kind: 'pseudo', components, ino: handle.ino, handle: bytes };
    }
    const entry = this.context.exports.withTag(handle.exportTag);
    if (entry === undefined) throw nfsError(NfsStatus.Stale, 'a handle of an export no longer served');
    if (!this.context.exports.allows(entry, peer.address)) {
      throw nfsError(NfsStatus.Access, `export ${entry.path} does not allow ${peer.address}`);
    }
    return { kind: 'export', entry, ino: handle.ino, handle: bytes };
  }

  /** The attributes of the object `fh` names (STALE when gone). */
  private async inodeOf(fh: Fh, compound: Compound): Promise<Inode> {
    if (fh.kind === 'pseudo') return this.context.fs.statAsGateway(fh.ino);
    return this.context.fs.getattr(callerOf(fh.entry, compound.credential), fh.ino);
  }

  private async source(
    fh: Fh,
    inode: Inode,
    requested: readonly number[],
    compound: Compound,
  ): Promise<AttributeSource> {
    const stats = needsStats(requested) ? await this.stats(fh, compound) : undefined;
    return this.sourceWith(fh, inode, stats);
  }

  private sourceWith(fh: Fh, inode: Inode, stats: FsStats | undefined): AttributeSource {
    const fsid = fsidOf(this.context.clusterId, fh.kind === 'export' ? fh.entry.tag : 0);
    return {
      inode,
      handle: fh.handle,
      fsid: { major: fsid >> 32n, minor: fsid & 0xffff_ffffn },
      mountedOnFileid: inode.ino,
      leaseSeconds: limits.nfs4LeaseSeconds,
      ...(stats === undefined ? {} : { stats }),
    };
  }

  private async stats(fh: Fh, compound: Compound): Promise<FsStats> {
    const cred = fh.kind === 'export' ? callerOf(fh.entry, compound.credential).cred : gatewayCredentials;
    return this.context.fs.statfs(cred);
  }

  /** The change attribute of directory `ino`, or undefined (change_info). */
  private async changeOf(caller: Caller, ino: InodeId): Promise<bigint | undefined> {
    try {
      return (await this.context.fs.getattr(caller, ino)).ctimeNs;
    } catch {
      return undefined;
    }
  }

  /** Runs a change of directory `dir` between two reads of its change attribute. */
  private async changing<T>(
    caller: Caller,
    dir: InodeId,
    change: () => Promise<T>,
  ): Promise<{ result: T; info: Encode }> {
    const before = (await this.context.fs.getattr(caller, dir)).ctimeNs;
    const result = await change();
    const after = await this.changeOf(caller, dir);
    return { result, info: (writer) => writeChangeInfo(writer, before, after) };
  }

  // --- operations ---------------------------------------------------------------------------

  /** Runs one operation through its handler (OPENATTR and DELEGPURGE have none: NOTSUPP). */
  private async run(op: number, args: XdrReader, compound: Compound): Promise<Encode | undefined> {
    const handler = this.handlers.get(op);
    if (handler === undefined) throw nfsError(NfsStatus.NotSupp, `operation ${op} is not supported`);
    return handler(args, compound);
  }

  /** Operation → handler: each decodes its arguments, runs, and returns its result's encoder. */
  private table(): Map<number, OpHandler> {
    const entries: Array<[readonly number[], OpHandler]> = [
      ...this.fileHandleOperations(),
      ...this.readingOperations(),
      ...this.changingOperations(),
      ...this.stateOperations(),
    ];
    return new Map(entries.flatMap(([ops, handler]) => ops.map((op): [number, OpHandler] => [op, handler])));
  }

  /** PUTROOTFH, PUTPUBFH, PUTFH, GETFH, SAVEFH, RESTOREFH, LOOKUP, LOOKUPP, SECINFO. */
  private fileHandleOperations(): Array<[readonly number[], OpHandler]> {
    return [
      [
        [Op.Putrootfh, Op.Putpubfh],
        async (_args, compound) => {
          compound.current = await this.rootFh(compound.peer);
          return undefined;
        },
      ],
      [
        [Op.Putfh],
        async (args, compound) => {
          const bytes = Buffer.from(args.opaque(fhSize4Max, 'file handle'));
          compound.current = await this.putfh(bytes, compound.peer);
          return undefined;
        },
      ],
      [
        [Op.Getfh],
        async (_args, compound) => {
          const fh = this.requireCurrent(compound);
          return (writer) => writer.opaque(fh.handle);
        },
      ],
      [
        [Op.Savefh],
        async (_args, compound) => {
          compound.saved = this.requireCurrent(compound);
          return undefined;
        },
      ],
      [
        [Op.Restorefh],
        async (_args, compound) => {
          if (compound.saved === undefined) throw nfsError(NfsStatus.RestoreFh, 'no saved file handle');
          compound.current = compound.saved;
          return undefined;
        },
      ],
      [
        [Op.Lookup],
        async (args, compound) => {
          await this.lookup(args.opaque(componentBytesMax, 'name'), compound);
          return undefined;
        },
      ],
      [
        [Op.Lookupp],
        async (_args, compound) => {
          await this.lookupParent(compound);
          return undefined;
        },
      ],
      [
        [Op.Secinfo],
        async (args, compound) => {
          args.opaque(componentBytesMax, 'name');
          this.requireCurrent(compound);
          // SECINFO consumes the current file handle.
          compound.current = undefined;
          return (writer) => writer.u32(1).u32(AuthFlavor.Sys);
        },
      ],
    ];
  }

  /** GETATTR, VERIFY, NVERIFY, ACCESS, READLINK, READ, READDIR. */
  private readingOperations(): Array<[readonly number[], OpHandler]> {
    return [
      [
        [Op.Getattr],
        async (args, compound) => {
          const requested = readBitmap(args);
          const fh = this.requireCurrent(compound);
          const inode = await this.inodeOf(fh, compound);
          const source = await this.source(fh, inode, requested, compound);
          return (writer) => writeAttributes(writer, requested, source);
        },
      ],
      [[Op.Verify], (args, compound) => this.verify(Op.Verify, args, compound)],
      [[Op.Nverify], (args, compound) => this.verify(Op.Nverify, args, compound)],
      [[Op.Access], (args, compound) => this.access(args.u32('access'), compound)],
      [
        [Op.Readlink],
        async (_args, compound) => {
          const { fh, caller } = this.exportObject(compound, NfsStatus.Inval);
          const target = await this.context.fs.readlink(caller, fh.ino);
          return (writer) => writer.string(target);
        },
      ],
      [
        [Op.Read],
        (args, compound) => this.read(readStateId(args), args.u64('offset'), args.u32('count'), compound),
      ],
      [[Op.Readdir], (args, compound) => this.readdir(args, compound)],
    ];
  }

  /** WRITE, COMMIT, CREATE, OPEN, SETATTR, REMOVE, RENAME, LINK. */
  private changingOperations(): Array<[readonly number[], OpHandler]> {
    const { fs } = this.context;
    return [
      [
        [Op.Write],
        (args, compound) => {
          const stateId = readStateId(args);
          const offset = args.u64('offset');
          const stable = args.enumOf([Stability.Unstable, Stability.DataSync, Stability.FileSync], 'stable');
          const data = args.opaque(limits.nfsIoBytesMax, 'data');
          return this.write(stateId, offset, stable, data, compound);
        },
      ],
      [
        [Op.Commit],
        async (args, compound) => {
          args.u64('offset');
          args.u32('count');
          const { fh, caller } = this.exportObject(compound);
          await fs.commit(caller, fh.ino);
          const verifier = this.context.verifier.bytes;
          return (writer) => writer.fixedOpaque(verifier);
        },
      ],
      [[Op.Create], (args, compound) => this.create(args, compound)],
      [[Op.Open], (args, compound) => this.open(args, compound)],
      [[Op.Setattr], (args, compound) => this.setattr(args, compound)],
      [
        [Op.Remove],
        async (args, compound) => {
          const name = args.opaque(componentBytesMax, 'name');
          const { fh, caller } = this.exportObject(compound);
          const { info } = await this.changing(caller, fh.ino, () => fs.remove(caller, fh.ino, name, true));
          return info;
        },
      ],
      [
        [Op.Rename],
        (args, compound) =>
          this.rename(
            args.opaque(componentBytesMax, 'old name'),
            args.opaque(componentBytesMax, 'new name'),
            compound,
          ),
      ],
      [[Op.Link], (args, compound) => this.link(args.opaque(componentBytesMax, 'name'), compound)],
    ];
  }

  /** Client ids and stateids: SETCLIENTID(_CONFIRM), RENEW, OPEN_CONFIRM, OPEN_DOWNGRADE, CLOSE, ... */
  private stateOperations(): Array<[readonly number[], OpHandler]> {
    return [
      [[Op.Setclientid], async (args) => this.setclientid(args)],
      [
        [Op.SetclientidConfirm],
        async (args) => {
          const clientId = args.u64('client id');
          const verifier = Buffer.from(args.fixedOpaque(8, 'confirm verifier'));
          if (!this.state.knowsClient(clientId) || !verifier.equals(this.state.confirmVerifier(clientId))) {
            throw nfsError(
              NfsStatus.StaleClientId,
              'a client id or confirmation of no gateway of this cluster',
            );
          }
          return undefined;
        },
      ],
      [
        [Op.Renew],
        async (args) => {
          if (!this.state.knowsClient(args.u64('client id'))) {
            throw nfsError(NfsStatus.StaleClientId, 'an unknown client id');
          }
          return undefined;
        },
      ],
      [
        [Op.OpenConfirm],
        async (args) => {
          const stateId = readStateId(args);
          args.u32('seqid');
          return this.nextStateId(stateId);
        },
      ],
      [
        [Op.OpenDowngrade],
        async (args) => {
          const stateId = readStateId(args);
          args.u32('seqid');
          args.u32('share access');
          args.u32('share deny');
          return this.nextStateId(stateId);
        },
      ],
      [
        [Op.Close],
        async (args, compound) => {
          args.u32('seqid');
          const stateId = readStateId(args);
          const { fh } = this.exportObject(compound, NfsStatus.Inval);
          // What was written through this open is on its way and in meta's length when CLOSE returns.
          await this.context.fs.flush(fh.ino);
          return this.nextStateId(stateId);
        },
      ],
      [
        [Op.Delegreturn],
        async (args) => {
          readStateId(args);
          return undefined;
        },
      ],
      [
        [Op.ReleaseLockowner],
        async (args) => {
          args.u64('client id');
          args.opaque(ownerBytesMax, 'lock owner');
          return undefined;
        },
      ],
      [
        [Op.Lock, Op.Lockt, Op.Locku],
        async () => {
          throw nfsError(NfsStatus.NotSupp, 'byte-range locks are not offered over NFS');
        },
      ],
    ];
  }

  private async link(name: Buffer, compound: Compound): Promise<Encode> {
    const { fh: dir, caller } = this.exportObject(compound);
    const source = compound.saved;
    if (source === undefined) throw nfsError(NfsStatus.NoFileHandle, 'no saved file handle');
    if (source.kind !== 'export' || source.entry.tag !== dir.entry.tag) {
      throw nfsError(NfsStatus.XDev, 'a link across exports');
    }
    const { info } = await this.changing(caller, dir.ino, () =>
      this.context.fs.link(caller, source.ino, dir.ino, name),
    );
    return info;
  }

  private nextStateId(stateId: StateId): Encode {
    if (!this.state.isOurs(stateId))
      throw nfsError(NfsStatus.BadStateId, 'a stateid of no gateway of this cluster');
    const next = this.state.next(stateId);
    return (writer) => writeStateId(writer, next);
  }

  private async verify(op: number, args: XdrReader, compound: Compound): Promise<Encode | undefined> {
    const requested = readBitmap(args);
    const given = Buffer.from(args.opaque(64 * 1024, 'attribute values'));
    const fh = this.requireCurrent(compound);
    const inode = await this.inodeOf(fh, compound);
    const source = await this.source(fh, inode, requested, compound);
    const writer = new XdrWriter(limits.nfsReplyBytesMax);
    writeBitmap(writer, requested);
    writer.opaque(given);
    const same = attributeBytes(requested, source).equals(writer.toBuffer());
    if (op === Op.Verify && !same) throw nfsError(NfsStatus.NotSame, 'attributes differ');
    if (op === Op.Nverify && same) throw nfsError(NfsStatus.Same, 'attributes are the same');
    return undefined;
  }

  private async access(requested: number, compound: Compound): Promise<Encode> {
    const fh = this.requireCurrent(compound);
    let granted: number;
    if (fh.kind === 'pseudo') {
      granted = requested & (AccessBits.Read | AccessBits.Lookup);
    } else {
      const caller = callerOf(fh.entry, compound.credential);
      const inode = await this.context.fs.getattr(caller, fh.ino);
      granted = accessOf(inode, caller.cred, requested);
      if (fh.entry.readOnly) granted &= ~(AccessBits.Modify | AccessBits.Extend | AccessBits.Delete);
    }
    return (writer) => writer.u32(requested).u32(granted);
  }

  private async lookup(nameBytes: Buffer, compound: Compound): Promise<void> {
    const fh = this.requireCurrent(compound);
    const name = nameOf(nameBytes);
    if (name === '.' || name === '..') throw nfsError(NfsStatus.BadName, `"${name}" is not a name in NFSv4`);
    if (fh.kind === 'pseudo') {
      const step = this.pseudo.step(fh.components, name, compound.peer.address);
      if (step === undefined) throw nfsError(NfsStatus.NoEnt, `no export under ${name}`);
      compound.current =
        step.kind === 'pseudo'
          ? await this.pseudoFh(step.components)
          : this.exportFh(step.entry, (await this.context.fs.resolveRoot(step.entry)).ino);
      return;
    }
    const caller = callerOf(fh.entry, compound.credential);
    const inode = await this.context.fs.lookup(caller, fh.ino, nameBytes);
    // The root of another export the client may use is entered as that export (its options hold).
    const nestedTag = inode.type === 'directory' ? this.context.fs.exportRootedAt(inode.ino) : undefined;
    const nested = nestedTag === undefined ? undefined : this.context.exports.withTag(nestedTag);
    const entry =
      nested !== undefined &&
      nested.tag !== fh.entry.tag &&
      this.context.exports.allows(nested, compound.peer.address)
        ? nested
        : fh.entry;
    compound.current = this.exportFh(entry, inode.ino);
  }

  private async lookupParent(compound: Compound): Promise<void> {
    const fh = this.requireCurrent(compound);
    if (fh.kind === 'pseudo') {
      if (fh.components.length === 0) throw nfsError(NfsStatus.NoEnt, 'the root has no parent');
      compound.current = await this.pseudoFh(fh.components.slice(0, -1));
      return;
    }
    const caller = callerOf(fh.entry, compound.credential);
    const inode = await this.context.fs.getattr(caller, fh.ino);
    if (inode.type !== 'directory') throw nfsError(NfsStatus.NotDir, 'LOOKUPP of a non-directory');
    if (fh.ino === (await this.context.fs.rootIno(fh.entry))) {
      // Above an export's root: the export holding its parent directory, if the client may use
      // one, else the pseudo file system (and nothing above the root).
      if (fh.entry.components.length === 0) throw nfsError(NfsStatus.NoEnt, 'the root has no parent');
      const parentPath = fh.entry.components.slice(0, -1);
      const outer = this.context.exports.resolveMount(parentPath, compound.peer.address);
      if (outer === undefined) {
        compound.current = await this.pseudoFh(parentPath);
        return;
      }
      const parent = await this.context.fs.resolvePath(`/${parentPath.join('/')}`);
      compound.current = this.exportFh(outer.entry, parent.ino);
      return;
    }
    const parent = await this.context.fs.parentOf(caller, fh.ino);
    compound.current = this.exportFh(fh.entry, parent.ino);
  }

  private async read(stateId: StateId, offset: bigint, count: number, compound: Compound): Promise<Encode> {
    const { fh, caller } = this.exportObject(compound, NfsStatus.IsDir);
    if (!this.state.validFor(stateId, fh.ino))
      throw nfsError(NfsStatus.BadStateId, 'a stateid of another file');
    const { data, eof } = await this.context.fs.read(
      caller,
      fh.ino,
      offset,
      Math.min(count, limits.nfsIoBytesMax),
    );
    this.context.metrics.read(data.length);
    return (writer) => {
      writer.bool(eof);
      writer.opaqueByReference(data);
    };
  }

  private async write(
    stateId: StateId,
    offset: bigint,
    stable: Stability,
    data: Buffer,
    compound: Compound,
  ): Promise<Encode> {
    const { fh, caller } = this.exportObject(compound, NfsStatus.IsDir);
    if (!this.state.validFor(stateId, fh.ino))
      throw nfsError(NfsStatus.BadStateId, 'a stateid of another file');
    const written = await this.context.fs.write(caller, fh.ino, offset, data, stable);
    this.context.metrics.written(written.count);
    const verifier = this.context.verifier.bytes;
    return (writer) => writer.u32(written.count).u32(written.committed).fixedOpaque(verifier);
  }

  private async setattr(args: XdrReader, compound: Compound): Promise<Encode> {
    const stateId = readStateId(args);
    const { changes, set } = readSettable(args);
    const { fh, caller } = this.exportObject(compound);
    if (changes.size !== undefined && !this.state.validFor(stateId, fh.ino)) {
      throw nfsError(NfsStatus.BadStateId, 'a stateid of another file');
    }
    await this.context.fs.setattr(caller, fh.ino, changes);
    return (writer) => writeBitmap(writer, set);
  }

  private async rename(from: Buffer, to: Buffer, compound: Compound): Promise<Encode> {
    const { fh: target, caller } = this.exportObject(compound);
    const source = compound.saved;
    if (source === undefined) throw nfsError(NfsStatus.NoFileHandle, 'no saved file handle');
    if (source.kind !== 'export') throw nfsError(NfsStatus.RoFs, 'the pseudo file system is read-only');
    if (source.entry.tag !== target.entry.tag) throw nfsError(NfsStatus.XDev, 'a rename across exports');
    const sourceBefore = (await this.context.fs.getattr(caller, source.ino)).ctimeNs;
    const targetBefore = (await this.context.fs.getattr(caller, target.ino)).ctimeNs;
    await this.context.fs.rename(caller, { dir: source.ino, name: from }, { dir: target.ino, name: to });
    const sourceAfter = await this.changeOf(caller, source.ino);
    const targetAfter = await this.changeOf(caller, target.ino);
    return (writer) => {
      writeChangeInfo(writer, sourceBefore, sourceAfter);
      writeChangeInfo(writer, targetBefore, targetAfter);
    };
  }

  private async create(args: XdrReader, compound: Compound): Promise<Encode> {
    const type = args.u32('object type');
    let target: string | undefined;
    let device: { major: number; minor: number } | undefined;
    if (type === FileType4.Lnk) target = args.string(linkTextBytesMax, 'link target');
    if (type === FileType4.Blk || type === FileType4.Chr)
      device = { major: args.u32('major'), minor: args.u32('minor') };
    const name = args.opaque(componentBytesMax, 'name');
    const { changes, set } = readSettable(args);
    const { fh: dir, caller } = this.exportObject(compound);
    const { fs } = this.context;
    const { result, info } = await this.changing(caller, dir.ino, async (): Promise<Inode> => {
      switch (type) {
        case FileType4.Dir:
          return fs.mkdir(caller, dir.ino, name, changes);
        case FileType4.Lnk:
          return fs.symlink(caller, dir.ino, name, target ?? '', changes);
        case FileType4.Fifo:
          return fs.mknod(caller, dir.ino, name, { type: 'fifo' }, changes);
        case FileType4.Sock:
          return fs.mknod(caller, dir.ino, name, { type: 'socket' }, changes);
        case FileType4.Blk:
        case FileType4.Chr:
          return fs.mknod(
            caller,
            dir.ino,
            name,
            {
              type: type === FileType4.Blk ? 'blockDevice' : 'charDevice',
              device: device ?? { major: 0, minor: 0 },
            },
            changes,
          );
        default:
          throw nfsError(NfsStatus.BadType, `CREATE cannot make type ${type} (OPEN makes files)`);
      }
    });
    compound.current = this.exportFh(dir.entry, result.ino);
    return (writer) => {
      info(writer);
      writeBitmap(writer, set);
    };
  }

  private async open(args: XdrReader, compound: Compound): Promise<Encode> {
    args.u32('seqid');
    const shareAccess = args.u32('share access');
    args.u32('share deny');
    args.u64('owner client id');
    args.opaque(ownerBytesMax, 'owner');
    const openType = args.enumOf([0, 1], 'open type');
    let how: CreateHow | undefined;
    let attributesSet: number[] = [];
    if (openType === 1) {
      const mode = args.enumOf([0, 1, 2], 'create mode');
      if (mode === 2) {
        how = { kind: 'exclusive', verifier: Buffer.from(args.fixedOpaque(8, 'create verifier')) };
        attributesSet = [Attr.TimeAccess, Attr.TimeModify];
      } else {
        const { changes, set } = readSettable(args);
        how = { kind: mode === 0 ? 'unchecked' : 'guarded', attributes: changes };
        attributesSet = set;
      }
    }
    const claim = args.u32('claim type');
    if (claim !== 0) {
      // CLAIM_PREVIOUS and delegation claims: the gateway has no grace period and no delegations.
      throw nfsError(claim === 1 ? NfsStatus.NoGrace : NfsStatus.NotSupp, `open claim ${claim}`);
    }
    const name = args.opaque(componentBytesMax, 'name');
    const { fh: dir, caller } = this.exportObject(
      compound,
      openType === 1 ? NfsStatus.RoFs : NfsStatus.IsDir,
    );
    const wantsWrite = (shareAccess & openShareWrite) !== 0;
    if (wantsWrite && dir.entry.readOnly)
      throw nfsError(NfsStatus.RoFs, `export ${dir.entry.path} is read-only`);
    const { fs } = this.context;
    let created = false;
    const { result: inode, info } = await this.changing(caller, dir.ino, async () => {
      if (how === undefined) return fs.lookup(caller, dir.ino, name);
      const made = await fs.create(caller, dir.ino, name, how);
      created = true;
      return made;
    });
    this.checkOpenable(inode, caller, shareAccess, created);
    compound.current = this.exportFh(dir.entry, inode.ino);
    const stateId = this.state.openStateId(inode.ino);
    return (writer) => {
      writeStateId(writer, stateId);
      info(writer);
      writer.u32(openResultFlags);
      writeBitmap(writer, created ? attributesSet : []);
      // No delegation.
      writer.u32(0);
    };
  }

  /** OPEN's checks of what it found: a file the caller may access as asked (its owner always). */
  private checkOpenable(inode: Inode, caller: Caller, shareAccess: number, created: boolean): void {
    if (inode.type === 'directory') throw nfsError(NfsStatus.IsDir, `inode ${inode.ino} is a directory`);
    if (inode.type === 'symlink') throw nfsError(NfsStatus.Symlink, `inode ${inode.ino} is a symbolic link`);
    if (inode.type !== 'file') throw nfsError(NfsStatus.Inval, `inode ${inode.ino} is a special file`);
    if (created || inode.uid === caller.cred.uid) return;
    const wanted =
      ((shareAccess & openShareRead) !== 0 ? AccessBits.Read : 0) |
      ((shareAccess & openShareWrite) !== 0 ? AccessBits.Modify : 0);
    if (accessOf(inode, caller.cred, wanted) !== wanted) {
      throw nfsError(NfsStatus.Access, `inode ${inode.ino} may not be opened so`);
    }
  }

  private setclientid(args: XdrReader): Encode {
    const verifier = Buffer.from(args.fixedOpaque(8, 'client verifier'));
    const id = Buffer.from(args.opaque(1024, 'client id'));
    args.u32('callback program');
    args.string(64, 'callback netid');
    args.string(256, 'callback address');
    args.u32('callback ident');
    const clientId = this.state.clientId(id, verifier);
    const confirm = this.state.confirmVerifier(clientId);
    return (writer) => writer.u64(clientId).fixedOpaque(confirm);
  }

  private async readdir(args: XdrReader, compound: Compound): Promise<Encode> {
    const cookie = args.u64('cookie');
    args.fixedOpaque(8, 'cookie verifier');
    args.u32('dircount');
    const maxCount = args.u32('maxcount');
    const requested = readBitmap(args);
    const fh = this.requireCurrent(compound);
    const directory = await this.inodeOf(fh, compound);
    if (directory.type !== 'directory')
      throw nfsError(NfsStatus.NotDir, `inode ${fh.ino} is not a directory`);
    const budget = Math.min(maxCount, limits.nfsReplyBytesMax) - 8 - 4 - 4;
    if (budget < readdirEntryFixedBytes + 8)
      throw nfsError(NfsStatus.TooSmall, `a reply of ${maxCount} bytes holds no entry`);
    const entries =
      fh.kind === 'pseudo'
        ? await this.pseudoEntries(fh, cookie, compound)
        : await this.exportEntries(fh, cookie, budget, compound);
    const stats =
      entries.entries.length > 0 && needsStats(requested) ? await this.stats(fh, compound) : undefined;
    const encoded: Buffer[] = [];
    let left = budget;
    let all = true;
    for (const entry of entries.entries) {
      const one = new XdrWriter(limits.nfsReplyBytesMax);
      one.bool(true).u64(entry.cookie).string(entry.name);
      writeAttributes(one, requested, this.sourceWith(entry.fh, entry.inode, stats));
      const bytes = one.toBuffer();
      if (bytes.length > left) {
        all = false;
        break;
      }
      left -= bytes.length;
      encoded.push(bytes);
    }
    if (encoded.length === 0 && entries.entries.length > 0)
      throw nfsError(NfsStatus.TooSmall, 'the first entry does not fit');
    return (writer) => {
      writer.fixedOpaque(readdirVerifier);
      for (const bytes of encoded) writer.fixedOpaque(bytes);
      writer.bool(false);
      writer.bool(all && entries.eof);
    };
  }

  private async exportEntries(
    fh: Fh & { kind: 'export' },
    cookie: bigint,
    budget: number,
    compound: Compound,
  ): Promise<{ entries: Array<{ name: string; cookie: bigint; fh: Fh; inode: Inode }>; eof: boolean }> {
    const caller = callerOf(fh.entry, compound.credential);
    const entriesMax = Math.min(limits.nfsReaddirEntriesMax, Math.max(1, Math.floor(budget / 40)));
    const listed = await this.context.fs.readdir(caller, fh.ino, { cookie, firstCookie: 3n, entriesMax });
    const inodes = await this.context.fs.getattrs(
      caller,
      listed.entries.map((entry) => entry.ino),
    );
    const entries: Array<{ name: string; cookie: bigint; fh: Fh; inode: Inode }> = [];
    for (const [index, entry] of listed.entries.entries()) {
      const inode = inodes[index];
      // An entry removed since it was listed is left out.
      if (inode === null || inode === undefined) continue;
      entries.push({ name: entry.name, cookie: entry.cookie, fh: this.exportFh(fh.entry, entry.ino), inode });
    }
    return { entries, eof: listed.eof };
  }

  private async pseudoEntries(
    fh: Fh & { kind: 'pseudo' },
    cookie: bigint,
    compound: Compound,
  ): Promise<{ entries: Array<{ name: string; cookie: bigint; fh: Fh; inode: Inode }>; eof: boolean }> {
    const names = this.pseudo.namesIn(fh.components, compound.peer.address);
    const entries: Array<{ name: string; cookie: bigint; fh: Fh; inode: Inode }> = [];
    for (const [index, name] of names.entries()) {
      const entryCookie = BigInt(index) + 3n;
      if (entryCookie <= cookie) continue;
      const step = this.pseudo.step(fh.components, name, compound.peer.address);
      if (step === undefined) continue;
      const child =
        step.kind === 'pseudo'
          ? await this.pseudoFh(step.components)
          : this.exportFh(step.entry, (await this.context.fs.resolveRoot(step.entry)).ino);
      entries.push({ name, cookie: entryCookie, fh: child, inode: await this.inodeOf(child, compound) });
    }
    return { entries, eof: true };
  }
}
