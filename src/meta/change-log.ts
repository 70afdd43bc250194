/**
 * The recent namespace changes one meta service committed, for clients that cache metadata
 * (DESIGN §10, the FUSE daemon's metadata cache): which directory entries and which inodes each
 * committed transaction changed, in commit order, numbered by a sequence that starts at 0 in every
 * life of the service (its `epoch`, random per process).
 *
 * A client polls every meta service with the last sequence it saw and drops what it cached of each
 * changed entry and inode. The log is memory only and bounded: a client that fell further behind
 * than the log reaches, or that polls a service restarted since (a new epoch), learns so (`reset`)
 * and drops everything it cached, since changes of the previous life are not known any more.
 *
 * Items carry the id of the client whose request made the change (from its request id), so a
 * client can skip its own changes, which it already applied to its cache.
 */
import { assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Random } from '../common/random.js';
import type { ChangeItem, InodeId } from './protocol/index.js';

/** What one transaction changed: the entries (parent, name) and the inodes. */
export class ChangeSet {
  readonly entries: Array<{ parent: InodeId; name: string }> = [];
  readonly inodes = new Set<InodeId>();
  /** True when the transaction changed more than a set holds: clients must drop everything. */
  overflowed = false;

  entry(parent: InodeId, name: string): void {
    if (this.entries.length >= limits.metaChangesPerTransactionMax) {
      this.overflowed = true;
      return;
    }
    this.entries.push({ parent, name });
  }

  inode(ino: InodeId): void {
    if (this.inodes.size >= limits.metaChangesPerTransactionMax) {
      this.overflowed = true;
      return;
    }
    this.inodes.add(ino);
  }

  get empty(): boolean {
    return !this.overflowed && this.entries.length === 0 && this.inodes.size === 0;
  }
}

/** One poll's answer. */
export interface ChangesSince {
  readonly epoch: string;
  /** The sequence of the last item returned (or `after` when none was). */
  readonly last: number;
  /** The items after `after`, in order. */
  readonly items: ChangeItem[];
  /** True when the caller's position is not in this log: it must drop everything it cached. */
  readonly reset: boolean;
  /** True when more items follow `last`. */
  readonly more: boolean;
}

export class ChangeLog {
  readonly epoch: string;
  /** Items in commit order; the first has sequence `next - items.length`. */
  private readonly items: ChangeItem[] = [];
  private head = 0;
  /** The sequence the next item gets (items are numbered from 1). */
  private next = 1;

  /** `epoch` names this life of the service: its start time and a random part. */
  constructor(
    options: { startMs: number; random: Random },
    private readonly capacity: number = limits.metaChangeLogItemsMax,
  ) {
    assert(Number.isInteger(capacity) && capacity >= 1, 'the change log holds at least one item');
    const time = Math.max(0, Math.floor(options.startMs)).toString(36);
    this.epoch = `${time}-${options.random.nextInt(0x7fff_ffff).toString(36)}`;
  }

  /** Appends what one committed transaction changed, made by client `origin` when known. */
  record(changes: ChangeSet, origin: string | undefined): void {
    if (changes.empty) return;
    const from = origin === undefined ? {} : { origin };
    if (changes.overflowed) {
      this.push({ kind: 'all', ...from });
      return;
    }
    for (const { parent, name } of changes.entries) this.push({ kind: 'entry', parent, name, ...from });
    for (const ino of changes.inodes) this.push({ kind: 'inode', ino, ...from });
  }

  /** The sequence of the last item recorded (0 before any). */
  get lastSequence(): number {
    return this.next - 1;
  }

  /** Items after sequence `after` of epoch `epoch`, at most `limit`. */
  since(epoch: string | undefined, after: number, limit: number): ChangesSince {
    const oldest = this.next - this.held();
    // A position of another life, from the future, or fallen out of the log: start over at the end.
    if (epoch !== this.epoch || after > this.lastSequence || after < oldest - 1) {
      return { epoch: this.epoch, last: this.lastSequence, items: [], reset: true, more: false };
    }
    const count = Math.min(limit, this.lastSequence - after);
    const items: ChangeItem[] = [];
    for (let sequence = after + 1; sequence <= after + count; sequence++) {
      items.push(this.items[(this.head + (sequence - oldest)) % this.capacity] as ChangeItem);
    }
    const last = after + count;
    return { epoch: this.epoch, last, items, reset: false, more: last < this.lastSequence };
  }

  private held(): number {
    return this.items.length;
  }

  private push(item: ChangeItem): void {
    if (this.items.length < this.capacity) {
      this.items.push(item);
    } else {
      this.items[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
    }
    this.next += 1;
  }
}

/** The client id inside a request id (types.ts: time-clientId-sequence). */
export function originOf(requestId: string | undefined): string | undefined {
  if (requestId === undefined) return undefined;
  const end = requestId.lastIndexOf('-');
  return end > 14 ? requestId.slice(14, end) : undefined;
}
