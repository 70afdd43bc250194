/**
 * Group commit of chunk metadata: commits that arrive in the same turn of the event loop share one
 * sqlite transaction (one WAL fsync) instead of paying one each. Each commit's `onApplied` runs
 * synchronously right after the transaction, before any other code can observe the database, so
 * in-memory state (the pending versions) switches over together with the durable state.
 */
import { assert } from '../../common/errors.js';
import type { ChunkMetadataDb, MetadataChange } from './chunk-metadata-db.js';
import { formatChunkId } from '../protocol/index.js';

interface QueuedCommit {
  change: MetadataChange;
  onApplied: () => void;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class CommitBatcher {
  private queue: QueuedCommit[] = [];
  private scheduled = false;

  constructor(private readonly database: ChunkMetadataDb) {}

  /** Resolves once `change` is durable; rejects (and applies nothing) when its transaction fails. */
  commit(change: MetadataChange, onApplied: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ change, onApplied, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const keys = new Set(batch.map((queued) => formatChunkId(queued.change.chunkId)));
    // The caller holds each chunk's lock until its commit resolves, so a batch names a chunk once.
    assert(keys.size === batch.length, 'one commit per chunk in a batch');
    try {
      this.database.apply(batch.map((queued) => queued.change));
    } catch (error) {
      for (const queued of batch) queued.reject(error);
      return;
    }
    for (const queued of batch) queued.onApplied();
    for (const queued of batch) queued.resolve();
  }
}
