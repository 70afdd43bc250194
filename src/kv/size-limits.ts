/**
 * FoundationDB's size and age limits (common/limits.ts), enforced by the generic layer for every
 * engine so that code tested on sqlite keeps working on FoundationDB. Each refusal names the
 * size, the limit and the key involved.
 */
import { FsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { CommonCode, KvCode } from '../common/status-code.js';
import { formatKey } from './keys.js';

/** Refuses a key to read or write that is larger than FoundationDB allows. */
export function checkKeySize(key: Uint8Array): void {
  if (key.length > limits.kvKeyBytesMax) {
    throw new FsError(
      KvCode.KeyTooLarge,
      `key of ${key.length} bytes exceeds the limit of ${limits.kvKeyBytesMax} bytes: ${formatKey(key)}`,
    );
  }
}

/**
 * Refuses a range endpoint longer than the largest key plus one byte. One byte more than a key is
 * allowed so that the key after the largest legal key (keyAfter, prefixEnd) can end a range.
 */
export function checkRangeEndpointSize(endpoint: Uint8Array, name: 'begin' | 'end'): void {
  const endpointBytesMax = limits.kvKeyBytesMax + 1;
  if (endpoint.length > endpointBytesMax) {
    throw new FsError(
      KvCode.KeyTooLarge,
      `range ${name} of ${endpoint.length} bytes exceeds the limit of ${endpointBytesMax} bytes: ${formatKey(endpoint)}`,
    );
  }
}

/** Refuses a value larger than FoundationDB allows. */
export function checkValueSize(key: Uint8Array, value: Uint8Array): void {
  if (value.length > limits.kvValueBytesMax) {
    throw new FsError(
      KvCode.ValueTooLarge,
      `value of ${value.length} bytes exceeds the limit of ${limits.kvValueBytesMax} bytes (key ${formatKey(key)})`,
    );
  }
}

/**
 * The transaction's mutation bytes after adding `addedBytes`, refused when they would exceed
 * FoundationDB's transaction size limit. Every mutation counts, as in FoundationDB: a key set
 * twice counts twice.
 */
export function addMutationBytes(currentBytes: number, addedBytes: number): number {
  const totalBytes = currentBytes + addedBytes;
  if (totalBytes > limits.kvTransactionBytesMax) {
    throw new FsError(
      KvCode.TransactionTooLarge,
      `transaction mutations would reach ${totalBytes} bytes, over the limit of ${limits.kvTransactionBytesMax} bytes`,
    );
  }
  return totalBytes;
}

/** The error of a transaction used or committed after FoundationDB's age limit. */
export function transactionTooOld(ageMs: number): FsError {
  return new FsError(
    KvCode.TransactionTooOld,
    `transaction is ${Math.round(ageMs)} ms old, over the limit of ${limits.kvTransactionDurationMsMax} ms`,
  );
}

/** The error of a transaction object used after its function finished. */
export function transactionFinished(): FsError {
  return new FsError(KvCode.TransactionFinished, 'transaction used after its function finished');
}

/** Refuses a range whose begin comes after its end. */
export function checkRangeOrder(begin: Uint8Array, end: Uint8Array): void {
  if (Buffer.compare(begin, end) > 0) {
    throw new FsError(
      KvCode.InvalidRange,
      `range begin ${formatKey(begin)} comes after its end ${formatKey(end)}`,
    );
  }
}

/**
 * The number of pairs a range read may return: the caller's limit, or the engine's own bound
 * plus one when there is none (so that exceeding the bound can be told apart and refused).
 */
export function effectiveRangeLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return limits.kvRangeReadPairsMax + 1;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new FsError(CommonCode.InvalidArgument, `range limit must be a non-negative integer, got ${limit}`);
  }
  if (limit > limits.kvRangeReadPairsMax) {
    throw new FsError(
      KvCode.RangeTooLarge,
      `range limit ${limit} exceeds the maximum of ${limits.kvRangeReadPairsMax} pairs per read; read in pages`,
    );
  }
  return limit;
}

/** Refuses the result of a range read without a limit that found more pairs than the engine's bound. */
export function checkUnlimitedRangeResult(pairs: number): void {
  if (pairs > limits.kvRangeReadPairsMax) {
    throw new FsError(
      KvCode.RangeTooLarge,
      `range holds more than ${limits.kvRangeReadPairsMax} pairs; read it in pages with a limit`,
    );
  }
}
