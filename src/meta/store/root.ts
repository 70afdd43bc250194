/**
 * The root directory: inode 1, created by the first meta service that starts on a KV whose
 * cluster is initialized, in one transaction that does nothing when it exists (so any number of
 * services may race to create it). A namespace created here is counted from its first inode; one
 * created before inodes were counted is counted whole once, at start.
 */
import { assert } from '../../common/errors.js';
import type { KvEngine } from '../../kv/index.js';
import { rootInodeId, type DirectoryInode, type DirectoryLayout } from '../protocol/index.js';
import { MetaWriter } from './meta-store.js';

/** Mode of a new root directory: rwxr-xr-x, owned by root, as mkfs makes it. */
const rootMode = 0o755;

/** Creates the root directory if it is missing; resolves with it either way. */
export async function ensureRoot(
  kv: KvEngine,
  options: { layout: DirectoryLayout; nowNs: bigint },
): Promise<{ root: DirectoryInode; created: boolean }> {
  return kv.transact(async (tx) => {
    const writer = new MetaWriter(tx);
    const existing = await writer.inode(rootInodeId);
    if (existing !== undefined) {
      assert(existing.type === 'directory', 'inode 1 is the root directory');
      return { root: existing, created: false };
    }
    const root: DirectoryInode = {
      type: 'directory',
      ino: rootInodeId,
      mode: rootMode,
      uid: 0,
      gid: 0,
      // Its "." and its own "..": the root is its own parent.
      nlink: 2,
      atimeNs: options.nowNs,
      mtimeNs: options.nowNs,
      ctimeNs: options.nowNs,
      parent: rootInodeId,
      layout: options.layout,
    };
    await writer.createInode(root);
    writer.markInodeCountsComplete(0n);
    return { root, created: true };
  });
}

/**
 * Counts the inodes of a namespace created before inodes were counted, once, in one transaction
 * (so creates and removals racing it conflict and retry rather than go uncounted). Resolves with
 * the count made, or undefined when the counts were complete already.
 */
export async function ensureInodeCounts(kv: KvEngine, nowNs: bigint): Promise<bigint | undefined> {
  return kv.transact(async (tx) => {
    const writer = new MetaWriter(tx);
    if ((await writer.inodesInUse()) !== undefined) return undefined;
    return writer.countAllInodes(nowNs);
  });
}
