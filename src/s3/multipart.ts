/**
 * Multipart uploads kept in the namespace, so that any gateway serves any part of any upload and
 * none keeps state of its own:
 *
 *   .s3-uploads/<bucket>/<uploadId>/      the upload (owned by the key's user, mode 0700), its
 *                                         key and metadata in the attribute user.s3.upload, and
 *                                         the part size ("stride") in user.s3.stride
 *   .s3-uploads/<bucket>/<uploadId>/data  the object being assembled: part n at (n - 1) × stride
 *   …/<uploadId>/part-NNNNN               part n's record: a symbolic link whose target is JSON
 *                                         (ETag, size, where its bytes are), made in one call and
 *                                         replaced by a rename
 *   …/<uploadId>/data-NNNNN-<random>      a part's bytes when they cannot go into data
 *
 * Clients cut an object into parts of one size but the last, and that size is the stride: the
 * first part of at least the minimum part size (or part 1) to arrive sets it (the attribute is
 * created, not replaced, so exactly one part wins). A part of at most the stride is written
 * straight into `data` at its place, unless its number already has a record (a re-upload must not
 * overwrite bytes a record vouches for before its own are checked). Any other part is a file of
 * its own. Completing an upload whose parts are 1..k in place then copies nothing: `data` is cut
 * to its length, given its record and renamed onto the key. Parts elsewhere are moved or copied
 * into place (assemblyPlan), and only when no move could overwrite bytes still to be read; else
 * the object is assembled afresh in staging.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Credentials } from '../client/index.js';
import { hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { fromFsError, s3Error } from './errors.js';
import { joinPath } from './names.js';
import type { UploadMetadata } from './object-meta.js';
import type { DirectoryPage, ObjectFs } from './object-fs.js';
import { gatewayCredentials, type Staging } from './staging.js';

export const uploadXattr = 'user.s3.upload';
export const strideXattr = 'user.s3.stride';
export const dataFileName = 'data';

const uploadIdPattern = /^[0-9a-z]{1,12}\.[0-9a-f]{24}$/;
const partRecordPattern = /^part-(\d{5})$/;

const uploadRecordSchema = z.object({
  v: z.literal(1),
  key: z.string(),
  initiatedMs: z.number().int().min(0),
  ownerUid: z.number().int().min(0),
  contentType: z.string().optional(),
  headers: z.record(z.string(), z.string()),
  meta: z.record(z.string(), z.string()),
});
export type UploadRecord = z.infer<typeof uploadRecordSchema>;

const partRecordSchema = z.object({
  etag: z.string().regex(/^[0-9a-f]{32}$/),
  size: z.number().int().min(0),
  /** In `data` at (n - 1) × stride; else in the file named. */
  file: z.string().optional(),
  atMs: z.number().int().min(0),
});
export type PartRecord = z.infer<typeof partRecordSchema>;

/** A part as completion and ListParts see it. */
export interface Part extends PartRecord {
  readonly number: number;
}

export function partRecordName(number: number): string {
  return `part-${String(number).padStart(5, '0')}`;
}

/** A fresh upload id: its time first, so a bucket's uploads list in the order they began. */
export function newUploadId(nowMs: number): string {
  return `${nowMs.toString(36)}.${randomBytes(12).toString('hex')}`;
}

export function checkUploadId(uploadId: string): string {
  if (!uploadIdPattern.test(uploadId))
    throw s3Error('NoSuchUpload', 'the upload id is not one this gateway made');
  return uploadId;
}

export function checkPartNumber(text: string | undefined): number {
  const number = Number(text);
  if (text === undefined || !/^\d{1,5}$/.test(text) || number < 1 || number > limits.s3PartsMax) {
    throw s3Error('InvalidArgument', `partNumber must be an integer from 1 to ${limits.s3PartsMax}`);
  }
  return number;
}

/** Where one upload lives. */
export interface UploadLocation {
  readonly bucket: string;
  readonly uploadId: string;
  readonly path: string;
  readonly dataPath: string;
}

export class Uploads {
  /** Buckets whose uploads directory is known to exist (made again when found missing). */
  private readonly bucketDirectories = new Set<string>();

  constructor(
    private readonly fs: ObjectFs,
    private readonly staging: Staging,
  ) {}

  bucketPath(bucket: string): string {
    return joinPath(this.staging.uploadsPath, bucket);
  }

  locate(bucket: string, uploadId: string): UploadLocation {
    const path = joinPath(this.bucketPath(bucket), checkUploadId(uploadId));
    return { bucket, uploadId, path, dataPath: joinPath(path, dataFileName) };
  }

