/**
 * Clones of files and trees (`admin clone SRC DST`, FsClient.clone): copy on write at chunk level,
 * in metadata time rather than data time. A file's clone is a new inode with the source's layout
 * and length (one meta call, which checks permissions and quotas as a create does), then one clone
 * update per chunk, which every replica applies by sharing the source chunk's blocks until either
 * side writes them (file-data.ts). A tree's clone walks the source depth first: directories are
 * made with the source's permission bits, symbolic links are copied, files are cloned; other
 * special files (FIFOs, sockets, devices) are left out and counted.
 *
 * A clone is not atomic: a source changed while it runs may be cloned partly before and partly
 * after the change, as with cp(1). A file whose chunks could not all be cloned is removed again.
 */
import { posix } from 'node:path';
import { FsError, assert, describeError } from '../common/errors.js';
import { CommonCode } from '../common/status-code.js';
import type { DirectoryEntry, FileInode, Inode } from '../meta/protocol/index.js';

/** What a clone made. */
export interface CloneSummary {
  files: number;
  directories: number;
  symlinks: number;
  /** Special files not cloned (FIFOs, sockets, device nodes). */
  skipped: number;
  /** The cloned files' bytes (shared with the sources, not copied). */
  bytes: bigint;
}

/** The calls a tree clone makes, by path (FsClient provides them). */
export interface CloneTreeIo {
  stat(path: string, options: { follow: boolean }): Promise<Inode>;
  readdir(path: string): Promise<DirectoryEntry[]>;
  mkdir(path: string, mode: number): Promise<void>;
  readlink(path: string): Promise<string>;
  symlink(linkTarget: string, path: string): Promise<void>;
  /** Creates the file `target` with `source`'s layout and length (meta), and returns both inodes. */
  createClone(source: string, target: string): Promise<{ source: FileInode; inode: FileInode }>;
  /** Clones the chunks of `source` into `target` up to `source.length`. */
  cloneChunks(source: FileInode, target: FileInode): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Told of each file or directory as it is done (progress, logs). */
  onProgress?: (path: string) => void;
}

/** True when path `inner` names `outer` or something under it (lexically, after normalizing). */
export function isInside(inner: string, outer: string): boolean {
  const normalized = (path: string) => posix.normalize(`/${path}/`);
  return normalized(inner).startsWith(normalized(outer));
}

/** Joins a directory path and an entry name. */
function childPath(directory: string, name: string): string {
  return directory.endsWith('/') ? `${directory}${name}` : `${directory}/${name}`;
}

/** Clones `source` (a file, or a directory with everything under it) to `target`, which must not exist. */
export async function cloneTree(io: CloneTreeIo, source: string, target: string): Promise<CloneSummary> {
  if (isInside(target, source)) {
    throw new FsError(CommonCode.InvalidArgument, `cannot clone ${source} into itself (${target})`);
  }
  const summary: CloneSummary = { files: 0, directories: 0, symlinks: 0, skipped: 0, bytes: 0n };
  const top = await io.stat(source, { follow: true });
  if (top.type === 'directory') await cloneDirectory(io, { source, target, inode: top }, summary);
  else await cloneFile(io, source, target, summary);
  return summary;
}

/** Clones one file: its inode, then its chunks; the new file is removed again if that fails. */
async function cloneFile(
  io: CloneTreeIo,
  source: string,
  target: string,
  summary: CloneSummary,
): Promise<void> {
  const created = await io.createClone(source, target);
  try {
    await io.cloneChunks(created.source, created.inode);
  } catch (error) {
    await io.unlink(target).catch((cleanup: unknown) => {
      throw new AggregateError(
        [error, cleanup],
        `cloning ${source} failed (${describeError(error)}) and the partial clone ${target} could not be removed`,
      );
    });
    throw error;
  }
  summary.files++;
  summary.bytes += created.source.length;
  io.onProgress?.(target);
}

async function cloneDirectory(
  io: CloneTreeIo,
  directory: { source: string; target: string; inode: Inode },
  summary: CloneSummary,
): Promise<void> {
  assert(directory.inode.type === 'directory', 'a directory clone starts from a directory');
  await io.mkdir(directory.target, directory.inode.mode & 0o7777);
  summary.directories++;
  for (const entry of await io.readdir(directory.source)) {
    const source = childPath(directory.source, entry.name);
    const target = childPath(directory.target, entry.name);
    switch (entry.type) {
      case 'file':
        await cloneFile(io, source, target, summary);
        break;
      case 'directory':
        await cloneDirectory(
          io,
          { source, target, inode: await io.stat(source, { follow: false }) },
          summary,
        );
        break;
      case 'symlink':
        await io.symlink(await io.readlink(source), target);
        summary.symlinks++;
        break;
      default:
        summary.skipped++;
    }
  }
  io.onProgress?.(directory.target);
}
