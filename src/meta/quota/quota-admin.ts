/**
 * Setting, reading and removing directory quotas, and the count a new quota makes of the tree
 * already below its directory. The count visits the tree breadth-first from a frontier kept in
 * the KV (QSCN: a directory and the last entry it took there), at most
 * metaQuotaCountEntriesPerTransaction entries per transaction, and counts each inode it meets
 * that does not carry the quota's id yet, adding the id in the same transaction. What is made
 * meanwhile in a directory the count has reached carries the id from its creation (it inherits
 * the directory's), what is made elsewhere is met later: every inode is counted once. Until the
 * count ends, usage is a lower bound and limits apply to it.
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import type { OpContext } from '../ops/context.js';
import { resolveExisting } from '../path-resolve.js';
import { isRoot } from '../permissions.js';
import type {
  Credentials,
  DirectoryInode,
  Inode,
  InodeId,
  PathAt,
  QuotaInfo,
  QuotaLimits,
  QuotaState,
  QuotaUsage,
  RequestOf,
  metaMethods,
} from '../protocol/index.js';
import { inodeCountShard } from '../store/keys.js';
import type { MetaReader, MetaWriter } from '../store/meta-store.js';
import { QuotaReader, QuotaWriter } from '../store/quota-records.js';
import { pathOfChain, placeOf } from '../trash/trash-dirs.js';
import { withQuotas } from './quota-moves.js';
import {
  addUsage,
  amountOf,
  effectiveLimit,
  limitsDimension,
  zeroUsage,
  type QuotaDimension,
} from './quota-rules.js';

type SetRequest = RequestOf<typeof metaMethods.quotaSet>;

function requireRoot(cred: Credentials, what: string): void {
  if (!isRoot(cred)) throw new FsError(MetaCode.NotPermitted, `only root may ${what}`);
}

async function requireDirectory(reader: MetaReader, cred: Credentials, at: PathAt): Promise<DirectoryInode> {
  const { inode } = await resolveExisting(reader, cred, at, { followLast: true });
  if (inode.type !== 'directory')
    throw new FsError(MetaCode.NotDirectory, `inode ${inode.ino} is not a directory`);
  return inode;
}

/** `current` limits with the request's changes, checked: a soft limit is at most the hard one. */
export function changedLimits(
  current: QuotaLimits | undefined,
  request: Omit<SetRequest, 'cred' | 'at'>,
): QuotaLimits {
  const next: QuotaLimits = { graceS: request.graceS ?? current?.graceS ?? limits.quotaGraceSDefault };
  for (const field of ['hardBytes', 'softBytes', 'hardInodes', 'softInodes'] as const) {
    const change = request[field];
    const value = change === undefined ? current?.[field] : (change ?? undefined);
    if (value !== undefined) next[field] = value;
  }
  for (const [soft, hard] of [
    [next.softBytes, next.hardBytes],
    [next.softInodes, next.hardInodes],
  ] as const) {
    if (soft !== undefined && hard !== undefined && soft > hard)
      throw new FsError(MetaCode.InvalidArgument, `a soft limit (${soft}) above its hard limit (${hard})`);
  }
  return next;
}

/** Sets a quota on a directory, or changes its limits; root only. Answers the quota. */
export async function setQuota(writer: MetaWriter, ctx: OpContext, request: SetRequest): Promise<QuotaState> {
  requireRoot(ctx.cred, 'set a quota');
  const directory = await requireDirectory(writer, ctx.cred, request.at);
  const quotas = new QuotaWriter(writer.transaction);
  const existingId = await quotas.quotaIdOf(directory.ino);
  const existing = existingId === undefined ? undefined : await quotas.quota(existingId);
  const quotaLimits = changedLimits(existing?.limits, request);
  if (existing !== undefined) {
    const updated = { ...withoutStaleSoftTimes(existing, quotaLimits), limits: quotaLimits };
    quotas.putQuota(updated);
    return updated;
  }
  if ((await quotas.live(directory.quotas)).length >= limits.metaQuotaNestingMax) {
    throw new FsError(
      MetaCode.InvalidArgument,
      `directory ${directory.ino} is inside ${limits.metaQuotaNestingMax} quotas already`,
    );
  }
  // Quota ids come from the inode ids: never reused, so an id left on an inode by a removed
  // quota never names a later one.
  const quota: QuotaState = {
    quotaId: ctx.takeInodeId(),
    directory: directory.ino,
    limits: quotaLimits,
    setAtNs: ctx.nowNs,
    counting: true,
  };
  quotas.putQuota(quota);
  quotas.putQuotaDirectory(directory.ino, quota.quotaId);
  quotas.putCountDirectory(quota.quotaId, directory.ino, undefined);
  return quota;
}

