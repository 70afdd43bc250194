/**
 * Byte grants: how writers stay within byte limits without asking meta before every write. A file
 * counted by a quota with a byte limit has a ceiling (QGNT), the length its writers may make it
 * without asking; the part past its length is held against its quotas like written bytes. A writer
 * that would write past the ceiling asks for more (quotaGrant) and gets up to metaQuotaGrantBytes
 * beyond what it needs, or less when the quotas lack room; nothing left means EDQUOT. The grant
 * goes back when the file's last write session closes (or its client is declared dead and its
 * sessions pruned). Length reports are then taken as they come, since their bytes are written:
 * a writer that keeps within its grant keeps the quota within its limit.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import type { OpContext } from '../ops/context.js';
import type { InodeId, QuotaState, Session } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import { QuotaWriter } from '../store/quota-records.js';
import { addUsage, byteRoom, exactMargin, grantCeiling, limitsDimension } from './quota-rules.js';

/**
 * Grants file `ino` room up to `endBytes` (and the grant size beyond) through write session
 * `session`: answers the length its writers may now reach, or null when no byte limit applies.
 */
export async function grantRoom(
  writer: MetaWriter,
  ctx: OpContext,
  request: { ino: InodeId; session: Session; endBytes: bigint },
): Promise<bigint | null> {
  const file = await writer.requireInode(request.ino);
  if (file.type !== 'file')
    throw new FsError(MetaCode.InvalidArgument, `inode ${file.ino} is not a regular file`);
  // The grant lives as long as the file's sessions: one asked for without a session would stay.
  if (!(await writer.hasSession(file.ino, request.session)))
    throw new FsError(
      MetaCode.InvalidArgument,
      `file ${file.ino} has no write session ${request.session.sessionId}`,
    );
  const quotas = new QuotaWriter(writer.transaction);
  const limited = (await quotas.live(file.quotas)).filter((quota) => limitsDimension(quota, 'bytes'));
  if (limited.length === 0) return null;
  const ceiling = await quotas.grant(file.ino);
  const current = ceiling !== undefined && ceiling > file.length ? ceiling : file.length;
  if (request.endBytes <= current) return current;
  const wanted =
    grantCeiling({ currentBytes: current, endBytes: request.endBytes, roomBytes: undefined }) - current;
  const rooms: Array<{ quota: QuotaState; usage: Awaited<ReturnType<typeof roomOf>>['usage'] }> = [];
  let room: bigint | undefined;
  for (const quota of limited) {
    const found = await roomOf(quotas, quota, { wanted, nowNs: ctx.nowNs });
    rooms.push({ quota, usage: found.usage });
    if (found.room !== undefined && (room === undefined || found.room < room)) room = found.room;
  }
  const next = grantCeiling({ currentBytes: current, endBytes: request.endBytes, roomBytes: room });
  if (next === current) return current;
  const granted = next - current;
  for (const { quota, usage } of rooms) {
    quotas.noteSoftLimits(
      quota,
      addUsage(usage, { inodes: 0n, bytes: 0n, reservedBytes: granted }),
      ctx.nowNs,
    );
  }
  await quotas.fileChanged(file, { ceilingBytes: next }, { check: false, nowNs: ctx.nowNs });
  return next;
}

/** The bytes `quota` may still grant, read exactly when `wanted` comes near its limit. */
async function roomOf(
  quotas: QuotaWriter,
  quota: QuotaState,
  options: { wanted: bigint; nowNs: bigint },
): Promise<{ room: bigint | undefined; usage: Awaited<ReturnType<QuotaWriter['usage']>> }> {
  let usage = await quotas.usage(quota.quotaId, { exact: false });
  let room = byteRoom(quota, usage, options.nowNs);
  if (room !== undefined && room < options.wanted + exactMargin('bytes')) {
    usage = await quotas.usage(quota.quotaId, { exact: true });
    room = byteRoom(quota, usage, options.nowNs);
  }
  return { room, usage };
}

/** Gives file `ino`'s grant back once it has no write session left. */
export async function releaseGrantIfIdle(writer: MetaWriter, ctx: OpContext, ino: InodeId): Promise<void> {
  const file = await writer.inode(ino);
  if (file?.type !== 'file' || (file.quotas?.length ?? 0) === 0) return;
  if ((await writer.sessions(ino, 1)).length > 0) return;
  await new QuotaWriter(writer.transaction).fileChanged(
    file,
    { ceilingBytes: null },
    { check: false, nowNs: ctx.nowNs },
  );
}
