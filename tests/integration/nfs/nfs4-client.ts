// A minimal NFSv4.0 client for the protocol tests: COMPOUNDs built from operations, each with its
// encoder and the decoder of its result, over the project's ONC RPC client.
import { OncRpcClient } from '../../../src/nfs/rpc-client.js';
import type { AuthSys } from '../../../src/nfs/rpc-message.js';
import { XdrReader, type XdrWriter } from '../../../src/nfs/xdr.js';
import { root } from './nfs3-client.js';

/** One operation of a COMPOUND: its number, arguments, and the decoder of an OK result. */
export interface Operation<T = unknown> {
  readonly op: number;
  encode(writer: XdrWriter): void;
  decode(reader: XdrReader): T;
}

export interface OperationResult {
  op: number;
  status: number;
  value?: unknown;
}

export interface StateId {
  seqid: number;
  other: Buffer;
}

export const anonymousStateId: StateId = { seqid: 0, other: Buffer.alloc(12) };

const none = (): undefined => undefined;

function bitmap(writer: XdrWriter, bits: number[]): void {
  const words: number[] = [];
  for (const bit of bits) {
    const index = Math.floor(bit / 32);
    while (words.length <= index) words.push(0);
    words[index] = ((words[index] ?? 0) | (1 << (bit % 32))) >>> 0;
  }
  writer.u32(words.length);
  for (const word of words) writer.u32(word);
}

function readBitmap(reader: XdrReader): number[] {
  const words = reader.array(8, (inner) => inner.u32());
  const bits: number[] = [];
  words.forEach((word, index) => {
    for (let bit = 0; bit < 32; bit++) if ((word >>> bit) & 1) bits.push(index * 32 + bit);
  });
  return bits;
}

function stateId(writer: XdrWriter, id: StateId): void {
  writer.u32(id.seqid).fixedOpaque(id.other);
}

function readStateId(reader: XdrReader): StateId {
  return { seqid: reader.u32(), other: Buffer.from(reader.fixedOpaque(12)) };
}

function changeInfo(reader: XdrReader): void {
  reader.bool();
  reader.u64();
  reader.u64();
}

/** The attributes the tests read (requested in this order by `standard`). */
export interface Attributes4 {
  bits: number[];
  type?: number;
  size?: bigint;
  fsidMinor?: bigint;
  fileid?: bigint;
  mode?: number;
  numlinks?: number;
  owner?: string;
  ownerGroup?: string;
}

/** type, size, fsid, fileid, mode, numlinks, owner, owner_group. */
export const standard = [1, 4, 8, 20, 33, 35, 36, 37];

function readAttributes(reader: XdrReader): Attributes4 {
  const bits = readBitmap(reader);
  const values = new XdrReader(Buffer.from(reader.opaque(1 << 20)));
  const attributes: Attributes4 = { bits };
  for (const bit of bits) {
    switch (bit) {
      case 1:
        attributes.type = values.u32();
        break;
      case 4:
        attributes.size = values.u64();
        break;
      case 8:
        values.u64();
        attributes.fsidMinor = values.u64();
        break;
      case 20:
        attributes.fileid = values.u64();
        break;
      case 33:
        attributes.mode = values.u32();
        break;
      case 35:
        attributes.numlinks = values.u32();
        break;
      case 36:
        attributes.owner = values.string(1024);
        break;
      case 37:
        attributes.ownerGroup = values.string(1024);
        break;
      default:
        throw new Error(`the test client cannot read attribute ${bit}`);
    }
  }
  return attributes;
}

function settable(writer: XdrWriter, attributes: { mode?: number; size?: bigint }): void {
  const bits: number[] = [];
  const values: Array<(inner: XdrWriter) => void> = [];
  if (attributes.size !== undefined) {
    bits.push(4);
    const size = attributes.size;
    values.push((inner) => inner.u64(size));
  }
  if (attributes.mode !== undefined) {
    bits.push(33);
    const mode = attributes.mode;
    values.push((inner) => inner.u32(mode));
  }
  bitmap(writer, bits);
  const length =
    values.length === 0
      ? 0
      : (attributes.size !== undefined ? 8 : 0) + (attributes.mode !== undefined ? 4 : 0);
  writer.u32(length);
  for (const value of values) value(writer);
}

