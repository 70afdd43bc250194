/**
 * One request as the operations see it (who, what, the body to read as its signature says), what
 * they share (the namespace, the writer, the configuration), and the ways they answer: an XML
 * document, an empty reply, or a stream of file data paced by the client's reading.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Credentials } from '../client/index.js';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { Authenticated } from './authenticate.js';
import { s3Error } from './errors.js';
import { checkBucketName, joinPath, parseKey, type ObjectKey } from './names.js';
import type { Uploads } from './multipart.js';
import type { ObjectFs } from './object-fs.js';
import type { ObjectWriter } from './object-writer.js';
import { RequestBody, planBody, type BodyPlan } from './request-body.js';
import type { Operation, Target } from './routing.js';
import type { S3Metrics } from './s3-metrics.js';
import type { Staging } from './staging.js';
import { xmlDocument, type XmlNode } from './xml.js';

/** What every operation may use. */
export interface GatewayServices {
  readonly fs: ObjectFs;
  readonly writer: ObjectWriter;
  readonly staging: Staging;
  readonly uploads: Uploads;
  readonly exportRoot: string;
  readonly region: string;
  readonly fileMode: number;
  readonly directoryMode: number;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly metrics: S3Metrics;
}

export interface S3Request {
  readonly id: string;
  readonly http: IncomingMessage;
  readonly response: ServerResponse;
  readonly method: string;
  readonly rawPath: string;
  /** Decoded query pairs in order, and the first value of each name. */
  readonly query: ReadonlyArray<readonly [string, string]>;
  readonly params: ReadonlyMap<string, string>;
  readonly headers: IncomingHttpHeaders;
  readonly target: Target;
  readonly operation: Operation;
  readonly auth: Authenticated;
  /** The identity every namespace call of the request is made with. */
  readonly cred: Credentials;
  /** Whom listings name as owner. */
  readonly ownerName: string;
  /** Set when the client waits for "100 Continue" before sending its body. */
  readonly expectsContinue: boolean;
}

/** The request's bucket, checked, and its directory in the namespace. */
export function bucketOf(services: GatewayServices, request: S3Request): { name: string; path: string } {
  const name = request.target.bucket;
  if (name === undefined) throw s3Error('InvalidRequest', 'no bucket');
  checkBucketName(name);
  return { name, path: joinPath(services.exportRoot, name) };
}

/** The request's key, checked. */
export function keyOf(request: S3Request): ObjectKey {
  const key = request.target.key;
  if (key === undefined) throw s3Error('InvalidRequest', 'no key');
  return parseKey(key);
}

/** What the request's headers say of its body; refuses at once what they already condemn. */
export function planOf(request: S3Request, options: { bytesMax: number; lengthRequired: boolean }): BodyPlan {
  return planBody(request.headers, request.auth.payload, options);
}

/**
 * The request body, to be read as `plan` says. Asks for it ("100 Continue") only now, so a
 * request refused before never has its body sent.
 */
export function startBody(request: S3Request, plan: BodyPlan): RequestBody {
  if (request.expectsContinue && !request.response.headersSent) request.response.writeContinue();
  return new RequestBody(request.http, plan);
}

/** The whole of a small body (an XML document), at most `bytesMax` bytes. */
export async function readSmallBody(request: S3Request, bytesMax: number): Promise<Buffer> {
  return startBody(request, planOf(request, { bytesMax, lengthRequired: false })).readAll();
}

/** Answers an XML document. */
export function sendXml(
  request: S3Request,
  status: number,
  root: XmlNode,
  headers: Record<string, string> = {},
): void {
  const text = xmlDocument(root);
  request.response.writeHead(status, {
    ...headers,
    'content-type': 'application/xml',
    'content-length': String(Buffer.byteLength(text)),
  });
  request.response.end(text);
}

/** Answers without a body. */
export function sendEmpty(request: S3Request, status: number, headers: Record<string, string> = {}): void {
  request.response.writeHead(status, { 'content-length': '0', ...headers });
  request.response.end();
}

/**
 * Writes `data` to the response; resolves once it may write more (the client drained what it
 * had), or false when the client went away.
 */
export async function writeData(
  response: ServerResponse,
  data: Buffer,
  written?: () => void,
): Promise<boolean> {
  if (response.destroyed || response.writableEnded) return false;
  if (response.write(data, written)) return true;
  return new Promise((resolve) => {
    const settle = (drained: boolean) => (): void => {
      response.off('drain', onDrain);
      response.off('close', onClose);
      resolve(drained);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    response.on('drain', onDrain);
    response.on('close', onClose);
  });
}

/** The time as S3 writes it in XML: ISO 8601 with milliseconds. */
export function isoTime(date: Date): string {
  return date.toISOString();
}
