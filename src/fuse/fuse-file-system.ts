/**
 * The FUSE operations of hf3fs_fuse_main (DESIGN §10), mapped onto the client library. Inode
 * numbers are meta's inode ids (FUSE's root 1 is meta's root 1), so every name of a hard-linked
 * file is one kernel inode with one set of attributes. Every request speaks for its caller: the
 * uid, gid and supplementary groups of the requesting process go to meta, which checks
 * permissions as the kernel does (default_permissions) with the same attributes.
 *
 * Caching: attributes and names are cached by the kernel for short timeouts; after changes made
 * here that the kernel cannot see in a reply (a close that set mtime, a rename's ctime, xattrs)
 * the inode's cached attributes are dropped at once.
 *
 * Handlers throw FsErrors; toErrno (errno-map.ts) turns them into errnos. A bug (an assertion)
 * fails its request with EIO and is logged; the daemon keeps serving.
 */
import { FsError, describeError, hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { ClientCode, MetaCode } from '../common/status-code.js';
import type { FsClient, OpenFile } from '../client/index.js';
import { releasePayload } from '../rpc/index.js';
import {
  aclXattrValue,
  isAclXattr,
  metaMethods,
  rootInodeId,
  trashRootInodeId,
  trashRootName,
  type AclXattr,
  type Credentials,
  type Inode,
  type InodeId,
} from '../meta/protocol/index.js';
import { S_IFMT, S_IFREG, attributesOf, specialTypeOf, typeBits } from './attributes.js';
import { decodeDevice } from './device-number.js';
import { DirectoryHandle, type PageReader } from './directory-handle.js';
import type { DirectoryListing } from './directory-listing.js';
import type { FastReadPath } from './fast-reads.js';
import type { FuseLocks } from './locks.js';
import type { MetadataCache } from './metadata-cache.js';
import { statfsWithinQuota } from './quota-statfs.js';
import {
  Errno,
  fuseError,
  type AttributesReply,
  type CreateReply,
  type DirectoryPlusSink,
  type DirectorySink,
  type Entry,
  type FlockRequest,
  type FuseOperations,
  type FuseSession,
  type LockRange,
  type LockRequest,
  type NegativeEntry,
  type OpenReply,
  type PackedDirents,
  type ReaddirRequest,
  type RequestContext,
  type SetattrRequest,
  type SetlkRequest,
  type StatfsReply,
} from './lowlevel/index.js';

const O_ACCMODE = 0o3;
const O_WRONLY = 0o1;
const O_RDONLY = 0o0;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
/** O_DSYNC; O_SYNC is O_DSYNC with one more bit, so this finds both. */
const O_DSYNC = 0o10000;
const RENAME_NOREPLACE = 1;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const capabilityXattr = 'security.capability';
/** Entries one readdir reply is built from at most (a reply holds a page of the kernel's buffer). */
const readdirBatch = 128;
const statfsBlockBytes = 4096;

export interface FuseFileSystemOptions {
  readonly client: FsClient;
  readonly logger: Logger;
  readonly attrTimeoutMs: number;
  readonly entryTimeoutMs: number;
  readonly negativeTimeoutMs: number;
  /**
   * The metadata cache kept fresh by meta's change log (metadata-cache.ts); what it tracks is
   * given to the kernel with `cachedTimeoutMs` instead of the timeouts above.
   */
  readonly cache?: MetadataCache;
  readonly cachedTimeoutMs?: number;
  /** Monotonic milliseconds (for the capability cache). */
  readonly now: () => number;
  /** Cluster-wide flock and fcntl locks; without them the kernel keeps locks local to this mount. */
  readonly locks?: FuseLocks;
  /** Seconds unlink and rmdir keep what they remove in the trash, where no directory says otherwise; 0: off. */
  readonly trashExpireS?: number;
}

/** The credentials of a request's caller (root's groups do not matter to any check). */
export function credentialsOf(context: RequestContext): Credentials {
  const groups = context.uid === 0 ? [] : (context.groups() ?? []);
  return {
    uid: context.uid,
    gid: context.gid,
    groups: groups.filter((group) => group !== context.gid).slice(0, limits.metaGroupsMax),
  };
}

/**
 * The umask meta applies to a new inode unless its directory has a default ACL. With POSIX ACLs
 * the kernel passes modes unmasked; without, it masked them already and applying it again
 * changes nothing.
 */
function umaskOf(context: RequestContext): number {
  return context.umask & 0o777;
}

function accessOf(flags: number): { read: boolean; write: boolean } {
  const mode = flags & O_ACCMODE;
  return { read: mode !== O_WRONLY, write: mode !== O_RDONLY };
}

export class FuseFileSystem implements FuseOperations {
  private readonly files = new Map<bigint, OpenFile>();
  /** Handles that wrote: closing them changes the file's length and times in meta. */
  private readonly wrote = new Set<bigint>();
  /** Handles opened O_SYNC or O_DSYNC: each write is on stable storage when it returns. */
  private readonly synchronous = new Set<bigint>();
  private readonly directories = new Map<bigint, DirectoryHandle>();
  /** Directory handles whose listing the binding answers READDIRs from: what stops that. */
  private readonly servedListings = new Map<bigint, () => void>();
  /** Listings held in memory, packed as readdir records while the cache keeps them unchanged. */
  private nextHandle = 1n;
  private session: FuseSession | undefined;
  private fastReads: FastReadPath | undefined;
  /** Inodes known to have no security.capability, until the given monotonic time. */
  private readonly noCapability = new Map<InodeId, number>();

  constructor(private readonly options: FuseFileSystemOptions) {}

  /**
   * Lets the file system push cache invalidations to the kernel once mounted, and offer handles
   * to the binding's own reads when it has them.
   */
  attach(session: FuseSession, fastReads?: FastReadPath): void {
    this.session = session;
    this.fastReads = fastReads;
  }

  /** Handles still open (the kernel releases them before an unmount completes). */
  openFiles(): OpenFile[] {
    return [...this.files.values()];
  }

  private get client(): FsClient {
    return this.options.client;
  }

  /** An entry reply; `tracked` when the metadata cache tracks its name and attributes. */
  private entry(inode: Inode, tracked = false): Entry {
    const cachedMs = this.options.cachedTimeoutMs;
    const long = tracked && cachedMs !== undefined;
    return {
      ino: inode.ino,
      generation: 0n,
      attributes: attributesOf(inode),
      attrTimeoutMs: long ? cachedMs : this.options.attrTimeoutMs,
      entryTimeoutMs: long ? cachedMs : this.options.entryTimeoutMs,
    };
  }

  private attributes(inode: Inode, tracked = false): AttributesReply {
    const cachedMs = this.options.cachedTimeoutMs;
    const long = tracked && cachedMs !== undefined;
    return { attributes: attributesOf(inode), attrTimeoutMs: long ? cachedMs : this.options.attrTimeoutMs };
  }

  /**
   * Caches what meta answered about the name `name` of `parent` (and the inode behind it),
   * unless another client's change came in since `since`; true when both are tracked.
   */
  private remember(parent: InodeId, name: string, inode: Inode, since: number | undefined): boolean {
    const cache = this.options.cache;
    if (cache === undefined || since === undefined) return false;
    return (
      cache.putName(parent, name, { ino: inode.ino, type: inode.type }, since) && cache.putInode(inode, since)
    );
  }

  /** After a change made here: the inodes whose attributes changed in ways not worth tracking. */
  private dropCachedInodes(...inos: Array<InodeId | undefined>): void {
    const cache = this.options.cache;
    if (cache === undefined) return;
    for (const ino of inos) if (ino !== undefined) cache.forgetInode(ino);
  }

  /** The inode the cache knows behind a name, if any (before a change that removes it). */
  private cachedIno(parent: InodeId, name: string): InodeId | undefined {
    const hit = this.options.cache?.lookup(parent, name);
    return hit?.kind === 'found' ? hit.inode.ino : undefined;
  }

  /**
   * A name made here: cache it with its new inode; the directory's times became the inode's
   * ctime (meta sets both in the same transaction), and a new subdirectory adds a link.
   */
  private made(parent: InodeId, name: string, inode: Inode): Entry {
    const cache = this.options.cache;
    if (cache === undefined) return this.entry(inode);
    cache.directoryChanged(parent, inode.ctimeNs, inode.type === 'directory' ? 1 : 0);
    const tracked = this.remember(parent, name, inode, cache.generation);
    if (inode.type === 'directory' && tracked) cache.putEmptyDirectory(inode.ino);
    return this.entry(inode, tracked);
  }

  /**
   * A name removed here: it is absent now, the removed inode changed, and so did the directory
   * (at `removal.changedAtNs`, or unknown when the call failed or meta did not say).
   */
  private removed(
    parent: InodeId,
    name: string,
    victim: InodeId | undefined,
    removal: { ino?: InodeId | undefined; changedAtNs?: bigint | undefined } | undefined,
    directory: boolean,
  ): void {
    const cache = this.options.cache;
    if (cache === undefined) return;
    this.dropCachedInodes(victim, removal?.ino);
    if (removal?.changedAtNs === undefined) {
      this.dropCachedInodes(parent);
      cache.forgetName(parent, name);
      return;
    }
    cache.directoryChanged(parent, removal.changedAtNs, directory ? -1 : 0);
    cache.putName(parent, name, null);
  }

  /** Drops the kernel's cached attributes of `ino` (changed here, not visible in a reply). */
  private invalidate(ino: InodeId): void {
    this.options.cache?.forgetInode(ino);
    const session = this.session;
    if (session === undefined || !session.mounted) return;
    session.invalidateInode(ino, 'attributes').catch((error: unknown) => {
      this.options.logger.debug({ ino: String(ino), err: error }, 'attribute invalidation failed');
    });
  }

  private handle(): bigint {
    const handle = this.nextHandle;
    this.nextHandle += 1n;
    return handle;
  }

  private file(fh: bigint): OpenFile {
    const file = this.files.get(fh);
    if (file === undefined) throw new FsError(ClientCode.BadFileHandle, `no open file ${fh}`);
    return file;
  }

  private directory(fh: bigint): DirectoryHandle {
    const directory = this.directories.get(fh);
    if (directory === undefined) throw new FsError(ClientCode.BadFileHandle, `no open directory ${fh}`);
    return directory;
  }

  // --- names --------------------------------------------------------------------------------

  async lookup(context: RequestContext, request: { parent: InodeId; name: string }) {
    const { parent, name } = request;
    // A name no entry can have: ENAMETOOLONG as local file systems say, even where a cached
    // complete listing would answer "absent".
    if (Buffer.byteLength(name, 'utf8') > limits.metaNameBytesMax) {
      throw fuseError(Errno.ENAMETOOLONG, `name of over ${limits.metaNameBytesMax} bytes`);
    }
    const cache = this.options.cache;
    const hit = cache?.lookup(parent, name);
    if (hit?.kind === 'found') return this.entry(this.client.withLocalLength(hit.inode, false), true);
    if (hit?.kind === 'absent') return this.negative(true);
    const since = cache?.generation;
    const cred = credentialsOf(context);
    try {
      const inode = await this.client.lookup(parent, name, cred);
      return this.entry(inode, this.remember(parent, name, inode, since));
    } catch (error) {
      if (!hasCode(error, MetaCode.NotFound)) throw error;
      const tracked = cache !== undefined && since !== undefined && cache.putName(parent, name, null, since);
      return this.negative(tracked);
    }
  }

  private negative(tracked: boolean): NegativeEntry {
    const cachedMs = this.options.cachedTimeoutMs;
    return {
      negative: true,
      entryTimeoutMs: tracked && cachedMs !== undefined ? cachedMs : this.options.negativeTimeoutMs,
    };
  }

  async getattr(context: RequestContext, request: { ino: InodeId }): Promise<AttributesReply> {
    const cache = this.options.cache;
    const cached = cache?.inode(request.ino);
    if (cached !== undefined) return this.attributes(this.client.withLocalLength(cached, false), true);
    const since = cache?.generation;
    const inode = await this.client.statInode(request.ino, credentialsOf(context));
    const tracked = cache !== undefined && since !== undefined && cache.putInode(inode, since);
    return this.attributes(inode, tracked);
  }

  async setattr(context: RequestContext, request: SetattrRequest): Promise<AttributesReply> {
    const cred = credentialsOf(context);
    // A change through an open file (ftruncate) is checked as POSIX says: against the access the
    // file was opened with, not the mode it has now.
    const through = request.fh === undefined ? undefined : this.files.get(request.fh);
    const inode = await this.client.setAttr({
      at: { parent: request.ino, path: '' },
      cred,
      ...(through === undefined ? {} : { through }),
      ...(request.mode === undefined ? {} : { mode: request.mode & 0o7777 }),
      ...(request.uid === undefined ? {} : { uid: request.uid }),
      ...(request.gid === undefined ? {} : { gid: request.gid }),
      ...(request.atimeNs === undefined ? {} : { atime: request.atimeNs }),
      ...(request.mtimeNs === undefined ? {} : { mtime: request.mtimeNs }),
      ...(request.size === undefined ? {} : { length: request.size }),
    });
    const cache = this.options.cache;
    return this.attributes(inode, cache !== undefined && cache.putInode(inode));
  }

  async readlink(context: RequestContext, request: { ino: InodeId }): Promise<string> {
    const cred = credentialsOf(context);
    const reply = await this.client.meta.call(metaMethods.readlink, {
      cred,
      at: { parent: request.ino, path: '' },
    });
    return reply.target;
  }

  async mknod(
    context: RequestContext,
    request: { parent: InodeId; name: string; mode: number; rdev: number },
  ): Promise<Entry> {
    const cred = credentialsOf(context);
    const fileType = request.mode & S_IFMT;
    const mode = request.mode & 0o7777;
    // Type bits 0 make a regular file, as mknod(2) says.
    if (fileType === S_IFREG || fileType === 0) {
      const { inode } = await this.client.meta.call(metaMethods.create, {
        cred,
        at: { parent: request.parent, path: request.name },
        mode,
        umask: umaskOf(context),
        exclusive: true,
        read: false,
        write: false,
      });
      return this.made(request.parent, request.name, inode);
    }
    const type = specialTypeOf(request.mode);
    if (type === undefined) {
      throw fuseError(Errno.EINVAL, `mknod cannot make file type 0o${fileType.toString(8)}`);
    }
    const at = { parent: request.parent, path: request.name, cred, umask: umaskOf(context) };
    // A FIFO's or socket's rdev means nothing and is dropped, as Linux's own file systems do.
    const inode =
      type === 'charDevice' || type === 'blockDevice'
        ? await this.client.mknodAt({ ...at, type, mode, device: decodeDevice(request.rdev) })
        : await this.client.mknodAt({ ...at, type, mode });
    return this.made(request.parent, request.name, inode);
  }

  async mkdir(context: RequestContext, request: { parent: InodeId; name: string; mode: number }) {
    const cred = credentialsOf(context);
    const { inode } = await this.client.meta.call(metaMethods.mkdirs, {
      cred,
      at: { parent: request.parent, path: request.name },
      mode: request.mode & 0o7777,
      umask: umaskOf(context),
    });
    return this.made(request.parent, request.name, inode);
  }

  async unlink(context: RequestContext, request: { parent: InodeId; name: string }): Promise<void> {
    const cred = credentialsOf(context);
    const victim = this.cachedIno(request.parent, request.name);
    let removal: { ino?: InodeId | undefined; changedAtNs?: bigint | undefined } | undefined;
    try {
      removal = await this.removeEntry(cred, request, 'file');
    } finally {
      this.removed(request.parent, request.name, victim, removal, false);
    }
  }

  async rmdir(context: RequestContext, request: { parent: InodeId; name: string }): Promise<void> {
    const cred = credentialsOf(context);
    const victim = this.cachedIno(request.parent, request.name);
    let removal: { ino?: InodeId | undefined; changedAtNs?: bigint | undefined } | undefined;
    try {
      removal = await this.removeEntry(cred, request, 'directory');
    } finally {
      this.removed(request.parent, request.name, victim, removal, true);
    }
  }

  /**
   * unlink or rmdir in meta; with the mount's trash on, a removal into the trash (meta moves the
   * entry into the caller's trash directory; what is already there goes for good).
   */
  private async removeEntry(
    cred: Credentials,
    request: { parent: InodeId; name: string },
    what: 'file' | 'directory',
  ): Promise<{ ino?: InodeId | undefined; changedAtNs?: bigint | undefined }> {
    const at = { parent: request.parent, path: request.name };
    const defaultExpireS = this.options.trashExpireS ?? 0;
    if (defaultExpireS === 0) {
      return this.client.meta.call(what === 'file' ? metaMethods.unlink : metaMethods.rmdir, { cred, at });
    }
    const removal = await this.client.meta.call(metaMethods.trashRemove, { cred, at, what, defaultExpireS });
    if (removal.item !== null && removal.trashDirectory !== undefined) {
      this.trashChanged(removal.item, removal.trashDirectory);
    }
    return removal;
  }

  /**
   * A removal into the trash also changed the trash directories (a new item; the first one made
   * `/.trash` and `/.trash/<uid>`); the change log does not replay this mount's own changes to it,
   * so what the cache holds of them goes here.
   */
  private trashChanged(item: { uid: number; name: string }, trashDirectory: InodeId): void {
    const cache = this.options.cache;
    if (cache === undefined) return;
    const names: Array<[InodeId, string]> = [
      [rootInodeId, trashRootName],
      [trashRootInodeId, String(item.uid)],
      [trashDirectory, item.name],
    ];
    for (const [parent, name] of names) if (cache.tracks(parent, name)) cache.invalidateEntry(parent, name);
    for (const ino of [rootInodeId, trashRootInodeId, trashDirectory]) {
      if (cache.tracksInode(ino)) cache.invalidateInode(ino);
    }
  }

  async symlink(context: RequestContext, request: { parent: InodeId; name: string; target: string }) {
    const cred = credentialsOf(context);
    const { inode } = await this.client.meta.call(metaMethods.symlink, {
      cred,
      at: { parent: request.parent, path: request.name },
      target: request.target,
    });
    return this.made(request.parent, request.name, inode);
  }

  async rename(
    context: RequestContext,
    request: { parent: InodeId; name: string; newParent: InodeId; newName: string; flags: number },
  ): Promise<void> {
    // RENAME_EXCHANGE (and any other flag) is not something meta does.
    if ((request.flags & ~RENAME_NOREPLACE) !== 0) throw fuseError(Errno.EINVAL, 'unsupported rename flags');
    const cred = credentialsOf(context);
    const replaced = this.cachedIno(request.newParent, request.newName);
    let moved: Inode | undefined;
    try {
      ({ inode: moved } = await this.client.meta.call(metaMethods.rename, {
        cred,
        source: { parent: request.parent, path: request.name },
        target: { parent: request.newParent, path: request.newName },
        noReplace: (request.flags & RENAME_NOREPLACE) !== 0,
      }));
    } finally {
      const cache = this.options.cache;
      if (cache !== undefined) {
        this.dropCachedInodes(replaced, moved?.ino);
        if (moved === undefined || moved.type === 'directory') {
          // A directory's move changes link counts in ways simplest fetched again.
          this.dropCachedInodes(request.parent, request.newParent);
        } else {
          // Meta set both directories' times to the moved inode's new ctime.
          cache.directoryChanged(request.parent, moved.ctimeNs, 0);
          cache.directoryChanged(request.newParent, moved.ctimeNs, 0);
        }
        if (moved === undefined) {
          // A failure (or a lost reply hiding a rename that was done): neither name is trusted.
          cache.forgetName(request.parent, request.name);
          cache.forgetName(request.newParent, request.newName);
        } else {
          cache.putName(request.parent, request.name, null);
          cache.putName(request.newParent, request.newName, { ino: moved.ino, type: moved.type });
        }
      }
    }
    // The moved inode's ctime (and a directory's ".." entry) changed.
    this.invalidate(moved.ino);
  }

  async link(context: RequestContext, request: { ino: InodeId; newParent: InodeId; newName: string }) {
    const cred = credentialsOf(context);
    const { inode } = await this.client.meta.call(metaMethods.hardLink, {
      cred,
      source: { parent: request.ino, path: '' },
      target: { parent: request.newParent, path: request.newName },
    });
    return this.made(request.newParent, request.newName, this.client.withLocalLength(inode));
  }

  // --- files --------------------------------------------------------------------------------

  async open(context: RequestContext, request: { ino: InodeId; flags: number }): Promise<OpenReply> {
    const cred = credentialsOf(context);
    const file = await this.client.openAt({
      at: { parent: request.ino, path: '' },
      cred,
      ...accessOf(request.flags),
      truncate: (request.flags & O_TRUNC) !== 0,
    });
    if ((request.flags & O_TRUNC) !== 0) this.dropCachedInodes(request.ino);
    const fh = this.handle();
    this.files.set(fh, file);
    if ((request.flags & O_DSYNC) !== 0) this.synchronous.add(fh);
    return { fh, keepCache: false };
  }

  async create(
    context: RequestContext,
    request: { parent: InodeId; name: string; mode: number; flags: number },
  ): Promise<CreateReply> {
    const cred = credentialsOf(context);
    const { file, inode, created } = await this.client.createAt({
      parent: request.parent,
      path: request.name,
      mode: request.mode & 0o7777,
      umask: umaskOf(context),
      cred,
      exclusive: (request.flags & O_EXCL) !== 0,
      truncate: (request.flags & O_TRUNC) !== 0,
      ...accessOf(request.flags),
    });
    const fh = this.handle();
    this.files.set(fh, file);
    if ((request.flags & O_DSYNC) !== 0) this.synchronous.add(fh);
    // An existing file opened (no O_EXCL) left the directory as it was; a truncate changed the file.
    const entry = created
      ? this.made(request.parent, request.name, inode)
      : this.entry(inode, this.remember(request.parent, request.name, inode, this.options.cache?.generation));
    return { ...entry, open: { fh, keepCache: false } };
  }

  async read(_context: RequestContext, request: { fh: bigint; offset: bigint; size: number }) {
    const file = this.file(request.fh);
    const data = await file.read(request.offset, request.size);
    // The next small reads of the handle may be answered by the binding (fast-reads.ts).
    this.fastReads?.offer(request.fh, file.quietFile());
    return data;
  }

  /** A read's bytes may be a pooled reply payload (the daemon's client pools them): let go of it. */
  readReplied(data: Uint8Array): void {
    releasePayload(data);
  }

  async write(_context: RequestContext, request: { fh: bigint; offset: bigint; data: Buffer }) {
    const file = this.file(request.fh);
    if (!this.wrote.has(request.fh)) {
      this.wrote.add(request.fh);
      // Meta's length and times of the file will change (reports, close): not cached meanwhile.
      this.dropCachedInodes(file.ino);
    }
    // The request's buffer is the daemon's own (the binding hands each WRITE its receive buffer).
    const written = await file.write(request.offset, request.data, { handOver: true });
    // O_SYNC / O_DSYNC: the write returns once it is on every replica's stable storage.
    if (this.synchronous.has(request.fh)) await file.fsync();
    return written;
  }

  async flush(_context: RequestContext, request: { ino: InodeId; fh: bigint; lockOwner: bigint }) {
    try {
      await this.file(request.fh).flush();
    } finally {
      // Any close by a process drops its POSIX locks on the file, as POSIX says.
      await this.options.locks?.flush(request.ino, request.lockOwner);
    }
  }

  async fsync(_context: RequestContext, request: { fh: bigint }): Promise<void> {
    await this.file(request.fh).fsync();
  }

  /**
   * fallocate(2): the client's OpenFile does the work (client/fallocate.ts). The kernel checked
   * the range, refused the modes FUSE does not pass on, and drops the page cache of a punched hole
   * or zeroed range itself once this succeeds; it also sets the new size it expects.
   */
  async fallocate(
    _context: RequestContext,
    request: { ino: InodeId; fh: bigint; mode: number; offset: bigint; length: bigint },
  ): Promise<void> {
    const file = this.file(request.fh);
    try {
      await file.fallocate(request.mode, request.offset, request.length);
    } finally {
      // The file's length and times in meta may have changed, even by a call that failed midway.
      this.dropCachedInodes(request.ino);
    }
  }

  async release(
    _context: RequestContext,
    request: { ino: InodeId; fh: bigint; lockOwner: bigint; flockRelease: boolean },
  ): Promise<void> {
    this.fastReads?.released(request.fh);
    await this.options.locks?.release(request.ino, request);
    const file = this.files.get(request.fh);
    if (file === undefined) return;
    this.files.delete(request.fh);
    const wrote = this.wrote.delete(request.fh);
    this.synchronous.delete(request.fh);
    try {
      await file.close();
    } finally {
      // Closing a written file set its mtime (and length) in meta.
      if (wrote) {
        this.dropCachedInodes(request.ino);
        this.invalidate(request.ino);
      }
    }
  }

  // --- locks (locks.ts) --------------------------------------------------------------------

  async getlk(context: RequestContext, request: LockRequest): Promise<LockRange> {
    return this.locks().getlk(context, request);
  }

  async setlk(context: RequestContext, request: SetlkRequest): Promise<void> {
    await this.locks().setlk(context, request);
  }

  async flock(context: RequestContext, request: FlockRequest): Promise<void> {
    await this.locks().flock(context, request);
  }

  /** The cluster-wide locks; without them ENOSYS, after which the kernel locks locally. */
  private locks(): FuseLocks {
    const locks = this.options.locks;
    if (locks === undefined) throw fuseError(Errno.ENOSYS, 'locks are not kept cluster-wide here');
    return locks;
  }

  // --- directories --------------------------------------------------------------------------

  async opendir(context: RequestContext, request: { ino: InodeId }): Promise<OpenReply> {
    if (this.directories.size >= limits.clientOpenFilesMax) {
      throw new FsError(ClientCode.TooManyOpenFiles, `${this.directories.size} directories are open`);
    }
    const cred = credentialsOf(context);
    const cache = this.options.cache;
    const inode = cache?.inode(request.ino) ?? (await this.client.statInode(request.ino, cred));
    if (inode.type !== 'directory')
      throw new FsError(MetaCode.NotDirectory, `inode ${inode.ino} is not a directory`);
    const fromMeta: PageReader = (cursor) =>
      this.client.meta.call(metaMethods.readDir, {
        cred,
        at: { parent: inode.ino, path: '' },
        limit: limits.clientReaddirPageEntries,
        ...(cursor === undefined ? {} : { cursor }),
      });
    const listing = cache?.listing(inode.ino);
    const directory =
      listing !== undefined
        ? DirectoryHandle.ofListing(inode.ino, inode.parent, listing)
        : new DirectoryHandle(
            inode.ino,
            inode.parent,
            cache === undefined
              ? fromMeta
              : rememberListing(
                  fromMeta,
                  (entries, since) => cache.putListing(inode.ino, entries, since),
                  cache,
                ),
          );
    const fh = this.handle();
    this.directories.set(fh, directory);
    return { fh };
  }

  async readdir(_context: RequestContext, request: ReaddirRequest, sink: DirectorySink): Promise<void> {
    const directory = this.directory(request.fh);
    if (!this.addDots(directory, request.offset, sink)) return;
    if (directory.listed !== undefined) {
      // A listing held in memory goes out as records packed once for every handle and reply.
      const packed = directory.listed.packed();
      const from = DirectoryHandle.listedIndexAfter(request.offset, packed.count);
      if (from < packed.count) sink.addPacked(packed, from);
      this.serveListing(request.fh, directory.listed);
      return;
    }
    let offset = request.offset;
    for (;;) {
      const batch = await directory.entriesAfter(offset, readdirBatch);
      if (batch.length === 0) return;
      for (const entry of batch) {
        if (
          !sink.add({
            name: entry.name,
            ino: entry.ino,
            mode: typeBits(entry.type),
            nextOffset: entry.cookie,
          })
        )
          return;
        offset = entry.cookie;
      }
    }
  }

  async readdirplus(
    context: RequestContext,
    request: ReaddirRequest,
    sink: DirectoryPlusSink,
  ): Promise<void> {
    const directory = this.directory(request.fh);
    if (!this.addDots(directory, request.offset, sink)) return;
    // The kernel goes on with plain READDIRs, which the binding can answer from a held listing.
    if (directory.listed !== undefined) this.serveListing(request.fh, directory.listed);
    const cred = credentialsOf(context);
    let offset = request.offset;
    // A listing's first reply is kept short (see the limit); the kernel goes on with READDIR.
    let room = request.offset === 0n ? limits.fuseReaddirplusFirstReplyEntries : Number.MAX_SAFE_INTEGER;
    for (;;) {
      if (room <= 0) return;
      const batch = await directory.entriesAfter(offset, Math.min(readdirBatch, room));
      if (batch.length === 0) return;
      room -= batch.length;
      const cache = this.options.cache;
      const inodes: Array<Inode | undefined> = batch.map((entry) => cache?.inode(entry.ino));
      const missing = batch.filter((_, index) => inodes[index] === undefined).map((entry) => entry.ino);
      const fetched = new Map<InodeId, Inode>();
      if (missing.length > 0) {
        const since = cache?.generation;
        const reply = await this.client.meta.call(metaMethods.batchStat, { cred, inos: missing });
        for (const inode of reply.inodes) if (inode !== null) fetched.set(inode.ino, inode);
        for (const entry of batch) {
          const inode = fetched.get(entry.ino);
          if (inode !== undefined && !this.remember(directory.ino, entry.name, inode, since))
            fetched.delete(entry.ino);
        }
      }
      for (const [index, entry] of batch.entries()) {
        const cached = inodes[index];
        const inode = cached ?? fetched.get(entry.ino);
        const item = {
          name: entry.name,
          ino: entry.ino,
          mode: typeBits(entry.type),
          nextOffset: entry.cookie,
        };
        // An entry removed since it was listed goes out as a plain name; a lookup will tell.
        const tracked = inode !== undefined && cache?.tracks(directory.ino, entry.name) === true;
        const added =
          inode === undefined
            ? sink.add(item)
            : sink.add({
                ...item,
                entry: this.entry(this.client.withLocalLength(inode, cached === undefined), tracked),
              });
        if (!added) return;
        offset = entry.cookie;
      }
    }
  }

  /** Adds "." (cookie 1) and ".." (cookie 2) where the offset says; false when the reply is full. */
  private addDots(
    directory: DirectoryHandle,
    offset: bigint,
    sink: { add(entry: { name: string; ino: InodeId; mode: number; nextOffset: bigint }): boolean },
  ): boolean {
    const mode = typeBits('directory');
    if (offset < 1n && !sink.add({ name: '.', ino: directory.ino, mode, nextOffset: 1n })) return false;
    if (offset < 2n && !sink.add({ name: '..', ino: directory.parentIno, mode, nextOffset: 2n }))
      return false;
    return true;
  }

  async releasedir(_context: RequestContext, request: { fh: bigint }): Promise<void> {
    this.directories.delete(request.fh);
    this.dropServedListing(request.fh);
  }

  /**
   * Hands the listing of handle `fh` to the FUSE binding, which answers the handle's later plain
   * READDIRs from a copy of its records without coming here. A name appended to the listing takes
   * it back (the next READDIR here hands the grown listing over again); the handle's RELEASEDIR
   * ends it in the binding and here.
   */
  private serveListing(fh: bigint, listed: DirectoryListing): void {
    const session = this.session;
    if (session === undefined || this.servedListings.has(fh)) return;
    let packed: PackedDirents;
    try {
      packed = listed.packed();
    } catch {
      // A name that cannot be packed: the readdir handler reports it; nothing is handed over.
      return;
    }
    if ((packed.starts[packed.count] ?? 0) > limits.fuseServedListingBytesMax) return;
    session.serveListing(fh, packed);
    const stop = listed.onGrow(() => this.dropServedListing(fh));
    this.servedListings.set(fh, stop);
  }

  private dropServedListing(fh: bigint): void {
    const stop = this.servedListings.get(fh);
    if (stop === undefined) return;
    stop();
    this.servedListings.delete(fh);
    this.session?.dropListing(fh);
  }

  async fsyncdir(context: RequestContext): Promise<void> {
    // Every namespace change is one committed KV transaction; this makes them durable now.
    await this.client.meta.call(metaMethods.syncMetadata, { cred: credentialsOf(context) });
  }

  /** The file system's space and inodes, or a directory quota's for an inode inside one (quota-statfs.ts). */
  async statfs(context: RequestContext, request: { ino: InodeId }): Promise<StatfsReply> {
    const cred = credentialsOf(context);
    const [whole, { quota }] = await Promise.all([
      this.fileSystemStatfs(cred),
      this.client.meta.call(metaMethods.quotaStatFs, { cred, ino: request.ino }),
    ]);
    return statfsWithinQuota(whole, quota);
  }

  private async fileSystemStatfs(cred: Credentials): Promise<StatfsReply> {
    const reply = await this.client.meta.call(metaMethods.statFs, { cred });
    const blocks = Math.floor(reply.capacityBytes / statfsBlockBytes);
    const free = Math.floor(reply.freeBytes / statfsBlockBytes);
    // Inodes live in the KV, with no table to run out of: the free ones are a large constant
    // supply, the total is that plus the ones in use (0 while meta has not counted them).
    const inodesFree = limits.fuseStatfsInodesFree;
    return {
      blockSize: statfsBlockBytes,
      fragmentSize: statfsBlockBytes,
      blocks,
      blocksFree: free,
      blocksAvailable: free,
      files: inodesFree + (reply.inodesInUse ?? 0),
      filesFree: inodesFree,
      filesAvailable: inodesFree,
      nameMax: reply.nameBytesMax,
    };
  }

  // --- extended attributes ------------------------------------------------------------------

  async setxattr(
    context: RequestContext,
    request: { ino: InodeId; name: string; value: Buffer; flags: number },
  ): Promise<void> {
    const cred = credentialsOf(context);
    const flag =
      (request.flags & XATTR_CREATE) !== 0
        ? 'create'
        : (request.flags & XATTR_REPLACE) !== 0
          ? 'replace'
          : 'any';
    await this.client.meta.call(metaMethods.setXattr, {
      cred,
      at: { parent: request.ino, path: '' },
      name: request.name,
      value: request.value,
      flag,
    });
    this.noCapability.delete(request.ino);
    this.options.cache?.changedHere(request.ino);
  }

  async getxattr(context: RequestContext, request: { ino: InodeId; name: string }): Promise<Uint8Array> {
    const capability = request.name === capabilityXattr;
    if (capability && (this.noCapability.get(request.ino) ?? 0) > this.options.now()) {
      throw new FsError(MetaCode.NoAttribute, `no ${capabilityXattr} on inode ${request.ino}`);
    }
    if (isAclXattr(request.name)) {
      const cached = this.cachedAcl(request.ino, request.name);
      if (cached !== undefined) return cached;
    }
    const cred = credentialsOf(context);
    try {
      const { value } = await this.client.meta.call(metaMethods.getXattr, {
        cred,
        at: { parent: request.ino, path: '' },
        name: request.name,
      });
      return value;
    } catch (error) {
      if (capability && hasCode(error, MetaCode.NoAttribute)) this.rememberNoCapability(request.ino);
      throw error;
    }
  }

  /**
   * An ACL of an inode the metadata cache holds (its record carries the ACLs), or undefined to
   * ask meta. The kernel reads an inode's access ACL before its first permission check for anyone
   * but the owner; this spares that round trip.
   */
  private cachedAcl(ino: InodeId, name: AclXattr): Uint8Array | undefined {
    const inode = this.options.cache?.inode(ino);
    if (inode === undefined || inode.type === 'symlink') return undefined;
    const value = aclXattrValue(inode, name);
    if (value === undefined) throw new FsError(MetaCode.NoAttribute, `no ${name} on inode ${ino}`);
    return value;
  }

  async listxattr(context: RequestContext, request: { ino: InodeId }): Promise<readonly string[]> {
    const cred = credentialsOf(context);
    const { names } = await this.client.meta.call(metaMethods.listXattr, {
      cred,
      at: { parent: request.ino, path: '' },
    });
    return names;
  }

  async removexattr(context: RequestContext, request: { ino: InodeId; name: string }): Promise<void> {
    const cred = credentialsOf(context);
    await this.client.meta.call(metaMethods.removeXattr, {
      cred,
      at: { parent: request.ino, path: '' },
      name: request.name,
    });
    this.options.cache?.changedHere(request.ino);
  }

  private rememberNoCapability(ino: InodeId): void {
    // Bounded: entries expire, and the map is emptied when it grows large.
    if (this.noCapability.size >= limits.clientOpenFilesMax) this.noCapability.clear();
    this.noCapability.set(ino, this.options.now() + limits.fuseCapabilityCacheMs);
  }

  /** Closes every handle still open (shutdown after unmount), reporting failures in the log. */
  async closeAll(): Promise<void> {
    const files = [...this.files.entries()];
    this.files.clear();
    this.directories.clear();
    for (const [fh, file] of files) {
      await file
        .close()
        .catch((error: unknown) =>
          this.options.logger.error(
            { fh: String(fh), err: error },
            `closing file at shutdown failed: ${describeError(error)}`,
          ),
        );
    }
  }
}

/**
 * Reads pages from meta and, when one handle read a directory from its first page to its last
 * with no other client's change in between, gives the whole listing to `keep`.
 */
function rememberListing(
  read: PageReader,
  keep: (entries: Array<{ name: string; ino: InodeId; type: Inode['type'] }>, since: number) => void,
  cache: MetadataCache,
): PageReader {
  let collected: Array<{ name: string; ino: InodeId; type: Inode['type'] }> | undefined;
  let since = 0;
  let expected: string | undefined;
  return async (cursor) => {
    if (cursor === undefined) {
      collected = [];
      since = cache.generation;
    } else if (cursor !== expected) {
      collected = undefined;
    }
    const page = await read(cursor);
    if (collected !== undefined) {
      for (const entry of page.entries)
        collected.push({ name: entry.name, ino: entry.ino, type: entry.type });
      if (collected.length > limits.fuseMetadataCacheEntriesMax / 2) collected = undefined;
    }
    expected = page.nextCursor ?? undefined;
    if (page.nextCursor === null && collected !== undefined) {
      keep(collected, since);
      collected = undefined;
    }
    return page;
  };
}
