/**
 * The aws-chunked content encoding of S3 uploads, decoded as it streams:
 *
 *   <hex size>[;chunk-signature=<sig>]\r\n <size bytes> \r\n  … repeated …
 *   0[;chunk-signature=<sig>]\r\n  [trailer lines name:value\r\n … [x-amz-trailer-signature:<sig>\r\n]]  \r\n
 *
 * With signing, every chunk's signature chains from the previous one (the request's signature
 * first) over the SHA-256 of its bytes, and a trailer is signed over its lines. Data is handed on
 * as it arrives, before its chunk is complete: it is unverified until the generator returns, and a
 * consumer must not make it visible (rename an upload into place) before then. Nothing is kept but
 * the current header line, bounded, so no chunk size makes the decoder buffer a chunk.
 */
import { createHash, type Hash } from 'node:crypto';
import type { ChunkSigning } from './authenticate.js';
import { s3Error } from './errors.js';
import { chunkStringToSign, sign, signaturesEqual, trailerStringToSign } from './sigv4.js';

export interface AwsChunkedOptions {
  /** Chunk signatures to check; undefined for STREAMING-UNSIGNED-PAYLOAD-TRAILER. */
  readonly signing: ChunkSigning | undefined;
  /** Whether trailing headers follow the last chunk. */
  readonly trailer: boolean;
  /** x-amz-decoded-content-length when sent: the data must be exactly that long. */
  readonly decodedLength: number | undefined;
  /** The most data accepted, whatever the header says. */
  readonly decodedBytesMax: number;
}

/** A chunk header, a trailer line: far longer than any client sends. */
const lineBytesMax = 4096;
/** Trailing headers at most. */
const trailerLinesMax = 16;

type State =
  | { readonly kind: 'header' }
  | {
      kind: 'data';
      remaining: number;
      readonly hash: Hash | undefined;
      readonly signature: string | undefined;
    }
  | { readonly kind: 'data-end'; readonly hash: Hash | undefined; readonly signature: string | undefined }
  | { readonly kind: 'trailer'; readonly lines: string[] }
  | { readonly kind: 'final' }
  | { readonly kind: 'done' };

/** Yields the decoded data; returns the trailing headers (lower-case names). Throws S3Errors. */
export async function* decodeAwsChunked(
  source: AsyncIterable<Uint8Array>,
  options: AwsChunkedOptions,
): AsyncGenerator<Buffer, ReadonlyMap<string, string>, undefined> {
  const decoder = new ChunkDecoder(options);
  for await (const piece of source) {
    for (const data of decoder.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)))
      yield data;
  }
  return decoder.finish();
}

class ChunkDecoder {
  private state: State = { kind: 'header' };
  private pending: Buffer = Buffer.alloc(0);
  private previousSignature: string;
  private decodedBytes = 0;
  private readonly trailers = new Map<string, string>();

  constructor(private readonly options: AwsChunkedOptions) {
    this.previousSignature = options.signing?.seedSignature ?? '';
  }

  /** Consumes `piece`; returns the data it completes (views of it, never copies of data). */
  push(piece: Buffer): Buffer[] {
    let buffer = this.pending.length === 0 ? piece : Buffer.concat([this.pending, piece]);
    const out: Buffer[] = [];
    for (;;) {
      const state = this.state;
      if (state.kind === 'data') {
        const take = Math.min(state.remaining, buffer.length);
        if (take === 0) break;
        const data = buffer.subarray(0, take);
        state.hash?.update(data);
        state.remaining -= take;
        out.push(data);
        buffer = buffer.subarray(take);
        if (state.remaining === 0)
          this.state = { kind: 'data-end', hash: state.hash, signature: state.signature };
        continue;
      }
      if (state.kind === 'data-end') {
        if (buffer.length < 2) break;
        if (buffer[0] !== 0x0d || buffer[1] !== 0x0a) throw malformed('a chunk not followed by CRLF');
        buffer = buffer.subarray(2);
        this.checkChunk(state.hash, state.signature);
        this.state = { kind: 'header' };
        continue;
      }
      if (state.kind === 'done') {
        if (buffer.length > 0) throw malformed('data after the last chunk');
        break;
      }
      const newline = buffer.indexOf(0x0a);
      if (newline < 0) {
        if (buffer.length > lineBytesMax) throw malformed('a chunk header or trailer line too long');
        break;
      }
      const line = buffer.subarray(0, newline).toString('latin1').replace(/\r$/, '');
      buffer = buffer.subarray(newline + 1);
      this.line(state, line);
    }
    this.pending = buffer.length === 0 ? Buffer.alloc(0) : Buffer.from(buffer);
    return out;
  }