/** The quota without the time usage went over a soft limit that changed (it is seen anew). */
function withoutStaleSoftTimes(quota: QuotaState, next: QuotaLimits): QuotaState {
  const { softBytesSinceNs, softInodesSinceNs, ...rest } = quota;
  return {
    ...rest,
    ...(softBytesSinceNs === undefined || next.softBytes !== quota.limits.softBytes
      ? {}
      : { softBytesSinceNs }),
    ...(softInodesSinceNs === undefined || next.softInodes !== quota.limits.softInodes
      ? {}
      : { softInodesSinceNs }),
  };
}

/** Removes the quota on a directory; root only. True when it had one. */
export async function removeQuota(writer: MetaWriter, ctx: OpContext, at: PathAt): Promise<boolean> {
  requireRoot(ctx.cred, 'remove a quota');
  const directory = await requireDirectory(writer, ctx.cred, at);
  const quotas = new QuotaWriter(writer.transaction);
  const quotaId = await quotas.quotaIdOf(directory.ino);
  const quota = quotaId === undefined ? undefined : await quotas.quota(quotaId);
  if (quota === undefined) return false;
  // The ids left on inodes name nothing now and are dropped as those inodes change.
  quotas.deleteQuota(quota);
  return true;
}

/**
 * One transaction of quota `quotaId`'s count (see the file comment). True once the count is done
 * (or the quota is gone).
 */
export async function countStep(writer: MetaWriter, ctx: OpContext, quotaId: InodeId): Promise<boolean> {
  const quotas = new QuotaWriter(writer.transaction);
  const quota = await quotas.quota(quotaId);
  if (quota === undefined || !quota.counting) return true;
  const counted = new Map<number, QuotaUsage>();
  let budget = limits.metaQuotaCountEntriesPerTransaction;
  let done = false;
  while (budget > 0) {
    const next = await quotas.nextCountDirectory(quotaId);
    if (next === undefined) {
      quotas.putQuota({ ...quota, counting: false, countedAtNs: ctx.nowNs });
      done = true;
      break;
    }
    const directory = await writer.inode(next.directory);
    const pageMax = Math.min(budget, limits.metaReaddirPageMax);
    const page =
      directory?.type === 'directory' ? await writer.listEntries(directory.ino, next.after, pageMax) : [];
    budget -= Math.max(1, page.length);
    for (const entry of page) await countInode(writer, quotas, { quotaId, ino: entry.ino, counted });
    const last = page[page.length - 1];
    if (last === undefined || page.length < pageMax) quotas.deleteCountDirectory(quotaId, next.directory);
    else quotas.putCountDirectory(quotaId, next.directory, last.name);
  }
  for (const [shard, usage] of counted) await quotas.addToShard(quotaId, shard, usage);
  return done;
}

/** Counts inode `ino` into the quota unless it was already: adds the id, and a directory to visit. */
async function countInode(
  writer: MetaWriter,
  quotas: QuotaWriter,
  options: { quotaId: InodeId; ino: InodeId; counted: Map<number, QuotaUsage> },
): Promise<void> {
  const { quotaId, ino, counted } = options;
  const inode = await writer.inode(ino);
  if (inode === undefined || inode.quotas?.includes(quotaId) === true) return;
  const ids = (await quotas.live(inode.quotas)).map((quota) => quota.quotaId);
  if (ids.length >= limits.metaQuotaNestingMax) {
    throw new FsError(
      MetaCode.InvalidArgument,
      `inode ${ino} is inside ${limits.metaQuotaNestingMax} quotas already: remove this quota (admin quota-remove)`,
    );
  }
  await writer.updateInode(ino, (latest) => withQuotas(latest, [...ids, quotaId]));
  const shard = inodeCountShard(ino);
  counted.set(shard, addUsage(counted.get(shard) ?? zeroUsage, await quotas.usageOfInode(inode)));
  if (inode.type === 'directory') quotas.putCountDirectory(quotaId, ino, undefined);
}

