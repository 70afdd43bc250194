/**
 * An open file: reads, buffered writes, fsync and close on one handle (DESIGN §9). Handles of one
 * inode share its OpenInode record (write buffer, length, versions). A read first waits for this
 * client's buffered writes of the file, so it sees them; a sequential reader is served from its
 * read-ahead window. Errors of buffered writes reach the caller on write, flush, fsync or close:
 * each write handle reports every failure of the file's writes made while it was open, whichever
 * handle made them, since the buffer is the file's and not the handle's.
 */
import { FsError, assert } from '../common/errors.js';
import { ClientCode } from '../common/status-code.js';
import type { Credentials, Session } from '../meta/protocol/index.js';
import { checkFallocate } from './fallocate.js';
import type { FileDataIo, FileRef } from './file-data.js';
import type { FailureCursor } from './file-writer.js';
import type { OpenInode, OpenInodes } from './open-inodes.js';
import type { ReadAhead } from './read-ahead.js';

/** Bytes handed to the write buffer at once: writes larger than this are cut into slices. */
const writeSliceBytes = 1024 * 1024;

export interface OpenFileOptions {
  readonly record: OpenInode;
  readonly inodes: OpenInodes;
  readonly io: FileDataIo;
  readonly cred: Credentials;
  readonly readable: boolean;
  readonly writable: boolean;
  /** The write session (write handles only). */
  readonly session: Session | undefined;
  readonly readAhead: ReadAhead | undefined;
  /** Called once when the handle is closed (whatever the outcome). */
  readonly onClosed?: () => void;
}

export class OpenFile {
  private closed = false;
  /** The failures of the file's background writes this handle has reported. */
  private readonly failures: FailureCursor;

  constructor(private readonly options: OpenFileOptions) {
    assert(!options.writable || options.session !== undefined, 'a write handle has a write session');
    this.failures = options.record.writer?.cursor() ?? { seen: 0 };
  }

  get ino(): bigint {
    return this.options.record.file.ino;
  }

  get readable(): boolean {
    return this.options.readable;
  }

  get writable(): boolean {
    return this.options.writable;
  }

  /** The write session of a write handle (permission to write was checked when it opened). */
  get session(): Session | undefined {
    return this.options.session;
  }

  /**
   * The file and its length while nothing of it was written through this client (it has no
   * write buffer): a read of this handle is then a read of committed chunks, cut at that length.
   * Undefined otherwise, and for a closed or write-only handle. OpenInode.onChange tells when
   * this answer may change.
   */
  quietFile(): { file: FileRef; length: bigint } | undefined {
    const record = this.options.record;
    if (this.closed || !this.options.readable || record.writer !== undefined) return undefined;
    return { file: record.file, length: record.length() };
  }

  /** The file's length as this client sees it (buffered writes included). */
  length(): bigint {
    return this.options.record.length();
  }

  /**
   * Reads up to `length` bytes at `offset`; shorter only at the end of the file. With a client
   * made with `replyPayloadPool`, the bytes may lie in a pooled buffer: `releasePayload(bytes)`
   * once they are no longer needed lets a later read use it again (never touch them after that).
   */
  async read(offset: bigint, length: number): Promise<Buffer> {
    this.check(this.options.readable, 'reading');
    assert(offset >= 0n && Number.isSafeInteger(length) && length >= 0, 'a read range is not negative');
    const { record, io } = this.options;
    if (record.writer?.busy === true) await record.writer.settle();
    const fileLength = record.length();
    if (offset >= fileLength || length === 0) return Buffer.alloc(0);
    const state = { version: record.dataVersion, fileLength };
    const prefetched = await this.options.readAhead?.read(offset, length, state);
    return prefetched ?? io.read(record.file, offset, length, fileLength);
  }

