/**
 * NFS file handles: an inode id and the export it was reached through, authenticated with a key
 * derived from the cluster secret. Nothing is kept per handle, so handles survive a restart of
 * the gateway and are understood by every gateway of the cluster, while a client cannot make one
 * for an inode it was never given: any change to the bytes breaks the MAC.
 *
 * Layout (30 bytes, within NFSv3's 64 and NFSv4's 128):
 *   version (1) | kind (1) | export tag (4) | inode id (8) | HMAC-SHA256 of the first 14 (16)
 *
 * Kinds: an export handle names an inode inside an export; a pseudo handle (NFSv4) names a
 * directory on the way from the namespace root to the exports, which only shows those paths.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { InodeId } from '../client/index.js';

const handleVersion = 1;
const macBytes = 16;
const bodyBytes = 14;
/** Bytes of every handle this version makes. */
export const handleBytes = bodyBytes + macBytes;

export const HandleKind = { Export: 0, Pseudo: 1 } as const;
export type HandleKind = (typeof HandleKind)[keyof typeof HandleKind];

/** What a handle names. */
export interface FileHandle {
  readonly kind: HandleKind;
  /** The export's tag (exports.ts); 0 for pseudo handles. */
  readonly exportTag: number;
  readonly ino: InodeId;
}

/** Why bytes are not a handle of ours: malformed (wrong size or version) or forged (bad MAC). */
export type HandleProblem = 'malformed' | 'forged';

/** Makes and checks handles with one key; see the file comment. */
export class HandleCodec {
  private readonly key: Buffer;

  constructor(clusterSecret: string) {
    // A key of its own, so a handle's MAC is never a MAC the cluster's RPC handshake would accept.
    this.key = createHmac('sha256', clusterSecret).update('3fs-ts nfs file handle key v1').digest();
  }

  encode(handle: FileHandle): Buffer {
    const bytes = Buffer.alloc(handleBytes);
    bytes.writeUInt8(handleVersion, 0);
    bytes.writeUInt8(handle.kind, 1);
    bytes.writeUInt32BE(handle.exportTag >>> 0, 2);
    bytes.writeBigUInt64BE(handle.ino, 6);
    this.mac(bytes.subarray(0, bodyBytes)).copy(bytes, bodyBytes);
    return bytes;
  }

  decode(bytes: Uint8Array): FileHandle | HandleProblem {
    if (bytes.length !== handleBytes) return 'malformed';
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (buffer.readUInt8(0) !== handleVersion) return 'malformed';
    const kind = buffer.readUInt8(1);
    if (kind !== HandleKind.Export && kind !== HandleKind.Pseudo) return 'malformed';
    const expected = this.mac(buffer.subarray(0, bodyBytes));
    if (!timingSafeEqual(expected, buffer.subarray(bodyBytes))) return 'forged';
    return { kind, exportTag: buffer.readUInt32BE(2), ino: buffer.readBigUInt64BE(6) };
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, macBytes);
  }
}
