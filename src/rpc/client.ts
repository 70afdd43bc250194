/**
 * RpcClient: calls methods on remote servers through a pool of authenticated connections, one per
 * address, opened on first use and replaced after a failure. Each attempt has a deadline; idempotent
 * methods are retried a bounded number of times after retryable failures, with exponential backoff
 * and jitter; responses are validated with the method's schema before the caller sees them.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { PresentedToken } from './caller.js';
import { toClusterSecrets, type ClusterSecrets, type ClusterSecretsLike } from '../common/cluster-secrets.js';
import { formatIssues } from '../common/config.js';
import { systemClock } from '../common/clock.js';
import { FsError, assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { seededRandom, type Random } from '../common/random.js';
import { CommonCode, Ok, RpcCode, statusName } from '../common/status-code.js';
import { Cancellation, cancelledByCaller } from './cancellation.js';
import { encodeBody } from './body-codec.js';
import { ClientConnection, type OutgoingCall } from './client-connection.js';
import { frameHeaderBytes } from './frame.js';
import type { MethodDef } from './method.js';
import { backoffMs, isRetryable } from './retry-policy.js';
import { notifyObserver, type RpcCallObserver } from './server.js';
import type { PayloadPool } from './payload-pool.js';

export interface RpcClientOptions {
  /**
   * The cluster secret, or the process's secrets as its secret file says (a rotation replaces
   * them; new connections prove the current one, established ones stay).
   */
  readonly clusterSecret: ClusterSecretsLike;
  /**
   * A user token proved in place of the secret (caller.ts); `clusterSecret` is then not used and
   * may be empty.
   */
  readonly token?: PresentedToken | undefined;
  readonly logger: Logger;
  /** Largest frame accepted from a server; a server sending more is disconnected. */
  readonly frameBytesMax?: number;
  readonly connectTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** Randomness for retry jitter; seeded from the OS by default so clients do not retry in step. */
  readonly random?: Random;
  /** Sees every call, its retries included (metrics). */
  readonly observer?: RpcCallObserver;
  /**
   * Large reply payloads are read in place into buffers from this pool (payload-pool.ts). The
   * caller receives each such payload held once: letting go of it with `releasePayload` once
   * nothing reads it any more lets the buffer serve a later reply; a caller that keeps it, or
   * never lets go, leaves it to the collector.
   */
  readonly replyPayloadPool?: PayloadPool;
}

/** Options of one call. */
export interface CallOptions {
  /** Deadline of each attempt, from the call until its reply (default limits.rpcTimeoutMsDefault). */
  timeoutMs?: number;
  /** Raw bytes sent after the body, checksummed, never re-encoded. */
  payload?: Buffer;
  /**
   * The payload's CRC32C when the caller already holds it (it checked or computed it over these
   * bytes), so it is not summed again; the server checks the payload against it either way.
   */
  payloadCrc32c?: number | undefined;
  /**
   * Retries after retryable failures (default limits.rpcIdempotentRetriesMax). Only idempotent
   * methods are retried; for the others this is ignored.
   */
  retries?: number;
  /** Aborts the call (and its retries); the call then rejects with RpcCode.Cancelled. */
  signal?: AbortSignal;
}

/** A validated response with the reply's raw payload and the CRC32C it was checked against. */
export interface ReplyWithPayload<Res> {
  readonly response: Res;
  readonly payload: Buffer | undefined;
  /** CRC32C of `payload`, checked on receipt (0 without a payload). */
  readonly payloadCrc32c: number;
}

/**
 * The calling half of RpcClient, as the components that only call remote methods depend on it (so
 * a test can put a simulated network in its place).
 */
export type RpcCaller = Pick<RpcClient, 'call' | 'callWithPayload'>;

/** Node fires longer timers at once, so a longer deadline would silently mean none. */
const timerDelayMsMax = 2 ** 31 - 1;

/** Retries allowed per call, whatever a caller asks: a retry loop always has a bound. */
const retriesMax = 100;

/** Calls remote methods; see the file comment. */
export class RpcClient {
  private readonly clusterSecrets: ClusterSecrets;
  private readonly token: PresentedToken | undefined;
  private readonly logger: Logger;
  private readonly frameBytesMax: number;
  private readonly connectTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly random: Random;
  private readonly observer: RpcCallObserver | undefined;
  private readonly replyPayloadPool: PayloadPool | undefined;
  private readonly connections = new Map<string, ClientConnection>();
  private closed = false;

