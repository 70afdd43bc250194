/**
 * Chunk version rules of CRAQ (pure). The head numbers each update of a chunk: committed version
 * + 1. A successor applies an update numbered v + 1 over its committed version v; it has already
 * committed an update whose number it has reached (the head retrying after a lost ack), and it
 * cannot apply a partial update to any other base, so it asks for the whole chunk instead.
 *
 * A syncing successor is the exception: a copy it kept from before it went down may carry any
 * version number (a remove resets a chunk's versions), so a whole chunk sent under a newer chain
 * version than its copy's replaces that copy whatever its number (DESIGN §7: writes reach a
 * syncing target as full-chunk replaces).
 */
import { FsError } from '../../common/errors.js';
import { StorageCode } from '../../common/status-code.js';
import type { ChunkUpdateOp } from '../protocol/index.js';

const versionMax = 0xffff_ffff;

/** The version the head gives the next update of a chunk committed at `committedVersion` (0: none). */
export function nextUpdateVersion(committedVersion: number): number {
  if (committedVersion >= versionMax) {
    throw new FsError(
      StorageCode.ChunkVersionMismatch,
      `chunk version ${committedVersion} cannot grow further`,
    );
  }
  return committedVersion + 1;
}

/**
 * True for updates whose result does not depend on the chunk's previous content (a clone's depends
 * on its source's, which every replica checks against the version the head saw).
 */
export function isWholeChunkUpdate(op: ChunkUpdateOp): boolean {
  return op.kind === 'replace' || op.kind === 'remove' || op.kind === 'clone';
}

export type ForwardedUpdateDecision = 'apply' | 'already-committed' | 'missing-base' | 'replace-stale';

/**
 * What a successor with committed version `committedVersion` (0: none) does with update
 * `updateVersion`. `staleCopy`: the successor is syncing and its committed copy was written under
 * an older chain version than the update's (see the file comment).
 */
export function decideForwardedUpdate(input: {
  committedVersion: number;
  updateVersion: number;
  wholeChunk: boolean;
  staleCopy?: boolean;
}): ForwardedUpdateDecision {
  if (input.updateVersion <= input.committedVersion) {
    return input.wholeChunk && input.staleCopy === true ? 'replace-stale' : 'already-committed';
  }
  if (input.wholeChunk || input.updateVersion === input.committedVersion + 1) return 'apply';
  return 'missing-base';
}
