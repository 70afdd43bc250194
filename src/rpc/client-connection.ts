/**
 * The client's side of one connection: connect (with a deadline), prove the cluster secret and check
 * the server's proof (handshake.ts, with a deadline), then carry calls, at most `inflightMax` at once
 * with a bounded queue behind them (inflight-limiter.ts).
 *
 * Invariants: no request is written before the server has proved the cluster secret; when the
 * connection closes, every call still waiting on it rejects at once (ConnectionClosed for calls
 * already sent, the connect or handshake failure for calls still waiting for it).
 */
import { connect as connectSocket, type Socket } from 'node:net';
import type { ClusterSecrets } from '../common/cluster-secrets.js';
import { formatIssues, splitAddress } from '../common/config.js';
import { systemClock, type TimerHandle } from '../common/clock.js';
import { FsError, assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { Ok, RpcCode, statusName } from '../common/status-code.js';
import type { Cancellation } from './cancellation.js';
import { decodeBody, encodeBody } from './body-codec.js';
import { errorFromReply } from './error-reply.js';
import { FrameKind, frameKindName, payloadChecksumMatches, type Frame } from './frame.js';
import { DirectReads, FrameSocket } from './frame-socket.js';
import {
  acceptSchema,
  challengeSchema,
  clientProof,
  createNonce,
  proofMatches,
  serverProof,
} from './handshake.js';
import type { PresentedToken } from './caller.js';
import { InflightLimiter } from './inflight-limiter.js';
import type { PayloadPool } from './payload-pool.js';

export interface ClientConnectionOptions {
  readonly address: string;
  /** The secrets of this process: the current one is proved, read once at the handshake. */
  readonly clusterSecrets: ClusterSecrets;
  /** A user token to prove instead of the cluster secret (caller.ts). */
  readonly token?: PresentedToken | undefined;
  readonly logger: Logger;
  readonly frameBytesMax: number;
  /** Where large reply payloads are read in place (RpcClientOptions.replyPayloadPool). */
  readonly payloadPool?: PayloadPool | undefined;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly inflightMax: number;
  readonly queuedMax: number;
  /** Called once when the connection has failed or closed, so the pool can forget it. */
  readonly onClosed: (connection: ClientConnection) => void;
}

/** A request to send, its body already encoded. */
export interface OutgoingCall {
  readonly serviceId: number;
  readonly methodId: number;
  readonly methodName: string;
  readonly body: Uint8Array;
  readonly payload: Buffer | undefined;
  /** The payload's CRC32C when the caller already holds it (see OutgoingFrame). */
  readonly payloadCrc32c?: number | undefined;
}

/** A successful reply: the decoded (not yet validated) body and the checked payload. */
export interface IncomingReply {
  readonly body: unknown;
  readonly payload: Buffer | undefined;
  /** The CRC32C the payload was checked against (0 without a payload). */
  readonly payloadCrc32c: number;
}

interface PendingCall {
  readonly call: OutgoingCall;
  readonly resolve: (reply: IncomingReply) => void;
  readonly reject: (error: FsError) => void;
}

const requestIdMax = 0xffff_ffff;

/** One authenticated connection to a server; see the file comment. */
export class ClientConnection {
  readonly address: string;
  private readonly options: ClientConnectionOptions;
  private readonly logger: Logger;
  private readonly limiter: InflightLimiter;
  private readonly pending = new Map<number, PendingCall>();
  private readonly ready: Promise<FrameSocket>;
  private readonly clientNonce = createNonce();
  private serverNonce: Uint8Array | undefined;
  /** The secret proved to the server, which must prove the same one back. */
  private provenSecret: string | undefined;
  /** Whether the server holds the proved secret as its current one (undefined: it did not say). */
  private serverCurrent: boolean | undefined;
  private handshake: { resolve: () => void; reject: (error: FsError) => void } | undefined;
  private socket: Socket | undefined;
  private frames: FrameSocket | undefined;
  /** Set once the handshake has succeeded: the fast path of `call`. */
  private readyFrames: FrameSocket | undefined;
  private nextRequestId = 1;
  private closedReason: FsError | undefined;

  constructor(options: ClientConnectionOptions) {
    this.address = options.address;
    this.options = options;
    this.logger = options.logger.child({ peer: options.address });
    this.limiter = new InflightLimiter({ inflightMax: options.inflightMax, queuedMax: options.queuedMax });
    this.ready = this.open();
    // Calls observe `ready` themselves; this handler only records the failure.
    this.ready.catch((error: unknown) => this.markClosed(error as FsError));
  }

  /** True once the connection has failed or closed; the pool then opens a new one. */
  get isClosed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Calls waiting for one of the connection's in-flight slots (the bounded queue behind them). */
  get queuedCalls(): number {
    return this.limiter.queued;
  }

  /** Sends one call and resolves with its reply; rejects with an FsError. */
  async call(outgoing: OutgoingCall, cancellation: Cancellation): Promise<IncomingReply> {
    // Fast paths first: a free slot and an open connection cost no promise here.
    const release = this.limiter.tryAcquire() ?? (await this.limiter.acquire(cancellation));
    try {
      const frames = this.readyFrames ?? (await this.whenReady(cancellation));
      if (this.closedReason !== undefined) throw this.closedReason;
      return await this.exchange(frames, outgoing, cancellation);
    } finally {
      release();
    }
  }

  /**
   * Resolves once both sides have proved the secret, telling whether the server holds the one
   * proved as its current secret; rejects as the connect or handshake failed (AuthFailed when the
   * server refused the secret). Within the connect and handshake deadlines.
   */
  async established(): Promise<{ serverCurrent: boolean | undefined }> {
    await this.ready;
    return { serverCurrent: this.serverCurrent };
  }

  /**
   * The descriptor of the connection's socket once established, for a caller that takes over a
   * duplicate of it (the FUSE binding's reads, which speak the protocol themselves) and then
   * closes this connection; undefined when it is closed or its socket has no descriptor.
   */
  socketDescriptor(): number | undefined {
    if (this.readyFrames === undefined || this.closedReason !== undefined) return undefined;
    return this.readyFrames.descriptor();
  }

  /** Closes the connection; calls on it reject with ConnectionClosed. */
  close(reason: FsError): void {
    this.markClosed(reason);
    if (this.frames !== undefined) this.frames.close(reason);
    else this.socket?.destroy();
  }

  private whenReady(cancellation: Cancellation): Promise<FrameSocket> {
    if (cancellation.reason !== undefined) return Promise.reject(cancellation.reason);
    return new Promise((resolve, reject) => {
      const unsubscribe = cancellation.subscribe(reject);
      this.ready.then(
        (frames) => {
          unsubscribe();
          resolve(frames);
        },
        (error: unknown) => {
          unsubscribe();
          reject(error as FsError);
        },
      );
    });
  }

  private exchange(
    frames: FrameSocket,
    call: OutgoingCall,
    cancellation: Cancellation,
  ): Promise<IncomingReply> {
    if (cancellation.reason !== undefined) return Promise.reject(cancellation.reason);
    const requestId = this.allocateRequestId();
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        this.pending.delete(requestId);
        unsubscribe();
      };
      const settle: PendingCall = {
        call,
        resolve: (reply) => {
          cleanup();
          resolve(reply);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      this.pending.set(requestId, settle);
      const unsubscribe = cancellation.subscribe((reason) => settle.reject(reason));
      const frame = { kind: FrameKind.Request, status: Ok, requestId, ...call };
      if (!frames.trySend(frame)) {
        frames.send(frame, cancellation).catch((error: unknown) => settle.reject(error as FsError));
      }
    });
  }

  private allocateRequestId(): number {
    // At most inflightMax ids are in use, so this finds a free one within inflightMax + 1 steps.
    for (;;) {
      const id = this.nextRequestId;
      this.nextRequestId = id === requestIdMax ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  private async open(): Promise<FrameSocket> {
    // Armed before connecting, so that frames are read as handshake frames from the first byte.
    const handshakeDone = new Promise<void>((resolve, reject) => {
      this.handshake = { resolve, reject };
    });
    handshakeDone.catch(() => undefined);
    const frames = await this.connect();
    const timer = systemClock.setTimer(this.options.handshakeTimeoutMs, () =>
      frames.close(
        new FsError(
          RpcCode.ConnectFailed,
          `handshake with ${this.address} timed out after ${this.options.handshakeTimeoutMs} ms`,
        ),
      ),
    );
    try {
      await handshakeDone;
    } finally {
      timer.cancel();
    }
    this.logger.debug(`connected to ${this.address}`);
    this.readyFrames = frames;
    return frames;
  }

  /** Opens the TCP connection within the connect deadline. */
  private connect(): Promise<FrameSocket> {
    const { host, port } = splitAddress(this.address);
    return new Promise((resolve, reject) => {
      const reads = new DirectReads(
        Math.min(limits.rpcHandshakeFrameBytesMax, this.options.frameBytesMax),
        this.options.payloadPool,
      );
      const socket = connectSocket({ host, port, onread: reads.onread });
      this.socket = socket;
      const fail = (message: string, cause?: unknown): void => {
        socket.destroy();
        reject(new FsError(RpcCode.ConnectFailed, message, { cause }));
      };
      const timer: TimerHandle = systemClock.setTimer(this.options.connectTimeoutMs, () =>
        fail(`connecting to ${this.address} timed out after ${this.options.connectTimeoutMs} ms`),
      );
      socket.once('error', (error) => fail(`cannot connect to ${this.address}: ${error.message}`, error));
      socket.once('close', () => fail(`connection to ${this.address} closed while connecting`));
      socket.once('connect', () => {
        timer.cancel();
        if (this.closedReason !== undefined) {
          fail(`connection to ${this.address} closed while connecting`);
          return;
        }
        // Built synchronously on connect, so that the socket's every later event has a listener.
        this.frames = new FrameSocket({
          socket,
          // Until the server has proved the secret, only handshake-sized frames are accepted.
          frameBytesMax: Math.min(limits.rpcHandshakeFrameBytesMax, this.options.frameBytesMax),
          reads,
          logger: this.logger,
          onFrame: (frame) => this.receive(frame),
          onClose: (reason) => this.markClosed(reason),
        });
        resolve(this.frames);
      });
    });
  }

  private receive(frame: Frame): void {
    if (this.handshake !== undefined) {
      this.receiveHandshake(frame);
      return;
    }
    const { header } = frame;
    if (header.kind !== FrameKind.Response) {
      throw new FsError(
        RpcCode.MalformedFrame,
        `unexpected ${frameKindName(header.kind)} frame from a server`,
      );
    }
    // A body that does not decode is a malformed frame: it throws and closes this connection.
    const body = decodeBody(frame.body);
    const pending = this.pending.get(header.requestId);
    if (pending === undefined) {
      // The call gave up (timeout or abort) before its reply came; nothing waits for it now.
      this.logger.debug({ requestId: header.requestId }, 'dropping a reply nobody waits for');
      return;
    }
    if (header.serviceId !== pending.call.serviceId || header.methodId !== pending.call.methodId) {
      throw new FsError(RpcCode.MalformedFrame, `reply to request ${header.requestId} names another method`);
    }
    if (!payloadChecksumMatches(frame)) {
      pending.reject(
        new FsError(
          RpcCode.PayloadChecksumMismatch,
          `${pending.call.methodName}: reply payload fails its CRC32C check`,
        ),
      );
    } else if (header.status !== Ok) {
      pending.reject(errorFromReply(header.status, body));
    } else {
      pending.resolve({ body, payload: frame.payload, payloadCrc32c: frame.header.payloadCrc32c });
    }
  }

  private receiveHandshake(frame: Frame): void {
    const { header } = frame;
    const expected =
      this.serverNonce === undefined ? FrameKind.HandshakeChallenge : FrameKind.HandshakeResult;
    if (header.kind !== expected) {
      throw new FsError(
        RpcCode.MalformedFrame,
        `expected a ${frameKindName(expected)} frame, got ${frameKindName(header.kind)} during the handshake`,
      );
    }
    const body = decodeBody(frame.body);
    if (header.kind === FrameKind.HandshakeChallenge) {
      this.answerChallenge(body);
      return;
    }
    if (header.status !== Ok) {
      const refusal = errorFromReply(header.status, body);
      this.failHandshake(
        new FsError(RpcCode.AuthFailed, `${this.address} refused the connection: ${refusal.message}`),
      );
      return;
    }
    const accept = acceptSchema.safeParse(body);
    if (!accept.success) {
      throw new FsError(RpcCode.MalformedFrame, `bad handshake result: ${formatIssues(accept.error.issues)}`);
    }
    assert(this.serverNonce !== undefined, 'the challenge came before the result');
    const secret = this.provenSecret;
    assert(secret !== undefined, 'the secret was proved before the result');
    const expectedProof = serverProof({
      secret,
      serverNonce: this.serverNonce,
      clientNonce: this.clientNonce,
    });
    if (!proofMatches(expectedProof, accept.data.proof)) {
      this.failHandshake(
        new FsError(
          RpcCode.AuthFailed,
          this.options.token === undefined
            ? `cluster secret mismatch: ${this.address} does not hold this cluster secret`
            : `${this.address} does not know this user token`,
        ),
      );
      return;
    }
    this.serverCurrent = accept.data.current;
    this.frames?.setFrameBytesMax(this.options.frameBytesMax);
    const handshake = this.handshake;
    this.handshake = undefined;
    handshake?.resolve();
  }

  private answerChallenge(body: unknown): void {
    const challenge = challengeSchema.safeParse(body);
    if (!challenge.success) {
      throw new FsError(
        RpcCode.MalformedFrame,
        `bad handshake challenge: ${formatIssues(challenge.error.issues)}`,
      );
    }
    this.serverNonce = challenge.data.nonce;
    // Read once: a rotation replacing the secrets meanwhile must not change the one checked back.
    const token = this.options.token;
    const secret = token?.key ?? this.options.clusterSecrets.current;
    this.provenSecret = secret;
    const proof = clientProof({
      secret,
      serverNonce: this.serverNonce,
      clientNonce: this.clientNonce,
    });
    const frame = {
      kind: FrameKind.HandshakeAnswer,
      status: Ok,
      requestId: 0,
      serviceId: 0,
      methodId: 0,
      body: encodeBody(
        token === undefined
          ? { nonce: this.clientNonce, proof }
          : { nonce: this.clientNonce, proof, token: token.id },
      ),
      payload: undefined,
    };
    // If this write fails the socket closes, and the close fails the handshake.
    this.frames?.send(frame).catch(() => undefined);
  }

  private failHandshake(error: FsError): void {
    this.logger.warn({ code: statusName(error.code) }, error.message);
    this.handshake?.reject(error);
    this.handshake = undefined;
    this.close(error);
  }

  /** Records the first reason the connection ended and fails everything still waiting on it. */
  private markClosed(reason: FsError): void {
    if (this.closedReason === undefined) {
      this.closedReason = reason;
      this.options.onClosed(this);
    }
    if (this.handshake !== undefined) {
      const handshake = this.handshake;
      this.handshake = undefined;
      handshake.reject(
        reason.code === RpcCode.ConnectionClosed
          ? new FsError(RpcCode.ConnectFailed, `connection to ${this.address} closed during the handshake`, {
              cause: reason,
            })
          : reason,
      );
    }
    const closed = new FsError(
      RpcCode.ConnectionClosed,
      `connection to ${this.address} closed: ${reason.message}`,
      { cause: reason },
    );
    this.limiter.close(closed);
    for (const pending of [...this.pending.values()]) pending.reject(closed);
  }
}
