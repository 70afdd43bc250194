/**
 * What the client knows about each file it has open: one record per inode, shared by all open
 * handles of it, holding the write buffer, the truncate version this client writes under, the
 * length it reported, and a data version that read-ahead blocks are checked against. Records live
 * while a handle is open or a length report is owed.
 *
 * Length reports (DESIGN §6): the highest offset storage acknowledged is reported to meta under
 * the truncate version the writer knows, periodically (`reportAll`), on fsync and on close; meta
 * adopts it when it is larger and no truncate came between. `wrote` asks meta to set mtime and
 * ctime: it is sent when data was written since the last report or explicit time change, so
 * `cp -a`'s utimes after its writes is not undone by a later report.
 */
import { FsError, assert, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { ClientCode } from '../common/status-code.js';
import {
  metaMethods,
  type Credentials,
  type FileInode,
  type InodeId,
  type Session,
} from '../meta/protocol/index.js';
import { planFallocate, type FallocateRequest } from './fallocate.js';
import type { FileDataIo, FileRef } from './file-data.js';
import { FileWriter, type WriterHost } from './file-writer.js';
import type { PayloadPool } from '../rpc/index.js';
import type { ByteBudget } from './limiter.js';
import type { MetaClient } from './meta-client.js';
import { requireQuotaRoom } from './quota-room.js';
import type { SessionCloser } from './session-closer.js';

/** One open file's shared state. */
export class OpenInode {
  /** Handles open on the inode. */
  opens = 0;
  /** Bumped by every write and truncate through this client; read-ahead blocks carry it. */
  dataVersion = 0;
  /** Bumped by every truncate through this client (a stat answer older than one is retried). */
  truncateGeneration = 0;
  /** The truncate version this client's length reports are made under. */
  truncateVersion: number;
  /** The length meta holds as far as this client knows (its last answer). */
  metaLength: bigint;
  /** `writer.writeCount` when meta was last told about writes (or times were set explicitly). */
  reportedWriteCount = 0;
  /** `writer.durableEnd` last reported under `truncateVersion`. */
  reportedEnd = 0n;
  /** Credentials of a writer that has the file open: length reports speak for it. */
  reportCred: Credentials | undefined;
  writer: FileWriter | undefined;
  /** Directory quotas count the file: writes past `quotaCeiling` ask meta first (quota-room.ts). */
  quotaLimited: boolean;
  /** The length meta granted the file's writers within its quotas (0 until asked). */
  quotaCeiling = 0n;
  /** Meta's latest answer about the file: what a stat gives once its last name is gone. */
  lastKnown: FileInode;

  constructor(
    readonly file: FileRef,
    inode: FileInode,
    /**
     * Called when what a read of the file returns may change: a new length or truncate version,
     * data written, cut or zeroed through this client, or a write buffer made for it.
     */
    readonly onChange?: (record: OpenInode) => void,
  ) {
    this.lastKnown = inode;
    this.truncateVersion = inode.truncateVersion;
    this.metaLength = inode.length;
    this.quotaLimited = (inode.quotas?.length ?? 0) > 0;
  }

  /** Takes in what a meta answer of this client's own change says about the file. */
  adopt(inode: FileInode): void {
    assert(inode.ino === this.file.ino, 'an inode answer is adopted by its own record');
    // Opened again after a move into a quota's tree: ask before writing past the grant.
    if ((inode.quotas?.length ?? 0) > 0) this.quotaLimited = true;
    const changed = inode.truncateVersion !== this.truncateVersion || inode.length !== this.metaLength;
    if (inode.truncateVersion !== this.truncateVersion) {
      this.truncateVersion = inode.truncateVersion;
      this.reportedEnd = inode.length;
    }
    this.metaLength = inode.length;
    this.lastKnown = inode;
    if (changed) this.onChange?.(this);
  }

  /** Takes in a meta answer about the file that this client's change did not cause (a report's reply). */
  observe(inode: FileInode): void {
    const changed = inode.truncateVersion === this.truncateVersion && inode.length !== this.metaLength;
    if (inode.truncateVersion === this.truncateVersion) this.metaLength = inode.length;
    this.lastKnown = inode;
    if (changed) this.onChange?.(this);
  }

  /** Data of the file was written, cut or zeroed through this client: prefetched blocks are stale. */
  touchData(): void {
    this.dataVersion += 1;
    this.onChange?.(this);
  }

  /** The file's length as this client sees it: meta's, or further where it wrote beyond. */
  length(metaLength: bigint = this.metaLength): bigint {
    const local = this.writer?.localEnd ?? 0n;
    return local > metaLength ? local : metaLength;
  }

  /** True when meta is owed a length or a "wrote". */
  get reportDue(): boolean {
    const writer = this.writer;
    if (writer === undefined) return false;
    return writer.durableEnd > this.reportedEnd || writer.writeCount > this.reportedWriteCount;
  }
}

export class OpenInodes {
  private readonly records = new Map<InodeId, OpenInode>();
  private readonly writerHost: WriterHost;

  constructor(
    private readonly options: {
      meta: MetaClient;
      io: FileDataIo;
      writeBudget: ByteBudget;
      perFileBytesMax: number;
      extentsMax: number;
      logger: Logger;
      /** Closes sessions that wrote nothing later, in batches. */
      closer: SessionCloser;
      /** See OpenInode.onChange. */
      onChange?: (record: OpenInode) => void;
      /** See WriterHost.staging. */
      staging?: PayloadPool;
    },
  ) {
    this.writerHost = {
      ...(options.staging === undefined ? {} : { staging: options.staging }),
      io: options.io,
      budget: options.writeBudget,
      perFileBytesMax: options.perFileBytesMax,
      extentsMax: options.extentsMax,
      onPressure: () => {
        for (const record of this.records.values()) record.writer?.dispatch(true);
      },
    };
  }

  get(ino: InodeId): OpenInode | undefined {
    return this.records.get(ino);
  }

  /** The record of `inode`, made when absent; counts one more open handle. */
  open(file: FileRef, inode: FileInode): OpenInode {
    let record = this.records.get(file.ino);
    if (record === undefined) {
      record = new OpenInode(file, inode, this.options.onChange);
      this.records.set(file.ino, record);
    }
    record.opens += 1;
    return record;
  }

  /** The record's write buffer, made on first use. */
  writerOf(record: OpenInode): FileWriter {
    if (record.writer === undefined) {
      record.writer = new FileWriter(record.file, this.writerHost);
      record.onChange?.(record);
    }
    return record.writer;
  }

  /** One handle fewer; the record goes once no handle holds it and nothing is owed. */
  closed(record: OpenInode): void {
    assert(record.opens > 0, 'a record is closed as often as it was opened');
    record.opens -= 1;
    this.forgetIfIdle(record);
  }

  forgetIfIdle(record: OpenInode): void {
    if (record.opens > 0 || record.writer?.busy === true || record.reportDue) return;
    if (this.records.get(record.file.ino) === record) this.records.delete(record.file.ino);
  }

  /** Resolves once the file of `record` may be `endBytes` long within its quotas (else EDQUOT). */
  async requireQuotaRoom(
    record: OpenInode,
    cred: Credentials,
    session: Session,
    endBytes: bigint,
  ): Promise<void> {
    await requireQuotaRoom({ meta: this.options.meta, room: record, cred, session, endBytes });
  }

  /** Reports the length (and "wrote") of `record` to meta now, if anything is owed. */
  async report(record: OpenInode, cred: Credentials | undefined = record.reportCred): Promise<void> {
    const writer = record.writer;
    if (writer === undefined || !record.reportDue || cred === undefined) return;
    const writeCount = writer.writeCount;
    const bytes = writer.durableEnd;
    const truncateVersion = record.truncateVersion;
    const { inode } = await this.options.meta.call(metaMethods.sync, {
      cred,
      ino: record.file.ino,
      length: { bytes, truncateVersion },
      wrote: writeCount > record.reportedWriteCount,
    });
    if (truncateVersion === record.truncateVersion && bytes > record.reportedEnd) record.reportedEnd = bytes;
    if (writeCount > record.reportedWriteCount) record.reportedWriteCount = writeCount;
    if (inode.type === 'file') record.observe(inode);
  }

  /**
   * Closes a write session; one through which nothing was written in this client has nothing to
   * report and is closed later, in a batch (session-closer.ts), without waiting, unless it holds a
   * quota grant (a write refused with EDQUOT), which others may be waiting for.
   */
  async endSession(record: OpenInode, cred: Credentials, session: Session): Promise<void> {
    if (record.writer === undefined && record.quotaCeiling === 0n) {
      this.options.closer.add(record.file.ino, session, cred);
      return;
    }
    await this.closeSession(record, cred, session);
  }

  /** Closes a write session, reporting the length and "wrote" with it. */
  async closeSession(record: OpenInode, cred: Credentials, session: Session): Promise<void> {
    const writer = record.writer;
    const writeCount = writer?.writeCount ?? 0;
    const bytes = writer?.durableEnd ?? 0n;
    const truncateVersion = record.truncateVersion;
    const { inode } = await this.options.meta.call(metaMethods.close, {
      cred,
      ino: record.file.ino,
      session,
      ...(writer === undefined ? {} : { length: { bytes, truncateVersion } }),
      wrote: writeCount > record.reportedWriteCount,
    });
    if (truncateVersion === record.truncateVersion && bytes > record.reportedEnd) record.reportedEnd = bytes;
    if (writeCount > record.reportedWriteCount) record.reportedWriteCount = writeCount;
    if (inode?.type === 'file') record.observe(inode);
  }

  /**
   * fallocate(2) on the file of `record` (fallocate.ts says what each mode does). The file's
   * buffered writes land first, so none of them fills a hole punched after it; then the range is
   * zeroed in storage, read-ahead blocks fetched before go stale, and meta takes the new length
   * and times last.
   */
  async fallocate(
    record: OpenInode,
    cred: Credentials,
    request: FallocateRequest,
    session?: Session,
  ): Promise<void> {
    await record.writer?.settle();
    let fileLength = record.length();
    if (request.kind !== 'allocate') {
      // The hole is cut at the file's end: what others wrote and reported counts too.
      const { inode } = await this.options.meta.call(metaMethods.stat, {
        cred,
        at: { parent: record.file.ino, path: '' },
      });
      if (inode.type === 'file') {
        record.observe(inode);
        fileLength = record.length(inode.length);
      }
    }
    const plan = planFallocate(request, fileLength);
    if (plan.promisedBytes > 0n) await this.checkFreeSpace(cred, plan.promisedBytes);
    // A longer file holds more of its directory quotas: room first, as for a write.
    if (plan.extendTo !== undefined && session !== undefined)
      await this.requireQuotaRoom(record, cred, session, plan.extendTo);
    if (plan.zero !== undefined) {
      try {
        await this.options.io.zero(record.file, plan.zero.from, plan.zero.to);
      } finally {
        // Even a range zeroed in part makes prefetched blocks stale.
        record.touchData();
      }
    }
    if (plan.modifies) await this.grow(record, cred, plan.extendTo);
  }

  /** ENOSPC unless the file system's usable space (statfs) has `bytes` free. */
  private async checkFreeSpace(cred: Credentials, bytes: bigint): Promise<void> {
    const space = await this.options.meta.call(metaMethods.statFs, { cred });
    if (BigInt(space.freeBytes) < bytes) {
      throw new FsError(
        ClientCode.NoSpace,
        `fallocate promises ${bytes} bytes; the file system has ${space.freeBytes} free`,
      );
    }
  }

  /**
   * Sets mtime and ctime of the file and, with `length`, makes it at least that long: a length
   * report, adopted by meta when larger and no truncate came since the truncate version it names.
   * Meta refusing the record's version means a truncate this client did not see; once more under
   * the version meta answered, and a refusal then means a truncate came during this call, which
   * the call is ordered before.
   */
  private async grow(record: OpenInode, cred: Credentials, length: bigint | undefined): Promise<void> {
    let truncateVersion = record.truncateVersion;
    for (let attempt = 0; attempt < 2; attempt++) {
      const { inode } = await this.options.meta.call(metaMethods.sync, {
        cred,
        ino: record.file.ino,
        length: { bytes: length ?? 0n, truncateVersion },
        wrote: attempt === 0,
      });
      if (inode.type !== 'file') return;
      const done =
        length === undefined || inode.length >= length || inode.truncateVersion === truncateVersion;
      if (done && truncateVersion === record.truncateVersion) record.observe(inode);
      else if (done) record.adopt(inode);
      if (done) return;
      truncateVersion = inode.truncateVersion;
    }
  }

  /** Makes every metadata change committed so far durable (fsync). */
  async syncMetadata(cred: Credentials): Promise<void> {
    await this.options.meta.call(metaMethods.syncMetadata, { cred });
  }

  /** Sends every buffered extent and reports every owed length (the periodic tick). */
  async reportAll(): Promise<void> {
    for (const record of [...this.records.values()]) {
      record.writer?.dispatch(true);
      try {
        await this.report(record);
      } catch (error) {
        this.options.logger.warn(
          { ino: String(record.file.ino), err: error },
          `length report failed: ${describeError(error)}`,
        );
      }
      this.forgetIfIdle(record);
    }
  }

  /** Records still held (diagnostics, shutdown). */
  all(): OpenInode[] {
    return [...this.records.values()];
  }
}
