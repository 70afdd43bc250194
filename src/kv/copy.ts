/**
 * Copying a cluster's metadata from one engine to another, offline (no service may write to
 * either store meanwhile), so an operator can move from sqlite to postgres or FoundationDB.
 *
 * The copy walks the source in key order, one batch per pair of transactions (a read of the
 * source, a write of the destination), each batch bounded in pairs and bytes well inside the
 * 10 MB and 5 s transaction limits. It refuses a destination that holds data unless forced (then
 * clears it first, in batches too), refuses a destination that is the source, and verifies at
 * the end: the source is read again and the destination read whole, and pair counts, bytes and a
 * SHA-256 over every pair in order must agree with what was copied (a source that changed during
 * the copy is found out this way, as is any pair the destination lost or gained).
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FsError, assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { CommonCode, KvCode } from '../common/status-code.js';
import { openKvEngine, type KvSection } from './config.js';
import { formatKey, hasPrefix, keyAfter } from './keys.js';
import type { KeyValue, KvEngine } from './kv.js';
import { postgresTarget } from './postgres-config.js';

/** Every key of at most kvKeyBytesMax bytes lies in [allKeysBegin, allKeysEnd). */
const allKeysBegin: Buffer = Buffer.alloc(0);
const allKeysEnd = Buffer.alloc(limits.kvKeyBytesMax + 1, 0xff);
/** Pairs of one range read inside a batch; small, so a page of the largest values stays ~11 MB. */
const pagePairs = 100;

export interface CopyOptions {
  /** Clear a destination that already holds data instead of refusing it. */
  force?: boolean;
  /** Pairs per batch (default kvCopyBatchPairsMax). */
  batchPairsMax?: number;
  /** Bytes of keys and values per batch (default kvCopyBatchBytesMax, at most half the transaction limit). */
  batchBytesMax?: number;
  /** Stops between batches when aborted. */
  signal?: AbortSignal;
  /** Called after each batch written. */
  onProgress?: (progress: { pairs: number; bytes: number }) => void;
}

export interface CopyReport {
  pairs: number;
  /** Bytes of keys and values. */
  bytes: number;
  /** SHA-256 over every pair in key order (lengths and bytes), as hex. */
  checksum: string;
  /** Whether a destination holding data was cleared first (with `force`). */
  clearedDestination: boolean;
}

interface Batch {
  pairs: KeyValue[];
  bytes: number;
  /** Whether the source may hold more pairs after this batch. */
  more: boolean;
}

interface Digest {
  pairs: number;
  bytes: number;
  checksum: string;
}

/** Copies every pair of `source` into `destination`, then verifies both; see the file comment. */
export async function copyKvData(
  source: KvEngine,
  destination: KvEngine,
  options: CopyOptions = {},
): Promise<CopyReport> {
  const bounds = resolveBounds(options);
  const occupied = await destination.read((tx) => tx.getRange(allKeysBegin, allKeysEnd, { limit: 1 }));
  if (occupied.length > 0 && options.force !== true) {
    throw new FsError(
      KvCode.CopyTargetNotEmpty,
      `the destination (${destination.name}) already holds data (first key ${formatKey(occupied[0]?.key ?? allKeysBegin)}); pass --force to clear it and copy anyway`,
    );
  }
  if (occupied.length > 0) await clearAll(destination, bounds, options.signal);

  const hash = createHash('sha256');
  let pairs = 0;
  let bytes = 0;
  await forEachBatch(source, bounds, options.signal, async (batch) => {
    await destination.transact(async (tx) => {
      for (const pair of batch.pairs) tx.set(pair.key, pair.value);
    });
    for (const pair of batch.pairs) addPair(hash, pair);
    pairs += batch.pairs.length;
    bytes += batch.bytes;
    options.onProgress?.({ pairs, bytes });
  });
  const copied: Digest = { pairs, bytes, checksum: hash.digest('hex') };

  const sourceAfter = await digestAll(source, bounds, options.signal);
  if (!sameDigest(sourceAfter, copied)) {
    throw new FsError(
      KvCode.CopyVerificationFailed,
      `the source changed during the copy (${describeDigest(copied)} copied, ${describeDigest(sourceAfter)} now): stop every service using it and copy again with --force`,
    );
  }
  const destinationAfter = await digestAll(destination, bounds, options.signal);
  if (!sameDigest(destinationAfter, copied)) {
    throw new FsError(
      KvCode.CopyVerificationFailed,
      `the destination differs from the source after the copy (${describeDigest(copied)} copied, ${describeDigest(destinationAfter)} found): is something else writing to it?`,
    );
  }
  return { ...copied, clearedDestination: occupied.length > 0 };
}