  /** Makes a new upload's directory, record and empty data file. */
  async create(
    cred: Credentials,
    bucket: string,
    record: UploadRecord,
    uploadId: string,
  ): Promise<UploadLocation> {
    const location = this.locate(bucket, uploadId);
    await this.ensureBucketDirectory(bucket);
    try {
      await this.fs.mkdir(cred, location.path, 0o700, false);
    } catch (error) {
      if (!hasCode(error, MetaCode.NotFound)) throw fromFsError(error);
      // Another gateway's DeleteBucket removed the directory since this one made it.
      this.bucketDirectories.delete(bucket);
      await this.ensureBucketDirectory(bucket);
      await this.fs.mkdir(cred, location.path, 0o700, false).catch((failure: unknown) => {
        throw fromFsError(failure);
      });
    }
    try {
      const value = Buffer.from(JSON.stringify(record), 'utf8');
      await this.fs.setXattr(cred, { path: location.path }, uploadXattr, value);
      const { file } = await this.fs.createFile(cred, location.dataPath, 0o600);
      await file.close();
    } catch (error) {
      await this.fs.removeRecursive(cred, location.path).catch(() => undefined);
      throw fromFsError(error);
    }
    return location;
  }

  private async ensureBucketDirectory(bucket: string): Promise<void> {
    if (this.bucketDirectories.has(bucket)) return;
    await this.staging.ensure();
    const path = this.bucketPath(bucket);
    // Listed by everyone (ListMultipartUploads); each upload in it is its owner's alone (0700).
    const inode = await this.fs.mkdir(gatewayCredentials, path, 0o1777, true);
    if ((inode.mode & 0o7777) !== 0o1777) {
      await this.fs.client.setAttr({ at: { path }, cred: gatewayCredentials, mode: 0o1777 });
    }
    this.bucketDirectories.add(bucket);
  }

  /** The upload's record; NoSuchUpload when it is gone (completed, aborted) or not the caller's. */
  async record(cred: Credentials, location: UploadLocation, key: string): Promise<UploadRecord> {
    let bytes: Buffer | undefined;
    try {
      bytes = await this.fs.getXattr(cred, { path: location.path }, uploadXattr);
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound) || hasCode(error, MetaCode.NotDirectory))
        throw s3Error('NoSuchUpload');
      throw fromFsError(error, 'NoSuchUpload');
    }
    const record = bytes === undefined ? undefined : parseUploadRecord(bytes);
    if (record === undefined || record.key !== key) throw s3Error('NoSuchUpload');
    return record;
  }

  /** The stride, set by this part when there is none yet and it may set it. */
  async strideFor(cred: Credentials, location: UploadLocation, part: { number: number; size: number }) {
    const at = { path: location.path };
    const read = async (): Promise<number | undefined> => {
      const bytes = await this.fs.getXattr(cred, at, strideXattr);
      return bytes === undefined ? undefined : Number(bytes.toString('ascii'));
    };
    const stride = await read();
    if (stride !== undefined) return stride;
    if (part.size === 0 || (part.size < limits.s3PartBytesMin && part.number !== 1)) return undefined;
    const won = await this.fs.createXattr(cred, at, strideXattr, Buffer.from(String(part.size), 'ascii'));
    return won ? part.size : read();
  }

  /** Part `number`'s record, or undefined when it has none. */
  async part(cred: Credentials, location: UploadLocation, number: number): Promise<Part | undefined> {
    let target: string;
    try {
      target = await this.fs.readlink(cred, { path: joinPath(location.path, partRecordName(number)) });
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound)) return undefined;
      throw fromFsError(error, 'NoSuchUpload');
    }
    const record = parseJson(partRecordSchema, target);
    return record === undefined ? undefined : { ...record, number };
  }

  /** Records part `number` (replacing an earlier record of it, whose own file then goes). */
  async recordPart(
    cred: Credentials,
    location: UploadLocation,
    number: number,
    record: PartRecord,
  ): Promise<void> {
    const previous = await this.part(cred, location, number);
    const temporary = joinPath(location.path, `record-${randomBytes(8).toString('hex')}`);
    await this.fs.symlink(cred, temporary, JSON.stringify(record));
    try {
      await this.fs.rename(cred, temporary, joinPath(location.path, partRecordName(number)));
    } catch (error) {
      await this.fs.unlink(cred, temporary).catch(() => undefined);
      throw error;
    }
    if (previous?.file !== undefined && previous.file !== record.file) {
      await this.fs.unlink(cred, joinPath(location.path, previous.file)).catch(() => undefined);
    }
  }

  /** A fresh name for a part's own file. */
  partFileName(number: number): string {
    return `data-${String(number).padStart(5, '0')}-${randomBytes(8).toString('hex')}`;
  }

  /** Every part with a record, in number order, from `after` on, at most `limit`. */
  async parts(
    cred: Credentials,
    location: UploadLocation,
    options: { after: number; limit: number },
  ): Promise<Part[]> {
    const numbers: number[] = [];
    let cursor: string | undefined = options.after > 0 ? partRecordName(options.after) : 'part-';
    while (numbers.length < options.limit + 1) {
      const page: DirectoryPage = await this.fs
        .readDirPage(cred, { path: location.path }, limits.metaReaddirPageMax, cursor)
        .catch((error: unknown) => {
          if (hasCode(error, MetaCode.NotFound)) throw s3Error('NoSuchUpload');
          throw fromFsError(error, 'NoSuchUpload');
        });
      let beyond = false;
      for (const entry of page.entries) {
        const match = partRecordPattern.exec(entry.name);
        if (match === null) {
          beyond = entry.name > 'part-99999';
          if (beyond) break;
          continue;
        }
        numbers.push(Number(match[1]));
      }
      if (beyond || page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    const chosen = numbers.slice(0, options.limit + 1);
    const found = await mapLimited(chosen, limits.s3ListLookupConcurrency, (number) =>
      this.part(cred, location, number),
    );
    return found.filter((part): part is Part => part !== undefined);
  }

  /** Removes an upload and everything in it. */
  async remove(cred: Credentials, location: UploadLocation): Promise<void> {
    try {
      await this.fs.removeRecursive(cred, location.path);
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound)) throw s3Error('NoSuchUpload');
      throw fromFsError(error, 'NoSuchUpload');
    }
  }
}

