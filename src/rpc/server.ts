/**
 * RpcServer: accepts connections on one address, authenticates them, and serves the registered
 * methods. It owns the method registry (one handler per method id, a duplicate is a bug) and the
 * set of live connections, and shuts down in order: stop accepting, let running handlers finish
 * within the drain deadline, abort the rest, close every connection.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { systemClock } from '../common/clock.js';
import { toClusterSecrets, type ClusterSecrets, type ClusterSecretsLike } from '../common/cluster-secrets.js';
import { splitAddress } from '../common/config.js';
import { FsError, assert, describeError, type AssertionError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { CommonCode, Ok } from '../common/status-code.js';
import type { MethodAccess, TokenVerifier } from './caller.js';
import { frameHeaderBytes } from './frame.js';
import { DirectReads, adoptWithDirectReads } from './frame-socket.js';
import { methodKey, type MethodDef } from './method.js';
import type { PayloadPool } from './payload-pool.js';
import type { CallContext, RegisteredMethod } from './request-dispatch.js';
import { ServerConnection } from './server-connection.js';

/** One finished call, as an observer sees it. */
export interface RpcCallEvent {
  /** The method's name, e.g. "Mgmtd.heartbeat". */
  readonly method: string;
  /** Ok, or the status code the call failed with. */
  readonly status: number;
  readonly durationMs: number;
  readonly requestPayloadBytes: number;
  readonly replyPayloadBytes: number;
}

/**
 * Watches calls for metrics. Server side: every handled request of a registered method; client
 * side: every call, its retries included. It runs inline with the call, so it must be quick, and
 * a failing observer is logged, never the call's failure.
 */
export interface RpcCallObserver {
  callStarted(method: string): void;
  callFinished(event: RpcCallEvent): void;
}

/** Calls `notify`, logging instead of throwing when the observer fails. */
export function notifyObserver(logger: Logger, notify: () => void): void {
  try {
    notify();
  } catch (error) {
    logger.error({ err: error }, `rpc observer failed: ${describeError(error)}`);
  }
}

export interface RpcServerOptions {
  /**
   * The cluster secret, or the process's secrets as its secret file says: a connecting peer may
   * prove any of them (a rotation replaces them; established connections stay).
   */
  readonly clusterSecret: ClusterSecretsLike;
  /**
   * User tokens accepted in place of the secret (caller.ts), for the methods registered open to
   * users; without it only peers holding the secret connect.
   */
  readonly tokens?: TokenVerifier;
  readonly logger: Logger;
  /** Largest frame accepted; a peer announcing more is disconnected. */
  readonly frameBytesMax?: number;
  /** Handlers run at once for one connection; at the bound the socket is not read. */
  readonly inflightPerConnectionMax?: number;
  /** Time a new connection has to prove the cluster secret. */
  readonly handshakeTimeoutMs?: number;
  /** Sees every handled call (metrics). */
  readonly observer?: RpcCallObserver;
  /**
   * Told when a handler throws an AssertionError (a broken invariant: a bug here, not the
   * caller's); the caller still gets Common.Internal. The services crash there (STYLE).
   */
  readonly onBrokenInvariant?: (error: AssertionError, methodName: string) => void;
  /**
   * Large request payloads are read in place into buffers from this pool, and go back when their
   * handler has settled (payload-pool.ts). Only for services whose handlers keep no payload past
   * that, or hold it with `holdPayload`.
   */
  readonly payloadPool?: PayloadPool;
}

/** "host:port" of a bound socket ("[v6]:port" for IPv6). */
function formatAddress(info: AddressInfo): string {
  return info.family === 'IPv6' ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
}

/** Serves registered methods over authenticated connections; see the file comment. */
/** The registering half of RpcServer, as services that only register handlers depend on it. */
export type RpcHandlers = Pick<RpcServer, 'handle'>;

export class RpcServer {
  private readonly clusterSecrets: ClusterSecrets;
  private readonly tokens: TokenVerifier | undefined;
  private readonly logger: Logger;
  private readonly frameBytesMax: number;
  private readonly inflightMax: number;
  private readonly handshakeTimeoutMs: number;
  private readonly observer: RpcCallObserver | undefined;
  private readonly onBrokenInvariant: RpcServerOptions['onBrokenInvariant'];
  private readonly payloadPool: PayloadPool | undefined;
  private readonly methods = new Map<number, RegisteredMethod>();
  private readonly connections = new Set<ServerConnection>();
  private server: Server | undefined;
  private closing = false;

  /** The user tokens this server accepts (for state kept past a request, such as a read channel). */
  get tokenVerifier(): TokenVerifier | undefined {
    return this.tokens;
  }

  constructor(options: RpcServerOptions) {
    this.clusterSecrets = toClusterSecrets(options.clusterSecret);
    this.tokens = options.tokens;
    this.logger = options.logger.child({ rpc: 'server' });
    this.frameBytesMax = options.frameBytesMax ?? limits.rpcFrameBytesMaxDefault;
    this.inflightMax = options.inflightPerConnectionMax ?? limits.rpcServerInflightPerConnectionMax;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? limits.rpcHandshakeTimeoutMs;
    this.observer = options.observer;
    this.onBrokenInvariant = options.onBrokenInvariant;
    this.payloadPool = options.payloadPool;
    assert(
      Number.isInteger(this.frameBytesMax) && this.frameBytesMax > frameHeaderBytes,
      'frameBytesMax exceeds a header',
    );
    assert(
      Number.isInteger(this.inflightMax) && this.inflightMax >= 1,
      'inflightPerConnectionMax is a positive integer',
    );
    assert(this.handshakeTimeoutMs > 0, 'handshakeTimeoutMs is positive');
  }

