/**
 * The trash's rules as pure functions: which stay a removal gets, how an item is named in its
 * user's trash directory, and who may touch an item.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { isRoot } from '../permissions.js';
import type { Credentials, InodeId } from '../protocol/index.js';

/**
 * Seconds a removal stays in the trash, 0 for a permanent removal. The remover's explicit ask
 * (`admin rmtree --trash --expire`) wins; else the nearest directory setting (0 there turns the
 * trash off below it, whatever a mount asks); else the mount's default; else none.
 */
export function chooseExpiryS(choices: {
  explicitS: number | undefined;
  directoryS: number | undefined;
  mountDefaultS: number | undefined;
}): number {
  const chosen = choices.explicitS ?? choices.directoryS ?? choices.mountDefaultS ?? 0;
  assert(Number.isInteger(chosen) && chosen >= 0 && chosen <= limits.trashExpireSMax, 'a stay is bounded');
  return chosen;
}

/** When an item removed at `removedAtNs` for `expireS` seconds expires. */
export function expiresAtNs(removedAtNs: bigint, expireS: number): bigint {
  assert(expireS >= 1, 'an item stays at least a second');
  return removedAtNs + BigInt(expireS) * 1_000_000_000n;
}

/** UTC `YYYYMMDD-HHMMSS` of a time in nanoseconds: items list in the order they were removed. */
function stamp(timeNs: bigint): string {
  const iso = new Date(Number(timeNs / 1_000_000n)).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/**
 * The name of an item in its user's trash directory: the removal time, the inode id and the
 * original name (cut to fit a name's 255 bytes), so names sort by removal time and differ for
 * different inodes. `attempt` > 0 adds a counter for the same inode removed twice in one second
 * (two hard links).
 */
export function itemName(removal: {
  removedAtNs: bigint;
  ino: InodeId;
  name: string;
  attempt: number;
}): string {
  assert(removal.attempt >= 0 && removal.attempt < limits.metaTrashNameAttemptsMax, 'attempts are bounded');
  const counter = removal.attempt === 0 ? '' : `.${removal.attempt + 1}`;
  const prefix = `${stamp(removal.removedAtNs)}-${removal.ino}${counter}-`;
  return prefix + truncateUtf8(removal.name, limits.metaNameBytesMax - Buffer.byteLength(prefix, 'utf8'));
}

/** The longest start of `text` that fits `bytesMax` bytes of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, bytesMax: number): string {
  if (Buffer.byteLength(text, 'utf8') <= bytesMax) return text;
  let bytes = 0;
  let end = 0;
  for (const character of text) {
    const size = Buffer.byteLength(character, 'utf8');
    if (bytes + size > bytesMax) break;
    bytes += size;
    end += character.length;
  }
  return text.slice(0, end);
}

/** Refuses a caller other than root acting on another user's trash. */
export function checkMayTouch(cred: Credentials, uid: number): void {
  if (isRoot(cred) || cred.uid === uid) return;
  throw new FsError(MetaCode.NotPermitted, `the trash of uid ${uid} is theirs and root's alone`);
}
