/**
 * How an object comes to exist (PutObject, CopyObject, the completion of a multipart upload):
 *
 *  1. before any byte of a large body is read, the bucket must exist and the deepest existing
 *     directory of the key's path must be a directory the key's user may write (a refusal costs
 *     the client no upload; meta checks again at the rename, which is what counts);
 *  2. the data goes to a new file in staging (staging.ts), owned by the key's user, streamed in
 *     blocks with the client library's bounded write buffer pacing the reads (or, for a copy
 *     inside the cluster, the new file is a copy-on-write clone of the source: stageClone);
 *  3. only when the source ended without error (a request body has passed every check by then)
 *     is the file closed (its length reported), its record set (object-meta.ts), and renamed onto
 *     the key's path, the missing directories of which are made just before;
 *  4. any failure removes the staging file: no partial object is ever visible, and a failed upload
 *     leaves no directories behind.
 */
import type { Credentials, FileInode, Inode, OpenFile } from '../client/index.js';
import { hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { S3Error, fromFsError, s3Error } from './errors.js';
import { joinPath, type ObjectKey } from './names.js';
import { encodeObjectRecord, objectXattr, type UploadMetadata } from './object-meta.js';
import type { ObjectFs } from './object-fs.js';
import type { Staging } from './staging.js';

/** Where an object goes: its bucket's directory and its key. */
export interface ObjectTarget {
  readonly cred: Credentials;
  readonly bucketPath: string;
  readonly key: ObjectKey;
}

/** The object's path in the namespace. */
export function targetPath(target: ObjectTarget): string {
  return joinPath(target.bucketPath, ...target.key.components);
}

export interface ObjectWriterOptions {
  readonly fs: ObjectFs;
  readonly staging: Staging;
  readonly fileMode: number;
  readonly directoryMode: number;
}

/** A file written to staging, ready to be published. */
export interface StagedFile {
  readonly path: string;
  readonly inode: Inode;
}

export class ObjectWriter {
  constructor(private readonly options: ObjectWriterOptions) {}

  /**
   * Step 1: NoSuchBucket, ParentIsObject or AccessDenied now rather than after the upload. Only
   * the mode bits are checked here (an ACL leaves the decision to the rename).
   */
  async checkTarget(target: ObjectTarget): Promise<void> {
    const { fs } = this.options;
    const directories = target.key.directory ? target.key.components : target.key.components.slice(0, -1);
    for (let depth = directories.length; depth >= 0; depth--) {
      const path = joinPath(target.bucketPath, ...directories.slice(0, depth));
      let inode: Inode;
      try {
        inode = await fs.stat(target.cred, path);
      } catch (error) {
        if (hasCode(error, MetaCode.NotFound) && depth > 0) continue;
        throw fromFsError(error, 'NoSuchBucket');
      }
      if (inode.type !== 'directory') throw s3Error('ParentIsObject');
      if (!mayCreateIn(inode, target.cred)) throw s3Error('AccessDenied', `no write permission on ${path}`);
      return;
    }
  }

  /**
   * Step 2: streams `source` into a new staging file; removes it if `source` fails. The caller
   * publishes it (step 3) or discards it.
   */
  async stage(cred: Credentials, source: AsyncIterable<Buffer>): Promise<StagedFile> {
    const { fs, staging } = this.options;
    await staging.ensure().catch((error: unknown) => {
      throw fromFsError(error, 'NoSuchBucket');
    });
    const path = staging.tempPath();
    const { file, inode } = await fs.createFile(cred, path, this.options.fileMode).catch((error: unknown) => {
      throw fromFsError(error, 'NoSuchBucket');
    });
    try {
      await writeAll(file, source);
      await file.close();
      return { path, inode: await fs.statInode(cred, inode.ino) };
    } catch (error) {
      await file.close().catch(() => undefined);
      await staging.discard(cred, path, inode.ino);
      throw error;
    }
  }

  /**
   * Step 2 of a copy inside the cluster: a copy-on-write clone of the file `source` in staging, as
   * `cred` (read permission on the source, as a byte copy's open needs). The source must still be
   * what it was when found, from the clone's start to its end (same inode, length and mtime), for
   * the ETag found with it to describe the clone: else the clone is removed again and undefined
   * returned, and the caller copies byte by byte.
   */
  async stageClone(cred: Credentials, source: FileInode): Promise<StagedFile | undefined> {
    const { fs, staging } = this.options;
    await staging.ensure().catch((error: unknown) => {
      throw fromFsError(error, 'NoSuchBucket');
    });
    const path = staging.tempPath();
    const cloned = await fs
      .cloneFile(cred, source.ino, { path, mode: this.options.fileMode })
      .catch((error: unknown) => {
        throw fromFsError(error, 'NoSuchKey');
      });
    const after = await fs.statInode(cred, source.ino).catch((error: unknown) => {
      if (hasCode(error, MetaCode.NotFound)) return undefined;
      throw fromFsError(error, 'NoSuchKey');
    });
    const unchanged = (inode: Inode | undefined): boolean =>
      inode?.type === 'file' && inode.length === source.length && inode.mtimeNs === source.mtimeNs;
    if (unchanged(cloned.source) && unchanged(after)) return { path, inode: cloned.inode };
    await staging.discard(cred, path, cloned.inode.ino);
    return undefined;
  }

  /**
   * Step 3: the record, then the rename. The staging file is removed if either fails, unless
   * `keepOnFailure` (a multipart upload's data stays with its upload, which a client may retry).
   */
  async publish(
    target: ObjectTarget,
    staged: StagedFile,
    record: { etag: string; metadata: UploadMetadata },
    options: { keepOnFailure?: boolean } = {},
  ): Promise<Inode> {
    const { fs, staging } = this.options;
    const { cred } = target;
    try {
      if (staged.inode.type !== 'file') throw s3Error('InternalError', 'a staged upload is not a file');
      const value = encodeObjectRecord(staged.inode, record.etag, record.metadata);
      await fs.setXattr(cred, { parent: staged.inode.ino, path: '' }, objectXattr, value);
      return await this.renameIntoPlace(target, staged.path);
    } catch (error) {
      if (options.keepOnFailure !== true) await staging.discard(cred, staged.path, staged.inode.ino);
      throw error instanceof S3Error ? error : fromFsError(error, 'NoSuchBucket');
    }
  }

  /** Renames, making the key's missing directories when the first attempt finds one missing. */
  private async renameIntoPlace(target: ObjectTarget, source: string): Promise<Inode> {
    const { fs } = this.options;
    const path = targetPath(target);
    for (let attempt = 0; ; attempt++) {
      try {
        return await fs.rename(target.cred, source, path);
      } catch (error) {
        // A DELETE tidying empty directories may remove them between mkdir and rename: again.
        if (!hasCode(error, MetaCode.NotFound) || attempt >= 3 || target.key.components.length <= 1) {
          throw mapRenameError(error);
        }
      }
      await this.makeParents(target);
    }
  }

  /** Makes the directories of the key's path (not the bucket: a missing bucket stays missing). */
  async makeParents(target: ObjectTarget): Promise<void> {
    const directories = target.key.directory ? target.key.components : target.key.components.slice(0, -1);
    if (directories.length === 0) return;
    try {
      await this.options.fs.stat(target.cred, target.bucketPath);
      await this.options.fs.mkdir(
        target.cred,
        joinPath(target.bucketPath, ...directories),
        this.options.directoryMode,
        true,
      );
    } catch (error) {
      if (hasCode(error, MetaCode.Exists)) throw s3Error('ParentIsObject');
      throw fromFsError(error, 'NoSuchBucket');
    }
  }
}

/** Writes everything `source` yields from `start` on, in blocks of about s3WriteBlockBytes; returns the end. */
export async function writeAll(file: OpenFile, source: AsyncIterable<Buffer>, start = 0n): Promise<bigint> {
  let offset = start;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const block = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await file.write(offset, block, { handOver: true });
    offset += BigInt(block.length);
  };
  for await (const piece of source) {
    if (piece.length >= limits.s3WriteBlockBytes && pendingBytes === 0) {
      await file.write(offset, piece, { handOver: true });
      offset += BigInt(piece.length);
      continue;
    }
    pending.push(piece);
    pendingBytes += piece.length;
    if (pendingBytes >= limits.s3WriteBlockBytes) await flush();
  }
  await flush();
  return offset;
}

function mapRenameError(error: unknown): S3Error {
  // rename(2) onto a directory: EISDIR for a file, ENOTEMPTY (or EEXIST) for a directory.
  if (
    hasCode(error, MetaCode.IsDirectory) ||
    hasCode(error, MetaCode.NotEmpty) ||
    hasCode(error, MetaCode.Exists)
  ) {
    return s3Error('ObjectIsDirectory');
  }
  return fromFsError(error, 'NoSuchBucket');
}

/**
 * Whether `cred` may create entries in `directory` by its mode bits (write and search), as the
 * kernel's generic permission check; true when an ACL decides (meta checks it at the rename).
 */
export function mayCreateIn(directory: Inode, cred: Credentials): boolean {
  if (cred.uid === 0 || directory.accessAcl !== undefined) return true;
  let bits: number;
  if (cred.uid === directory.uid) bits = (directory.mode >> 6) & 7;
  else if (cred.gid === directory.gid || cred.groups.includes(directory.gid))
    bits = (directory.mode >> 3) & 7;
  else bits = directory.mode & 7;
  return (bits & 3) === 3;
}
