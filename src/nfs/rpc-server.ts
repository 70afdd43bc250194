/**
 * The gateway's ONC RPC server over TCP: one listening socket serves every program (NFS, MOUNT),
 * since clients without a portmapper must find both on one known port.
 *
 * Invariants:
 * - a connection from an address no export allows is closed at accept, before a byte is read;
 * - a stream that breaks record marking, or a message whose RPC header cannot be read, closes
 *   that connection with a log line; other connections are not affected;
 * - per connection at most `callsPerConnectionMax` calls run at once, and reading stops while
 *   more records wait or while the socket holds more than `unsentBytesMax` of unsent replies, so
 *   a client that sends faster than it reads cannot grow the gateway's memory;
 * - at most `connectionsMax` connections are open; more are refused at accept;
 * - a handler that throws something other than an operating error is a bug: it is logged and the
 *   call answered SYSTEM_ERR, and the gateway serves on (it must not take every client down);
 * - stop: no new connections, running calls get `drainMs` to finish, then every socket closes.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { FsError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { NfsCode } from '../common/status-code.js';
import { releasePayload } from '../rpc/index.js';
import type { AuthStatus } from './rpc-message.js';
import {
  AcceptStatus,
  decodeCall,
  writeAcceptedHeader,
  writeAuthError,
  writeProgramMismatch,
  type RpcCall,
} from './rpc-message.js';
import { RecordDecoder, encodeRecord } from './rpc-record.js';
import { XdrWriter } from './xdr.js';

/** Where a call came from. */
export interface Peer {
  /** The client's address as the socket reports it (IPv4-mapped IPv6 included). */
  readonly address: string;
  readonly port: number;
}

/** What a program answers a call with: results were written, or an RPC-level refusal. */
export type ProgramReply =
  | { readonly kind: 'success' }
  | { readonly kind: 'procedure-unavailable' }
  | { readonly kind: 'garbage-arguments' }
  | { readonly kind: 'auth-error'; readonly status: AuthStatus }
  /** A bug answered for one call (logged where it happened). */
  | { readonly kind: 'system-error' };

/** One RPC program (NFS, MOUNT) with the versions it serves. */
export interface RpcProgram {
  readonly program: number;
  readonly versionLow: number;
  readonly versionHigh: number;
  /** Serves a call of a version in range; results go to `writer` after the accepted header. */
  call(call: RpcCall, peer: Peer, writer: XdrWriter): Promise<ProgramReply>;
}

export interface RpcServerOptions {
  readonly programs: readonly RpcProgram[];
  readonly logger: Logger;
  /** Whether a client at this address may connect at all. */
  readonly allowPeer: (address: string) => boolean;
  readonly recordBytesMax: number;
  readonly fragmentsMax: number;
  readonly replyBytesMax: number;
  readonly callsPerConnectionMax: number;
  readonly unsentBytesMax: number;
  readonly connectionsMax: number;
  readonly idleMs: number;
  readonly drainMs: number;
  /** Connection events for metrics. */
  readonly onConnection?: (
    event: 'accepted' | 'refused-address' | 'refused-limit' | 'closed' | 'malformed',
  ) => void;
}

/** Serves calls; see the file comment. */
export class RpcServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly programs = new Map<number, RpcProgram>();
  private stopping = false;

  constructor(private readonly options: RpcServerOptions) {
    for (const program of options.programs) this.programs.set(program.program, program);
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', (error) => options.logger.error({ err: error }, 'nfs server socket failed'));
  }

  /** Listens on `host:port` (port 0 picks one); resolves with the bound address. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /** Open connections now. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops: see the file comment. */
  async close(): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const connections = [...this.connections];
    for (const connection of connections) connection.stopReading();
    const deadline = Date.now() + this.options.drainMs;
    while (connections.some((connection) => connection.busy) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const connection of connections) connection.destroy();
    await closed;
  }

  private accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const { logger, onConnection } = this.options;
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (!this.options.allowPeer(address)) {
      logger.warn({ client: address }, 'refused a connection from an address no export allows');
      onConnection?.('refused-address');
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.options.connectionsMax) {
      logger.warn({ client: address, connections: this.connections.size }, 'refused a connection: too many');
      onConnection?.('refused-limit');
      socket.destroy();
      return;
    }
    const connection = new Connection(socket, this.options, this.programs, () => {
      this.connections.delete(connection);
      onConnection?.('closed');
    });
    this.connections.add(connection);
    onConnection?.('accepted');
  }
}

/** One client connection: records in, calls dispatched, replies out. */
class Connection {
  private readonly decoder: RecordDecoder;
  private readonly waiting: Buffer[] = [];
  private running = 0;
  private closed = false;
  private readingStopped = false;
  private readonly peer: Peer;
  private readonly logger: Logger;

