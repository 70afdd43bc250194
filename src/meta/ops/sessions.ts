/**
 * Write sessions (DESIGN §6): one per file descriptor open for writing, so that a file unlinked
 * while being written stays (as an orphan with nlink 0) until its writers close or their client
 * is declared dead. Also the length reports writers send on sync and close: the highest written
 * offset is adopted when it is larger and no truncate happened since the writer learned the
 * file's truncate version.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { isRoot, modeWithoutPrivileges } from '../permissions.js';
import type { FileInode, InodeId, LengthReport, Session } from '../protocol/index.js';
import { releaseGrantIfIdle } from '../quota/quota-grants.js';
import type { MetaWriter } from '../store/meta-store.js';
import { QuotaWriter } from '../store/quota-records.js';
import type { OpContext } from './context.js';
import { releaseInode } from './links.js';

/** Opens a write session on file `ino`; opening the same session again changes nothing. */
export async function addSession(
  writer: MetaWriter,
  ctx: OpContext,
  ino: InodeId,
  session: Session,
): Promise<void> {
  if (await writer.hasSession(ino, session)) return;
  const open = await writer.sessions(ino, limits.metaSessionsPerInodeMax);
  if (open.length >= limits.metaSessionsPerInodeMax) {
    throw new FsError(MetaCode.TooManyOpenFiles, `file ${ino} already has ${open.length} write sessions`);
  }
  writer.putSession(ino, session, ctx.nowNs);
}

/** The file, or NotFound / IsDirectory / InvalidArgument for what is not a file. */
export async function requireFile(writer: MetaWriter, ino: InodeId): Promise<FileInode> {
  const inode = await writer.requireInode(ino);
  if (inode.type === 'directory') throw new FsError(MetaCode.IsDirectory, `inode ${ino} is a directory`);
  if (inode.type !== 'file')
    throw new FsError(MetaCode.InvalidArgument, `inode ${ino} is not a regular file`);
  return inode;
}

/** Applies a length report and a "wrote" flag to a file. */
export async function applyWriterReport(
  writer: MetaWriter,
  ctx: OpContext,
  ino: InodeId,
  report: { length: LengthReport | undefined; wrote: boolean },
): Promise<FileInode> {
  const file = await requireFile(writer, ino);
  const { length } = report;
  const adopt =
    length !== undefined && length.truncateVersion === file.truncateVersion && length.bytes > file.length;
  if (!adopt && !report.wrote) return file;
  // The bytes are written already: taken whatever the quotas hold (writers keep within grants).
  if (adopt) {
    await new QuotaWriter(writer.transaction).fileChanged(
      file,
      { length: length.bytes },
      { check: false, nowNs: ctx.nowNs },
    );
  }
  const updated: FileInode = {
    ...file,
    length: adopt ? length.bytes : file.length,
    ...(report.wrote
      ? {
          mtimeNs: ctx.nowNs,
          ctimeNs: ctx.nowNs,
          mode: isRoot(ctx.cred) ? file.mode : modeWithoutPrivileges(file),
        }
      : {}),
  };
  writer.putInode(updated);
  return updated;
}

/**
 * Closes a write session (closing one that is gone changes nothing: close is retried safely). An
 * orphan whose last session closed is released and its chunks queued for GC; returns the file,
 * or undefined when it is gone.
 */
export async function closeSession(
  writer: MetaWriter,
  ctx: OpContext,
  ino: InodeId,
  session: Session,
  report: { length: LengthReport | undefined; wrote: boolean },
): Promise<FileInode | undefined> {
  const existing = await writer.inode(ino);
  if (existing === undefined) return undefined;
  const hadSession = await writer.hasSession(ino, session);
  const file = await applyWriterReport(writer, ctx, ino, report);
  if (!hadSession) return file;
  writer.deleteSession(ino, session);
  if (await reclaimIfOrphan(writer, ctx, ino)) return undefined;
  await releaseGrantIfIdle(writer, ctx, ino);
  return file;
}

/** Releases file `ino` when it is an orphan without sessions left; true when released. */
export async function reclaimIfOrphan(writer: MetaWriter, ctx: OpContext, ino: InodeId): Promise<boolean> {
  const file = await writer.inode(ino);
  if (file === undefined || file.nlink > 0) return false;
  assert(file.type === 'file', 'only files become orphans');
  assert(await writer.isOrphan(ino), `file ${ino} without links is marked as an orphan`);
  if ((await writer.sessions(ino, 1)).length > 0) return false;
  await releaseInode(writer, file, ctx.nowNs);
  return true;
}
