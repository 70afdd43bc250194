/**
 * Truncate of a file (setattr size, O_TRUNC). The length changes at once; when it shrinks, the
 * chunk data past the new length must be cut by storage, so a pending truncation is recorded
 * (merged with one not yet executed) for the worker that runs it. Every truncate raises the
 * file's truncate version, so length reports made before it cannot extend the file again.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { isRoot, modeWithoutPrivileges } from '../permissions.js';
import type { FileInode, InodeId } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import { QuotaWriter } from '../store/quota-records.js';
import type { OpContext } from './context.js';

/** Sets file `ino`'s length to `length` bytes. */
export async function truncateFile(
  writer: MetaWriter,
  ctx: OpContext,
  ino: InodeId,
  length: bigint,
): Promise<FileInode> {
  if (length > limits.metaFileLengthBytesMax) {
    throw new FsError(
      MetaCode.FileTooLarge,
      `length ${length} exceeds ${limits.metaFileLengthBytesMax} bytes`,
    );
  }
  const file = await writer.requireInode(ino);
  assert(file.type === 'file', 'only files are truncated');
  const truncateVersion = file.truncateVersion + 1;
  if (length < file.length) {
    const pending = await writer.truncation(ino);
    writer.putTruncation({
      ino,
      layout: file.layout,
      fromBytes: pending !== undefined && pending.fromBytes < length ? pending.fromBytes : length,
      toBytes: pending !== undefined && pending.toBytes > file.length ? pending.toBytes : file.length,
      truncateVersion,
      requestedAtNs: ctx.nowNs,
    });
  }
  // A write by someone other than root drops setuid/setgid, as Linux does (file_remove_privs).
  const mode = isRoot(ctx.cred) ? file.mode : modeWithoutPrivileges(file);
  // A longer file holds more of its quotas (QuotaExceeded past a limit); a shorter one gives back.
  await new QuotaWriter(writer.transaction).fileChanged(
    file,
    { length },
    { check: length > file.length, nowNs: ctx.nowNs },
  );
  const updated: FileInode = {
    ...file,
    mode,
    length,
    truncateVersion,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
  };
  writer.putInode(updated);
  return updated;
}