  constructor(options: RpcClientOptions) {
    this.token = options.token;
    // A token client proves no secret; a random stand-in keeps the connection code single-path.
    this.clusterSecrets = toClusterSecrets(
      this.token === undefined ? options.clusterSecret : randomBytes(32).toString('hex'),
    );
    this.logger = options.logger.child({ rpc: 'client' });
    this.frameBytesMax = options.frameBytesMax ?? limits.rpcFrameBytesMaxDefault;
    this.connectTimeoutMs = options.connectTimeoutMs ?? limits.rpcConnectTimeoutMs;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? limits.rpcHandshakeTimeoutMs;
    this.random = options.random ?? seededRandom(randomInt(0x7fff_ffff));
    this.observer = options.observer;
    this.replyPayloadPool = options.replyPayloadPool;
    assert(
      Number.isInteger(this.frameBytesMax) && this.frameBytesMax > frameHeaderBytes,
      'frameBytesMax exceeds a header',
    );
    assert(this.connectTimeoutMs > 0, 'connectTimeoutMs is positive');
    assert(this.handshakeTimeoutMs > 0, 'handshakeTimeoutMs is positive');
  }

  /** Calls `method` on the server at `address` and resolves with its validated response. */
  async call<Req, Res>(
    address: string,
    method: MethodDef<Req, Res>,
    request: Req,
    options: CallOptions = {},
  ): Promise<Res> {
    return (await this.callWithPayload(address, method, request, options)).response;
  }

  /** Like `call`, and also resolves with the reply's raw payload (checksum verified). */
  async callWithPayload<Req, Res>(
    address: string,
    method: MethodDef<Req, Res>,
    request: Req,
    options: CallOptions = {},
  ): Promise<ReplyWithPayload<Res>> {
    const observer = this.observer;
    if (observer === undefined) return this.callWithRetries(address, method, request, options);
    const startedMs = systemClock.monotonicMs();
    let status: number = Ok;
    let replyPayloadBytes = 0;
    notifyObserver(this.logger, () => observer.callStarted(method.name));
    try {
      const result = await this.callWithRetries(address, method, request, options);
      replyPayloadBytes = result.payload?.length ?? 0;
      return result;
    } catch (error) {
      status = error instanceof FsError && error.code !== Ok ? error.code : CommonCode.Internal;
      throw error;
    } finally {
      const event = {
        method: method.name,
        status,
        durationMs: systemClock.monotonicMs() - startedMs,
        requestPayloadBytes: options.payload?.length ?? 0,
        replyPayloadBytes,
      };
      notifyObserver(this.logger, () => observer.callFinished(event));
    }
  }

  private async callWithRetries<Req, Res>(
    address: string,
    method: MethodDef<Req, Res>,
    request: Req,
    options: CallOptions,
  ): Promise<ReplyWithPayload<Res>> {
    if (this.closed) throw new FsError(CommonCode.ShuttingDown, 'rpc client is closed');
    const timeoutMs = options.timeoutMs ?? limits.rpcTimeoutMsDefault;
    const retries = method.idempotent ? (options.retries ?? limits.rpcIdempotentRetriesMax) : 0;
    assert(timeoutMs > 0 && timeoutMs <= timerDelayMsMax, `timeoutMs is in 1..${timerDelayMsMax}`);
    assert(
      Number.isInteger(retries) && retries >= 0 && retries <= retriesMax,
      `retries is an integer in 0..${retriesMax}`,
    );
    const outgoing: OutgoingCall = {
      serviceId: method.serviceId,
      methodId: method.methodId,
      methodName: method.name,
      body: encodeBody(request),
      payload: options.payload,
      payloadCrc32c: options.payloadCrc32c,
    };
    for (let retry = 0; ; retry += 1) {
      try {
        return await this.attempt({ address, method, outgoing, timeoutMs, signal: options.signal });
      } catch (error) {
        const retryable = isRetryable(error) && options.signal?.aborted !== true && !this.closed;
        if (!retryable || retry >= retries) throw error;
        const delayMs = backoffMs(retry, this.random);
        this.logger.debug(
          {
            method: method.name,
            address,
            code: statusName((error as FsError).code),
            retry: retry + 1,
            delayMs,
          },
          `retrying ${method.name} on ${address}`,
        );
        await systemClock.sleep(delayMs, options.signal).catch((reason: unknown) => {
          throw cancelledByCaller(reason);
        });
      }
    }
  }

  /** Calls waiting for an in-flight slot, summed over every connection (metrics). */
  queuedCalls(): number {
    let queued = 0;
    for (const connection of this.connections.values()) queued += connection.queuedCalls;
    return queued;
  }

  /** Closes every connection; calls still running reject with ConnectionClosed. */
  close(): Promise<void> {
    this.closed = true;
    const reason = new FsError(RpcCode.ConnectionClosed, 'rpc client closed');
    for (const connection of [...this.connections.values()]) connection.close(reason);
    this.connections.clear();
    return Promise.resolve();
  }

