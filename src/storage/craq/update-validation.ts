/**
 * Checks of an update at the server's edge, before anything is locked or written: the chunk size
 * against this target's maximum, the range against the chunk size, the payload against the
 * announced length and its CRC32C. Each failure has its own status code and a message naming the
 * numbers, and nothing is written. Where the RPC layer checked the payload against the CRC32C of
 * its frame, the caller passes that value on and the announced checksum is compared with it. The
 * payloads of Storage.write and Storage.forward are not checked on the way in (their methods say
 * so): their updates carry the announced checksum as `checkAgainst`, and the chunk store checks
 * the bytes in its prepare, before the update can be committed. The native engine does that from
 * the block checksums it sums anyway, so the bytes of a write are summed once on each replica.
 */
import { FsError } from '../../common/errors.js';
import { StorageCode } from '../../common/status-code.js';
import type { ChunkUpdateOp } from '../protocol/index.js';
import type { ChunkUpdate } from '../store/chunk-store.js';

function checkChunkSize(chunkSizeBytes: number, chunkSizeMaxBytes: number): void {
  if (chunkSizeBytes > chunkSizeMaxBytes) {
    throw new FsError(
      StorageCode.PayloadTooLarge,
      `chunk size ${chunkSizeBytes} exceeds this target's maximum of ${chunkSizeMaxBytes} bytes`,
    );
  }
}

function checkPayload(options: {
  payload: Buffer | undefined;
  length: number;
  checksum: number;
  /** The CRC32C the payload was already verified against; undefined: not checked yet. */
  payloadCrc32c: number | undefined;
  offset: number;
  chunkSizeBytes: number;
}): Buffer {
  const { payload, length, offset, chunkSizeBytes } = options;
  if (length > chunkSizeBytes) {
    throw new FsError(
      StorageCode.PayloadTooLarge,
      `a payload of ${length} bytes exceeds the chunk size of ${chunkSizeBytes}`,
    );
  }
  if (offset + length > chunkSizeBytes) {
    throw new FsError(
      StorageCode.OffsetOutOfRange,
      `bytes [${offset}, ${offset + length}) reach past the chunk size of ${chunkSizeBytes}`,
    );
  }
  const received = payload?.length ?? 0;
  if (payload === undefined || received !== length) {
    throw new FsError(
      StorageCode.PayloadLengthMismatch,
      `the request announces ${length} bytes but its payload holds ${payload === undefined ? 'none' : received}`,
    );
  }
  // Unchecked: the store checks the bytes against the announced checksum (see the file comment).
  if (options.payloadCrc32c === undefined) return payload;
  if (options.payloadCrc32c !== options.checksum) {
    throw new FsError(
      StorageCode.ChecksumMismatch,
      `the payload's CRC32C is ${options.payloadCrc32c.toString(16)}, the request says ${options.checksum.toString(16)}`,
    );
  }
  return payload;
}

function checkNoPayload(payload: Buffer | undefined, kind: string): void {
  if (payload !== undefined && payload.length > 0) {
    throw new FsError(
      StorageCode.PayloadLengthMismatch,
      `a ${kind} carries no payload, got ${payload.length} bytes`,
    );
  }
}

/** Turns a request's update and payload into a checked ChunkUpdate, or throws a typed error. */
export function toChunkUpdate(input: {
  op: ChunkUpdateOp;
  payload: Buffer | undefined;
  /**
   * The CRC32C `payload` was verified against on receipt (CallContext.payloadCrc32c); undefined
   * when nobody checked it, and then the update carries the announced checksum as `checkAgainst`.
   */
  payloadCrc32c?: number | undefined;
  chunkSizeBytes: number;
  chunkSizeMaxBytes: number;
}): ChunkUpdate {
  const { op, payload, chunkSizeBytes } = input;
  const payloadCrc32c = payload === undefined ? undefined : input.payloadCrc32c;
  checkChunkSize(chunkSizeBytes, input.chunkSizeMaxBytes);
  // A payload nobody checked on the way in: the store checks it against the announced checksum.
  const unchecked =
    payloadCrc32c === undefined && (op.kind === 'write' || op.kind === 'replace')
      ? { checkAgainst: op.checksum }
      : {};
  switch (op.kind) {
    case 'write':
      return {
        kind: 'write',
        offset: op.offset,
        data: checkPayload({
          payload,
          length: op.length,
          checksum: op.checksum,
          payloadCrc32c,
          offset: op.offset,
          chunkSizeBytes,
        }),
        ...unchecked,
      };
    case 'replace':
      return {
        kind: 'replace',
        data: checkPayload({
          payload,
          length: op.length,
          checksum: op.checksum,
          payloadCrc32c,
          offset: 0,
          chunkSizeBytes,
        }),
        // Either checked already, or the store checks it before using it (checkAgainst).
        dataChecksum: op.checksum,
        ...unchecked,
      };
    case 'truncate':
      checkNoPayload(payload, 'truncate');
      if (op.length > chunkSizeBytes) {
        throw new FsError(
          StorageCode.OffsetOutOfRange,
          `a truncate to ${op.length} bytes reaches past the chunk size of ${chunkSizeBytes}`,
        );
      }
      return { kind: 'truncate', length: op.length };
    case 'remove':
      checkNoPayload(payload, 'remove');
      return { kind: 'remove' };
    case 'zero':
      checkNoPayload(payload, 'zero');
      if (
        op.offset > chunkSizeBytes ||
        op.length > chunkSizeBytes ||
        op.offset + op.length > chunkSizeBytes
      ) {
        throw new FsError(
          StorageCode.OffsetOutOfRange,
          `zeroing bytes [${op.offset}, ${op.offset + op.length}) reaches past the chunk size of ${chunkSizeBytes}`,
        );
      }
      return { kind: 'zero', offset: op.offset, length: op.length };
    case 'clone':
      checkNoPayload(payload, 'clone');
      if (op.sourceVersion === undefined) {
        throw new FsError(
          StorageCode.ChunkVersionMismatch,
          'a clone reaching a target names the version of its source (the head fills it in)',
        );
      }
      return { kind: 'clone', source: op.source, sourceVersion: op.sourceVersion };
  }
}

/** Checks a read's range against the largest chunk a target holds. */
export function checkReadRange(range: { offset: number; length: number }, chunkSizeMaxBytes: number): void {
  if (range.length > chunkSizeMaxBytes) {
    throw new FsError(
      StorageCode.PayloadTooLarge,
      `a read of ${range.length} bytes exceeds the largest chunk of ${chunkSizeMaxBytes} bytes`,
    );
  }
  if (range.offset > chunkSizeMaxBytes) {
    throw new FsError(
      StorageCode.OffsetOutOfRange,
      `offset ${range.offset} lies past the largest chunk of ${chunkSizeMaxBytes} bytes`,
    );
  }
}
