// A client speaking the RPC frame protocol by hand (src/rpc/frame.ts, handshake.ts), for tests
// that must see a server's replies as they are on the wire, or send what no well-behaved client
// sends: the storage read channels, which JavaScript does not answer.
import { connect, type Socket } from 'node:net';
import { expect } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import { decodeBody, encodeBody } from '../../../src/rpc/body-codec.js';
import {
  FrameKind,
  decodeHeader,
  encodeFrameHead,
  frameHeaderBytes,
  type FrameHeader,
} from '../../../src/rpc/frame.js';
import { clientProof, createNonce } from '../../../src/rpc/handshake.js';
import type { PresentedToken } from '../../../src/rpc/index.js';

export interface Received {
  header: FrameHeader;
  body: unknown;
  payload: Buffer;
}

/** A client speaking the frame protocol by hand, to see the read channel's replies as they are. */
export class RawClient {
  private buffered = Buffer.alloc(0);
  private waiting: ((frame: Received | undefined) => void) | undefined;
  private readonly frames: Received[] = [];
  private closed = false;
  private nextId = 1;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, data]);
      for (;;) {
        if (this.buffered.length < frameHeaderBytes) break;
        const header = decodeHeader(this.buffered, { frameBytesMax: limits.rpcFrameBytesMaxDefault });
        const total = frameHeaderBytes + header.bodyLength + header.payloadLength;
        if (this.buffered.length < total) break;
        const body = decodeBody(
          this.buffered.subarray(frameHeaderBytes, frameHeaderBytes + header.bodyLength),
        );
        const payload = Buffer.from(this.buffered.subarray(frameHeaderBytes + header.bodyLength, total));
        this.buffered = this.buffered.subarray(total);
        this.deliver({ header, body, payload });
      }
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.(undefined);
    });
    socket.on('error', () => undefined);
  }

  /** Connects and proves `secret` (the cluster secret), or the token's key naming the token. */
  static async open(
    address: string,
    proving: { secret: string } | { token: PresentedToken },
  ): Promise<RawClient> {
    const [host, port] = address.split(':');
    const socket = connect({ host, port: Number(port) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    const challenge = (await client.next()) as Received;
    const serverNonce = (challenge.body as { nonce: Uint8Array }).nonce;
    const nonce = createNonce();
    const secret = 'secret' in proving ? proving.secret : proving.token.key;
    const proof = clientProof({ secret, serverNonce, clientNonce: nonce });
    const token = 'token' in proving ? { token: proving.token.id } : {};
    client.write(FrameKind.HandshakeAnswer, 0, 0, { nonce, proof, ...token });
    const result = (await client.next()) as Received;
    expect(result.header.status).toBe(0);
    return client;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a request of `method` and resolves with its reply (undefined if the connection closed). */
  async call(method: { serviceId: number; methodId: number }, body: unknown): Promise<Received | undefined> {
    const requestId = this.nextId++;
    this.write(FrameKind.Request, method.serviceId, method.methodId, body, requestId);
    const reply = await this.next();
    if (reply !== undefined) expect(reply.header.requestId).toBe(requestId);
    return reply;
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves once the server has closed the connection (false if it stays open `timeoutMs`). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    if (this.closed) return true;
    const frame = await Promise.race([
      this.next(),
      new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), timeoutMs)),
    ]);
    return frame === undefined && this.closed;
  }

  close(): void {
    this.socket.destroy();
  }

  private write(kind: FrameKind, serviceId: number, methodId: number, body: unknown, requestId = 0): void {
    this.socket.write(
      encodeFrameHead({
        kind,
        status: 0,
        requestId,
        serviceId,
        methodId,
        body: encodeBody(body),
        payload: undefined,
      }),
    );
  }

  private next(): Promise<Received | undefined> {
    const frame = this.frames.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting = (received) => {
        this.waiting = undefined;
        resolve(received);
      };
    });
  }

  private deliver(frame: Received): void {
    if (this.waiting !== undefined) this.waiting(frame);
    else this.frames.push(frame);
  }
}