export const ops = {
  putrootfh: (): Operation => ({ op: 24, encode: () => undefined, decode: none }),
  putfh: (handle: Buffer): Operation => ({ op: 22, encode: (w) => w.opaque(handle), decode: none }),
  getfh: (): Operation<Buffer> => ({
    op: 10,
    encode: () => undefined,
    decode: (r) => Buffer.from(r.opaque(128)),
  }),
  savefh: (): Operation => ({ op: 32, encode: () => undefined, decode: none }),
  restorefh: (): Operation => ({ op: 31, encode: () => undefined, decode: none }),
  lookup: (name: string | Buffer): Operation => ({
    op: 15,
    encode: (w) => w.opaque(typeof name === 'string' ? Buffer.from(name) : name),
    decode: none,
  }),
  lookupp: (): Operation => ({ op: 16, encode: () => undefined, decode: none }),
  getattr: (bits: number[] = standard): Operation<Attributes4> => ({
    op: 9,
    encode: (w) => bitmap(w, bits),
    decode: readAttributes,
  }),
  access: (bits: number): Operation<{ supported: number; granted: number }> => ({
    op: 3,
    encode: (w) => w.u32(bits),
    decode: (r) => ({ supported: r.u32(), granted: r.u32() }),
  }),
  setclientid: (name: string, verifier: Buffer): Operation<{ clientId: bigint; confirm: Buffer }> => ({
    op: 35,
    encode: (w) => w.fixedOpaque(verifier).string(name).u32(0).string('tcp').string('0.0.0.0.0.0').u32(1),
    decode: (r) => ({ clientId: r.u64(), confirm: Buffer.from(r.fixedOpaque(8)) }),
  }),
  setclientidConfirm: (clientId: bigint, confirm: Buffer): Operation => ({
    op: 36,
    encode: (w) => w.u64(clientId).fixedOpaque(confirm),
    decode: none,
  }),
  renew: (clientId: bigint): Operation => ({ op: 30, encode: (w) => w.u64(clientId), decode: none }),
  open: (
    clientId: bigint,
    name: string,
    how: {
      create?: 'unchecked' | 'guarded' | 'exclusive';
      mode?: number;
      size?: bigint;
      write?: boolean;
    } = {},
  ): Operation<StateId> => ({
    op: 18,
    encode: (w) => {
      w.u32(0)
        .u32(how.write === true ? 3 : 1)
        .u32(0)
        .u64(clientId)
        .string('test-owner');
      if (how.create === undefined) {
        w.u32(0);
      } else {
        w.u32(1);
        if (how.create === 'exclusive') {
          w.u32(2).fixedOpaque(Buffer.from('verifier'));
        } else {
          w.u32(how.create === 'unchecked' ? 0 : 1);
          settable(w, {
            ...(how.mode === undefined ? {} : { mode: how.mode }),
            ...(how.size === undefined ? {} : { size: how.size }),
          });
        }
      }
      w.u32(0).string(name);
    },
    decode: (r) => {
      const id = readStateId(r);
      changeInfo(r);
      r.u32();
      readBitmap(r);
      r.u32();
      return id;
    },
  }),
  close: (id: StateId): Operation<StateId> => ({
    op: 4,
    encode: (w) => {
      w.u32(0);
      stateId(w, id);
    },
    decode: readStateId,
  }),
  read: (id: StateId, offset: bigint, count: number): Operation<{ eof: boolean; data: Buffer }> => ({
    op: 25,
    encode: (w) => {
      stateId(w, id);
      w.u64(offset).u32(count);
    },
    decode: (r) => ({ eof: r.bool(), data: Buffer.from(r.opaque(1 << 21)) }),
  }),
  write: (
    id: StateId,
    offset: bigint,
    data: Buffer,
    stable = 0,
  ): Operation<{ count: number; committed: number; verifier: Buffer }> => ({
    op: 38,
    encode: (w) => {
      stateId(w, id);
      w.u64(offset).u32(stable).opaque(data);
    },
    decode: (r) => ({ count: r.u32(), committed: r.u32(), verifier: Buffer.from(r.fixedOpaque(8)) }),
  }),
  commit: (): Operation<Buffer> => ({
    op: 5,
    encode: (w) => w.u64(0n).u32(0),
    decode: (r) => Buffer.from(r.fixedOpaque(8)),
  }),
  mkdir: (name: string, mode = 0o755): Operation => ({
    op: 6,
    encode: (w) => {
      w.u32(2).string(name);
      settable(w, { mode });
    },
    decode: (r) => {
      changeInfo(r);
      readBitmap(r);
    },
  }),
  symlink: (name: string, target: string): Operation => ({
    op: 6,
    encode: (w) => {
      w.u32(5).string(target).string(name);
      settable(w, {});
    },
    decode: (r) => {
      changeInfo(r);
      readBitmap(r);
    },
  }),
  createType: (type: number, name: string): Operation => ({
    op: 6,
    encode: (w) => {
      w.u32(type).string(name);
      settable(w, {});
    },
    decode: none,
  }),
  remove: (name: string): Operation => ({ op: 28, encode: (w) => w.string(name), decode: changeInfo }),
  rename: (from: string, to: string): Operation => ({
    op: 29,
    encode: (w) => w.string(from).string(to),
    decode: (r) => {
      changeInfo(r);
      changeInfo(r);
    },
  }),
  link: (name: string): Operation => ({ op: 11, encode: (w) => w.string(name), decode: changeInfo }),
  readlink: (): Operation<string> => ({ op: 27, encode: () => undefined, decode: (r) => r.string(4096) }),
  setattr: (id: StateId, attributes: { mode?: number; size?: bigint }): Operation<number[]> => ({
    op: 34,
    encode: (w) => {
      stateId(w, id);
      settable(w, attributes);
    },
    decode: readBitmap,
  }),
  setattrBits: (bits: number[], values: Buffer): Operation<number[]> => ({
    op: 34,
    encode: (w) => {
      stateId(w, anonymousStateId);
      bitmap(w, bits);
      w.opaque(values);
    },
    decode: readBitmap,
  }),
  readdir: (
    cookie: bigint,
    maxCount = 8192,
    bits: number[] = [1, 20],
  ): Operation<{
    entries: Array<{ cookie: bigint; name: string; attributes: Attributes4 }>;
    eof: boolean;
  }> => ({
    op: 26,
    encode: (w) => {
      w.u64(cookie).fixedOpaque(Buffer.alloc(8)).u32(maxCount).u32(maxCount);
      bitmap(w, bits);
    },
    decode: (r) => {
      r.fixedOpaque(8);
      const entries: Array<{ cookie: bigint; name: string; attributes: Attributes4 }> = [];
      while (r.bool()) entries.push({ cookie: r.u64(), name: r.string(1024), attributes: readAttributes(r) });
      return { entries, eof: r.bool() };
    },
  }),
  verify: (bits: number[], values: Buffer): Operation => ({
    op: 37,
    encode: (w) => {
      bitmap(w, bits);
      w.opaque(values);
    },
    decode: none,
  }),
  secinfo: (name: string): Operation<number[]> => ({
    op: 33,
    encode: (w) => w.string(name),
    decode: (r) => r.array(8, (inner) => inner.u32()),
  }),
  lock: (): Operation => ({
    op: 12,
    encode: (w) => {
      w.u32(2).bool(false).u64(0n).u64(1n).bool(false);
      stateId(w, anonymousStateId);
      w.u32(0);
    },
    decode: none,
  }),
  raw: (op: number): Operation => ({ op, encode: () => undefined, decode: none }),
};

