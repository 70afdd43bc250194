/**
 * What S3 says about an object beyond its bytes, kept in one extended attribute of its file
 * (`user.s3.object`, JSON): the ETag, the Content-Type and the other standard headers given at
 * upload, and the user metadata (x-amz-meta-*). One attribute, so that an upload sets it with one
 * call before the rename that publishes the file, and a reader gets it with one call.
 *
 * The record also holds the length and mtime the file had when it was written. A file changed
 * since (through a mount) no longer matches them, and a file written through a mount has no record
 * at all: such a file gets an ETag derived from its inode, length and mtime, marked as not an MD5
 * (it has a "-", as multipart ETags do) so no client checks its data against it. The gateway's own
 * periodic length reports are all but off (gateway.ts), so none of them moves a file's mtime after
 * its record was written.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Inode } from '../client/index.js';
import { limits } from '../common/limits.js';
import { s3Error } from './errors.js';

/** The extended attribute of an object's record. */
export const objectXattr = 'user.s3.object';

/** Content-Type of an object uploaded without one, as S3. */
export const defaultContentType = 'binary/octet-stream';

/** Standard headers kept with an object and given back on GET and HEAD (Content-Type aside). */
export const storedHeaderNames = [
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'expires',
] as const;

const recordSchema = z.object({
  v: z.literal(1),
  etag: z.string().max(64),
  length: z.string().regex(/^\d{1,20}$/),
  mtimeNs: z.string().regex(/^\d{1,20}$/),
  contentType: z.string().max(1024).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  meta: z.record(z.string(), z.string()).optional(),
});
type StoredRecord = z.infer<typeof recordSchema>;

/** The metadata an upload gives (headers of PutObject or CreateMultipartUpload, or a copy's source). */
export interface UploadMetadata {
  readonly contentType: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** User metadata: names lower-case without "x-amz-meta-". */
  readonly meta: Readonly<Record<string, string>>;
}

/** An object as GET, HEAD and listings describe it. */
export interface ObjectInfo {
  /** Without the quotes. */
  readonly etag: string;
  readonly length: bigint;
  readonly lastModified: Date;
  readonly metadata: UploadMetadata;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function single(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The metadata of an upload from its request headers; MetadataTooLarge beyond S3's 2 KiB. */
export function metadataFromHeaders(headers: Headers): UploadMetadata {
  const meta: Record<string, string> = {};
  let metaBytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const short = name.slice('x-amz-meta-'.length);
    const text = Array.isArray(value) ? value.join(',') : value;
    meta[short] = text;
    metaBytes += Buffer.byteLength(short) + Buffer.byteLength(text);
  }
  if (metaBytes > limits.s3UserMetadataBytesMax) {
    throw s3Error(
      'MetadataTooLarge',
      `${metaBytes} bytes of user metadata (at most ${limits.s3UserMetadataBytesMax})`,
    );
  }
  const stored: Record<string, string> = {};
  for (const name of storedHeaderNames) {
    let value = single(headers, name);
    // aws-chunked is how the body travelled, not how the object is encoded.
    if (name === 'content-encoding' && value !== undefined) {
      value = value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== '' && part !== 'aws-chunked')
        .join(',');
      if (value === '') value = undefined;
    }
    if (value !== undefined) stored[name] = value;
  }
  const contentType = single(headers, 'content-type');
  return { contentType, headers: stored, meta };
}

/** The attribute value recording `metadata` and `etag` for a file of `inode`'s length and mtime. */
export function encodeObjectRecord(
  inode: Inode & { type: 'file' },
  etag: string,
  metadata: UploadMetadata,
): Buffer {
  const record: StoredRecord = {
    v: 1,
    etag,
    length: String(inode.length),
    mtimeNs: String(inode.mtimeNs),
    ...(metadata.contentType === undefined ? {} : { contentType: metadata.contentType }),
    ...(Object.keys(metadata.headers).length === 0 ? {} : { headers: { ...metadata.headers } }),
    ...(Object.keys(metadata.meta).length === 0 ? {} : { meta: { ...metadata.meta } }),
  };
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/** The object `inode` is, with its record's value when it has one (see the file comment). */
export function objectInfo(inode: Inode, recordBytes: Buffer | undefined): ObjectInfo {
  const length = inode.type === 'file' ? inode.length : 0n;
  const lastModified = new Date(Number(inode.mtimeNs / 1_000_000n));
  const record = decodeRecord(recordBytes);
  if (record !== undefined && record.length === String(length) && record.mtimeNs === String(inode.mtimeNs)) {
    return {
      etag: record.etag,
      length,
      lastModified,
      metadata: { contentType: record.contentType, headers: record.headers ?? {}, meta: record.meta ?? {} },
    };
  }
  return {
    etag: inode.type === 'directory' ? emptyMd5 : derivedEtag(inode, length),
    length,
    lastModified,
    metadata: { contentType: record?.contentType, headers: record?.headers ?? {}, meta: record?.meta ?? {} },
  };
}

function decodeRecord(bytes: Buffer | undefined): StoredRecord | undefined {
  if (bytes === undefined || bytes.length === 0) return undefined;
  try {
    const parsed = recordSchema.safeParse(JSON.parse(bytes.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The MD5 of no bytes: the ETag of an empty object. */
export const emptyMd5 = 'd41d8cd98f00b204e9800998ecf8427e';

function derivedEtag(inode: Inode, length: bigint): string {
  const digest = createHash('md5').update(`${inode.ino}:${length}:${inode.mtimeNs}`).digest('hex');
  return `${digest}-1`;
}

/** The ETag of a multipart upload: the MD5 of its parts' MD5s, and how many parts. */
export function multipartEtag(partEtags: readonly string[]): string {
  const hash = createHash('md5');
  for (const etag of partEtags) hash.update(Buffer.from(etag, 'hex'));
  return `${hash.digest('hex')}-${partEtags.length}`;
}

/** "etag" with the quotes S3 puts around it in headers and XML. */
export function quoted(etag: string): string {
  return `"${etag}"`;
}

/** The response headers describing an object (Content-Length and ranges aside). */
export function objectHeaders(info: ObjectInfo): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': info.metadata.contentType ?? defaultContentType,
    etag: quoted(info.etag),
    'last-modified': info.lastModified.toUTCString(),
    'accept-ranges': 'bytes',
  };
  for (const [name, value] of Object.entries(info.metadata.headers)) headers[name] = value;
  for (const [name, value] of Object.entries(info.metadata.meta)) headers[`x-amz-meta-${name}`] = value;
  return headers;
}
