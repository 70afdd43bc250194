/**
 * The frame: a fixed 32-byte header, a msgpack body, then an optional raw payload (chunk bytes).
 * This file owns the header layout and its validation; a header that passes `decodeHeader` names a
 * kind this build knows, only known flags, and lengths inside the configured limits.
 *
 * Header layout (big-endian):
 *    0  u32  magic "3FSR"
 *    4  u8   version
 *    5  u8   kind (FrameKind)
 *    6  u16  flags (FrameFlag)
 *    8  u32  status code (responses and handshake results; 0 elsewhere)
 *   12  u32  request id (pairs a response with its request on one connection)
 *   16  u16  service id
 *   18  u16  method id
 *   20  u32  body length in bytes
 *   24  u32  payload length in bytes
 *   28  u32  payload CRC32C (0 without a payload)
 */
import { FsError } from '../common/errors.js';
import { crc32c } from '../common/crc32c.js';
import { limits } from '../common/limits.js';
import { RpcCode } from '../common/status-code.js';

/** "3FSR": lets a receiver tell our frames from a stray protocol at the first bytes. */
export const frameMagic = 0x33465352;
/** Bumped on any incompatible change of the header or the handshake. */
export const frameVersion = 1;
export const frameHeaderBytes = 32;

/** What a frame is; the handshake kinds are only valid before a connection is authenticated. */
export const FrameKind = {
  Request: 1,
  Response: 2,
  /** Server to client: the server's nonce. */
  HandshakeChallenge: 3,
  /** Client to server: the client's nonce and its proof of the cluster secret. */
  HandshakeAnswer: 4,
  /** Server to client: status 0 with the server's proof, or AuthFailed with a message. */
  HandshakeResult: 5,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Header flag bits. */
export const FrameFlag = {
  /** A payload follows the body (it may be empty); without it the payload fields must be 0. */
  HasPayload: 1,
} as const;

const knownFlags = FrameFlag.HasPayload;
const kindNames = new Map<number, string>(Object.entries(FrameKind).map(([name, kind]) => [kind, name]));

/** The name of a frame kind, for log lines and error messages. */
export function frameKindName(kind: number): string {
  return kindNames.get(kind) ?? `Unknown(${kind})`;
}

/** The decoded fixed header of one frame. */
export interface FrameHeader {
  readonly kind: FrameKind;
  readonly flags: number;
  readonly status: number;
  readonly requestId: number;
  readonly serviceId: number;
  readonly methodId: number;
  readonly bodyLength: number;
  readonly payloadLength: number;
  readonly payloadCrc32c: number;
}

/** A received frame. `body` and `payload` are views into received bytes, not copies. */
export interface Frame {
  readonly header: FrameHeader;
  readonly body: Buffer;
  readonly payload: Buffer | undefined;
}

/** A frame to send; the payload is written as is after the header and body, never copied. */
export interface OutgoingFrame {
  readonly kind: FrameKind;
  readonly status: number;
  readonly requestId: number;
  readonly serviceId: number;
  readonly methodId: number;
  readonly body: Uint8Array;
  readonly payload: Buffer | undefined;
  /**
   * The payload's CRC32C when the sender already holds it (checked on receipt, or computed over
   * these very bytes), so a payload passed on is not summed again; computed here otherwise. A wrong
   * value is not silent: the receiver checks the payload against it and refuses the frame.
   */
  readonly payloadCrc32c?: number | undefined;
}

/** Total bytes of a frame with this header. */
export function frameLength(header: Pick<FrameHeader, 'bodyLength' | 'payloadLength'>): number {
  return frameHeaderBytes + header.bodyLength + header.payloadLength;
}

/** Writes `header` into the first 32 bytes of `target`. */
export function encodeHeader(header: FrameHeader, target: Buffer): void {
  target.writeUInt32BE(frameMagic, 0);
  target.writeUInt8(frameVersion, 4);
  target.writeUInt8(header.kind, 5);
  target.writeUInt16BE(header.flags, 6);
  target.writeUInt32BE(header.status, 8);
  target.writeUInt32BE(header.requestId, 12);
  target.writeUInt16BE(header.serviceId, 16);
  target.writeUInt16BE(header.methodId, 18);
  target.writeUInt32BE(header.bodyLength, 20);
  target.writeUInt32BE(header.payloadLength, 24);
  target.writeUInt32BE(header.payloadCrc32c, 28);
}

/**
 * Reads and validates a header. Throws FsError(MalformedFrame) for bytes that are not a frame of
 * this version, FsError(FrameTooLarge) for a frame that announces more than the limits allow.
 */
export function decodeHeader(source: Buffer, options: { frameBytesMax: number }): FrameHeader {
  if (source.length < frameHeaderBytes) {
    throw new FsError(
      RpcCode.MalformedFrame,
      `frame header is ${source.length} bytes, expected ${frameHeaderBytes}`,
    );
  }
  const magic = source.readUInt32BE(0);
  if (magic !== frameMagic) {
    throw new FsError(RpcCode.MalformedFrame, `bad frame magic 0x${magic.toString(16).padStart(8, '0')}`);
  }
  const version = source.readUInt8(4);
  if (version !== frameVersion) {
    throw new FsError(
      RpcCode.MalformedFrame,
      `unsupported frame version ${version}, this build speaks ${frameVersion}`,
    );
  }
  const kind = source.readUInt8(5);
  if (!kindNames.has(kind)) throw new FsError(RpcCode.MalformedFrame, `unknown frame kind ${kind}`);
  const header: FrameHeader = {
    kind: kind as FrameKind,
    flags: source.readUInt16BE(6),
    status: source.readUInt32BE(8),
    requestId: source.readUInt32BE(12),
    serviceId: source.readUInt16BE(16),
    methodId: source.readUInt16BE(18),
    bodyLength: source.readUInt32BE(20),
    payloadLength: source.readUInt32BE(24),
    payloadCrc32c: source.readUInt32BE(28),
  };
  checkHeaderFields(header);
  checkHeaderLengths(header, options.frameBytesMax);
  return header;
}

function checkHeaderFields(header: FrameHeader): void {
  if ((header.flags & ~knownFlags) !== 0) {
    throw new FsError(RpcCode.MalformedFrame, `unknown frame flags 0x${header.flags.toString(16)}`);
  }
  const hasPayload = (header.flags & FrameFlag.HasPayload) !== 0;
  if (!hasPayload && (header.payloadLength !== 0 || header.payloadCrc32c !== 0)) {
    throw new FsError(RpcCode.MalformedFrame, 'frame without the payload flag announces a payload');
  }
  // Requests carry no status; a non-zero one means the sender and receiver disagree on the layout.
  if (header.kind === FrameKind.Request && header.status !== 0) {
    throw new FsError(RpcCode.MalformedFrame, `request frame carries status ${header.status}`);
  }
}

function checkHeaderLengths(header: FrameHeader, frameBytesMax: number): void {
  if (header.bodyLength > limits.rpcBodyBytesMax) {
    throw new FsError(
      RpcCode.FrameTooLarge,
      `frame body of ${header.bodyLength} bytes exceeds the limit of ${limits.rpcBodyBytesMax} bytes`,
    );
  }
  const total = frameLength(header);
  if (total > frameBytesMax) {
    throw new FsError(
      RpcCode.FrameTooLarge,
      `frame of ${total} bytes exceeds the limit of ${frameBytesMax} bytes`,
    );
  }
}

/**
 * The header and body of `frame` in one buffer, ready to be written before the payload. The
 * payload's CRC32C is the one the sender holds, or is computed here, once, with the
 * hardware-accelerated implementation.
 */
export function encodeFrameHead(frame: OutgoingFrame): Buffer {
  const head = Buffer.allocUnsafe(frameHeaderBytes + frame.body.byteLength);
  const payload = frame.payload;
  encodeHeader(
    {
      kind: frame.kind,
      flags: payload === undefined ? 0 : FrameFlag.HasPayload,
      status: frame.status,
      requestId: frame.requestId,
      serviceId: frame.serviceId,
      methodId: frame.methodId,
      bodyLength: frame.body.byteLength,
      payloadLength: payload?.length ?? 0,
      payloadCrc32c: payload === undefined ? 0 : (frame.payloadCrc32c ?? crc32c(payload)),
    },
    head,
  );
  head.set(frame.body, frameHeaderBytes);
  return head;
}

/** True when the frame has no payload or its payload matches the CRC32C in the header. */
export function payloadChecksumMatches(frame: Frame): boolean {
  if (frame.payload === undefined) return true;
  return crc32c(frame.payload) === frame.header.payloadCrc32c;
}
