/**
 * A TCP socket that speaks frames, shared by both ends of a connection. It owns the socket's
 * listeners, so no socket event can go unhandled and no peer input can throw out of an event handler:
 * a malformed or oversized frame, or any error while handling one, closes this connection only,
 * with a logged error.
 *
 * Reading is pull-based: frames are handed to `onFrame` until the owner calls `pauseReading()`,
 * which also pauses the socket so TCP flow control pushes back on the peer. Writing respects the
 * socket's back-pressure: `send()` waits for 'drain' while the write buffer is full. A frame
 * (header, body, payload) is always written in one synchronous step, so frames of concurrent calls
 * never interleave.
 */
import { Socket } from 'node:net';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { systemClock } from '../common/clock.js';
import { CommonCode, RpcCode, statusName } from '../common/status-code.js';
import type { Cancellation } from './cancellation.js';
import { encodeFrameHead, type Frame, type OutgoingFrame } from './frame.js';
import { holdPayload, type PayloadPool } from './payload-pool.js';
import { FrameDecoder } from './frame-decoder.js';

export interface FrameSocketOptions {
  readonly socket: Socket;
  /** Largest frame accepted at first; `setFrameBytesMax` changes it (after authentication). */
  readonly frameBytesMax: number;
  /** The socket was opened with `reads.onread`: its reads land where the decoder says. */
  readonly reads?: DirectReads;
  /** Bound to this connection's context by the owner. */
  readonly logger: Logger;
  /** Called for every complete frame while reading is not paused. May throw: that closes the connection. */
  readonly onFrame: (frame: Frame) => void;
  /** Called once, after the socket has closed, with why. */
  readonly onClose: (reason: FsError) => void;
}

interface WriteWaiter {
  readonly frame: OutgoingFrame;
  readonly resolve: () => void;
  readonly reject: (error: FsError) => void;
}

/**
 * Socket reads placed by the frame decoder (net's `onread`, given when the socket is opened): a
 * large payload is read straight into its own buffer; everything else lands in the free tail of a
 * slab, and the decoder keeps a view of what arrived there, so nothing is copied. Compared with
 * 'data' events, a 1 MiB payload costs one buffer and one copy (the kernel's) instead of sixteen
 * 64 KiB buffers and a second copy, and a run of small replies (4 KiB reads) shares one slab
 * instead of a new buffer each. A slab lives until the last frame read into it is let go of.
 */
export class DirectReads {
  readonly decoder: FrameDecoder;
  private slab = Buffer.allocUnsafe(limits.rpcReadSlabBytes);
  /** Bytes of `slab` already read into. */
  private slabUsed = 0;
  private frames: FrameSocket | undefined;

  /** @param pool where payloads received in place get their buffers (payload-pool.ts) */
  constructor(frameBytesMax: number, pool?: PayloadPool) {
    this.decoder = new FrameDecoder({
      frameBytesMax,
      directPayloadMinBytes: limits.rpcDirectPayloadMinBytes,
      ...(pool === undefined ? {} : { takePayload: (length: number) => pool.take(length) }),
    });
  }

  /** For net.connect's options. */
  readonly onread = {
    buffer: (): Buffer => this.decoder.directRegion() ?? this.slabTail(),
    callback: (length: number, buffer: Uint8Array): boolean => {
      const inSlab =
        buffer.buffer === this.slab.buffer && buffer.byteOffset === this.slab.byteOffset + this.slabUsed;
      if (inSlab) {
        const received = this.slab.subarray(this.slabUsed, this.slabUsed + length);
        this.slabUsed += length;
        this.frames?.receiveRead(length, received);
      } else {
        this.frames?.receiveRead(length, undefined);
      }
      return true;
    },
  };

  /** The free tail of the slab, or of a new one when too little is left for a whole small reply. */
  private slabTail(): Buffer {
    if (this.slab.length - this.slabUsed < limits.rpcReadSlabTailMinBytes) {
      this.slab = Buffer.allocUnsafe(limits.rpcReadSlabBytes);
      this.slabUsed = 0;
    }
    return this.slab.subarray(this.slabUsed);
  }

  attach(frames: FrameSocket): void {
    this.frames = frames;
  }
}

/**
 * A socket a server accepted (paused on connect, nothing read yet) moved to one that reads through
 * `reads`: net gives `onread` only to sockets it makes itself, so the accepted connection's handle
 * is handed to a new Socket made with it, as net's own server makes one around an accepted handle,
 * and the server's count of its connections moves along. Returns undefined, leaving `socket` as it
 * was, where the handle is not there to move (the peer already gone) or not as expected; the caller
 * then reads it as it is.
 */
