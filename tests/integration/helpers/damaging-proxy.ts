// A loopback TCP proxy in front of one RPC server that, when armed, flips one byte in the payload of
// the next reply of a chosen method on its way back to the caller: damage on the wire, which the
// caller's end-to-end checksum must catch. It reads the frame headers of the server's side of the
// stream (rpc/frame.ts) to find payloads; everything else passes through unchanged.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { FrameFlag, FrameKind, frameHeaderBytes } from '../../../src/rpc/frame.js';

export class DamagingProxy {
  /** Replies damaged so far. */
  damaged = 0;
  private armed = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor(
    readonly address: string,
    upstreamAddress: string,
    private readonly method: { serviceId: number; methodId: number },
  ) {
    const [upstreamHost, upstreamPort] = splitAddress(upstreamAddress);
    this.server = createServer((client) => {
      const upstream = connect({ host: upstreamHost, port: upstreamPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      let pending: Buffer = Buffer.alloc(0);
      upstream.on('data', (data: Buffer) => {
        pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
        // Whole frames only: a frame is held back until its last byte has arrived.
        for (;;) {
          if (pending.length < frameHeaderBytes) break;
          const frameBytes = frameHeaderBytes + pending.readUInt32BE(20) + pending.readUInt32BE(24);
          if (pending.length < frameBytes) break;
          const frame = Buffer.from(pending.subarray(0, frameBytes));
          pending = pending.subarray(frameBytes);
          this.maybeDamage(frame);
          client.write(frame);
        }
      });
    });
  }

  /** Listens on `listen` ("host:port") and forwards every connection to `upstream`. */
  static async start(options: {
    listen: string;
    upstream: string;
    method: { serviceId: number; methodId: number };
  }): Promise<DamagingProxy> {
    const proxy = new DamagingProxy(options.listen, options.upstream, options.method);
    const [host, port] = splitAddress(options.listen);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen({ host, port }, () => resolve());
    });
    return proxy;
  }

  /** Damages the next reply of the method that carries a payload. */
  arm(): void {
    this.armed = true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private maybeDamage(frame: Buffer): void {
    if (!this.armed) return;
    const method = this.method;
    const kind = frame.readUInt8(5);
    const flags = frame.readUInt16BE(6);
    const payloadBytes = frame.readUInt32BE(24);
    if (kind !== FrameKind.Response || (flags & FrameFlag.HasPayload) === 0 || payloadBytes === 0) return;
    if (frame.readUInt16BE(16) !== method.serviceId || frame.readUInt16BE(18) !== method.methodId) return;
    const last = frame.length - 1;
    frame.writeUInt8(frame.readUInt8(last) ^ 0xff, last);
    this.armed = false;
    this.damaged += 1;
  }
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