/** What copyKvStores did: the copy's report and the two stores, described. */
export interface StoreCopyReport extends CopyReport {
  source: string;
  destination: string;
}

/**
 * Opens the stores two `[kv]` sections name and copies the first into the second (copyKvData),
 * refusing a destination that shares keys with the source and a sqlite source that does not exist
 * (opening it would create an empty one).
 */
export async function copyKvStores(
  sourceSection: KvSection,
  destinationSection: KvSection,
  options: CopyOptions & { logger: Logger },
): Promise<StoreCopyReport> {
  const source = describeKvStore(sourceSection);
  const destination = describeKvStore(destinationSection);
  if (kvStoresOverlap(sourceSection, destinationSection)) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `the source and the destination are the same store (${source} and ${destination})`,
    );
  }
  if (sourceSection.engine === 'sqlite' && !existsSync(sourceSection.sqlite.path)) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `the source database ${sourceSection.sqlite.path} does not exist`,
    );
  }
  const sourceEngine = await openKvEngine(sourceSection, { logger: options.logger });
  try {
    const destinationEngine = await openKvEngine(destinationSection, { logger: options.logger });
    try {
      const report = await copyKvData(sourceEngine, destinationEngine, options);
      return { ...report, source, destination };
    } finally {
      await destinationEngine.close();
    }
  } finally {
    await sourceEngine.close();
  }
}

/**
 * A description of the store a `[kv]` section names, equal for two sections that name the same
 * store (a copy from a store onto itself would clear its own source).
 */
export function describeKvStore(section: KvSection): string {
  switch (section.engine) {
    case 'sqlite':
      return `sqlite ${resolve(section.sqlite.path)}`;
    case 'postgres': {
      const target = postgresTarget(section.postgres);
      return `postgres ${target.host}:${target.port}/${target.database} ${section.postgres.schema}.${section.postgres.table}`;
    }
    case 'foundationdb':
      return `foundationdb ${resolve(section.foundationdb.cluster_file)} prefix ${JSON.stringify(section.foundationdb.key_prefix)}`;
  }
}

/** True when two sections name stores that share keys (the same store, or nested FoundationDB prefixes). */
export function kvStoresOverlap(left: KvSection, right: KvSection): boolean {
  if (left.engine === 'foundationdb' && right.engine === 'foundationdb') {
    if (resolve(left.foundationdb.cluster_file) !== resolve(right.foundationdb.cluster_file)) return false;
    const leftPrefix = Buffer.from(left.foundationdb.key_prefix, 'latin1');
    const rightPrefix = Buffer.from(right.foundationdb.key_prefix, 'latin1');
    return hasPrefix(leftPrefix, rightPrefix) || hasPrefix(rightPrefix, leftPrefix);
  }
  return describeKvStore(left) === describeKvStore(right);
}

function resolveBounds(options: CopyOptions): { pairsMax: number; bytesMax: number } {
  const pairsMax = options.batchPairsMax ?? limits.kvCopyBatchPairsMax;
  const bytesMax = options.batchBytesMax ?? limits.kvCopyBatchBytesMax;
  if (!Number.isSafeInteger(pairsMax) || pairsMax < 1 || pairsMax > limits.kvRangeReadPairsMax) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `batch pairs must be 1 to ${limits.kvRangeReadPairsMax}, got ${pairsMax}`,
    );
  }
  // Half the transaction limit leaves room for the one pair a batch always takes, however large.
  const bytesLimit = limits.kvTransactionBytesMax / 2;
  if (!Number.isSafeInteger(bytesMax) || bytesMax < 1 || bytesMax > bytesLimit) {
    throw new FsError(CommonCode.InvalidArgument, `batch bytes must be 1 to ${bytesLimit}, got ${bytesMax}`);
  }
  return { pairsMax, bytesMax };
}

