/**
 * The lock methods' handlers (methods 32–35) and the sweep of lapsed leases. Each runs in its own
 * KV transactions at meta's clock, read once per attempt: a lease is judged by the clock of the
 * service that reads it, so leases assume meta services' clocks agree to well within a lease.
 */
import { assert } from '../../common/errors.js';
import type { Clock } from '../../common/clock.js';
import { limits } from '../../common/limits.js';
import { decodeRecord } from '../../common/record-codec.js';
import { keyAfter, type KvEngine } from '../../kv/index.js';
import { getLock, releaseClientPage, releaseOwner, renewLease, setLock } from '../ops/locks.js';
import { metaMethods as m } from '../protocol/index.js';
import { prefixRange, tags } from '../store/keys.js';
import { LockReader, LockWriter, leaseRecordSchema } from './lock-store.js';
import type { HandlerTable } from '../meta-handlers.js';

/** What the handlers need of the service. */
export interface LockServiceParts {
  readonly kv: KvEngine;
  readonly clock: Clock;
}

/** Registers getLock, setLock, releaseLocks and renewLockLease. */
export function registerLockHandlers(parts: LockServiceParts, table: HandlerTable): void {
  const { kv, clock } = parts;
  checkLockLimits();
  table.on(m.getLock, async (request) => ({
    conflict: await kv.read((tx) => getLock(new LockReader(tx, clock.nowMs()), request)),
  }));
  table.on(m.setLock, async (request) =>
    kv.transact((tx) => setLock(new LockWriter(tx, clock.nowMs()), request)),
  );
  table.on(m.releaseLocks, async (request) => {
    const { release, clientId } = request;
    if (release.scope === 'owner') {
      return kv.transact((tx) => releaseOwner(new LockWriter(tx, clock.nowMs()), { clientId, ...release }));
    }
    return { released: await releaseClient(parts, clientId, { lapsedOnly: false }), holds: false };
  });
  table.on(m.renewLockLease, async (request) => ({
    epoch: await kv.transact((tx) => renewLease(new LockWriter(tx, clock.nowMs()), request)),
  }));
}

/**
 * Releases a client's locks a page per transaction; with `lapsedOnly`, only while its lease stays
 * lapsed (a client that took a lock again meanwhile keeps its new ones; old ones go lazily), and
 * the lease record goes too once it is older than metaLockLeaseKeepMs. Returns how many went.
 */
async function releaseClient(
  parts: LockServiceParts,
  clientId: string,
  options: { lapsedOnly: boolean },
): Promise<number> {
  let released = 0;
  for (let page = 0; page < limits.metaLockReleasePagesMax; page++) {
    const outcome = await parts.kv.transact(async (tx) => {
      const writer = new LockWriter(tx, parts.clock.nowMs());
      const lease = await writer.lease(clientId);
      if (options.lapsedOnly && (lease === undefined || lease.expiresAtMs > writer.nowMs)) {
        return { released: 0, done: true };
      }
      const result = await releaseClientPage(writer, clientId, limits.metaLockReleasePageMax);
      if (options.lapsedOnly && result.done && lease !== undefined) {
        if (lease.expiresAtMs + limits.metaLockLeaseKeepMs <= writer.nowMs) writer.deleteLease(clientId);
      }
      return result;
    });
    released += outcome.released;
    if (outcome.done) return released;
  }
  return released;
}

/**
 * Removes the locks of every client whose lease lapsed (lazily removed ones aside, a crashed
 * client's locks on files nobody locks again would stay forever otherwise), and lease records
 * long past. Run periodically by every meta service; returns how many locks went.
 */
export async function sweepLapsedLocks(parts: LockServiceParts): Promise<number> {
  const range = prefixRange(tags.lockLease);
  let begin = range.begin;
  let released = 0;
  for (let page = 0; page < limits.metaLockReleasePagesMax; page++) {
    const leases = await parts.kv.read((tx) =>
      tx.getRange(begin, range.end, { limit: limits.metaLockReleasePageMax }),
    );
    for (const pair of leases) {
      const clientId = pair.key.subarray(tags.lockLease.length).toString('ascii');
      const lease = decodeRecord(leaseRecordSchema, pair.value, `lock lease of ${clientId}`);
      if (lease.expiresAtMs > parts.clock.nowMs()) continue;
      released += await releaseClient(parts, clientId, { lapsedOnly: true });
    }
    const last = leases[leases.length - 1];
    if (last === undefined || leases.length < limits.metaLockReleasePageMax) return released;
    begin = keyAfter(last.key);
  }
  return released;
}

/** The relationships between the lock limits and the KV's that the operations rely on. */
function checkLockLimits(): void {
  // A file's holders of one kind are one range read.
  assert(
    limits.metaLockHoldersPerInodeMax < limits.kvRangeReadPairsMax,
    'a file’s lock holders fit one range read',
  );
  // A full holder record (about 40 bytes a range, with room for its fields) is one KV value.
  assert(
    limits.metaLockRangesPerHolderMax * 40 + 1_024 <= limits.kvValueBytesMax,
    'a lock record fits one KV value',
  );
  assert(
    limits.metaLockRangesPerHolderMax <= limits.metaLockRangesPerInodeMax,
    'one holder fits a file’s bound',
  );
  assert(limits.metaLockReleasePageMax < limits.kvRangeReadPairsMax, 'a release page fits one range read');
}