export class Nfs4Client {
  credential: AuthSys = root;

  private constructor(readonly rpc: OncRpcClient) {}

  static async connect(port: number, options: { localAddress?: string } = {}): Promise<Nfs4Client> {
    const rpc = await OncRpcClient.connect({ host: '127.0.0.1', port, timeoutMs: 20_000, ...options });
    return new Nfs4Client(rpc);
  }

  close(): void {
    this.rpc.close();
  }

  /** Sends a COMPOUND; resolves with its status and each evaluated operation's result. */
  async compound(
    operations: Operation[],
    minorVersion = 0,
  ): Promise<{ status: number; results: OperationResult[] }> {
    const reply = await this.rpc.call({
      program: 100003,
      version: 4,
      procedure: 1,
      credential: this.credential,
      args: (writer) => {
        writer.string('test').u32(minorVersion).u32(operations.length);
        for (const operation of operations) {
          writer.u32(operation.op);
          operation.encode(writer);
        }
      },
    });
    if (reply.kind !== 'accepted' || reply.status !== 0) throw new Error('COMPOUND not accepted');
    const reader = reply.results;
    const status = reader.u32();
    reader.opaque(1024);
    const count = reader.u32();
    const results: OperationResult[] = [];
    for (let index = 0; index < count; index++) {
      const op = reader.u32();
      const opStatus = reader.u32();
      const operation = operations[index];
      if (opStatus === 0 && operation !== undefined) {
        results.push({ op, status: opStatus, value: operation.decode(reader) });
      } else {
        if (op === 34) readBitmap(reader);
        results.push({ op, status: opStatus });
      }
    }
    return { status, results };
  }

  /** Runs a COMPOUND that must succeed; resolves with the value of its last operation. */
  async ok<T>(operations: Operation[]): Promise<T> {
    const { status, results } = await this.compound(operations);
    if (status !== 0)
      throw new Error(`COMPOUND failed with ${status} at op ${results[results.length - 1]?.op}`);
    return results[results.length - 1]?.value as T;
  }

  /** The status of a COMPOUND (its last evaluated operation's). */
  async status(operations: Operation[]): Promise<number> {
    return (await this.compound(operations)).status;
  }

  /** SETCLIENTID and its confirmation: the client id. */
  async establish(name = 'test-client'): Promise<bigint> {
    const { clientId, confirm } = await this.ok<{ clientId: bigint; confirm: Buffer }>([
      ops.setclientid(name, Buffer.from('12345678')),
    ]);
    await this.ok([ops.setclientidConfirm(clientId, confirm)]);
    return clientId;
  }
}
