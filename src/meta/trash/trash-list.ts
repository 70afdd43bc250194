/**
 * Listing the trash: a caller sees their own items, root anyone's (one user's, or everyone's).
 * Records whose entry no longer names their inode (moved or removed by hand through a mount) are
 * left out; the cleaner drops them when they expire.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import { isRoot } from '../permissions.js';
import type { Credentials, DirectoryInode, TrashItem, TrashItemKey } from '../protocol/index.js';
import type { MetaReader } from '../store/meta-store.js';
import { TrashReader } from '../store/trash-records.js';
import { findUserTrash } from './trash-dirs.js';
import { checkMayTouch } from './trash-rules.js';

export interface ListRequest {
  readonly uid?: number | undefined;
  readonly after?: TrashItemKey | undefined;
  readonly limit: number;
}

/** One page of items in key order (uid, then name); `nextCursor` null after the last. */
export async function listItems(
  reader: MetaReader,
  cred: Credentials,
  request: ListRequest,
): Promise<{ items: TrashItem[]; nextCursor: TrashItemKey | null }> {
  if (request.uid !== undefined) checkMayTouch(cred, request.uid);
  const uid = request.uid ?? (isRoot(cred) ? undefined : cred.uid);
  if (request.after !== undefined && uid !== undefined && request.after.uid !== uid) {
    throw new FsError(MetaCode.InvalidArgument, 'a listing of one trash continues from an item of it');
  }
  const page = await new TrashReader(reader.transaction).items({
    ...(uid === undefined ? {} : { uid }),
    ...(request.after === undefined ? {} : { after: request.after }),
    limit: request.limit,
  });
  const userTrashes = new Map<number, DirectoryInode | undefined>();
  const items: TrashItem[] = [];
  for (const item of page) {
    if (!userTrashes.has(item.uid)) userTrashes.set(item.uid, await findUserTrash(reader, item.uid));
    const userTrash = userTrashes.get(item.uid);
    if (userTrash === undefined) continue;
    if ((await reader.entry(userTrash.ino, item.name))?.ino === item.ino) items.push(item);
  }
  const last = page[page.length - 1];
  const nextCursor =
    page.length < request.limit || last === undefined ? null : { uid: last.uid, name: last.name };
  return { items, nextCursor };
}
