/**
 * The seam where chunk recovery plugs in (DESIGN §7, "Recovery of a returning target"). When
 * routing info shows a target `syncing`, the process holding its predecessor is told; recovery
 * then dumps the returning target's chunk metadata (Storage.dumpChunkMeta), compares it with its
 * own, streams whole-chunk replaces for what differs while normal writes keep flowing (the
 * forwarder already sends a syncing successor whole chunks), and finally tells the returning
 * target it is done, which reports `up-to-date` from then on (StorageNode.markUpToDate).
 *
 * This build does not copy chunks yet: its recovery only logs, so a returning target stays
 * `syncing` — it receives every new write in full but is never read from.
 */
import type { Logger } from '../../common/logger.js';

export interface TargetRecovery {
  /** `syncingTargetId` follows `localTargetId` (served here) in chain `chainId` and is syncing. */
  successorSyncing(options: { chainId: number; localTargetId: number; syncingTargetId: number }): void;
}

/** The recovery of this build: it records that recovery is due and does nothing else. */
export function loggingRecovery(logger: Logger): TargetRecovery {
  const reported = new Set<number>();
  return {
    successorSyncing({ chainId, localTargetId, syncingTargetId }) {
      if (reported.has(syncingTargetId)) return;
      reported.add(syncingTargetId);
      logger.warn(
        { chainId, localTargetId, syncingTargetId },
        'successor is syncing; chunk recovery is not part of this build, so it stays syncing and gets whole-chunk writes',
      );
    },
  };
}