  /**
   * Writes `data` at `offset` (buffered); resolves with the bytes written. The bytes are copied
   * before it resolves, so the caller may fill `data` again at once; a caller that gives the buffer
   * away for good (`handOver`) spares the copy.
   */
  async write(offset: bigint, data: Buffer, options: { handOver?: boolean } = {}): Promise<number> {
    const handOver = options.handOver === true;
    this.check(this.options.writable, 'writing');
    assert(offset >= 0n, 'a write offset is not negative');
    const { record, inodes } = this.options;
    const { session } = this.options;
    assert(session !== undefined, 'a write handle has a write session');
    if (data.length > 0)
      await inodes.requireQuotaRoom(record, this.options.cred, session, offset + BigInt(data.length));
    const writer = inodes.writerOf(record);
    this.options.readAhead?.clear();
    for (let done = 0; done < data.length; done += writeSliceBytes) {
      const slice = data.subarray(done, Math.min(data.length, done + writeSliceBytes));
      record.touchData();
      await writer.write(offset + BigInt(done), slice, { cursor: this.failures, handOver });
    }
    return data.length;
  }

  /**
   * fallocate(2) through this handle, which must be open for writing (EBADF otherwise): `mode` 0
   * or FALLOC_FL_KEEP_SIZE promise space, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE and
   * FALLOC_FL_ZERO_RANGE make the range read as zeros (see fallocate.ts); others are EOPNOTSUPP.
   */
  async fallocate(mode: number, offset: bigint, length: bigint): Promise<void> {
    this.check(this.options.writable, 'fallocate');
    const request = checkFallocate(mode, offset, length);
    this.options.readAhead?.clear();
    await this.options.inodes.fallocate(
      this.options.record,
      this.options.cred,
      request,
      this.options.session,
    );
  }

  /**
   * Sends buffered writes to storage, waits for them, and tells meta the length they reached
   * (close(2) through FUSE): once it returns, any client that opens the file sees all of it.
   * Fails with a failed write's error. A handle that cannot write has nothing to flush and takes
   * no writer's error away from it.
   */
  async flush(): Promise<void> {
    if (this.closed || !this.options.writable) return;
    await this.options.record.writer?.flush(this.failures);
    await this.options.inodes.report(this.options.record, this.options.cred);
  }

  /**
   * What flush does: data to storage, length (and "wrote") to meta; then the file's data on every
   * serving replica's stable storage and its metadata (the length just reported, its creation) in
   * meta's, in parallel. Through a read-only handle, the file's buffered writes are still sent and
   * waited for; their errors stay with the handles that wrote them.
   *
   * Storage is synced even when this client wrote nothing since the last fsync: POSIX has fsync
   * flush the file's data whoever wrote it (another client, a handle closed before), and a replica
   * with nothing dirty syncs at the cost of one round trip.
   */
  async fsync(): Promise<void> {
    this.check(true, 'fsync');
    const { record, inodes, io, cred } = this.options;
    if (!this.options.writable) {
      await record.writer?.settle();
    } else {
      await this.flush();
    }
    await Promise.all([io.sync(record.file), inodes.syncMetadata(cred)]);
  }

  /**
   * Sends buffered writes, closes the write session with the final length (one meta call for
   * both), and releases the handle. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.readAhead?.clear();
    const { record, inodes, session, cred } = this.options;
    let failure: { error: unknown } | undefined;
    try {
      if (this.options.writable) await record.writer?.flush(this.failures);
    } catch (error) {
      failure = { error };
    }
    if (session !== undefined) {
      try {
        await inodes.endSession(record, cred, session);
      } catch (error) {
        failure ??= { error };
      }
    }
    inodes.closed(record);
    this.options.onClosed?.();
    if (failure !== undefined) throw failure.error;
  }

  private check(allowed: boolean, what: string): void {
    if (this.closed) throw new FsError(ClientCode.BadFileHandle, `${what}: the file handle is closed`);
    if (!allowed) throw new FsError(ClientCode.BadFileHandle, `${what}: the file was not opened for it`);
  }
}
