/**
 * The namespace as an export shows it to one caller: the operations NFSv3 and NFSv4 share, on the
 * client library, each made with the caller's (squashed) credentials so that meta checks every
 * permission as it does for FUSE. Protocol layers decode, call these, and encode.
 *
 * Invariants:
 * - a name from the wire is one component: never empty, never with "/" or NUL, valid UTF-8, at
 *   most 255 bytes; "." and ".." are resolved here, and ".." of an export's root is the root, so
 *   no lookup leaves the export;
 * - every change is refused with ROFS on a read-only export before anything is asked of meta;
 * - an operation on an inode that no longer exists answers STALE (the handle outlived its file),
 *   a name that does not exist in a live directory NOENT.
 */
import type { FsError } from '../common/errors.js';
import { hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { MetaCode } from '../common/status-code.js';
import type { Credentials, DirectoryEntry, FsClient, Inode, InodeId, TimeSpec } from '../client/index.js';
import { metaMethods, type DeviceNumber } from '../meta/protocol/index.js';
import type { Export } from './exports.js';
import { NfsStatus, nfsError } from './nfs-status.js';
import { gatewayCredentials, type OpenFiles } from './open-files.js';
import type { ReaddirCursors } from './readdir-cursors.js';

/** Who calls, through which export. */
export interface Caller {
  readonly entry: Export;
  readonly cred: Credentials;
}

/** ACCESS bits (the same in NFSv3 and NFSv4). */
export const AccessBits = {
  Read: 0x01,
  Lookup: 0x02,
  Modify: 0x04,
  Extend: 0x08,
  Delete: 0x10,
  Execute: 0x20,
} as const;

/** How a write is to be made durable (stable_how of both versions). */
export const Stability = { Unstable: 0, DataSync: 1, FileSync: 2 } as const;
export type Stability = (typeof Stability)[keyof typeof Stability];

/** Attribute changes a SETATTR or a create may carry. */
export interface AttributeChanges {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly size?: bigint;
  readonly atime?: TimeSpec;
  readonly mtime?: TimeSpec;
}

/** How to create a file: UNCHECKED opens an existing one, GUARDED fails, EXCLUSIVE is retry-safe. */
export type CreateHow =
  | { readonly kind: 'unchecked' | 'guarded'; readonly attributes: AttributeChanges }
  | { readonly kind: 'exclusive'; readonly verifier: Buffer };

/** One listed entry with its cookie. */
export interface ListedEntry {
  readonly name: string;
  readonly ino: InodeId;
  readonly type: DirectoryEntry['type'];
  readonly cookie: bigint;
}

export interface ExportFsOptions {
  readonly client: FsClient;
  readonly files: OpenFiles;
  readonly cursors: ReaddirCursors;
  readonly logger: Logger;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A name from the wire as a string, or an NFS error: see the file comment. "." and ".." pass;
 * callers decide what they mean.
 */
export function nameOf(bytes: Uint8Array): string {
  if (bytes.length === 0) throw nfsError(NfsStatus.Inval, 'an empty name');
  if (bytes.length > limits.metaNameBytesMax) {
    throw nfsError(NfsStatus.NameTooLong, `a name of ${bytes.length} bytes`);
  }
  let name: string;
  try {
    name = utf8.decode(bytes);
  } catch {
    throw nfsError(NfsStatus.Inval, 'a name that is not UTF-8');
  }
  if (name.includes('/') || name.includes('\0')) throw nfsError(NfsStatus.Inval, 'a name with "/" or NUL');
  return name;
}

/** A name to create or remove: "." and ".." are not ones. */
function newName(bytes: Uint8Array, existsStatus: NfsStatus): string {
  const name = nameOf(bytes);
  if (name === '.' || name === '..') throw nfsError(existsStatus, `"${name}" cannot be made or removed`);
  return name;
}

/**
 * The access an inode grants `cred` among `requested`, from its mode and ACL as meta checks them
 * (acl(5)); root may read and write anything and execute what anyone may.
 */
export function accessOf(inode: Inode, cred: Credentials, requested: number): number {
  const directory = inode.type === 'directory';
  const perm = permissionBits(inode, cred);
  let granted = 0;
  const readable = (perm & 4) !== 0;
  const writable = (perm & 2) !== 0;
  const executable = (perm & 1) !== 0;
  if (readable) granted |= AccessBits.Read;
  if (writable) granted |= AccessBits.Modify | AccessBits.Extend;
  if (directory) {
    if (executable) granted |= AccessBits.Lookup;
    if (writable && executable) granted |= AccessBits.Delete;
    else granted &= ~(AccessBits.Modify | AccessBits.Extend);
  } else if (executable) {
    granted |= AccessBits.Execute;
  }
  return granted & requested;
}

function permissionBits(inode: Inode, cred: Credentials): number {
  const mode = inode.mode;
  if (cred.uid === 0) {
    const anyExecute = (mode & 0o111) !== 0 || inode.type === 'directory';
    return 6 | (anyExecute ? 1 : 0);
  }
  if (cred.uid === inode.uid) return (mode >> 6) & 7;
  const acl = inode.accessAcl;
  const inGroup = (gid: number): boolean => cred.gid === gid || cred.groups.includes(gid);
  if (acl === undefined) return inGroup(inode.gid) ? (mode >> 3) & 7 : mode & 7;
  const mask = (mode >> 3) & 7;
  const named = acl.users.find((user) => user.id === cred.uid);
  if (named !== undefined) return named.perm & mask;
  let matched = false;
  let groupPerm = 0;
  if (inGroup(inode.gid)) {
    matched = true;
    groupPerm |= acl.groupObj;
  }
  for (const group of acl.groups) {
    if (inGroup(group.id)) {
      matched = true;
      groupPerm |= group.perm;
    }
  }
  return matched ? groupPerm & mask : mode & 7;
}

/** The times an EXCLUSIVE create keeps its verifier in (as Linux's server does). */
export function verifierTime(verifier: Buffer): bigint {
  const seconds = BigInt(verifier.readUInt32BE(0));
  const nanoseconds = BigInt(verifier.readUInt32BE(4) % 1_000_000_000);
  return seconds * 1_000_000_000n + nanoseconds;
}

/** The operations; see the file comment. */
export class ExportFs {
  /** Inode ids of export roots, by export tag, resolved when first needed. */
  private readonly roots = new Map<number, InodeId>();

  constructor(private readonly options: ExportFsOptions) {}

  private get client(): FsClient {
    return this.options.client;
  }

  // --- export roots -----------------------------------------------------------------------

  /** The root directory of `entry`, resolved afresh (MOUNT, PUTROOTFH), or a clear error. */
  async resolveRoot(entry: Export): Promise<Inode> {
    const inode = await this.resolvePath(entry.path);
    if (inode.type !== 'directory')
      throw nfsError(NfsStatus.NotDir, `export ${entry.path} is not a directory`);
    this.roots.set(entry.tag, inode.ino);
    return inode;
  }

  /** The inode at an absolute path of the namespace, looked up by the gateway itself. */
  async resolvePath(path: string): Promise<Inode> {
    try {
      const { inode } = await this.client.meta.call(metaMethods.stat, {
        cred: gatewayCredentials,
        at: { path },
      });
      return inode;
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound)) throw nfsError(NfsStatus.NoEnt, `${path} is missing`);
      throw error;
    }
  }

  /** The attributes of `ino` as the gateway itself sees them (NFSv4's pseudo directories). */
  async statAsGateway(ino: InodeId): Promise<Inode> {
    return this.ofObject(() => this.client.statInode(ino, gatewayCredentials));
  }

  /** The export whose root (as last resolved) is directory `ino`, if any. */
  exportRootedAt(ino: InodeId): number | undefined {
    for (const [tag, root] of this.roots) if (root === ino) return tag;
    return undefined;
  }

  /** The inode id of `entry`'s root (cached). */
  async rootIno(entry: Export): Promise<InodeId> {
    return this.roots.get(entry.tag) ?? (await this.resolveRoot(entry)).ino;
  }

  // --- reading ----------------------------------------------------------------------------

  /**
   * The attributes of `ino`: STALE when it is gone, or when it is a file no name leads to any more
   * (kept alive only by a client that still has it open): its handles outlived its names.
   */
  async getattr(caller: Caller, ino: InodeId): Promise<Inode> {
    const inode = await this.ofObject(() => this.client.statInode(ino, caller.cred));
    if (inode.type === 'file' && inode.nlink === 0)
      throw nfsError(NfsStatus.Stale, `inode ${ino} was removed`);
    return inode;
  }

  /** The attributes of several inodes (READDIRPLUS); null for those gone. */
  async getattrs(caller: Caller, inos: readonly InodeId[]): Promise<Array<Inode | null>> {
    const result: Array<Inode | null> = [];
    for (let start = 0; start < inos.length; start += limits.metaBatchStatMax) {
      const batch = inos.slice(start, start + limits.metaBatchStatMax);
      const reply = await this.client.meta.call(metaMethods.batchStat, { cred: caller.cred, inos: batch });
      for (const inode of reply.inodes)
        result.push(inode === null ? null : this.client.withLocalLength(inode));
    }
    return result;
  }

  /** The entry `name` of directory `dir`; "." and ".." included, bounded by the export root. */
  async lookup(caller: Caller, dir: InodeId, nameBytes: Uint8Array): Promise<Inode> {
    const name = nameOf(nameBytes);
    if (name === '.') return this.requireDirectory(caller, dir);
    if (name === '..') return this.parentOf(caller, dir);
    return this.inDirectory(caller, dir, () => this.client.lookup(dir, name, caller.cred));
  }

  /** The parent of directory `dir`, which is `dir` itself at the export root. */
  async parentOf(caller: Caller, dir: InodeId): Promise<Inode> {
    const inode = await this.requireDirectory(caller, dir);
    if (inode.type !== 'directory' || dir === (await this.rootIno(caller.entry))) return inode;
    return this.getattr(caller, inode.parent);
  }

  async readlink(caller: Caller, ino: InodeId): Promise<string> {
    const inode = await this.getattr(caller, ino);
    if (inode.type !== 'symlink') throw nfsError(NfsStatus.Inval, `inode ${ino} is not a symbolic link`);
    return inode.target;
  }

  /** Up to `count` bytes at `offset`, and whether they reach the end of the file. */
  async read(
    caller: Caller,
    ino: InodeId,
    offset: bigint,
    count: number,
  ): Promise<{ data: Buffer; eof: boolean }> {
    const length = Math.min(count, limits.nfsIoBytesMax);
    return this.ofObject(() =>
      this.options.files.withFile(ino, 'read', caller.cred, async (file) => {
        const data = await file.read(offset, length);
        return { data, eof: offset + BigInt(data.length) >= file.length() };
      }),
    );
  }

  /**
   * The entries of `dir` after `cookie` (0: from the start), at most `entriesMax`, numbered from
   * `firstCookie` (the cookie of the listing's first entry); `eof` when the listing ended.
   */
  async readdir(
    caller: Caller,
    dir: InodeId,
    options: { cookie: bigint; firstCookie: bigint; entriesMax: number },
  ): Promise<{ entries: ListedEntry[]; eof: boolean }> {
    const { cursors } = this.options;
    const entriesMax = Math.max(1, Math.min(options.entriesMax, limits.metaReaddirPageMax));
    let ordinal = options.cookie < options.firstCookie ? options.firstCookie - 1n : options.cookie;
    let cursor = ordinal < options.firstCookie ? undefined : cursors.nameAt(dir, ordinal);
    if (ordinal >= options.firstCookie && cursor === undefined) {
      const found = await this.skipTo(caller, dir, ordinal - options.firstCookie + 1n);
      if (found === undefined) return { entries: [], eof: true };
      cursor = found;
    }
    const page = await this.page(caller, dir, cursor, entriesMax);
    const entries = page.entries.map((entry) => {
      ordinal += 1n;
      return { name: entry.name, ino: entry.ino, type: entry.type, cookie: ordinal };
    });
    const last = entries[entries.length - 1];
    if (last !== undefined) cursors.remember(dir, last.cookie, last.name);
    return { entries, eof: page.nextCursor === null };
  }

  /** The name of the `count`th entry of `dir` (1-based), reading from the start; undefined past the end. */
  private async skipTo(caller: Caller, dir: InodeId, count: bigint): Promise<string | undefined> {
    let cursor: string | undefined;
    let left = count;
    for (;;) {
      const page = await this.page(caller, dir, cursor, limits.metaReaddirPageMax);
      if (BigInt(page.entries.length) >= left) return page.entries[Number(left) - 1]?.name;
      left -= BigInt(page.entries.length);
      const last = page.entries[page.entries.length - 1];
      if (page.nextCursor === null || last === undefined) return undefined;
      cursor = last.name;
    }
  }

  private async page(caller: Caller, dir: InodeId, cursor: string | undefined, limit: number) {
    return this.ofObject(() =>
      this.client.meta.call(metaMethods.readDir, {
        cred: caller.cred,
        at: { parent: dir, path: '' },
        limit,
        ...(cursor === undefined ? {} : { cursor }),
      }),
    );
  }

  async statfs(cred: Credentials) {
    return this.client.meta.call(metaMethods.statFs, { cred });
  }

  // --- writing ----------------------------------------------------------------------------

  /** Writes `data` at `offset`; durable before it returns unless `stable` is UNSTABLE. */
  async write(
    caller: Caller,
    ino: InodeId,
    offset: bigint,
    data: Buffer,
    stable: Stability,
  ): Promise<{ count: number; committed: Stability }> {
    this.requireWritable(caller);
    return this.ofObject(() =>
      this.options.files.withFile(ino, 'write', caller.cred, async (file) => {
        // A view of the request's record, which nothing reuses: handed over, not copied.
        await file.write(offset, data, { handOver: true });
        if (stable === Stability.Unstable) return { count: data.length, committed: Stability.Unstable };
        await file.fsync();
        return { count: data.length, committed: Stability.FileSync };
      }),
    );
  }

  /** Sends the buffered writes of `ino` and reports its length (NFSv4 CLOSE). */
  async flush(ino: InodeId): Promise<void> {
    await this.options.files.flushInode(ino);
  }

  /** Makes every write of `ino` durable (COMMIT). */
  async commit(caller: Caller, ino: InodeId): Promise<void> {
    this.requireWritable(caller);
    await this.ofObject(async () => {
      await this.getattr(caller, ino);
      await this.options.files.commit(ino);
    });
  }

  /** Creates the file `name` in `dir`; returns its inode. */
  async create(caller: Caller, dir: InodeId, nameBytes: Uint8Array, how: CreateHow): Promise<Inode> {
    this.requireWritable(caller);
    const name = newName(nameBytes, NfsStatus.Exist);
    const at = { parent: dir, path: name };
    const exclusive = how.kind !== 'unchecked';
    const attributes = how.kind === 'exclusive' ? {} : how.attributes;
    const mode = attributes.mode ?? 0o644;
    const created = await this.inDirectory(caller, dir, async () => {
      try {
        return await this.client.meta.call(metaMethods.create, {
          cred: caller.cred,
          at,
          mode,
          exclusive,
          truncate: attributes.size === 0n,
          read: false,
          write: false,
        });
      } catch (error) {
        if (how.kind !== 'exclusive' || !hasCode(error, MetaCode.Exists)) throw error;
        // A retransmitted EXCLUSIVE create finds the file it made, with its verifier in atime.
        const existing = await this.client.lookup(dir, name, caller.cred);
        if (existing.type === 'file' && existing.atimeNs === verifierTime(how.verifier)) {
          return { inode: existing, created: false };
        }
        throw error;
      }
    });
    if (how.kind === 'exclusive') {
      if (!created.created) return created.inode;
      const time = verifierTime(how.verifier);
      return this.setattr(caller, created.inode.ino, { atime: time, mtime: time });
    }
    const { mode: _mode, size, ...rest } = attributes;
    const changes = { ...rest, ...(size !== undefined && size !== 0n ? { size } : {}) };
    return Object.keys(changes).length === 0
      ? created.inode
      : this.setattr(caller, created.inode.ino, changes);
  }

  async mkdir(
    caller: Caller,
    dir: InodeId,
    nameBytes: Uint8Array,
    attributes: AttributeChanges,
  ): Promise<Inode> {
    this.requireWritable(caller);
    const name = newName(nameBytes, NfsStatus.Exist);
    const { inode } = await this.inDirectory(caller, dir, () =>
      this.client.meta.call(metaMethods.mkdirs, {
        cred: caller.cred,
        at: { parent: dir, path: name },
        mode: attributes.mode ?? 0o755,
        recursive: false,
      }),
    );
    return this.afterCreate(caller, inode, attributes);
  }

  async symlink(
    caller: Caller,
    dir: InodeId,
    nameBytes: Uint8Array,
    target: string,
    attributes: AttributeChanges,
  ): Promise<Inode> {
    this.requireWritable(caller);
    const name = newName(nameBytes, NfsStatus.Exist);
    if (target.length === 0) throw nfsError(NfsStatus.Inval, 'an empty symbolic link target');
    const { inode } = await this.inDirectory(caller, dir, () =>
      this.client.meta.call(metaMethods.symlink, {
        cred: caller.cred,
        at: { parent: dir, path: name },
        target,
      }),
    );
    const { mode: _mode, ...rest } = attributes;
    return this.afterCreate(caller, inode, rest);
  }

  async mknod(
    caller: Caller,
    dir: InodeId,
    nameBytes: Uint8Array,
    special: { type: 'fifo' | 'socket' } | { type: 'charDevice' | 'blockDevice'; device: DeviceNumber },
    attributes: AttributeChanges,
  ): Promise<Inode> {
    this.requireWritable(caller);
    const name = newName(nameBytes, NfsStatus.Exist);
    const mode = attributes.mode ?? 0o644;
    const inode = await this.inDirectory(caller, dir, () =>
      this.client.mknodAt({ parent: dir, path: name, cred: caller.cred, mode, ...special }),
    );
    return this.afterCreate(caller, inode, attributes);
  }

  /** Sets what a create could not (owner, group, times) on the new inode. */
  private async afterCreate(caller: Caller, inode: Inode, attributes: AttributeChanges): Promise<Inode> {
    const { mode: _mode, ...rest } = attributes;
    return Object.keys(rest).length === 0 ? inode : this.setattr(caller, inode.ino, rest);
  }

  /** REMOVE: a file (NFSv3), or any entry when `directories` (NFSv4). */
  async remove(caller: Caller, dir: InodeId, nameBytes: Uint8Array, directories: boolean): Promise<void> {
    this.requireWritable(caller);
    const name = newName(nameBytes, NfsStatus.Inval);
    const at = { parent: dir, path: name };
    const removal = await this.inDirectory(caller, dir, async () => {
      try {
        return await this.client.meta.call(metaMethods.unlink, { cred: caller.cred, at });
      } catch (error) {
        if (!directories || !hasCode(error, MetaCode.IsDirectory)) throw error;
        return this.client.meta.call(metaMethods.rmdir, { cred: caller.cred, at });
      }
    });
    // Files the gateway kept open for the removed name would keep its inode alive.
    if (removal.ino !== undefined) await this.options.files.closeInode(removal.ino);
  }

  async rmdir(caller: Caller, dir: InodeId, nameBytes: Uint8Array): Promise<void> {
    this.requireWritable(caller);
    const name = nameOf(nameBytes);
    if (name === '.') throw nfsError(NfsStatus.Inval, 'rmdir of "."');
    if (name === '..') throw nfsError(NfsStatus.NotEmpty, 'rmdir of ".."');
    await this.inDirectory(caller, dir, () =>
      this.client.meta.call(metaMethods.rmdir, { cred: caller.cred, at: { parent: dir, path: name } }),
    );
  }

  async rename(
    caller: Caller,
    from: { dir: InodeId; name: Uint8Array },
    to: { dir: InodeId; name: Uint8Array },
  ): Promise<void> {
    this.requireWritable(caller);
    const fromName = newName(from.name, NfsStatus.Inval);
    const toName = newName(to.name, NfsStatus.Inval);
    await this.inDirectory(caller, from.dir, () =>
      this.inDirectory(caller, to.dir, () =>
        this.client.meta.call(metaMethods.rename, {
          cred: caller.cred,
          source: { parent: from.dir, path: fromName },
          target: { parent: to.dir, path: toName },
        }),
      ),
    );
  }

  async link(caller: Caller, ino: InodeId, dir: InodeId, nameBytes: Uint8Array): Promise<Inode> {
    this.requireWritable(caller);
    const name = newName(nameBytes, NfsStatus.Exist);
    await this.getattr(caller, ino);
    const { inode } = await this.inDirectory(caller, dir, () =>
      this.client.meta.call(metaMethods.hardLink, {
        cred: caller.cred,
        source: { parent: ino, path: '' },
        target: { parent: dir, path: name },
      }),
    );
    return this.client.withLocalLength(inode);
  }

  /** SETATTR; with `guardCtimeNs`, only when the inode's ctime is that (else NOT_SYNC). */
  async setattr(
    caller: Caller,
    ino: InodeId,
    changes: AttributeChanges,
    guardCtimeNs?: bigint,
  ): Promise<Inode> {
    this.requireWritable(caller);
    if (guardCtimeNs !== undefined) {
      const current = await this.getattr(caller, ino);
      if (current.ctimeNs !== guardCtimeNs) throw nfsError(NfsStatus.NotSync, `inode ${ino} changed since`);
    }
    const { size, ...rest } = changes;
    return this.ofObject(() =>
      this.client.setAttr({
        at: { parent: ino, path: '' },
        cred: caller.cred,
        followLast: false,
        ...rest,
        ...(size === undefined ? {} : { length: size }),
      }),
    );
  }

  // --- helpers ----------------------------------------------------------------------------

  private requireWritable(caller: Caller): void {
    if (caller.entry.readOnly) throw nfsError(NfsStatus.RoFs, `export ${caller.entry.path} is read-only`);
  }

  private async requireDirectory(caller: Caller, dir: InodeId): Promise<Inode> {
    const inode = await this.getattr(caller, dir);
    if (inode.type !== 'directory') throw nfsError(NfsStatus.NotDir, `inode ${dir} is not a directory`);
    return inode;
  }

  /** Runs an operation on the object a handle names: its NotFound means the handle is stale. */
  private async ofObject<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound)) throw nfsError(NfsStatus.Stale, (error as FsError).message);
      throw error;
    }
  }

  /**
   * Runs an operation on a name in directory `dir`: NotFound is the name's (NOENT) while the
   * directory lives, the handle's (STALE) once it is gone.
   */
  private async inDirectory<T>(caller: Caller, dir: InodeId, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (!hasCode(error, MetaCode.NotFound)) throw error;
      await this.getattr(caller, dir);
      throw error;
    }
  }
}
