/**
 * What every operation receives besides its transaction: the caller (after root squash), the
 * attempt's time, reserved inode ids and layout picking. One context serves one attempt.
 */
import type { Credentials, DirectoryLayout, FileLayout, InodeId } from '../protocol/index.js';

export interface OpContext {
  readonly cred: Credentials;
  /** The time of this attempt, in nanoseconds since the epoch. */
  readonly nowNs: bigint;
  /** The next inode id reserved for this operation. */
  takeInodeId(): InodeId;
  /** A new file's layout under a directory's default layout. */
  fileLayout(directory: DirectoryLayout): FileLayout;
}
