/**
 * Which POSIX lock owners set locks through which open files, so that the last release of an open
 * file can drop the locks of open file descriptions (F_OFD_SETLK). Their owner is the open file
 * itself: no flush names it (a flush names the closing process's file table) and the kernel's
 * release does not either, so without this they would outlive the file, kept alive by the lease.
 *
 * At an open file's last release, an owner that locked through it and through no other open file
 * still open has no lock left that POSIX lets it keep: an OFD owner's file is gone, and a process
 * owner's locks went with the flush of the close before. An owner that also locked through
 * another open file is left alone (a process that closed one descriptor and locks through another
 * before this release arrives keeps its new lock).
 */
import { assert } from '../common/errors.js';

export class LockOwnerFiles {
  private readonly ownersByFile = new Map<bigint, Set<bigint>>();
  private readonly filesByOwner = new Map<bigint, Set<bigint>>();

  constructor(private readonly ownersPerFileMax: number) {
    assert(
      Number.isInteger(ownersPerFileMax) && ownersPerFileMax >= 1,
      'an open file tracks an owner at least',
    );
  }

  /** `owner` set a lock through open file `fh`; false (not tracked) beyond the file's bound. */
  add(fh: bigint, owner: bigint): boolean {
    let owners = this.ownersByFile.get(fh);
    if (owners?.has(owner) === true) return true;
    if (owners !== undefined && owners.size >= this.ownersPerFileMax) return false;
    if (owners === undefined) {
      owners = new Set();
      this.ownersByFile.set(fh, owners);
    }
    owners.add(owner);
    let files = this.filesByOwner.get(owner);
    if (files === undefined) {
      files = new Set();
      this.filesByOwner.set(owner, files);
    }
    files.add(fh);
    return true;
  }

  /** The last release of `fh`: the owners that locked through it and no other open file. */
  released(fh: bigint): bigint[] {
    const owners = this.ownersByFile.get(fh);
    if (owners === undefined) return [];
    this.ownersByFile.delete(fh);
    const done: bigint[] = [];
    for (const owner of owners) {
      const files = this.filesByOwner.get(owner);
      files?.delete(fh);
      if (files !== undefined && files.size > 0) continue;
      this.filesByOwner.delete(owner);
      done.push(owner);
    }
    return done;
  }

  /** Open files tracked (tests). */
  get size(): number {
    return this.ownersByFile.size;
  }
}
