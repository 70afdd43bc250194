/**
 * NFSv4 client ids and stateids without server state: each is derived from what it names and
 * authenticated with a key from the cluster secret, so every gateway of the cluster, and a
 * restarted one, recognizes the ids it (or another) handed out, and a client cannot make up one.
 *
 * The gateway keeps no opens, share reservations or delegations: access is checked by meta for
 * each READ and WRITE's caller, so an open's stateid only has to name its file. A stateid's 12
 * bytes are the inode id (8) and a MAC of it (4); its sequence number grows with every OPEN the
 * gateway answers (from a start taken from the clock, so a restarted gateway's are newer).
 *
 * A client id (u64) is a hash of the client's name and verifier (32 bits) and a MAC of that hash
 * (32 bits); SETCLIENTID_CONFIRM's verifier is another MAC of the client id.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { InodeId } from '../../client/index.js';
import type { StateId } from './nfs4-types.js';

/** The stateid of no open (all zeros) and the one that bypasses reads (all ones). */
function isSpecial(stateId: StateId): boolean {
  const zeros = stateId.other.every((byte) => byte === 0);
  const ones = stateId.other.every((byte) => byte === 0xff);
  return zeros || ones;
}

export class Nfs4State {
  private readonly key: Buffer;
  private sequence: number;

  constructor(clusterSecret: string, startSeconds: number) {
    this.key = createHmac('sha256', clusterSecret).update('3fs-ts nfs4 state key v1').digest();
    // Sequence numbers are u32 and never 0 (which a client reads as "the current one").
    this.sequence = Math.max(1, Math.floor(startSeconds) % 0x7fff_ffff);
  }

  private mac(label: string, data: Buffer, bytes: number): Buffer {
    return createHmac('sha256', this.key).update(label).update(data).digest().subarray(0, bytes);
  }

  /** The client id of a client named `id` with boot verifier `verifier`. */
  clientId(id: Buffer, verifier: Buffer): bigint {
    const hash = createHash('sha256').update(id).update(verifier).digest().subarray(0, 4);
    const bytes = Buffer.concat([hash, this.mac('clientid', hash, 4)]);
    return bytes.readBigUInt64BE(0);
  }

  /** Whether `clientId` is one a gateway of this cluster handed out. */
  knowsClient(clientId: bigint): boolean {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(clientId);
    return timingSafeEqual(bytes.subarray(4), this.mac('clientid', bytes.subarray(0, 4), 4));
  }

  /** The verifier SETCLIENTID_CONFIRM must present for `clientId`. */
  confirmVerifier(clientId: bigint): Buffer {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(clientId);
    return this.mac('confirm', bytes, 8);
  }

  /** A new open stateid for the file `ino`. */
  openStateId(ino: InodeId): StateId {
    this.sequence = this.sequence >= 0xffff_fffe ? 1 : this.sequence + 1;
    return { seqid: this.sequence, other: this.stateOther(ino) };
  }

  /** The same stateid, one step further (OPEN_CONFIRM, OPEN_DOWNGRADE, CLOSE). */
  next(stateId: StateId): StateId {
    return { seqid: stateId.seqid >= 0xffff_fffe ? 1 : stateId.seqid + 1, other: stateId.other };
  }

  private stateOther(ino: InodeId): Buffer {
    const id = Buffer.alloc(8);
    id.writeBigUInt64BE(ino);
    return Buffer.concat([id, this.mac('stateid', id, 4)]);
  }

  /**
   * Whether `stateId` may be used on the file `ino`: a special stateid always, an open stateid of
   * that file made by a gateway of this cluster.
   */
  validFor(stateId: StateId, ino: InodeId): boolean {
    if (isSpecial(stateId)) return true;
    const expected = this.stateOther(ino);
    return stateId.other.length === expected.length && timingSafeEqual(stateId.other, expected);
  }

  /** Whether `stateId` is well-formed and ours, whatever file it names (CLOSE, OPEN_CONFIRM). */
  isOurs(stateId: StateId): boolean {
    if (isSpecial(stateId)) return true;
    const id = stateId.other.subarray(0, 8);
    return timingSafeEqual(stateId.other.subarray(8), this.mac('stateid', id, 4));
  }
}