  constructor(
    private readonly socket: Socket,
    private readonly options: RpcServerOptions,
    private readonly programs: ReadonlyMap<number, RpcProgram>,
    private readonly onClose: () => void,
  ) {
    this.peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.logger = options.logger.child({ client: `${this.peer.address}:${this.peer.port}` });
    this.decoder = new RecordDecoder({
      recordBytesMax: options.recordBytesMax,
      fragmentsMax: options.fragmentsMax,
    });
    socket.setNoDelay(true);
    socket.setTimeout(options.idleMs, () => {
      this.logger.debug('closing an idle connection');
      this.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('drain', () => this.flowControl());
    socket.on('error', (error) => this.logger.debug({ err: error }, 'connection error'));
    socket.on('close', () => {
      this.closed = true;
      this.waiting.length = 0;
      this.onClose();
    });
  }

  /** Calls are running on this connection. */
  get busy(): boolean {
    return this.running > 0;
  }

  stopReading(): void {
    this.readingStopped = true;
    this.waiting.length = 0;
    this.socket.pause();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    if (this.closed || this.readingStopped) return;
    let records: Buffer[];
    try {
      records = this.decoder.push(chunk);
    } catch (error) {
      this.refuseStream(error);
      return;
    }
    this.waiting.push(...records);
    this.dispatch();
    this.flowControl();
  }

  private refuseStream(error: unknown): void {
    this.logger.warn(
      { err: error, code: error instanceof FsError ? error.code : undefined },
      `closing a connection that sent a malformed stream: ${describeError(error)}`,
    );
    this.options.onConnection?.('malformed');
    this.destroy();
  }

  private dispatch(): void {
    while (!this.closed && this.running < this.options.callsPerConnectionMax && this.waiting.length > 0) {
      const record = this.waiting.shift() as Buffer;
      this.running += 1;
      this.serve(record).then(
        () => this.finished(),
        (error: unknown) => {
          this.logger.error({ err: error }, `serving a call failed: ${describeError(error)}`);
          this.finished();
        },
      );
    }
  }

  private finished(): void {
    this.running -= 1;
    this.dispatch();
    this.flowControl();
  }

  /** Reads while there is room for more calls and the socket is not backed up. */
  private flowControl(): void {
    if (this.closed || this.readingStopped) return;
    const backedUp = this.waiting.length > 0 || this.socket.writableLength > this.options.unsentBytesMax;
    if (backedUp) this.socket.pause();
    else this.socket.resume();
  }

  private async serve(record: Buffer): Promise<void> {
    let decoded: ReturnType<typeof decodeCall>;
    try {
      decoded = decodeCall(record);
    } catch (error) {
      this.refuseStream(error);
      return;
    }
    const writer = new XdrWriter(this.options.replyBytesMax);
    if (decoded.kind === 'reject') {
      decoded.reply(writer);
      this.send(writer);
      return;
    }
    const { call } = decoded;
    const program = this.programs.get(call.program);
    if (program === undefined) {
      writeAcceptedHeader(writer, call.xid, AcceptStatus.ProgramUnavailable);
      this.send(writer);
      return;
    }
    if (call.version < program.versionLow || call.version > program.versionHigh) {
      writeProgramMismatch(writer, call.xid, program.versionLow, program.versionHigh);
      this.send(writer);
      return;
    }
    this.send(await this.callProgram(program, call));
  }

  private async callProgram(program: RpcProgram, call: RpcCall): Promise<XdrWriter> {
    const writer = new XdrWriter(this.options.replyBytesMax);
    writeAcceptedHeader(writer, call.xid, AcceptStatus.Success);
    let reply: ProgramReply;
    try {
      reply = await program.call(call, this.peer, writer);
    } catch (error) {
      reply = this.failure(call, error);
    }
    if (reply.kind === 'success') return writer;
    const refusal = new XdrWriter(this.options.replyBytesMax);
    switch (reply.kind) {
      case 'procedure-unavailable':
        writeAcceptedHeader(refusal, call.xid, AcceptStatus.ProcedureUnavailable);
        break;
      case 'garbage-arguments':
        writeAcceptedHeader(refusal, call.xid, AcceptStatus.GarbageArguments);
        break;
      case 'auth-error':
        writeAuthError(refusal, call.xid, reply.status);
        break;
      case 'system-error':
        writeAcceptedHeader(refusal, call.xid, AcceptStatus.SystemError);
        break;
    }
    return refusal;
  }

  private failure(call: RpcCall, error: unknown): ProgramReply {
    if (error instanceof FsError && error.code === NfsCode.MalformedXdr) {
      this.logger.debug(
        { program: call.program, procedure: call.procedure, err: error },
        `garbage arguments: ${describeError(error)}`,
      );
      return { kind: 'garbage-arguments' };
    }
    this.logger.error(
      { program: call.program, version: call.version, procedure: call.procedure, err: error },
      `a call failed with a bug: ${describeError(error)}`,
    );
    return { kind: 'system-error' };
  }

  private send(writer: XdrWriter): void {
    if (this.closed) return;
    const segments = writer.toSegments();
    const buffers = encodeRecord(segments);
    this.socket.cork();
    for (const [index, buffer] of buffers.entries()) {
      if (index < buffers.length - 1) this.socket.write(buffer);
      // Once the last is written (or the socket failed), file data the reply carried by reference
      // (READ) may go back to the client's pool.
      else this.socket.write(buffer, () => segments.forEach(releasePayload));
    }
    this.socket.uncork();
  }
}