export function adoptWithDirectReads(socket: Socket, reads: DirectReads): Socket | undefined {
  const internals = socket as unknown as AcceptedSocketInternals;
  const handle = internals._handle;
  if (typeof handle !== 'object' || handle === null || typeof handle.readStart !== 'function')
    return undefined;
  if (socket.destroyed || socket.readableLength > 0) return undefined;
  const server = internals._server;
  internals._handle = null;
  internals._server = null;
  internals.server = null;
  const adopted = new Socket({
    handle,
    readable: true,
    writable: true,
    onread: reads.onread,
  } as ConstructorParameters<typeof Socket>[0]);
  const adoptedInternals = adopted as unknown as AcceptedSocketInternals;
  // Closing the adopted socket counts the connection out of the server, as the original would.
  adoptedInternals._server = server;
  adoptedInternals.server = server;
  return adopted;
}

/** The fields of net.Socket that `adoptWithDirectReads` moves (net.js's own, not public API). */
interface AcceptedSocketInternals {
  _handle: { readStart?: unknown } | null | undefined;
  _server: unknown;
  server: unknown;
}

/** The remote end of a connected socket as "host:port" ("[v6]:port" for IPv6). */
export function remoteAddressOf(socket: Socket): string {
  const host = socket.remoteAddress ?? 'unknown';
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`;
}

/** One framed connection; see the file comment. */
export class FrameSocket {
  readonly peerAddress: string;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly logger: Logger;
  private readonly onFrame: (frame: Frame) => void;
  private readonly onClose: (reason: FsError) => void;
  private readonly writeWaiters: WriteWaiter[] = [];
  private readingPaused = false;
  private delivering = false;
  private corked = false;
  private closing = false;
  private closeReason: FsError | undefined;
  private readonly closedPromise: Promise<void>;

  constructor(options: FrameSocketOptions) {
    this.socket = options.socket;
    this.peerAddress = remoteAddressOf(options.socket);
    if (options.reads === undefined) {
      this.decoder = new FrameDecoder({ frameBytesMax: options.frameBytesMax });
    } else {
      this.decoder = options.reads.decoder;
      this.decoder.setFrameBytesMax(options.frameBytesMax);
      options.reads.attach(this);
    }
    this.logger = options.logger;
    this.onFrame = options.onFrame;
    this.onClose = options.onClose;
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, limits.rpcKeepAliveIdleMs);
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('drain', () => this.writeWaiting());
    this.socket.on('error', (error) => {
      this.closeReason ??= new FsError(
        RpcCode.ConnectionClosed,
        `connection with ${this.peerAddress} failed: ${error.message}`,
        { cause: error },
      );
    });
    this.closedPromise = new Promise((resolve) => {
      this.socket.once('close', () => {
        this.closing = true;
        const reason =
          this.closeReason ??
          new FsError(RpcCode.ConnectionClosed, `connection with ${this.peerAddress} closed`);
        this.closeReason = reason;
        for (const waiter of this.writeWaiters.splice(0)) waiter.reject(reason);
        resolve();
        this.onClose(reason);
      });
    });
  }

  /** True once the connection is closing or closed; nothing more is read or written. */
  get isClosed(): boolean {
    return this.closing;
  }

  /**
   * Writes `frame` now if nothing waits before it and the socket's write buffer is below its
   * high-water mark; returns false (writing nothing) otherwise. The fast path of `send`.
   */
  trySend(frame: OutgoingFrame): boolean {
    if (this.closing || !this.socket.writable) return false;
    if (this.writeWaiters.length > 0 || this.socket.writableNeedDrain) return false;
    this.write(frame);
    return true;
  }

  /**
   * Writes `frame` as soon as the socket's write buffer is below its high-water mark, in the order
   * frames were handed in. Rejects if the connection closes, or the call is cancelled, before it is
   * written. Waiting here keeps a slow reader from making us buffer without bound.
   */
  send(frame: OutgoingFrame, cancellation?: Cancellation): Promise<void> {
    if (this.closing || !this.socket.writable) return Promise.reject(this.closedError());
    if (cancellation?.reason !== undefined) return Promise.reject(cancellation.reason);
    if (this.trySend(frame)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const unsubscribe = cancellation?.subscribe((reason) => {
        const index = this.writeWaiters.indexOf(waiter);
        if (index >= 0) this.writeWaiters.splice(index, 1);
        reject(reason);
      });
      const waiter: WriteWaiter = {
        frame,
        resolve: () => {
          unsubscribe?.();
          resolve();
        },
        reject: (error: FsError) => {
          unsubscribe?.();
          reject(error);
        },
      };
      this.writeWaiters.push(waiter);
    });
  }

  /** Changes the largest frame accepted from the next frame on. */
  setFrameBytesMax(frameBytesMax: number): void {
    this.decoder.setFrameBytesMax(frameBytesMax);
  }

  /** Resolves once everything written so far has left for the kernel (or the socket closed). */
  flushed(): Promise<void> {
    if (this.closing || !this.socket.writable) return Promise.resolve();
    return new Promise((resolve) => {
      // Writes complete in order: this one's callback runs after every earlier one's.
      this.socket.write(Buffer.alloc(0), () => resolve());
    });
  }

  /** The socket's file descriptor (for a hand-over), or undefined when it has none. */
  descriptor(): number | undefined {
    // Node keeps a TCP socket's descriptor on its libuv handle; it is not part of the typed API.
    const fd = (this.socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
  }

  /** Stops handing out frames and stops reading the socket. */
  pauseReading(): void {
    this.readingPaused = true;
    this.socket.pause();
  }

  /** Hands out frames already received, then reads the socket again unless paused meanwhile. */
  resumeReading(): void {
    if (this.closing) return;
    this.readingPaused = false;
    this.deliver();
    if (!this.readingPaused && !this.closing) this.socket.resume();
  }

  /** Closes at once; pending writes are dropped. `reason` is what onClose reports. */
  close(reason: FsError): void {
    if (this.closing) return;
    this.closing = true;
    this.closeReason ??= reason;
    this.socket.destroy();
  }

  /** Closes after the frames already written are flushed, waiting at most `graceMs`. */
  async end(reason: FsError, graceMs: number = limits.rpcSocketEndGraceMs): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.closeReason ??= reason;
      this.socket.pause();
      this.socket.end();
      const timer = systemClock.setTimer(graceMs, () => this.socket.destroy());
      this.socket.once('close', () => timer.cancel());
    }
    await this.closedPromise;
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  private closedError(): FsError {
    return (
      this.closeReason ??
      new FsError(RpcCode.ConnectionClosed, `connection with ${this.peerAddress} is closing`)
    );
  }

  private receive(chunk: Buffer): void {
    if (this.closing) return;
    this.decoder.push(chunk);
    this.deliver();
  }

  /**
   * A read of `length` bytes through DirectReads: `received`, bytes the decoder may keep, or (when
   * undefined) bytes read into the decoder's direct region.
   */
  receiveRead(length: number, received: Buffer | undefined): void {
    if (this.closing) return;
    if (received !== undefined) this.decoder.push(received);
    else this.decoder.receivedDirect(length);
    this.deliver();
  }

  private deliver(): void {
    // A frame handler may resume reading from inside this loop; the outer loop carries on then.
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (!this.readingPaused && !this.closing) {
        const frame = this.decoder.next();
        if (frame === undefined) break;
        this.onFrame(frame);
      }
    } catch (error) {
      this.failOn(error);
    } finally {
      this.delivering = false;
    }
  }

  /** Whatever a peer's bytes made go wrong ends this connection, never the process. */
  private failOn(error: unknown): void {
    const reason =
      error instanceof FsError
        ? error
        : new FsError(CommonCode.Internal, `internal error while handling a frame: ${describeError(error)}`, {
            cause: error,
          });
    this.logger.error(
      { peer: this.peerAddress, code: statusName(reason.code), err: error },
      `closing connection with ${this.peerAddress}: ${reason.message}`,
    );
    this.close(reason);
  }

  /** Writes waiting frames until the socket's buffer is full again or none are left. */
  private writeWaiting(): void {
    while (!this.closing && !this.socket.writableNeedDrain) {
      const waiter = this.writeWaiters.shift();
      if (waiter === undefined) return;
      this.write(waiter.frame);
      waiter.resolve();
    }
  }

  private write(frame: OutgoingFrame): void {
    // Frames written in one turn of the event loop leave in one writev: the socket stays corked
    // until the next tick. That saves a system call per frame when many calls are in flight, and
    // the payload buffer itself is handed to the socket, never copied into a bigger one.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(encodeFrameHead(frame));
    const payload = frame.payload;
    if (payload === undefined || payload.length === 0) return;
    // A pooled payload stays out of the pool until the socket is done with its bytes.
    const release = holdPayload(payload);
    this.socket.write(payload, release);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
}