  private async attempt<Req, Res>(options: {
    address: string;
    method: MethodDef<Req, Res>;
    outgoing: OutgoingCall;
    timeoutMs: number;
    signal: AbortSignal | undefined;
    /** A connection of its own (a hand-over's); the pooled one to `address` by default. */
    connection?: ClientConnection;
  }): Promise<ReplyWithPayload<Res>> {
    const { address, method, timeoutMs } = options;
    // One cancellation for the attempt: at the deadline, or when the caller's signal aborts.
    const cancellation = new Cancellation();
    const timer = systemClock.setTimer(timeoutMs, () =>
      cancellation.cancel(
        new FsError(RpcCode.Timeout, `${method.name} on ${address} timed out after ${timeoutMs} ms`),
      ),
    );
    const callerSignal = options.signal;
    const forwardAbort = (): void => cancellation.cancel(cancelledByCaller(callerSignal?.reason));
    if (callerSignal?.aborted === true) forwardAbort();
    else callerSignal?.addEventListener('abort', forwardAbort, { once: true });
    try {
      const connection = options.connection ?? this.connectionTo(address);
      const reply = await connection.call(options.outgoing, cancellation);
      const parsed = method.response.safeParse(reply.body);
      if (!parsed.success) {
        throw new FsError(
          RpcCode.BadResponse,
          `${method.name}: invalid response from ${address}:\n${formatIssues(parsed.error.issues)}`,
        );
      }
      return { response: parsed.data, payload: reply.payload, payloadCrc32c: reply.payloadCrc32c };
    } finally {
      timer.cancel();
      callerSignal?.removeEventListener('abort', forwardAbort);
    }
  }

  /**
   * Opens a connection of its own to `address` (not pooled), proves this client's secret or token
   * on it, and hands its socket's descriptor to `takeOver`, which must duplicate it at once: the
   * connection is closed when `takeOver` returns. Rejects as the connect or handshake fails, or
   * with NotImplemented when the socket has no descriptor to hand over.
   */
  async handOverConnection<Req, Res>(
    address: string,
    takeOver: (fd: number) => void,
    /**
     * A call made on the connection first, which the peer may refuse with NotImplemented or not
     * know (UnknownMethod): the connection is then handed over as it is. Other failures reject.
     */
    opening?: { method: MethodDef<Req, Res>; request: Req },
  ): Promise<void> {
    const connection = this.newConnection(address, () => undefined);
    try {
      await connection.established();
      if (opening !== undefined) await this.openingCall(address, connection, opening.method, opening.request);
      const fd = connection.socketDescriptor();
      if (fd === undefined) {
        throw new FsError(
          CommonCode.NotImplemented,
          `the connection to ${address} has no descriptor to hand over`,
        );
      }
      takeOver(fd);
    } finally {
      connection.close(new FsError(RpcCode.ConnectionClosed, 'handed over'));
    }
  }

  private async openingCall<Req, Res>(
    address: string,
    connection: ClientConnection,
    method: MethodDef<Req, Res>,
    request: Req,
  ): Promise<void> {
    const outgoing: OutgoingCall = {
      serviceId: method.serviceId,
      methodId: method.methodId,
      methodName: method.name,
      body: encodeBody(request),
      payload: undefined,
    };
    try {
      await this.attempt({
        address,
        method,
        outgoing,
        timeoutMs: this.handshakeTimeoutMs,
        signal: undefined,
        connection,
      });
    } catch (error) {
      const declined =
        error instanceof FsError &&
        (error.code === CommonCode.NotImplemented || error.code === RpcCode.UnknownMethod);
      if (!declined) throw error;
    }
  }

  /** The pooled connection to `address`, opening a new one if there is none or it has failed. */
  private connectionTo(address: string): ClientConnection {
    const existing = this.connections.get(address);
    if (existing !== undefined && !existing.isClosed) return existing;
    const connection = this.newConnection(address, (closed) => {
      if (this.connections.get(address) === closed) this.connections.delete(address);
    });
    this.connections.set(address, connection);
    return connection;
  }

  private newConnection(address: string, onClosed: (connection: ClientConnection) => void): ClientConnection {
    return new ClientConnection({
      address,
      clusterSecrets: this.clusterSecrets,
      token: this.token,
      logger: this.logger,
      frameBytesMax: this.frameBytesMax,
      payloadPool: this.replyPayloadPool,
      connectTimeoutMs: this.connectTimeoutMs,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      inflightMax: limits.rpcClientInflightPerConnectionMax,
      queuedMax: limits.rpcClientQueuedPerConnectionMax,
      onClosed,
    });
  }
}
