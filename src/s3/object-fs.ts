/**
 * The namespace calls the gateway makes, each with the credentials of the request it serves (the
 * uid, gid and groups of its access key), so meta checks every permission as for any other client.
 * Paths are absolute namespace paths (names.ts makes them); inode-based calls name an inode id
 * reached through such a path. Errors are the client library's FsErrors; callers map them
 * (errors.ts) with what a missing path means for them.
 */
import type { Credentials, DirectoryEntry, FsClient, Inode, InodeId, OpenFile } from '../client/index.js';
import { hasCode } from '../common/errors.js';
import { MetaCode } from '../common/status-code.js';
import { metaMethods, type PathAt } from '../meta/protocol/index.js';

/** One page of a directory's entries, in name (UTF-8 byte) order. */
export interface DirectoryPage {
  readonly entries: readonly DirectoryEntry[];
  /** Where the next page starts; null at the end. */
  readonly nextCursor: string | null;
}

export class ObjectFs {
  constructor(readonly client: FsClient) {}

  /** stat (symlinks followed) or lstat of `path`. */
  async stat(cred: Credentials, path: string, followLast = true): Promise<Inode> {
    const { inode } = await this.client.meta.call(metaMethods.stat, { cred, at: { path }, followLast });
    return this.client.withLocalLength(inode);
  }

  /** The inode `ino` (reached through a path that was checked). */
  async statInode(cred: Credentials, ino: InodeId): Promise<Inode> {
    return this.client.statInode(ino, cred);
  }

  /** The entry `name` of directory `parent`, or undefined when there is none. */
  async lookup(cred: Credentials, parent: InodeId, name: string): Promise<Inode | undefined> {
    try {
      return await this.client.lookup(parent, name, cred);
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound)) return undefined;
      throw error;
    }
  }

  /** Up to `limit` entries of a directory after `cursor` (a name; the start when absent). */
  async readDirPage(cred: Credentials, at: PathAt, limit: number, cursor?: string): Promise<DirectoryPage> {
    return this.client.meta.call(metaMethods.readDir, {
      cred,
      at,
      limit,
      ...(cursor === undefined ? {} : { cursor }),
    });
  }

  /** The inodes of `inos` (null where gone), as batchStat answers. */
  async batchStat(cred: Credentials, inos: readonly InodeId[]): Promise<Array<Inode | null>> {
    if (inos.length === 0) return [];
    const { inodes } = await this.client.meta.call(metaMethods.batchStat, { cred, inos: [...inos] });
    return inodes.map((inode) => (inode === null ? null : this.client.withLocalLength(inode, false)));
  }

  async mkdir(cred: Credentials, path: string, mode: number, recursive: boolean): Promise<Inode> {
    const { inode } = await this.client.meta.call(metaMethods.mkdirs, {
      cred,
      at: { path },
      mode,
      recursive,
    });
    return inode;
  }

  async rmdir(cred: Credentials, path: string): Promise<void> {
    await this.client.meta.call(metaMethods.rmdir, { cred, at: { path } });
  }

  async unlink(cred: Credentials, path: string): Promise<void> {
    await this.client.meta.call(metaMethods.unlink, { cred, at: { path } });
  }

  async removeRecursive(cred: Credentials, path: string): Promise<number> {
    return (await this.client.meta.call(metaMethods.removeRecursive, { cred, at: { path } })).removedInodes;
  }

  /** rename(2): replaces a file at `target`. */
  async rename(cred: Credentials, source: string, target: string): Promise<Inode> {
    const { inode } = await this.client.meta.call(metaMethods.rename, {
      cred,
      source: { path: source },
      target: { path: target },
    });
    return inode;
  }

  async symlink(cred: Credentials, path: string, target: string): Promise<Inode> {
    const { inode } = await this.client.meta.call(metaMethods.symlink, { cred, at: { path }, target });
    return inode;
  }

  async readlink(cred: Credentials, at: PathAt): Promise<string> {
    return (await this.client.meta.call(metaMethods.readlink, { cred, at })).target;
  }

  /** A new file at `path` (O_CREAT | O_EXCL), open for writing. */
  async createFile(cred: Credentials, path: string, mode: number): Promise<{ file: OpenFile; inode: Inode }> {
    const { file, inode } = await this.client.createAt({
      path,
      mode,
      umask: 0,
      cred,
      exclusive: true,
      truncate: false,
      read: false,
      write: true,
    });
    return { file, inode };
  }

  /**
   * A copy-on-write clone of the file `source` (an inode reached through a checked path) as a new
   * file at `path` with `mode`: read permission on the source and write permission on `path`'s
   * directory are checked as for a create. Returns the source as the clone began and the new file.
   */
  async cloneFile(
    cred: Credentials,
    source: InodeId,
    target: { path: string; mode: number },
  ): Promise<{ source: Inode; inode: Inode }> {
    return this.client.cloneFile({
      cred,
      source: { parent: source, path: '' },
      target: target.path,
      mode: target.mode,
      umask: 0,
    });
  }

  /** An existing file, by inode id, open for reading, writing or both. */
  async openInode(
    cred: Credentials,
    ino: InodeId,
    access: { read?: boolean; write: boolean },
  ): Promise<OpenFile> {
    return this.openAt(cred, { parent: ino, path: '' }, access);
  }

  /** An existing file open for reading, writing or both. */
  async openAt(cred: Credentials, at: PathAt, access: { read?: boolean; write: boolean }): Promise<OpenFile> {
    return this.client.openAt({ at, cred, read: access.read ?? !access.write, write: access.write });
  }

  /** Cuts (or extends) a file to `length`, and sets its mode when given. */
  async truncate(cred: Credentials, ino: InodeId, length: bigint, mode?: number): Promise<Inode> {
    return this.client.setAttr({
      at: { parent: ino, path: '' },
      cred,
      length,
      ...(mode === undefined ? {} : { mode }),
    });
  }

  /** An extended attribute, or undefined when the inode has none of that name. */
  async getXattr(cred: Credentials, at: PathAt, name: string): Promise<Buffer | undefined> {
    try {
      const { value } = await this.client.meta.call(metaMethods.getXattr, { cred, at, name });
      return Buffer.from(value);
    } catch (error) {
      if (hasCode(error, MetaCode.NoAttribute)) return undefined;
      throw error;
    }
  }

  async setXattr(cred: Credentials, at: PathAt, name: string, value: Buffer): Promise<void> {
    await this.client.meta.call(metaMethods.setXattr, { cred, at, name, value });
  }

  /** Sets an attribute only when it is not there yet; false when it was (another won). */
  async createXattr(cred: Credentials, at: PathAt, name: string, value: Buffer): Promise<boolean> {
    try {
      await this.client.meta.call(metaMethods.setXattr, { cred, at, name, value, flag: 'create' });
      return true;
    } catch (error) {
      if (hasCode(error, MetaCode.Exists)) return false;
      throw error;
    }
  }
}
