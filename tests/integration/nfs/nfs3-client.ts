// A minimal NFSv3 and MOUNT client for the protocol tests: one call per procedure, its reply's
// status and the parts of its body the tests look at, over the project's ONC RPC client.
import { OncRpcClient } from '../../../src/nfs/rpc-client.js';
import type { AuthSys } from '../../../src/nfs/rpc-message.js';
import type { XdrReader, XdrWriter } from '../../../src/nfs/xdr.js';

export const root: AuthSys = { stamp: 1, machineName: 'test', uid: 0, gid: 0, groups: [] };

export function user(uid: number, gid = uid, groups: number[] = []): AuthSys {
  return { stamp: 1, machineName: 'test', uid, gid, groups };
}

export interface Fattr3 {
  type: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: bigint;
  fsid: bigint;
  fileid: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  atimeNs: bigint;
  rdev: { major: number; minor: number };
}

function time(reader: XdrReader): bigint {
  return BigInt(reader.u32()) * 1_000_000_000n + BigInt(reader.u32());
}

export function readFattr3(reader: XdrReader): Fattr3 {
  const type = reader.u32();
  const mode = reader.u32();
  const nlink = reader.u32();
  const uid = reader.u32();
  const gid = reader.u32();
  const size = reader.u64();
  reader.u64();
  const rdev = { major: reader.u32(), minor: reader.u32() };
  const fsid = reader.u64();
  const fileid = reader.u64();
  const atimeNs = time(reader);
  const mtimeNs = time(reader);
  const ctimeNs = time(reader);
  return { type, mode, nlink, uid, gid, size, fsid, fileid, atimeNs, mtimeNs, ctimeNs, rdev };
}

export function readPostOp(reader: XdrReader): Fattr3 | undefined {
  return reader.bool() ? readFattr3(reader) : undefined;
}

export function readWcc(reader: XdrReader): { before?: { size: bigint }; after?: Fattr3 } {
  const before = reader.bool() ? { size: reader.u64(), mtime: time(reader), ctime: time(reader) } : undefined;
  const after = readPostOp(reader);
  return { ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) };
}

/** sattr3 with the given fields set. */
export function writeSattr(
  writer: XdrWriter,
  attributes: { mode?: number; uid?: number; gid?: number; size?: bigint; mtimeNs?: bigint } = {},
): void {
  const optional = (value: number | undefined): void => {
    writer.bool(value !== undefined);
    if (value !== undefined) writer.u32(value);
  };
  optional(attributes.mode);
  optional(attributes.uid);
  optional(attributes.gid);
  writer.bool(attributes.size !== undefined);
  if (attributes.size !== undefined) writer.u64(attributes.size);
  writer.u32(0);
  if (attributes.mtimeNs === undefined) {
    writer.u32(0);
  } else {
    writer
      .u32(2)
      .u32(Number(attributes.mtimeNs / 1_000_000_000n))
      .u32(Number(attributes.mtimeNs % 1_000_000_000n));
  }
}

export class Nfs3Client {
  credential: AuthSys = root;

  private constructor(readonly rpc: OncRpcClient) {}

  static async connect(port: number, options: { localAddress?: string } = {}): Promise<Nfs3Client> {
    const rpc = await OncRpcClient.connect({ host: '127.0.0.1', port, timeoutMs: 20_000, ...options });
    return new Nfs3Client(rpc);
  }

  close(): void {
    this.rpc.close();
  }

  /** Calls an NFSv3 procedure; resolves with the status and a reader at the body. */
  async call(
    procedure: number,
    args: (writer: XdrWriter) => void,
  ): Promise<{ status: number; body: XdrReader }> {
    const reply = await this.rpc.call({
      program: 100003,
      version: 3,
      procedure,
      credential: this.credential,
      args,
    });
    if (reply.kind !== 'accepted' || reply.status !== 0) {
      throw new Error(`call ${procedure} not accepted: ${JSON.stringify({ ...reply, results: undefined })}`);
    }
    return { status: reply.results.u32(), body: reply.results };
  }

  async mount(path: string): Promise<{ status: number; handle?: Buffer }> {
    const reply = await this.rpc.call({
      program: 100005,
      version: 3,
      procedure: 1,
      credential: this.credential,
      args: (writer) => writer.string(path),
    });
    if (reply.kind !== 'accepted' || reply.status !== 0) throw new Error('MNT not accepted');
    const status = reply.results.u32();
    if (status !== 0) return { status };
    return { status, handle: Buffer.from(reply.results.opaque(64)) };
  }