/**
 * Reads the source in batches from the first key on, calling `visit` for each (which finishes
 * before the next is read). A batch is one read-only transaction of a few small range reads.
 */
async function forEachBatch(
  engine: KvEngine,
  bounds: { pairsMax: number; bytesMax: number },
  signal: AbortSignal | undefined,
  visit: (batch: Batch) => Promise<void>,
): Promise<void> {
  let cursor: Buffer = allKeysBegin;
  for (;;) {
    signal?.throwIfAborted();
    const batch = await readBatch(engine, cursor, bounds);
    if (batch.pairs.length > 0) await visit(batch);
    const last = batch.pairs[batch.pairs.length - 1];
    if (!batch.more || last === undefined) return;
    cursor = keyAfter(last.key);
  }
}

/** The pairs from `begin` on, as many as fit the bounds (at least one, when there is one). */
async function readBatch(
  engine: KvEngine,
  begin: Buffer,
  bounds: { pairsMax: number; bytesMax: number },
): Promise<Batch> {
  return engine.read(async (tx) => {
    const pairs: KeyValue[] = [];
    let bytes = 0;
    let cursor = begin;
    for (;;) {
      const limit = Math.min(pagePairs, bounds.pairsMax - pairs.length);
      const page = await tx.getRange(cursor, allKeysEnd, { limit });
      for (const pair of page) {
        const pairBytes = pair.key.length + pair.value.length;
        if (pairs.length > 0 && bytes + pairBytes > bounds.bytesMax) return { pairs, bytes, more: true };
        pairs.push(pair);
        bytes += pairBytes;
      }
      const last = page[page.length - 1];
      if (page.length < limit || last === undefined) return { pairs, bytes, more: false };
      if (pairs.length >= bounds.pairsMax) return { pairs, bytes, more: true };
      cursor = keyAfter(last.key);
    }
  });
}

/** Clears every key of `engine`, a batch at a time. */
async function clearAll(
  engine: KvEngine,
  bounds: { pairsMax: number; bytesMax: number },
  signal: AbortSignal | undefined,
): Promise<void> {
  for (;;) {
    signal?.throwIfAborted();
    const batch = await readBatch(engine, allKeysBegin, bounds);
    const first = batch.pairs[0];
    const last = batch.pairs[batch.pairs.length - 1];
    if (first === undefined || last === undefined) return;
    await engine.transact(async (tx) => tx.clearRange(first.key, keyAfter(last.key)));
  }
}

async function digestAll(
  engine: KvEngine,
  bounds: { pairsMax: number; bytesMax: number },
  signal: AbortSignal | undefined,
): Promise<Digest> {
  const hash = createHash('sha256');
  let pairs = 0;
  let bytes = 0;
  let previous: Buffer | undefined;
  await forEachBatch(engine, bounds, signal, async (batch) => {
    for (const pair of batch.pairs) {
      assert(
        previous === undefined || Buffer.compare(previous, pair.key) < 0,
        'a scan returns keys in ascending order',
      );
      previous = pair.key;
      addPair(hash, pair);
    }
    pairs += batch.pairs.length;
    bytes += batch.bytes;
  });
  return { pairs, bytes, checksum: hash.digest('hex') };
}

/** Adds a pair to a checksum: both lengths, so that no two different sequences hash alike. */
function addPair(hash: Hash, pair: KeyValue): void {
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32BE(pair.key.length, 0);
  lengths.writeUInt32BE(pair.value.length, 4);
  hash.update(lengths);
  hash.update(pair.key);
  hash.update(pair.value);
}

function sameDigest(left: Digest, right: Digest): boolean {
  return left.pairs === right.pairs && left.bytes === right.bytes && left.checksum === right.checksum;
}

function describeDigest(digest: Digest): string {
  return `${digest.pairs} pairs, ${digest.bytes} bytes, sha256 ${digest.checksum.slice(0, 16)}…`;
}
