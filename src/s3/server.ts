/**
 * The S3 endpoint on Node's own HTTP/1.1 server (HTTPS when configured), with keep-alive: each
 * request is parsed (routing.ts), authenticated (authenticate.ts), served by its operation with
 * the key's identity, and answered; any failure becomes an S3 error document.
 *
 * Invariants:
 * - nothing is done for a request before it is authenticated, and an anonymous one may only read
 *   (and only when the configuration allows it);
 * - a request whose body was not read to its end (refused early, or a client that announced more
 *   than it sent) has its connection closed after the reply, so unread bytes are never taken for
 *   the next request; a client waiting for "100 Continue" is only told to send when its body is
 *   about to be read;
 * - the connection count, a request's headers and an idle connection are bounded
 *   (connections_max, s3HeadersTimeoutMs, socket_idle_ms); bodies are streamed, never held;
 * - a stop closes the listener, lets requests in flight finish for s3StopDrainMs, then closes
 *   every connection.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Credentials } from '../client/index.js';
import { describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { AccessKeys } from './access-keys.js';
import { authenticate, type RequestView } from './authenticate.js';
import * as buckets from './bucket-operations.js';
import type { S3Config } from './config.js';
import { S3Error, errorDocument, fromFsError, s3Error } from './errors.js';
import * as listing from './listing.js';
import * as multipart from './multipart-operations.js';
import * as objects from './object-operations.js';
import { isReadOnly, operationOf, targetOf, type Operation, type Target } from './routing.js';
import type { GatewayServices, S3Request } from './s3-request.js';
import { parseQuery } from './sigv4.js';

type Handler = (services: GatewayServices, request: S3Request) => Promise<void>;

/** Each operation's handler; the table is the list of what the gateway serves. */
export const handlers: Record<Operation, Handler> = {
  ListBuckets: buckets.listBuckets,
  CreateBucket: buckets.createBucket,
  DeleteBucket: buckets.deleteBucket,
  HeadBucket: buckets.headBucket,
  GetBucketLocation: buckets.getBucketLocation,
  GetBucketVersioning: buckets.getBucketVersioning,
  ListObjects: listing.listObjects,
  ListObjectsV2: listing.listObjectsV2,
  ListMultipartUploads: multipart.listMultipartUploads,
  DeleteObjects: objects.deleteObjects,
  PutObject: objects.putObject,
  CopyObject: objects.copyObject,
  GetObject: objects.getObject,
  HeadObject: objects.headObject,
  DeleteObject: objects.deleteObject,
  CreateMultipartUpload: multipart.createMultipartUpload,
  UploadPart: multipart.uploadPart,
  UploadPartCopy: multipart.uploadPartCopy,
  CompleteMultipartUpload: multipart.completeMultipartUpload,
  AbortMultipartUpload: multipart.abortMultipartUpload,
  ListParts: multipart.listParts,
};

export interface S3ServerOptions {
  readonly services: GatewayServices;
  readonly keys: AccessKeys;
  readonly config: S3Config['s3'];
  /** Replaces the handler table (tests). */
  readonly handlers?: Partial<Record<Operation, Handler>>;
}

export class S3Server {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly table: Record<Operation, Handler>;
  private readonly anonymous: Credentials;