  async getattr(handle: Buffer): Promise<{ status: number; attributes?: Fattr3 }> {
    const { status, body } = await this.call(1, (writer) => writer.opaque(handle));
    return status === 0 ? { status, attributes: readFattr3(body) } : { status };
  }

  async setattr(
    handle: Buffer,
    attributes: Parameters<typeof writeSattr>[1],
    guardCtimeNs?: bigint,
  ): Promise<{ status: number; after?: Fattr3 }> {
    const { status, body } = await this.call(2, (writer) => {
      writer.opaque(handle);
      writeSattr(writer, attributes);
      writer.bool(guardCtimeNs !== undefined);
      if (guardCtimeNs !== undefined) {
        writer.u32(Number(guardCtimeNs / 1_000_000_000n)).u32(Number(guardCtimeNs % 1_000_000_000n));
      }
    });
    const wcc = readWcc(body);
    return { status, ...(wcc.after === undefined ? {} : { after: wcc.after }) };
  }

  async lookup(
    dir: Buffer,
    name: string | Buffer,
  ): Promise<{ status: number; handle?: Buffer; attributes?: Fattr3 }> {
    const { status, body } = await this.call(3, (writer) => {
      writer.opaque(dir);
      writer.opaque(typeof name === 'string' ? Buffer.from(name) : name);
    });
    if (status !== 0) return { status };
    const handle = Buffer.from(body.opaque(64));
    const attributes = readPostOp(body);
    return { status, handle, ...(attributes === undefined ? {} : { attributes }) };
  }

  async access(handle: Buffer, bits: number): Promise<{ status: number; granted?: number }> {
    const { status, body } = await this.call(4, (writer) => writer.opaque(handle).u32(bits));
    readPostOp(body);
    return status === 0 ? { status, granted: body.u32() } : { status };
  }

  async readlink(handle: Buffer): Promise<{ status: number; target?: string }> {
    const { status, body } = await this.call(5, (writer) => writer.opaque(handle));
    readPostOp(body);
    return status === 0 ? { status, target: body.string(4096) } : { status };
  }

  async read(
    handle: Buffer,
    offset: bigint,
    count: number,
  ): Promise<{ status: number; data?: Buffer; eof?: boolean }> {
    const { status, body } = await this.call(6, (writer) => writer.opaque(handle).u64(offset).u32(count));
    readPostOp(body);
    if (status !== 0) return { status };
    body.u32();
    const eof = body.bool();
    return { status, eof, data: Buffer.from(body.opaque(1 << 21)) };
  }

  async write(
    handle: Buffer,
    offset: bigint,
    data: Buffer,
    stable = 0,
  ): Promise<{ status: number; count?: number; committed?: number; verifier?: Buffer; after?: Fattr3 }> {
    const { status, body } = await this.call(7, (writer) =>
      writer.opaque(handle).u64(offset).u32(data.length).u32(stable).opaque(data),
    );
    const wcc = readWcc(body);
    if (status !== 0) return { status };
    return {
      status,
      count: body.u32(),
      committed: body.u32(),
      verifier: Buffer.from(body.fixedOpaque(8)),
      ...(wcc.after === undefined ? {} : { after: wcc.after }),
    };
  }

  private async made(procedure: number, args: (writer: XdrWriter) => void) {
    const { status, body } = await this.call(procedure, args);
    if (status !== 0) {
      readWcc(body);
      return { status };
    }
    const handle = body.bool() ? Buffer.from(body.opaque(64)) : undefined;
    const attributes = readPostOp(body);
    const dir = readWcc(body);
    return { status, handle, attributes, dir };
  }

  create(
    dir: Buffer,
    name: string,
    how:
      | { mode: 'unchecked' | 'guarded'; attributes?: Parameters<typeof writeSattr>[1] }
      | { mode: 'exclusive'; verifier: Buffer },
  ) {
    return this.made(8, (writer) => {
      writer.opaque(dir).string(name);
      if (how.mode === 'exclusive') {
        writer.u32(2).fixedOpaque(how.verifier);
      } else {
        writer.u32(how.mode === 'unchecked' ? 0 : 1);
        writeSattr(writer, how.attributes ?? { mode: 0o644 });
      }
    });
  }

  mkdir(dir: Buffer, name: string, mode = 0o755) {
    return this.made(9, (writer) => {
      writer.opaque(dir).string(name);
      writeSattr(writer, { mode });
    });
  }