/** The quota as callers see it, with its usage and (`withPath`) its directory's path. */
export async function quotaInfo(
  reader: MetaReader,
  quota: QuotaState,
  options: { withPath: boolean },
): Promise<QuotaInfo> {
  const usage = await new QuotaReader(reader.transaction).usage(quota.quotaId, { exact: true });
  let path: string | null = null;
  if (options.withPath) {
    const directory = await reader.inode(quota.directory);
    if (directory?.type === 'directory')
      path = await pathOfChain(reader, await placeOf(reader, directory, { policies: false }));
  }
  return { ...quota, usage, path };
}

/** The quota on the directory `at` names, and those counting what it names (outermost first). */
export async function getQuota(
  reader: MetaReader,
  cred: Credentials,
  at: PathAt,
): Promise<{ quota: QuotaInfo | null; containing: QuotaInfo[] }> {
  const { inode } = await resolveExisting(reader, cred, at, { followLast: true });
  const quotas = new QuotaReader(reader.transaction);
  const own = await ownQuota(quotas, inode);
  const containing: QuotaInfo[] = [];
  for (const quota of await quotas.live(inode.quotas))
    containing.push(await quotaInfo(reader, quota, { withPath: true }));
  return { quota: own === undefined ? null : await quotaInfo(reader, own, { withPath: true }), containing };
}

async function ownQuota(quotas: QuotaReader, inode: Inode): Promise<QuotaState | undefined> {
  if (inode.type !== 'directory') return undefined;
  const quotaId = await quotas.quotaIdOf(inode.ino);
  return quotaId === undefined ? undefined : quotas.quota(quotaId);
}

/** A page of every quota in id order; root only. */
export async function listQuotas(
  reader: MetaReader,
  cred: Credentials,
  request: { after?: InodeId | undefined; limit: number },
): Promise<{ quotas: QuotaInfo[]; nextCursor: InodeId | null }> {
  requireRoot(cred, 'list every quota');
  const found = await new QuotaReader(reader.transaction).quotas(request.after, request.limit + 1);
  const page = found.slice(0, request.limit);
  const infos: QuotaInfo[] = [];
  for (const quota of page) infos.push(await quotaInfo(reader, quota, { withPath: true }));
  const last = page[page.length - 1];
  return {
    quotas: infos,
    nextCursor: found.length > request.limit && last !== undefined ? last.quotaId : null,
  };
}

/**
 * The quota statfs of inode `ino` shows: a directory's own quota, else among those counting the
 * inode the one with the least room (bytes first, then inodes); undefined when none limits anything.
 */
export async function quotaForStatFs(
  reader: MetaReader,
  ino: InodeId,
  nowNs: bigint,
): Promise<QuotaInfo | undefined> {
  const inode = await reader.requireInode(ino);
  const quotas = new QuotaReader(reader.transaction);
  const own = await ownQuota(quotas, inode);
  const limited = (own === undefined ? await quotas.live(inode.quotas) : [own]).filter(
    (quota) => limitsDimension(quota, 'bytes') || limitsDimension(quota, 'inodes'),
  );
  let best: { info: QuotaInfo; room: [bigint, bigint] } | undefined;
  for (const quota of limited) {
    const info = await quotaInfo(reader, quota, { withPath: false });
    const room: [bigint, bigint] = [roomLeft(info, 'bytes', nowNs), roomLeft(info, 'inodes', nowNs)];
    if (best === undefined || room[0] < best.room[0] || (room[0] === best.room[0] && room[1] < best.room[1]))
      best = { info, room };
  }
  return best?.info;
}

/** Room left in one dimension: below the hard limit, else the soft one (no limit: the most there is). */
function roomLeft(info: QuotaInfo, dimension: QuotaDimension, nowNs: bigint): bigint {
  const soft = dimension === 'bytes' ? info.limits.softBytes : info.limits.softInodes;
  const limit = effectiveLimit(info, dimension, nowNs) ?? soft;
  return limit === undefined ? 1n << 63n : limit - amountOf(info.usage, dimension);
}
