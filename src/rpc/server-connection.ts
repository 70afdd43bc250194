/**
 * The server's side of one connection: it authenticates the peer (handshake.ts) within the
 * handshake deadline, then runs requests, at most `inflightMax` at once: at the bound it stops
 * reading the socket, so a fast client is slowed by TCP flow control instead of queueing work here.
 *
 * Invariants: no request is dispatched before the peer has proved the cluster secret; every
 * dispatched request ends with its slot released, whether the reply was sent or the connection died.
 */
import type { Socket } from 'node:net';
import type { ClusterSecrets } from '../common/cluster-secrets.js';
import { formatIssues } from '../common/config.js';
import { systemClock, type TimerHandle } from '../common/clock.js';
import { FsError, describeError, type AssertionError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { CommonCode, Ok, RpcCode, statusName } from '../common/status-code.js';
import { decodeBody, encodeBody } from './body-codec.js';
import { errorBody } from './error-reply.js';
import { FrameKind, frameKindName, type Frame, type OutgoingFrame } from './frame.js';
import { FrameSocket, remoteAddressOf, type DirectReads } from './frame-socket.js';
import { nodeCaller, type Caller, type TokenVerifier } from './caller.js';
import {
  answerSchema,
  clientProof,
  createNonce,
  matchClientProof,
  proofMatches,
  serverProof,
} from './handshake.js';
import { LazyAbort } from './lazy-abort.js';
import { releasePayload, type PayloadPool } from './payload-pool.js';
import { dispatchRequest, type RegisteredMethod } from './request-dispatch.js';

export interface ServerConnectionOptions {
  readonly socket: Socket;
  /** The socket was made with `reads.onread` (adoptWithDirectReads): payloads land in place. */
  readonly reads?: DirectReads | undefined;
  /** Where handlers' reply buffers come from (CallContext.replyBuffer); none without it. */
  readonly payloadPool?: PayloadPool | undefined;
  /** The secrets accepted from peers, read at each handshake (a rotation may replace them). */
  readonly clusterSecrets: ClusterSecrets;
  /** The user tokens accepted in place of the secret; none when absent (only nodes connect). */
  readonly tokens: TokenVerifier | undefined;
  readonly logger: Logger;
  readonly onBrokenInvariant?: ((error: AssertionError, methodName: string) => void) | undefined;
  readonly frameBytesMax: number;
  readonly inflightMax: number;
  readonly handshakeTimeoutMs: number;
  readonly methods: ReadonlyMap<number, RegisteredMethod>;
  readonly onClosed: (connection: ServerConnection) => void;
}

type State = 'handshaking' | 'serving' | 'draining' | 'refused' | 'handedOver';

/** One accepted connection; see the file comment. */
export class ServerConnection {
  private readonly options: ServerConnectionOptions;
  private readonly logger: Logger;
  private readonly frames: FrameSocket;
  private readonly serverNonce = createNonce();
  private readonly handshakeTimer: TimerHandle;
  private readonly running = new Set<LazyAbort>();
  private readonly idleWaiters: (() => void)[] = [];
  private state: State = 'handshaking';
  /** Who proved what at the handshake; a user is looked up again at each request (revocation). */
  private caller: Caller = nodeCaller;

  constructor(options: ServerConnectionOptions) {
    this.options = options;
    this.logger = options.logger.child({ peer: remoteAddressOf(options.socket) });
    this.frames = new FrameSocket({
      socket: options.socket,
      // Until the peer has proved the secret, only handshake-sized frames are accepted.
      frameBytesMax: Math.min(limits.rpcHandshakeFrameBytesMax, options.frameBytesMax),
      ...(options.reads === undefined ? {} : { reads: options.reads }),
      logger: this.logger,
      onFrame: (frame) => this.receive(frame),
      onClose: (reason) => this.closed(reason),
    });
    this.handshakeTimer = systemClock.setTimer(options.handshakeTimeoutMs, () => this.handshakeExpired());
    this.sendQuietly(this.handshakeFrame(FrameKind.HandshakeChallenge, Ok, { nonce: this.serverNonce }));
  }

  /** Stops taking new requests; resolves when no handler of this connection is running. */
  drain(): Promise<void> {
    if (this.state === 'serving') this.state = 'draining';
    this.frames.pauseReading();
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Aborts running handlers and closes the connection after flushing replies already written. */
  async shutDown(reason: FsError): Promise<void> {
    this.handshakeTimer.cancel();
    for (const controller of this.running) controller.abort(reason);
    await this.frames.end(reason);
  }

  private receive(frame: Frame): void {
    if (this.state === 'handshaking') {
      this.receiveHandshake(frame);
      return;
    }
    if (frame.header.kind !== FrameKind.Request) {
      throw new FsError(
        RpcCode.MalformedFrame,
        `unexpected ${frameKindName(frame.header.kind)} frame from a client`,
      );
    }
    // Reading is paused outside 'serving'; a frame decoded before the pause is dropped unanswered,
    // and its caller sees the connection close.
    if (this.state !== 'serving') return;
    // A body that does not decode is a malformed frame: it throws and closes this connection.
    this.start(frame, decodeBody(frame.body));
  }

  private receiveHandshake(frame: Frame): void {
    if (frame.header.kind !== FrameKind.HandshakeAnswer) {
      throw new FsError(
        RpcCode.MalformedFrame,
        `expected a handshake answer, got a ${frameKindName(frame.header.kind)} frame before authentication`,
      );
    }
    const answer = answerSchema.safeParse(decodeBody(frame.body));
    if (!answer.success) {
      throw new FsError(RpcCode.MalformedFrame, `bad handshake answer: ${formatIssues(answer.error.issues)}`);
    }
    this.handshakeTimer.cancel();
    if (answer.data.token !== undefined) {
      const { token, nonce, proof } = answer.data;
      // Nothing else is read from the peer until the token is judged.
      this.frames.pauseReading();
      void this.acceptToken(token, nonce, proof);
      return;
    }
    // Read once per handshake: a rotation reaches new connections, never established ones.
    const secrets = this.options.clusterSecrets;
    const clientNonce = answer.data.nonce;
    const secret = matchClientProof({
      secrets: secrets.accepted,
      serverNonce: this.serverNonce,
      clientNonce,
      proof: answer.data.proof,
    });
    if (secret === undefined) {
      this.refuse();
      return;
    }
    const proof = serverProof({ secret, serverNonce: this.serverNonce, clientNonce });
    const current = secret === secrets.current;
    this.sendQuietly(this.handshakeFrame(FrameKind.HandshakeResult, Ok, { proof, current }));
    this.frames.setFrameBytesMax(this.options.frameBytesMax);
    this.state = 'serving';
  }

  /** Accepts a peer proving a user token this server knows, or refuses it. */
  private async acceptToken(tokenId: string, clientNonce: Uint8Array, proof: Uint8Array): Promise<void> {
    const tokens = this.options.tokens;
    let entry = tokens?.lookup(tokenId);
    if (entry === undefined && tokens?.lookupFresh !== undefined) {
      entry = await tokens.lookupFresh(tokenId).catch(() => undefined);
    }
    if (this.frames.isClosed) return;
    if (
      entry === undefined ||
      !proofMatches(clientProof({ secret: entry.key, serverNonce: this.serverNonce, clientNonce }), proof)
    ) {
      this.refuse(
        this.options.tokens === undefined
          ? 'this server accepts no user tokens, only the cluster secret'
          : `user token ${tokenId} is unknown, revoked or past its grace period (or the proof is wrong)`,
      );
      return;
    }
    this.caller = { kind: 'user', tokenId, user: entry.user };
    const serverSide = serverProof({ secret: entry.key, serverNonce: this.serverNonce, clientNonce });
    this.sendQuietly(this.handshakeFrame(FrameKind.HandshakeResult, Ok, { proof: serverSide }));
    this.frames.setFrameBytesMax(this.options.frameBytesMax);
    this.state = 'serving';
    this.frames.resumeReading();
  }

  /** Tells the peer why, then closes: it holds neither our cluster secret nor a valid token. */
  private refuse(
    message = 'cluster secret mismatch: the client proved none of the cluster secrets this server accepts',
  ): void {
    this.state = 'refused';
    this.frames.pauseReading();
    this.logger.warn(
      { code: statusName(RpcCode.AuthFailed) },
      `refusing connection from ${this.frames.peerAddress}: ${message}`,
    );
    this.sendQuietly(this.handshakeFrame(FrameKind.HandshakeResult, RpcCode.AuthFailed, errorBody(message)));
    void this.frames.end(new FsError(RpcCode.AuthFailed, message));
  }

  private handshakeExpired(): void {
    if (this.state !== 'handshaking' || this.frames.isClosed) return;
    const message = `no handshake within ${this.options.handshakeTimeoutMs} ms`;
    this.logger.warn(`dropping connection from ${this.frames.peerAddress}: ${message}`);
    this.frames.close(new FsError(RpcCode.Timeout, message));
  }

  private start(frame: Frame, body: unknown): void {
    const controller = new LazyAbort();
    this.running.add(controller);
    if (this.running.size >= this.options.inflightMax) this.frames.pauseReading();
    void this.run(frame, body, controller);
  }

  private async run(frame: Frame, body: unknown, controller: LazyAbort): Promise<void> {
    // Reply buffers handed to this request's handler, let go of once its reply is written.
    const replyBuffers: Buffer[] = [];
    const pool = this.options.payloadPool;
    try {
      const reply = await dispatchRequest({
        replyBuffer:
          pool === undefined
            ? undefined
            : (length) => {
                const buffer = pool.take(length);
                if (buffer !== undefined) replyBuffers.push(buffer);
                return buffer;
              },
        methods: this.options.methods,
        frame,
        body,
        onHandOver: () => {
          // Nothing more is read here: what follows the reply belongs to the new owner.
          this.state = 'handedOver';
          this.frames.pauseReading();
        },
        caller: this.currentCaller(),
        peerAddress: this.frames.peerAddress,
        abort: controller,
        logger: this.logger,
        onBrokenInvariant: this.options.onBrokenInvariant,
      });
      await this.frames.send({
        kind: FrameKind.Response,
        status: reply.status,
        requestId: frame.header.requestId,
        serviceId: frame.header.serviceId,
        methodId: frame.header.methodId,
        body: reply.body,
        payload: reply.payload,
        payloadCrc32c: reply.payloadCrc32c,
      });
      if (reply.handOver !== undefined) await this.handOver(reply.status === Ok ? reply.handOver : undefined);
    } catch (error) {
      // The connection closed before the reply could be written; the caller sees ConnectionClosed.
      // Anything else here is a bug of the RPC layer: close the connection rather than leave it stuck.
      if (!this.frames.isClosed) {
        this.logger.error({ err: error }, 'failed to answer a request; closing the connection');
        this.frames.close(new FsError(CommonCode.Internal, 'failed to answer a request'));
      }
    } finally {
      // The handler has settled and its reply is written (or never will be): a pooled payload
      // goes back unless something else still holds it (payload-pool.ts).
      releasePayload(frame.payload);
      for (const buffer of replyBuffers) releasePayload(buffer);
      this.finish(controller);
    }
  }

  /**
   * Once the reply that accepted a hand-over has left for the kernel: gives the socket's
   * descriptor to `take` and closes this side of it (the new owner's duplicate keeps the
   * connection). A refused hand-over (an error reply) just serves on.
   */
  private async handOver(take: ((fd: number) => void) | undefined): Promise<void> {
    if (take === undefined) {
      this.state = 'serving';
      this.frames.resumeReading();
      return;
    }
    await this.frames.flushed();
    const fd = this.frames.descriptor();
    try {
      if (fd === undefined) throw new Error('the socket has no descriptor');
      take(fd);
    } catch (error) {
      this.logger.warn({ err: error }, `the connection could not be handed over: ${describeError(error)}`);
    }
    this.frames.close(new FsError(RpcCode.ConnectionClosed, 'handed over'));
  }

  /**
   * The caller of a request starting now: a user's token is looked up again, so a revoked token
   * (or one past its grace period) stops working on established connections too; undefined then.
   */
  private currentCaller(): Caller | undefined {
    const caller = this.caller;
    if (caller.kind === 'node') return caller;
    const entry = this.options.tokens?.lookup(caller.tokenId);
    if (entry === undefined) return undefined;
    if (entry.user !== caller.user) this.caller = { kind: 'user', tokenId: caller.tokenId, user: entry.user };
    return this.caller;
  }

  private finish(controller: LazyAbort): void {
    this.running.delete(controller);
    if (this.state === 'serving' && this.running.size < this.options.inflightMax) this.frames.resumeReading();
    if (this.running.size === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private closed(reason: FsError): void {
    this.handshakeTimer.cancel();
    this.logger.debug({ reason: reason.message }, 'connection closed');
    // Handlers of a vanished peer can stop early; their replies have nowhere to go.
    for (const controller of this.running) controller.abort(reason);
    this.options.onClosed(this);
  }

  private handshakeFrame(kind: FrameKind, status: number, body: unknown): OutgoingFrame {
    return {
      kind,
      status,
      requestId: 0,
      serviceId: 0,
      methodId: 0,
      body: encodeBody(body),
      payload: undefined,
    };
  }

  /** Sends a frame whose loss needs no handling: if the socket closes first, the peer sees that. */
  private sendQuietly(frame: OutgoingFrame): void {
    this.frames.send(frame).catch(() => undefined);
  }
}