  symlink(dir: Buffer, name: string, target: string) {
    return this.made(10, (writer) => {
      writer.opaque(dir).string(name);
      writeSattr(writer, {});
      writer.string(target);
    });
  }

  mknod(dir: Buffer, name: string, type: number) {
    return this.made(11, (writer) => {
      writer.opaque(dir).string(name).u32(type);
      if (type === 6 || type === 7) writeSattr(writer, { mode: 0o644 });
      if (type === 3 || type === 4) {
        writeSattr(writer, { mode: 0o644 });
        writer.u32(1).u32(3);
      }
    });
  }

  async remove(dir: Buffer, name: string): Promise<number> {
    return (await this.call(12, (writer) => writer.opaque(dir).string(name))).status;
  }

  async rmdir(dir: Buffer, name: string): Promise<number> {
    return (await this.call(13, (writer) => writer.opaque(dir).string(name))).status;
  }

  async rename(fromDir: Buffer, fromName: string, toDir: Buffer, toName: string): Promise<number> {
    return (
      await this.call(14, (writer) => writer.opaque(fromDir).string(fromName).opaque(toDir).string(toName))
    ).status;
  }

  async link(file: Buffer, dir: Buffer, name: string): Promise<number> {
    return (await this.call(15, (writer) => writer.opaque(file).opaque(dir).string(name))).status;
  }

  /** READDIR (or READDIRPLUS) pages until eof; the names in order. */
  async list(
    dir: Buffer,
    options: { plus?: boolean; count?: number } = {},
  ): Promise<{ status: number; names: string[] }> {
    const names: string[] = [];
    let cookie = 0n;
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await this.readdirPage(dir, cookie, options);
      if (page.status !== 0) return { status: page.status, names };
      for (const entry of page.entries) names.push(entry.name);
      const last = page.entries[page.entries.length - 1];
      if (page.eof || last === undefined) return { status: 0, names };
      cookie = last.cookie;
    }
    throw new Error('a listing that never ends');
  }

  async readdirPage(
    dir: Buffer,
    cookie: bigint,
    options: { plus?: boolean; count?: number } = {},
  ): Promise<{
    status: number;
    entries: Array<{ name: string; cookie: bigint; fileid: bigint; handle?: Buffer }>;
    eof: boolean;
  }> {
    const plus = options.plus ?? false;
    const count = options.count ?? 8192;
    const { status, body } = await this.call(plus ? 17 : 16, (writer) => {
      writer.opaque(dir).u64(cookie).fixedOpaque(Buffer.alloc(8));
      if (plus) writer.u32(count).u32(count);
      else writer.u32(count);
    });
    readPostOp(body);
    if (status !== 0) return { status, entries: [], eof: false };
    body.fixedOpaque(8);
    const entries: Array<{ name: string; cookie: bigint; fileid: bigint; handle?: Buffer }> = [];
    while (body.bool()) {
      const fileid = body.u64();
      const name = body.string(1024);
      const entryCookie = body.u64();
      let handle: Buffer | undefined;
      if (plus) {
        readPostOp(body);
        if (body.bool()) handle = Buffer.from(body.opaque(64));
      }
      entries.push({ name, cookie: entryCookie, fileid, ...(handle === undefined ? {} : { handle }) });
    }
    return { status, entries, eof: body.bool() };
  }

  async fsstat(handle: Buffer): Promise<{ status: number; totalBytes?: bigint }> {
    const { status, body } = await this.call(18, (writer) => writer.opaque(handle));
    readPostOp(body);
    return status === 0 ? { status, totalBytes: body.u64() } : { status };
  }

  async fsinfo(handle: Buffer): Promise<{ status: number; readMax?: number; writeMax?: number }> {
    const { status, body } = await this.call(19, (writer) => writer.opaque(handle));
    readPostOp(body);
    if (status !== 0) return { status };
    const readMax = body.u32();
    body.u32();
    body.u32();
    return { status, readMax, writeMax: body.u32() };
  }

  async pathconf(handle: Buffer): Promise<{ status: number; nameMax?: number }> {
    const { status, body } = await this.call(20, (writer) => writer.opaque(handle));
    readPostOp(body);
    if (status !== 0) return { status };
    body.u32();
    return { status, nameMax: body.u32() };
  }

  async commit(handle: Buffer): Promise<{ status: number; verifier?: Buffer }> {
    const { status, body } = await this.call(21, (writer) => writer.opaque(handle).u64(0n).u32(0));
    readWcc(body);
    return status === 0 ? { status, verifier: Buffer.from(body.fixedOpaque(8)) } : { status };
  }
}