  /**
   * Registers the handler of `method`, callable by `access` (default: nodes of the cluster only).
   * Registering a method id twice is a bug.
   */
  handle<Req, Res>(
    method: MethodDef<Req, Res>,
    handler: (request: Req, context: CallContext) => Promise<Res>,
    access: MethodAccess = 'node',
  ): void {
    const key = methodKey(method.serviceId, method.methodId);
    const existing = this.methods.get(key);
    assert(
      existing === undefined,
      `method ${method.serviceId}.${method.methodId} (${method.name}) is already handled by ${existing?.method.name ?? ''}`,
    );
    // The request schema parses the body into a Req before the handler sees it; erasing the types
    // here is safe because the stored method and handler always travel together.
    const observed =
      this.observer === undefined ? handler : this.observe(method.name, handler, this.observer);
    this.methods.set(key, { method, access, handler: observed } as unknown as RegisteredMethod);
  }

  /** Wraps a handler so the observer sees each call's outcome, duration and payload sizes. */
  private observe<Req, Res>(
    name: string,
    handler: (request: Req, context: CallContext) => Promise<Res>,
    observer: RpcCallObserver,
  ): (request: Req, context: CallContext) => Promise<Res> {
    return async (request, context) => {
      const startedMs = systemClock.monotonicMs();
      let replyPayloadBytes = 0;
      let status: number = Ok;
      const observedContext: CallContext = {
        peerAddress: context.peerAddress,
        caller: context.caller,
        payload: context.payload,
        payloadCrc32c: context.payloadCrc32c,
        get signal() {
          return context.signal;
        },
        setReplyPayload: (payload, crc32c) => {
          replyPayloadBytes = payload.length;
          context.setReplyPayload(payload, crc32c);
        },
        replyBuffer: (length) => context.replyBuffer(length),
        handOverConnection: (take) => context.handOverConnection(take),
      };
      notifyObserver(this.logger, () => observer.callStarted(name));
      try {
        return await handler(request, observedContext);
      } catch (error) {
        status = error instanceof FsError && error.code !== Ok ? error.code : CommonCode.Internal;
        throw error;
      } finally {
        const event: RpcCallEvent = {
          method: name,
          status,
          durationMs: systemClock.monotonicMs() - startedMs,
          requestPayloadBytes: context.payload?.length ?? 0,
          replyPayloadBytes,
        };
        notifyObserver(this.logger, () => observer.callFinished(event));
      }
    };
  }

  /** Starts listening on "host:port" (port 0 picks a free port); resolves with the bound address. */
  async listen(address: string): Promise<string> {
    assert(this.server === undefined, 'listen is called once');
    assert(!this.closing, 'a closed server does not listen again');
    const { host, port } = splitAddress(address);
    // With a payload pool, connections are read in place (adoptWithDirectReads), before net reads.
    const pauseOnConnect = this.payloadPool !== undefined;
    const server = createServer({ pauseOnConnect }, (socket) => this.accept(socket));
    server.maxConnections = limits.rpcServerConnectionsMax;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      this.server = undefined;
      throw new FsError(CommonCode.IoError, `cannot listen on ${address}: ${describeError(error)}`, {
        cause: error,
      });
    });
    // Once listening, an error of the listening socket must not crash the process; it is logged.
    server.on('error', (error) =>
      this.logger.error({ err: error }, `listening socket failed: ${error.message}`),
    );
    const bound = formatAddress(server.address() as AddressInfo);
    this.logger.info({ address: bound }, `rpc server listening on ${bound}`);
    return bound;
  }

  /**
   * Stops accepting connections, waits up to `drainMs` for running handlers (new requests are not
   * read meanwhile), aborts handlers still running, and closes every connection.
   */
  async close(options: { drainMs?: number } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const drainMs = options.drainMs ?? limits.rpcServerDrainMsDefault;
    const server = this.server;
    const stopped = new Promise<void>((resolve) => {
      if (server === undefined) resolve();
      else server.close(() => resolve());
    });
    const connections = [...this.connections];
    const drained = Promise.all(connections.map((connection) => connection.drain()));
    let timer = { cancel: (): void => undefined };
    const deadline = new Promise<void>((resolve) => {
      timer = systemClock.setTimer(drainMs, resolve);
    });
    await Promise.race([drained, deadline]);
    timer.cancel();
    const reason = new FsError(CommonCode.ShuttingDown, 'rpc server is shutting down');
    await Promise.all(connections.map((connection) => connection.shutDown(reason)));
    await stopped;
    this.logger.info('rpc server closed');
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    let reads: DirectReads | undefined;
    let connected = socket;
    if (this.payloadPool !== undefined) {
      reads = new DirectReads(this.frameBytesMax, this.payloadPool);
      const adopted = adoptWithDirectReads(socket, reads);
      if (adopted === undefined) {
        // Read as net reads it: paused on connect, so it starts now.
        reads = undefined;
        socket.resume();
      } else {
        connected = adopted;
      }
    }
    const connection = new ServerConnection({
      socket: connected,
      reads,
      payloadPool: this.payloadPool,
      clusterSecrets: this.clusterSecrets,
      tokens: this.tokens,
      logger: this.logger,
      frameBytesMax: this.frameBytesMax,
      inflightMax: this.inflightMax,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      methods: this.methods,
      onBrokenInvariant: this.onBrokenInvariant,
      onClosed: (closed) => this.connections.delete(closed),
    });
    this.connections.add(connection);
  }
}