  private line(state: Exclude<State, { kind: 'data' | 'data-end' | 'done' }>, line: string): void {
    if (state.kind === 'header') {
      this.header(line);
    } else if (state.kind === 'final') {
      if (line !== '') throw malformed('the body does not end after the last chunk');
      this.state = { kind: 'done' };
    } else if (line === '') {
      this.finishTrailer(state.lines);
      this.state = { kind: 'done' };
    } else {
      if (state.lines.length >= trailerLinesMax) throw malformed('too many trailing headers');
      state.lines.push(line);
    }
  }

  private header(line: string): void {
    const match = /^([0-9A-Fa-f]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(line);
    if (match === null) throw malformed('a malformed chunk header');
    const size = Number.parseInt(match[1] as string, 16);
    const signature = match[2];
    if (this.options.signing !== undefined && signature === undefined) {
      throw s3Error('SignatureDoesNotMatch', 'a chunk without its chunk-signature');
    }
    this.decodedBytes += size;
    if (this.decodedBytes > this.options.decodedBytesMax) throw s3Error('EntityTooLarge');
    if (this.options.decodedLength !== undefined && this.decodedBytes > this.options.decodedLength) {
      throw malformed('more data than x-amz-decoded-content-length');
    }
    const hash = this.options.signing === undefined ? undefined : createHash('sha256');
    if (size > 0) {
      this.state = { kind: 'data', remaining: size, hash, signature };
      return;
    }
    this.checkChunk(hash, signature);
    this.state = this.options.trailer ? { kind: 'trailer', lines: [] } : { kind: 'final' };
  }

  private checkChunk(hash: Hash | undefined, signature: string | undefined): void {
    const signing = this.options.signing;
    if (signing === undefined || hash === undefined || signature === undefined) return;
    const expected = sign(
      signing.key,
      chunkStringToSign({
        amzDate: signing.amzDate,
        scope: signing.scope,
        previousSignature: this.previousSignature,
        chunkSha256: hash.digest('hex'),
      }),
    );
    if (!signaturesEqual(expected, signature)) {
      throw s3Error('SignatureDoesNotMatch', 'a chunk signature does not match its data');
    }
    this.previousSignature = signature;
  }

  private finishTrailer(lines: readonly string[]): void {
    let signature: string | undefined;
    const signedLines: string[] = [];
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw malformed('a trailing header is not name:value');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'x-amz-trailer-signature') {
        signature = value;
        continue;
      }
      if (this.trailers.has(name)) throw malformed(`trailing header ${name} twice`);
      this.trailers.set(name, value);
      signedLines.push(`${name}:${value}\n`);
    }
    const signing = this.options.signing;
    if (signing === undefined) return;
    if (signature === undefined) throw s3Error('SignatureDoesNotMatch', 'the trailer is not signed');
    const expected = sign(
      signing.key,
      trailerStringToSign({
        amzDate: signing.amzDate,
        scope: signing.scope,
        previousSignature: this.previousSignature,
        trailerText: signedLines.join(''),
      }),
    );
    if (!signaturesEqual(expected, signature)) {
      throw s3Error('SignatureDoesNotMatch', 'the trailer signature does not match');
    }
  }

  /** At the end of the body: everything must have arrived. */
  finish(): ReadonlyMap<string, string> {
    if (this.state.kind !== 'done')
      throw s3Error('IncompleteBody', 'the body ended inside an aws-chunked chunk');
    if (this.options.decodedLength !== undefined && this.decodedBytes !== this.options.decodedLength) {
      throw s3Error('IncompleteBody', 'less data than x-amz-decoded-content-length');
    }
    return this.trailers;
  }
}

function malformed(why: string) {
  return s3Error('InvalidRequest', `malformed aws-chunked body: ${why}`);
}
