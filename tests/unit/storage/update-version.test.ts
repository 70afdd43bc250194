// Proves the chunk version rules: the head numbers updates committed + 1, a successor applies the
// next version (or any whole-chunk update), acknowledges versions it has, and asks for the whole
// chunk when it lacks the base of a partial update.
import { describe, expect, it } from 'vitest';
import {
  decideForwardedUpdate,
  isWholeChunkUpdate,
  nextUpdateVersion,
} from '../../../src/storage/craq/update-version.js';

describe('chunk version rules', () => {
  it('numbers the next update one past the committed version', () => {
    expect(nextUpdateVersion(0)).toBe(1);
    expect(nextUpdateVersion(41)).toBe(42);
    expect(() => nextUpdateVersion(0xffff_ffff)).toThrow(/cannot grow/);
  });

  it('decides what a successor does with a forwarded update', () => {
    expect(decideForwardedUpdate({ committedVersion: 4, updateVersion: 5, wholeChunk: false })).toBe('apply');
    expect(decideForwardedUpdate({ committedVersion: 5, updateVersion: 5, wholeChunk: false })).toBe(
      'already-committed',
    );
    expect(decideForwardedUpdate({ committedVersion: 7, updateVersion: 5, wholeChunk: true })).toBe(
      'already-committed',
    );
    expect(decideForwardedUpdate({ committedVersion: 2, updateVersion: 5, wholeChunk: false })).toBe(
      'missing-base',
    );
    expect(decideForwardedUpdate({ committedVersion: 2, updateVersion: 5, wholeChunk: true })).toBe('apply');
  });

  it("lets a whole chunk replace a syncing target's stale copy whatever its version", () => {
    expect(
      decideForwardedUpdate({ committedVersion: 7, updateVersion: 5, wholeChunk: true, staleCopy: true }),
    ).toBe('replace-stale');
    expect(
      decideForwardedUpdate({ committedVersion: 5, updateVersion: 5, wholeChunk: true, staleCopy: true }),
    ).toBe('replace-stale');
    expect(
      decideForwardedUpdate({ committedVersion: 7, updateVersion: 5, wholeChunk: false, staleCopy: true }),
    ).toBe('already-committed');
    expect(
      decideForwardedUpdate({ committedVersion: 2, updateVersion: 5, wholeChunk: true, staleCopy: true }),
    ).toBe('apply');
  });

  it('knows which updates do not depend on the old content', () => {
    expect(isWholeChunkUpdate({ kind: 'replace', length: 1, checksum: 0 })).toBe(true);
    expect(isWholeChunkUpdate({ kind: 'remove' })).toBe(true);
    expect(isWholeChunkUpdate({ kind: 'write', offset: 0, length: 1, checksum: 0 })).toBe(false);
    expect(isWholeChunkUpdate({ kind: 'truncate', length: 0 })).toBe(false);
  });
});
