/**
 * A request body as the gateway consumes it: streamed piece by piece (never held whole), decoded
 * from aws-chunked when it is that, bounded in size, and checked at its end against everything
 * the request promised: its length (Content-Length or x-amz-decoded-content-length), the signed
 * SHA-256 or chunk signatures, Content-MD5, and an x-amz-checksum-* header or trailer. The MD5 of
 * the data (an object's ETag) is computed on the way.
 *
 * Invariant: `data()` throws before it ends when any check fails, so a consumer that commits only
 * after the loop over it completed never commits a body that was not what the client signed.
 */
import { createHash } from 'node:crypto';
import type { PayloadCheck } from './authenticate.js';
import { decodeAwsChunked } from './aws-chunked.js';
import {
  checksumAlgorithmOf,
  runningChecksum,
  type ChecksumAlgorithm,
  type RunningChecksum,
} from './checksums.js';
import { S3Error, s3Error } from './errors.js';

/** What a request says about its body. */
export interface BodyPlan {
  readonly payload: PayloadCheck;
  /** The data's length when known before reading (Content-Length, or the decoded length of aws-chunked). */
  readonly length: number | undefined;
  /** Content-MD5, base64. */
  readonly contentMd5: string | undefined;
  /** An additional checksum: its value from a header, or undefined when a trailer brings it. */
  readonly checksum:
    { readonly algorithm: ChecksumAlgorithm; readonly expected: string | undefined } | undefined;
  readonly bytesMax: number;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function single(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function lengthHeader(headers: Headers, name: string): number | undefined {
  const text = single(headers, name);
  if (text === undefined) return undefined;
  if (!/^\d{1,16}$/.test(text)) throw s3Error('InvalidArgument', `${name} is not a number of bytes`);
  return Number(text);
}

/**
 * The plan of a body from the request's headers and its payload check. Refuses at once what can
 * be refused before reading: a length over `bytesMax`, a missing length where S3 needs one,
 * malformed digests.
 */
export function planBody(
  headers: Headers,
  payload: PayloadCheck,
  options: { bytesMax: number; lengthRequired: boolean },
): BodyPlan {
  const contentLength = lengthHeader(headers, 'content-length');
  const decodedLength = lengthHeader(headers, 'x-amz-decoded-content-length');
  const chunked = payload.kind === 'chunked';
  const length = chunked ? decodedLength : contentLength;
  if (
    length === undefined &&
    options.lengthRequired &&
    (chunked || single(headers, 'transfer-encoding') === undefined)
  ) {
    throw s3Error('MissingContentLength');
  }
  if (length !== undefined && length > options.bytesMax) {
    throw s3Error('EntityTooLarge', `${length} bytes is more than the ${options.bytesMax} allowed`, {
      ProposedSize: String(length),
      MaxSizeAllowed: String(options.bytesMax),
    });
  }
  const contentMd5 = single(headers, 'content-md5');
  if (contentMd5 !== undefined && !/^[A-Za-z0-9+/]{22}==$/.test(contentMd5)) {
    throw s3Error('InvalidDigest', 'Content-MD5 is not the base64 of 16 bytes');
  }
  return { payload, length, contentMd5, checksum: checksumOf(headers, payload), bytesMax: options.bytesMax };
}

function checksumOf(headers: Headers, payload: PayloadCheck): BodyPlan['checksum'] {
  let found: BodyPlan['checksum'];
  for (const name of Object.keys(headers)) {
    const algorithm = checksumAlgorithmOf(name);
    if (algorithm === undefined) continue;
    if (found !== undefined) throw s3Error('InvalidRequest', 'more than one x-amz-checksum header');
    found = { algorithm, expected: single(headers, name) };
  }
  const trailer = single(headers, 'x-amz-trailer');
  if (trailer === undefined) return found;
  if (payload.kind !== 'chunked' || !payload.trailer) {
    throw s3Error('InvalidRequest', 'x-amz-trailer needs a STREAMING-…-TRAILER body');
  }
  const algorithm = checksumAlgorithmOf(trailer.trim());
  if (algorithm === undefined)
    throw s3Error('InvalidRequest', `the trailer ${trailer} is not a checksum S3 knows`);
  if (found !== undefined) throw s3Error('InvalidRequest', 'a checksum both as a header and a trailer');
  return { algorithm, expected: undefined };
}

/** One body being read; see the file comment. */
export class RequestBody {
  /** Data bytes read so far. */
  bytes = 0;
  private readonly md5 = createHash('md5');
  private md5Digest: Buffer | undefined;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly plan: BodyPlan,
  ) {}

  /** The data, checked at its end (see the file comment). */
  async *data(): AsyncGenerator<Buffer, void, undefined> {
    const { plan } = this;
    const sha256 = plan.payload.kind === 'sha256' ? createHash('sha256') : undefined;
    const checksum: RunningChecksum | undefined =
      plan.checksum === undefined ? undefined : runningChecksum(plan.checksum.algorithm);
    let trailers: ReadonlyMap<string, string> = new Map();
    const pieces =
      plan.payload.kind === 'chunked'
        ? decodeAwsChunked(readable(this.source), {
            signing: plan.payload.signing,
            trailer: plan.payload.trailer,
            decodedLength: plan.length,
            decodedBytesMax: plan.bytesMax,
          })
        : plainPieces(readable(this.source));
    for (;;) {
      const next = await pieces.next();
      if (next.done === true) {
        if (next.value !== undefined) trailers = next.value;
        break;
      }
      const data = next.value;
      this.bytes += data.length;
      if (this.bytes > plan.bytesMax) throw s3Error('EntityTooLarge');
      this.md5.update(data);
      sha256?.update(data);
      checksum?.update(data);
      yield data;
    }
    if (plan.length !== undefined && this.bytes !== plan.length) {
      throw s3Error('IncompleteBody', `${this.bytes} of ${plan.length} bytes arrived`);
    }
    this.md5Digest = this.md5.digest();
    if (
      sha256 !== undefined &&
      plan.payload.kind === 'sha256' &&
      sha256.digest('hex') !== plan.payload.expected
    ) {
      throw s3Error('XAmzContentSHA256Mismatch');
    }
    if (plan.contentMd5 !== undefined && this.md5Digest.toString('base64') !== plan.contentMd5) {
      throw s3Error('BadDigest', 'The Content-MD5 you specified did not match what we received');
    }
    if (plan.checksum !== undefined && checksum !== undefined) {
      const expected = plan.checksum.expected ?? trailers.get(`x-amz-checksum-${plan.checksum.algorithm}`);
      if (expected === undefined) throw s3Error('InvalidRequest', 'the checksum trailer is missing');
      if (checksum.digest() !== expected) {
        throw s3Error(
          'BadDigest',
          `The ${plan.checksum.algorithm.toUpperCase()} you specified did not match the calculated checksum`,
        );
      }
    }
  }

  /** The MD5 of the data, once `data()` completed. */
  md5Hex(): string {
    if (this.md5Digest === undefined) throw new S3Error('InternalError', 'the body was not read to its end');
    return this.md5Digest.toString('hex');
  }

  /** Reads the whole (small) body into memory: XML documents of at most `plan.bytesMax` bytes. */
  async readAll(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const data of this.data()) parts.push(data);
    return Buffer.concat(parts);
  }
}

async function* plainPieces(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer, undefined, undefined> {
  for await (const piece of source) yield piece;
  return undefined;
}

/** The source as Buffers, a broken connection (aborted, reset) as IncompleteBody. */
async function* readable(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer, void, undefined> {
  try {
    for await (const piece of source) yield Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  } catch (error) {
    if (error instanceof S3Error) throw error;
    throw new S3Error('IncompleteBody', 'the connection broke before the body ended', { cause: error });
  }
}
