/**
 * A small ONC RPC client over TCP: calls with AUTH_NONE or AUTH_SYS, replies matched by xid, each
 * call with a deadline. The gateway uses it to register with rpcbind; tests use it to speak NFS
 * and MOUNT to the gateway. Replies are bounded like calls on the server side.
 */
import { connect, type Socket } from 'node:net';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { RpcCode } from '../common/status-code.js';
import { decodeReply, writeCall, type AuthSys, type DecodedReply } from './rpc-message.js';
import { RecordDecoder, encodeRecord } from './rpc-record.js';
import { XdrWriter } from './xdr.js';

export interface OncRpcClientOptions {
  readonly host: string;
  readonly port: number;
  /** The local address to connect from (tests use 127.0.0.2 as another client). */
  readonly localAddress?: string;
  /** The local port to connect from (a privileged one, for servers that want it). */
  readonly localPort?: number;
  readonly timeoutMs: number;
}

interface Pending {
  resolve(reply: DecodedReply): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

/** One connection; see the file comment. */
export class OncRpcClient {
  private readonly pending = new Map<number, Pending>();
  private readonly decoder = new RecordDecoder({
    recordBytesMax: limits.nfsReplyBytesMax,
    fragmentsMax: limits.nfsRecordFragmentsMax,
  });
  private nextXid = Math.floor(Math.random() * 0x7fff_ffff);
  private failure: unknown;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new FsError(RpcCode.ConnectionClosed, 'the connection closed')));
  }

  /** Connects; fails when the server cannot be reached in time. */
  static async connect(options: OncRpcClientOptions): Promise<OncRpcClient> {
    const socket = connect({
      host: options.host,
      port: options.port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      ...(options.localPort === undefined ? {} : { localPort: options.localPort }),
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new FsError(RpcCode.ConnectFailed, `no connection to ${options.host}:${options.port}`));
      }, options.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new FsError(RpcCode.ConnectFailed, describeError(error), { cause: error }));
      });
    });
    socket.setNoDelay(true);
    return new OncRpcClient(socket, options.timeoutMs);
  }

  /** Whether the connection is closed (by either side). */
  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Sends a call; resolves with its reply (accepted or denied). */
  call(options: {
    program: number;
    version: number;
    procedure: number;
    credential?: AuthSys;
    args?: (writer: XdrWriter) => void;
  }): Promise<DecodedReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.nextXid = (this.nextXid + 1) >>> 0;
    const xid = this.nextXid;
    const writer = new XdrWriter(limits.nfsRecordBytesMax);
    writeCall(writer, { xid, ...options });
    options.args?.(writer);
    return new Promise<DecodedReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(xid);
        reject(new FsError(RpcCode.Timeout, `no reply to call ${xid} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(xid, { resolve, reject, timer });
      this.socket.cork();
      for (const buffer of encodeRecord(writer.toSegments())) this.socket.write(buffer);
      this.socket.uncork();
    });
  }

  /** Sends raw bytes as they are (tests of malformed streams). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    let records: Buffer[];
    try {
      records = this.decoder.push(chunk);
    } catch (error) {
      this.fail(error);
      this.socket.destroy();
      return;
    }
    for (const record of records) {
      let reply: DecodedReply;
      try {
        reply = decodeReply(record);
      } catch (error) {
        this.fail(error);
        this.socket.destroy();
        return;
      }
      const pending = this.pending.get(reply.xid);
      if (pending === undefined) continue;
      this.pending.delete(reply.xid);
      clearTimeout(pending.timer);
      pending.resolve(reply);
    }
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(this.failure);
    }
    this.pending.clear();
  }
}