  constructor(private readonly options: S3ServerOptions) {
    const { config } = options;
    this.table = { ...handlers, ...options.handlers };
    this.anonymous = { uid: config.anonymous_uid, gid: config.anonymous_gid, groups: [] };
    const serve = (expectsContinue: boolean) => (request: IncomingMessage, response: ServerResponse) => {
      const done = this.handle(request, response, expectsContinue).finally(() => this.inflight.delete(done));
      this.inflight.add(done);
    };
    const serverOptions = {
      keepAlive: true,
      // Uploads of gigabytes take long: the whole-request deadline is off; idleness is bounded instead.
      requestTimeout: 0,
      headersTimeout: limits.s3HeadersTimeoutMs,
      keepAliveTimeout: limits.s3KeepAliveMs,
    };
    this.server =
      config.tls_cert_file === undefined || config.tls_key_file === undefined
        ? createHttpServer(serverOptions, serve(false))
        : createHttpsServer(
            {
              ...serverOptions,
              cert: readFileSync(config.tls_cert_file),
              key: readFileSync(config.tls_key_file),
            },
            serve(false),
          );
    this.server.on('checkContinue', serve(true));
    this.server.maxConnections = config.connections_max;
    this.server.setTimeout(config.socket_idle_ms, (socket: Socket) => socket.destroy());
    // The TCP connection, TLS or not: a stop closes those still in their handshake too.
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      options.services.metrics.connectionOpened();
      socket.once('close', () => {
        this.sockets.delete(socket);
        options.services.metrics.connectionClosed();
      });
    });
  }

  /** Starts listening; resolves with the bound address. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /** Stops: see the file comment. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const drained = Promise.allSettled([...this.inflight]);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, limits.s3StopDrainMs);
    });
    await Promise.race([drained, deadline]);
    clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async handle(
    http: IncomingMessage,
    response: ServerResponse,
    expectsContinue: boolean,
  ): Promise<void> {
    const { services } = this.options;
    const startedMs = services.clock.monotonicMs();
    const id = randomBytes(8).toString('hex').toUpperCase();
    response.setHeader('x-amz-request-id', id);
    response.setHeader('server', '3fs-s3');
    let operation: Operation | 'Unknown' = 'Unknown';
    let resource = '/';
    let failure: S3Error | undefined;
    try {
      const url = http.url ?? '/';
      const question = url.indexOf('?');
      const rawPath = question < 0 ? url : url.slice(0, question);
      resource = rawPath;
      const query = parseQuery(question < 0 ? '' : url.slice(question + 1));
      const params = new Map<string, string>();
      for (const [name, value] of query) if (!params.has(name)) params.set(name, value);
      const target = targetOf(rawPath, http.headers.host, this.options.config.virtual_host_domains);
      const method = http.method ?? 'GET';
      operation = operationOf(method, target, params, http.headers);
      const request = await this.authenticated({
        http,
        response,
        id,
        method,
        rawPath,
        query,
        params,
        target,
        operation,
        expectsContinue,
      });
      await this.table[operation](services, request);
    } catch (error) {
      failure = this.answerError(http, response, error, { resource, id, operation });
    } finally {
      const seconds = (services.clock.monotonicMs() - startedMs) / 1000;
      services.metrics.request(operation, response.statusCode, failure?.code, seconds);
    }
  }

  private async authenticated(parts: {
    http: IncomingMessage;
    response: ServerResponse;
    id: string;
    method: string;
    rawPath: string;
    query: Array<[string, string]>;
    params: Map<string, string>;
    target: Target;
    operation: Operation;
    expectsContinue: boolean;
  }): Promise<S3Request> {
    const { services, config, keys } = this.options;
    const view: RequestView = {
      method: parts.method,
      rawPath: parts.rawPath,
      query: parts.query,
      headers: parts.http.headersDistinct,
    };
    const auth = await authenticate(view, {
      region: config.region,
      nowMs: services.clock.nowMs(),
      skewMsMax: limits.s3ClockSkewMsMax,
      lookup: keys.lookup,
      allowAnonymous: config.anonymous_read,
    });
    if (auth.kind === 'anonymous' && !isReadOnly(parts.operation)) {
      throw s3Error('AccessDenied', 'anonymous requests may only read');
    }
    const cred: Credentials =
      auth.kind === 'key'
        ? { uid: auth.key.identity.uid, gid: auth.key.identity.gid, groups: [...auth.key.identity.groups] }
        : this.anonymous;
    return {
      ...parts,
      headers: parts.http.headers,
      auth,
      cred,
      ownerName: auth.kind === 'key' ? auth.key.accessKeyId : 'anonymous',
    };
  }

  /** Answers `error` as an S3 error document (or cuts a reply already under way); returns it. */
  private answerError(
    http: IncomingMessage,
    response: ServerResponse,
    error: unknown,
    context: { resource: string; id: string; operation: string },
  ): S3Error {
    const { logger } = this.options.services;
    const failure = error instanceof S3Error ? error : fromFsError(error);
    if (failure.code === 'InternalError' || failure.status >= 500) {
      logger.error(
        { err: error, operation: context.operation, requestId: context.id },
        `${context.operation} failed: ${describeError(error)}`,
      );
    } else {
      logger.debug(
        { operation: context.operation, code: failure.code, requestId: context.id },
        failure.message,
      );
    }
    if (response.headersSent) {
      response.destroy();
      return failure;
    }
    const body = errorDocument(failure, context.resource, context.id);
    const headers: Record<string, string> = {
      'content-type': 'application/xml',
      'content-length': String(Buffer.byteLength(body)),
    };
    // The rest of an unread body would be taken for the next request: this connection ends here.
    if (!http.complete) headers['connection'] = 'close';
    response.writeHead(failure.status, headers);
    response.end(http.method === 'HEAD' ? undefined : body);
    return failure;
  }
}
