/**
 * A directory's trash setting (`admin trash-set`): seconds in the trash for removals anywhere
 * below it, or 0 for permanent removals there; the nearest setting above a removal applies. Its
 * owner or root sets it. The setting lives in its own record (TRDP), removed with the directory.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import type { OpContext } from '../ops/context.js';
import { resolveExisting } from '../path-resolve.js';
import { ownsOrRoot } from '../permissions.js';
import { rootInodeId, type InodeId, type PathAt } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import { TrashWriter } from '../store/trash-records.js';
import { pathOfChain, placeOf } from './trash-dirs.js';

export interface PolicyRequest {
  readonly at: PathAt;
  readonly expireS?: number | undefined;
  readonly clear?: boolean | undefined;
}

export interface PolicyInForce {
  /** Seconds in the trash (0: none) for removals in the directory; null when nothing is set. */
  expireS: number | null;
  /** The directory holding the setting, and its path when found. */
  from: InodeId | null;
  fromPath: string | null;
}

/** Sets or clears a directory's setting (or neither); answers the setting then in force there. */
export async function setPolicy(
  writer: MetaWriter,
  ctx: OpContext,
  request: PolicyRequest,
): Promise<PolicyInForce> {
  if (request.clear === true && request.expireS !== undefined) {
    throw new FsError(MetaCode.InvalidArgument, 'a trash setting is either set or cleared');
  }
  const { inode } = await resolveExisting(writer, ctx.cred, request.at, { followLast: true });
  if (inode.type !== 'directory')
    throw new FsError(MetaCode.NotDirectory, `inode ${inode.ino} is not a directory`);
  const records = new TrashWriter(writer.transaction);
  if (request.clear === true || request.expireS !== undefined) {
    if (!ownsOrRoot(inode, ctx.cred)) {
      throw new FsError(
        MetaCode.NotPermitted,
        `only the owner of directory ${inode.ino} or root sets its trash`,
      );
    }
    if (request.expireS !== undefined) {
      records.putPolicy(inode.ino, request.expireS);
      const place = await placeOf(writer, inode, { policies: false });
      return { expireS: request.expireS, from: inode.ino, fromPath: await pathOfChain(writer, place) };
    }
    records.deletePolicy(inode.ino);
    if (inode.ino === rootInodeId) return { expireS: null, from: null, fromPath: null };
    // The directory's own record is cleared in this transaction: look from its parent up.
    const parent = await writer.requireDirectory(inode.parent);
    return inForce(writer, parent);
  }
  return inForce(writer, inode);
}

async function inForce(writer: MetaWriter, directory: Parameters<typeof placeOf>[1]): Promise<PolicyInForce> {
  const place = await placeOf(writer, directory, { policies: true });
  const from = place.policyFrom;
  if (from === undefined) return { expireS: null, from: null, fromPath: null };
  const index = place.chain.findIndex((ancestor) => ancestor.ino === from);
  const fromPath = await pathOfChain(writer, { ...place, chain: place.chain.slice(index) });
  return { expireS: place.policyExpireS ?? null, from, fromPath };
}