/** An upload's record read back, or undefined when it is not one. */
export function parseUploadRecord(bytes: Buffer): UploadRecord | undefined {
  return parseJson(uploadRecordSchema, bytes.toString('utf8'));
}

/** An upload's record from its metadata. */
export function uploadRecord(
  key: string,
  metadata: UploadMetadata,
  ownerUid: number,
  nowMs: number,
): UploadRecord {
  return {
    v: 1,
    key,
    initiatedMs: nowMs,
    ownerUid,
    ...(metadata.contentType === undefined ? {} : { contentType: metadata.contentType }),
    headers: { ...metadata.headers },
    meta: { ...metadata.meta },
  };
}

/** The metadata an upload was created with. */
export function metadataOf(record: UploadRecord): UploadMetadata {
  return { contentType: record.contentType, headers: record.headers, meta: record.meta };
}

function parseJson<S extends z.ZodType>(schema: S, text: string): z.output<S> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** `task` over `items`, `concurrency` at a time, results in order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index] as T);
      }
    }),
  );
  return results;
}

// --- assembly ------------------------------------------------------------------------------------

/** One step of assembling an object: bytes to put at `offset` of the result. */
export type AssemblyStep =
  | { readonly kind: 'in-place'; readonly offset: number; readonly size: number }
  | { readonly kind: 'move'; readonly from: number; readonly offset: number; readonly size: number }
  | { readonly kind: 'copy'; readonly file: string; readonly offset: number; readonly size: number };

/** How to assemble the listed parts: in `data` (steps), or afresh from `sources`. */
export type AssemblyPlan =
  | { readonly kind: 'in-place'; readonly steps: AssemblyStep[]; readonly length: number }
  | {
      readonly kind: 'afresh';
      readonly sources: Array<{ file: string; from: number; size: number }>;
      readonly length: number;
    };

/**
 * The plan for `parts` (listed, in order) of an upload with `stride`: each part's bytes go to the
 * sum of the sizes before it. A part in `data` already there stays; one further on moves down
 * (reading ahead of where it writes, so it never overwrites what it has still to read); a part in
 * its own file is copied. A part in `data` that would have to move up could overwrite a later
 * part's bytes before they are read: then everything is assembled afresh.
 */
export function assemblyPlan(parts: readonly Part[], stride: number | undefined): AssemblyPlan {
  const steps: AssemblyStep[] = [];
  let offset = 0;
  let inPlace = true;
  for (const part of parts) {
    if (part.file === undefined) {
      const from = (part.number - 1) * (stride ?? 0);
      if (from === offset) steps.push({ kind: 'in-place', offset, size: part.size });
      else if (from > offset) steps.push({ kind: 'move', from, offset, size: part.size });
      else inPlace = false;
    } else {
      steps.push({ kind: 'copy', file: part.file, offset, size: part.size });
    }
    offset += part.size;
  }
  if (inPlace) return { kind: 'in-place', steps, length: offset };
  return {
    kind: 'afresh',
    sources: parts.map((part) => ({
      file: part.file ?? dataFileName,
      from: part.file === undefined ? (part.number - 1) * (stride ?? 0) : 0,
      size: part.size,
    })),
    length: offset,
  };
}
