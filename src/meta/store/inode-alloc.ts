/**
 * Inode id allocation in batches (DESIGN §6). The KV holds one counter (IALC): the next id no
 * service has reserved. A service takes metaInodeIdBatch ids at a time in a small transaction of
 * its own, so creates on several services do not all conflict on one key, and hands them out
 * from memory. Ids are never reused: ids of a batch unused when a service stops are skipped.
 *
 * Operations reserve ids before their transaction starts (a refill is a transaction, and the
 * embedded engine runs one writer at a time, so it cannot nest inside another) and return those
 * they did not use afterwards.
 */
import { assert } from '../../common/errors.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import type { KvEngine } from '../../kv/index.js';
import type { InodeId } from '../protocol/index.js';
import { keys } from './keys.js';
import { inodeCounterRecordSchema } from './records.js';

/** Ids below this are kept for inodes with fixed ids: 1 is the root. */
export const firstAllocatedInodeId = 16n;

/** Ids reserved for one operation; `take` hands them out in order and `rewind` restarts a retry. */
export class InodeIdReservation {
  private used = 0;

  constructor(private readonly ids: readonly InodeId[]) {}

  /** The next reserved id; taking more than were reserved is a bug. */
  take(): InodeId {
    const id = this.ids[this.used];
    assert(id !== undefined, `an operation takes at most the ${this.ids.length} ids it reserved`);
    this.used += 1;
    return id;
  }

  /** Called at the start of every transaction attempt: a retry takes the same ids again. */
  rewind(): void {
    this.used = 0;
  }

  /** The ids the committed attempt did not take. */
  unused(): InodeId[] {
    return this.ids.slice(this.used);
  }
}

export class InodeIdAllocator {
  private readonly free: InodeId[] = [];
  private next = 0n;
  private end = 0n;
  private refilling: Promise<void> | undefined;

  constructor(
    private readonly kv: KvEngine,
    private readonly batch: number,
  ) {
    assert(Number.isInteger(batch) && batch >= 1, 'inode id batches hold at least one id');
  }

  /** Reserves `count` ids for one operation. */
  async reserve(count: number): Promise<InodeIdReservation> {
    assert(Number.isInteger(count) && count >= 0, 'a reservation counts whole ids');
    const ids: InodeId[] = [];
    while (ids.length < count) {
      const recycled = this.free.pop();
      if (recycled !== undefined) {
        ids.push(recycled);
      } else if (this.next < this.end) {
        ids.push(this.next);
        this.next += 1n;
      } else {
        await this.refill(count - ids.length);
      }
    }
    return new InodeIdReservation(ids);
  }

  /** Gives back ids an operation reserved but did not use. */
  release(reservation: InodeIdReservation): void {
    this.free.push(...reservation.unused());
  }

  /** Takes a new batch from the KV counter; concurrent callers share one refill. */
  private async refill(wanted: number): Promise<void> {
    this.refilling ??= this.takeBatch(Math.max(this.batch, wanted)).finally(() => {
      this.refilling = undefined;
    });
    await this.refilling;
  }

  private async takeBatch(size: number): Promise<void> {
    const first = await this.kv.transact(async (tx) => {
      const bytes = await tx.get(keys.inodeCounter());
      const next =
        bytes === undefined
          ? firstAllocatedInodeId
          : decodeRecord(inodeCounterRecordSchema, bytes, 'inode id counter').next;
      assert(next >= firstAllocatedInodeId, 'the inode id counter never falls below the fixed ids');
      tx.set(
        keys.inodeCounter(),
        encodeRecord(inodeCounterRecordSchema, { format: 1, next: next + BigInt(size) }),
      );
      return next;
    });
    // Re-check after the await: another caller's refill may have landed first; keep both ranges.
    if (this.next < this.end) {
      for (let id = this.next; id < this.end; id++) this.free.push(id);
    }
    this.next = first;
    this.end = first + BigInt(size);
  }
}
