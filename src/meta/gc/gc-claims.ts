/**
 * Claims on the work queues of the GC worker (GCQU removed files, TRNC pending truncations), so
 * that several meta services share the work without doing an entry twice at once:
 *
 *   GCCL | kind (1 byte: 'g' file, 't' truncation) | ino (u64 BE)   → owner node id, expiry
 *
 * A claim is taken in the same transaction that lists the entries, lasts metaGcClaimMs, and is
 * released when its owner is done (or fails). A claim whose owner died simply expires, and the
 * entry is taken over; work on an entry is idempotent, so a late finisher does no harm. These keys
 * sit beside the meta records of store/keys.ts under their own tag.
 */
import { z } from 'zod';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import {
  asciiKey,
  concatKey,
  u64BigEndian,
  type KvReadTransaction,
  type KvTransaction,
} from '../../kv/index.js';
import type { InodeId } from '../protocol/index.js';

export const gcClaimTag = asciiKey('GCCL');

/** The queue an entry belongs to. */
export type GcQueueKind = 'file' | 'truncation';

const kindByte: Record<GcQueueKind, number> = { file: 0x67, truncation: 0x74 };

const claimRecordSchema = z.strictObject({
  format: z.literal(1),
  owner: z.number().int().min(1).max(0xffff_ffff),
  expiresAtMs: z.number().int().min(0),
});
export type GcClaim = z.infer<typeof claimRecordSchema>;

export function claimKey(kind: GcQueueKind, ino: InodeId): Buffer {
  return concatKey(gcClaimTag, Buffer.from([kindByte[kind]]), u64BigEndian(ino));
}

export async function readClaim(
  tx: KvReadTransaction,
  kind: GcQueueKind,
  ino: InodeId,
): Promise<GcClaim | undefined> {
  const bytes = await tx.get(claimKey(kind, ino));
  return bytes === undefined
    ? undefined
    : decodeRecord(claimRecordSchema, bytes, `GC claim of ${kind} ${ino}`);
}

/** Claims the entry for `owner` unless another owner's claim is still running; true when claimed. */
export async function tryClaim(
  tx: KvTransaction,
  options: { kind: GcQueueKind; ino: InodeId; owner: number; nowMs: number; claimMs: number },
): Promise<boolean> {
  const current = await readClaim(tx, options.kind, options.ino);
  if (current !== undefined && current.owner !== options.owner && current.expiresAtMs > options.nowMs)
    return false;
  tx.set(
    claimKey(options.kind, options.ino),
    encodeRecord(claimRecordSchema, {
      format: 1,
      owner: options.owner,
      expiresAtMs: options.nowMs + options.claimMs,
    }),
  );
  return true;
}

/** True while `owner` holds the claim (so its result may be recorded). */
export async function holdsClaim(
  tx: KvReadTransaction,
  options: { kind: GcQueueKind; ino: InodeId; owner: number },
): Promise<boolean> {
  return (await readClaim(tx, options.kind, options.ino))?.owner === options.owner;
}

/** Releases `owner`'s claim (another owner's is left alone). */
export async function releaseClaim(
  tx: KvTransaction,
  options: { kind: GcQueueKind; ino: InodeId; owner: number },
): Promise<void> {
  if (await holdsClaim(tx, options)) tx.clear(claimKey(options.kind, options.ino));
}
