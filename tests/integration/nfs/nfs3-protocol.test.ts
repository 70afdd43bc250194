// Proves the NFS gateway answers every NFSv3 and MOUNT procedure over a real socket with its success and its error statuses, squashes and refuses as its exports say, turns away addresses no export allows, survives garbage from one client while serving others, and keeps clients' handles working across a restart and across gateways while its write verifier changes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OncRpcClient } from '../../../src/nfs/rpc-client.js';
import { encodeRecord } from '../../../src/nfs/rpc-record.js';
import { fuseClusterSkipReason, startFuseCluster, type FuseCluster } from '../helpers/fuse-cluster.js';
import {
  startGateway,
  stopGateway,
  writeGatewayConfig,
  type RunningGateway,
  type TestExport,
} from '../helpers/nfs-gateway.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import { Nfs3Client, root, user } from './nfs3-client.js';

const skipReason = fuseClusterSkipReason('the NFSv3 protocol tests');

const S = {
  ok: 0,
  perm: 1,
  noent: 2,
  acces: 13,
  exist: 17,
  xdev: 18,
  notdir: 20,
  isdir: 21,
  inval: 22,
  rofs: 30,
  nametoolong: 63,
  notempty: 66,
  stale: 70,
  badhandle: 10001,
  notSync: 10002,
  badtype: 10007,
} as const;

const exportsUsed: TestExport[] = [
  { path: '/' },
  { path: '/ro', readOnly: true },
  { path: '/squashed', rootSquash: true, anonUid: 65534, anonGid: 65534 },
  { path: '/everyone', allSquash: true, anonUid: 1234, anonGid: 4321 },
  { path: '/elsewhere', clients: ['127.0.0.3/32'] },
];

describe.skipIf(skipReason !== undefined)('NFSv3 protocol', () => {
  const world = new TestWorld();
  let cluster: FuseCluster;
  let gateway: RunningGateway;
  let client: Nfs3Client;
  let rootHandle: Buffer;

  beforeAll(async () => {
    cluster = await startFuseCluster(world);
    for (const entry of ['ro', 'squashed', 'everyone', 'elsewhere']) {
      mkdirSync(join(cluster.mountPoint, entry));
      chmodSync(join(cluster.mountPoint, entry), 0o777);
    }
    gateway = await startGateway(cluster, writeGatewayConfig(cluster, { nodeId: 300, exports: exportsUsed }));
    client = await Nfs3Client.connect(gateway.port);
    const mounted = await client.mount('/');
    expect(mounted.status).toBe(S.ok);
    rootHandle = mounted.handle as Buffer;
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it('answers MNT for an export and the directories below it, and refuses what is not there', async () => {
    expect((await client.mount('')).status).toBe(S.ok);
    mkdirSync(join(cluster.mountPoint, 'below'), { recursive: true });
    expect((await client.mount('/below')).status).toBe(S.ok);
    expect((await client.mount('/missing')).status).toBe(S.noent);
    expect((await client.mount('/below/..')).status).toBe(S.inval);
    // NULL of both programs answers with nothing.
    for (const program of [100003, 100005]) {
      const reply = await client.rpc.call({ program, version: 3, procedure: 0 });
      expect(reply).toMatchObject({ kind: 'accepted', status: 0 });
    }
    // A version not served, a program not served, a procedure not served.
    expect(await client.rpc.call({ program: 100003, version: 2, procedure: 0 })).toMatchObject({ status: 2 });
    expect(await client.rpc.call({ program: 100099, version: 1, procedure: 0 })).toMatchObject({ status: 1 });
    expect(await client.rpc.call({ program: 100003, version: 3, procedure: 99 })).toMatchObject({
      status: 3,
    });
  });

  it('creates, writes, reads, renames, links and removes with the statuses of each failure', async () => {
    const dir = await client.mkdir(rootHandle, 'work');
    expect(dir.status).toBe(S.ok);
    expect(dir.dir?.before).toBeDefined();
    expect(dir.dir?.after).toBeDefined();
    const work = dir.handle as Buffer;
    expect((await client.mkdir(rootHandle, 'work')).status).toBe(S.exist);

    const created = await client.create(work, 'file', { mode: 'guarded', attributes: { mode: 0o640 } });
    expect(created.status).toBe(S.ok);
    expect(created.attributes?.mode).toBe(0o640);
    const file = created.handle as Buffer;
    expect((await client.create(work, 'file', { mode: 'guarded' })).status).toBe(S.exist);
    expect((await client.create(work, 'file', { mode: 'unchecked' })).status).toBe(S.ok);

    const data = randomBytes(300_000);
    const written = await client.write(file, 0n, data);
    expect(written).toMatchObject({ status: S.ok, count: data.length, committed: 0 });
    expect(written.after?.size).toBe(BigInt(data.length));
    const read = await client.read(file, 0n, 1 << 20);
    expect(read.status).toBe(S.ok);
    expect(read.eof).toBe(true);
    expect(Buffer.compare(read.data as Buffer, data)).toBe(0);
    const middle = await client.read(file, 1000n, 10);
    expect(middle.data).toEqual(data.subarray(1000, 1010));
    expect(middle.eof).toBe(false);
    const committed = await client.commit(file);
    expect(committed.status).toBe(S.ok);
    expect(committed.verifier).toEqual(written.verifier);
    const stable = await client.write(file, 0n, Buffer.from('stable'), 2);
    expect(stable).toMatchObject({ status: S.ok, committed: 2 });

    expect((await client.read(work, 0n, 10)).status).toBe(S.isdir);
    expect((await client.write(work, 0n, Buffer.from('x'))).status).toBe(S.isdir);
    expect((await client.lookup(work, 'missing')).status).toBe(S.noent);
    expect((await client.lookup(file, 'child')).status).toBe(S.notdir);
    expect((await client.lookup(work, '.')).handle).toEqual(work);
    expect((await client.lookup(work, '..')).handle).toEqual(rootHandle);
    expect((await client.lookup(rootHandle, '..')).handle).toEqual(rootHandle);
    expect((await client.lookup(work, 'a/b')).status).toBe(S.inval);
    expect((await client.lookup(work, 'x'.repeat(256))).status).toBe(S.nametoolong);
    expect((await client.lookup(work, Buffer.from([0xff, 0xfe]))).status).toBe(S.inval);

    const attributes = await client.getattr(file);
    expect(attributes.attributes?.size).toBe(BigInt(data.length));
    const truncated = await client.setattr(file, { size: 10n });
    expect(truncated).toMatchObject({ status: S.ok });
    expect(truncated.after?.size).toBe(10n);
    expect((await client.setattr(file, { mode: 0o600 }, 1n)).status).toBe(S.notSync);
    const guarded = await client.setattr(file, { mode: 0o600 }, truncated.after?.ctimeNs);
    expect(guarded.status).toBe(S.ok);
    expect(guarded.after?.mode).toBe(0o600);

    const link = await client.symlink(work, 'link', 'file');
    expect(link.status).toBe(S.ok);
    expect(await client.readlink(link.handle as Buffer)).toEqual({ status: S.ok, target: 'file' });
    expect((await client.readlink(file)).status).toBe(S.inval);
    expect((await client.mknod(work, 'pipe', 7)).status).toBe(S.ok);
    expect((await client.mknod(work, 'regular', 1)).status).toBe(S.badtype);

    expect(await client.link(file, work, 'hard')).toBe(S.ok);
    expect((await client.getattr(file)).attributes?.nlink).toBe(2);
    expect(await client.link(file, work, 'hard')).toBe(S.exist);
    expect(await client.rename(work, 'hard', work, 'moved')).toBe(S.ok);
    expect(await client.rename(work, 'hard', work, 'again')).toBe(S.noent);
    expect((await client.lookup(work, 'moved')).status).toBe(S.ok);

    expect(await client.rmdir(rootHandle, 'work')).toBe(S.notempty);
    expect(await client.rmdir(work, 'file')).toBe(S.notdir);
    const sub = await client.mkdir(work, 'sub');
    expect([S.isdir, S.perm]).toContain(await client.remove(work, 'sub'));
    expect(await client.rmdir(work, 'sub')).toBe(S.ok);
    expect((await client.getattr(sub.handle as Buffer)).status).toBe(S.stale);
    expect(await client.remove(work, 'moved')).toBe(S.ok);
    expect(await client.remove(work, 'file')).toBe(S.ok);
    expect(await client.remove(work, 'file')).toBe(S.noent);
    // The file is gone: its handle is stale for every procedure that names it.
    expect((await client.getattr(file)).status).toBe(S.stale);
    expect((await client.read(file, 0n, 10)).status).toBe(S.stale);
    expect((await client.write(file, 0n, Buffer.from('x'))).status).toBe(S.stale);
    expect((await client.setattr(file, { mode: 0o644 })).status).toBe(S.stale);
  });

  it('keeps a create with the same EXCLUSIVE verifier retry-safe and refuses another verifier', async () => {
    const verifier = randomBytes(8);
    const first = await client.create(rootHandle, 'exclusive', { mode: 'exclusive', verifier });
    expect(first.status).toBe(S.ok);
    const again = await client.create(rootHandle, 'exclusive', { mode: 'exclusive', verifier });
    expect(again.status).toBe(S.ok);
    expect(again.attributes?.fileid).toBe(first.attributes?.fileid);
    expect(
      (await client.create(rootHandle, 'exclusive', { mode: 'exclusive', verifier: randomBytes(8) })).status,
    ).toBe(S.exist);
  });

  it('lists large directories page by page with READDIR and READDIRPLUS, each name once', async () => {
    const dir = (await client.mkdir(rootHandle, 'many')).handle as Buffer;
    const expected = ['.', '..'];
    for (let index = 0; index < 300; index++) {
      const name = `entry-${String(index).padStart(4, '0')}`;
      expect((await client.create(dir, name, { mode: 'guarded' })).status).toBe(S.ok);
      expected.push(name);
    }
    for (const plus of [false, true]) {
      const listing = await client.list(dir, { plus, count: 1024 });
      expect(listing.status).toBe(S.ok);
      expect(listing.names).toEqual(expected);
    }
    const page = await client.readdirPage(dir, 0n, { plus: true, count: 4096 });
    expect(page.entries[2]?.handle).toBeDefined();
    expect((await client.lookup(dir, page.entries[2]?.name ?? '')).handle).toEqual(page.entries[2]?.handle);
    expect((await client.readdirPage(dir, 0n, { count: 20 })).status).toBe(10005);
    const file = (await client.lookup(dir, 'entry-0000')).handle as Buffer;
    expect((await client.readdirPage(file, 0n)).status).toBe(S.notdir);
  });

  it('answers many READs in flight on one connection each with its own bytes', async () => {
    // The gateway reads into reused buffers and takes each back once its reply is written: replies
    // queued behind each other on one socket must not share a buffer.
    const data = randomBytes(40 * 1024 * 1024);
    writeFileSync(join(cluster.mountPoint, 'in-flight'), data);
    const file = (await client.lookup(rootHandle, 'in-flight')).handle as Buffer;
    const mib = 1024 * 1024;
    for (let round = 0; round < 2; round += 1) {
      const replies = await Promise.all(
        Array.from({ length: data.length / mib }, (_, index) => client.read(file, BigInt(index * mib), mib)),
      );
      for (const [index, reply] of replies.entries()) {
        expect(reply.status).toBe(S.ok);
        expect(
          reply.data?.equals(data.subarray(index * mib, (index + 1) * mib)),
          `round ${round}, MiB ${index}`,
        ).toBe(true);
      }
    }
  });

  it('answers FSSTAT, FSINFO, PATHCONF and ACCESS', async () => {
    expect((await client.fsstat(rootHandle)).status).toBe(S.ok);
    expect(await client.fsinfo(rootHandle)).toEqual({ status: S.ok, readMax: 1 << 20, writeMax: 1 << 20 });
    expect(await client.pathconf(rootHandle)).toEqual({ status: S.ok, nameMax: 255 });
    expect(await client.access(rootHandle, 0x3f)).toEqual({ status: S.ok, granted: 0x1f });
  });

  it('checks permissions for the caller as meta does', async () => {
    const other = await Nfs3Client.connect(gateway.port);
    try {
      other.credential = user(1000);
      const dir = (await client.mkdir(rootHandle, 'private', 0o700)).handle as Buffer;
      expect((await other.create(dir, 'x', { mode: 'guarded' })).status).toBe(S.acces);
      expect((await other.lookup(dir, 'x')).status).toBe(S.acces);
      expect((await other.access(dir, 0x3f)).granted).toBe(0);
      const open = (await client.mkdir(rootHandle, 'open', 0o777)).handle as Buffer;
      const mine = await other.create(open, 'mine', { mode: 'guarded', attributes: { mode: 0o644 } });
      expect(mine.attributes?.uid).toBe(1000);
      expect((await other.setattr(mine.handle as Buffer, { uid: 0 })).status).toBe(S.perm);
    } finally {
      other.close();
    }
  });

  it('refuses file handles it did not make', async () => {
    const forged = Buffer.from(rootHandle);
    forged[10] = (forged[10] ?? 0) ^ 1;
    expect((await client.getattr(forged)).status).toBe(S.badhandle);
    expect((await client.getattr(rootHandle.subarray(0, 20))).status).toBe(S.badhandle);
    expect((await client.getattr(Buffer.alloc(0))).status).toBe(S.badhandle);
  });

  it('squashes root to the anonymous ids on a root_squash export, and everyone on all_squash', async () => {
    const squashed = (await client.mount('/squashed')).handle as Buffer;
    const made = await client.create(squashed, 'by-root', { mode: 'guarded' });
    expect(made.status).toBe(S.ok);
    expect(made.attributes).toMatchObject({ uid: 65534, gid: 65534 });
    const everyone = (await client.mount('/everyone')).handle as Buffer;
    const other = await Nfs3Client.connect(gateway.port);
    try {
      other.credential = user(1000, 1000);
      const made2 = await other.create(everyone, 'by-user', { mode: 'guarded' });
      expect(made2.attributes).toMatchObject({ uid: 1234, gid: 4321 });
    } finally {
      other.close();
    }
  });

  it('refuses every change on a read-only export and serves reads', async () => {
    const readOnly = (await client.mount('/ro')).handle as Buffer;
    expect((await client.getattr(readOnly)).status).toBe(S.ok);
    expect((await client.create(readOnly, 'x', { mode: 'guarded' })).status).toBe(S.rofs);
    expect((await client.mkdir(readOnly, 'x')).status).toBe(S.rofs);
    expect((await client.setattr(readOnly, { mode: 0o700 })).status).toBe(S.rofs);
    expect(await client.remove(readOnly, 'x')).toBe(S.rofs);
    expect((await client.access(readOnly, 0x3f)).granted).toBe(0x3);
    expect((await client.list(readOnly)).names).toEqual(['.', '..']);
    // A handle reached through the writable export still writes: the export is in the handle.
    const same = (await client.lookup(rootHandle, 'ro')).handle as Buffer;
    expect((await client.create(same, 'through-root', { mode: 'guarded' })).status).toBe(S.ok);
    expect((await client.lookup(readOnly, 'through-root')).status).toBe(S.ok);
  });

  it('refuses a client address no export allows, and exports to addresses they do not allow', async () => {
    await expect(
      (async () => {
        const stranger = await Nfs3Client.connect(gateway.port, { localAddress: '127.0.0.2' });
        try {
          await stranger.getattr(rootHandle);
        } finally {
          stranger.close();
        }
      })(),
    ).rejects.toThrow();
    expect(gateway.process.stderr()).toContain('refused a connection from an address no export allows');
    const third = await Nfs3Client.connect(gateway.port, { localAddress: '127.0.0.3' });
    let elsewhere: Buffer;
    try {
      expect((await third.mount('/')).status).toBe(S.acces);
      expect((await third.getattr(rootHandle)).status).toBe(S.acces);
      const mounted = await third.mount('/elsewhere');
      expect(mounted.status).toBe(S.ok);
      elsewhere = mounted.handle as Buffer;
      expect((await third.getattr(elsewhere)).status).toBe(S.ok);
    } finally {
      third.close();
    }
    // The handle names its export, which does not allow 127.0.0.1; the same directory reached
    // through the export of "/" (which does) has another handle.
    expect((await client.getattr(elsewhere)).status).toBe(S.acces);
    const throughRoot = await client.mount('/elsewhere');
    expect(throughRoot.status).toBe(S.ok);
    expect(throughRoot.handle).not.toEqual(elsewhere);
  });

  it('closes connections that send garbage with a log line and keeps serving the others', async () => {
    const malformed: Buffer[] = [
      // A record header announcing 2 GiB.
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      // A record too short for an RPC header.
      Buffer.concat(encodeRecord([Buffer.from([0, 0, 0, 1, 0, 0])])),
      // A reply where a call belongs.
      Buffer.concat(encodeRecord([Buffer.from([0, 0, 0, 1, 0, 0, 0, 1])])),
      // Endless empty fragments.
      Buffer.alloc(4 * 2000),
    ];
    // Random streams: closed, or waiting for bytes that never come; never a crash.
    const random = Array.from({ length: 20 }, () => randomBytes(1 + Math.floor(Math.random() * 4000)));
    const connections = await Promise.all(
      [...malformed, ...random].map(async (bytes) => {
        const bad = await OncRpcClient.connect({ host: '127.0.0.1', port: gateway.port, timeoutMs: 5_000 });
        bad.writeRaw(bytes);
        expect((await client.getattr(rootHandle)).status).toBe(S.ok);
        return bad;
      }),
    );
    for (const bad of connections.slice(0, malformed.length)) {
      await eventually(
        async () => (bad.closed ? true : undefined),
        5_000,
        'the gateway to close the connection',
      );
    }
    for (const bad of connections) bad.close();
    expect(gateway.process.stderr()).toContain('closing a connection that sent a malformed stream');
    // Arguments that do not decode are GARBAGE_ARGS; the connection stays.
    const garbage = await client.rpc.call({
      program: 100003,
      version: 3,
      procedure: 3,
      credential: root,
      args: (writer) => writer.u32(7),
    });
    expect(garbage).toMatchObject({ kind: 'accepted', status: 4 });
    expect((await client.getattr(rootHandle)).status).toBe(S.ok);
    expect(gateway.process.child.exitCode).toBeNull();
  });

  it('tells systemd it is ready, and stops cleanly on SIGTERM', async () => {
    const socketPath = join(cluster.dir, 'notify.sock');
    const listener = [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.bind(sys.argv[1])',
      'print("bound", flush=True)',
      's.settimeout(30)',
      'while True:',
      '    data = s.recv(4096).decode()',
      '    print(data, flush=True)',
      '    if "STOPPING=1" in data:',
      '        break',
    ].join('\n');
    const python = spawn('python3', ['-c', listener, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let received = '';
    const bound = new Promise<void>((resolve) =>
      python.stdout.on('data', (data: Buffer) => {
        received += data.toString();
        if (received.includes('bound')) resolve();
      }),
    );
    const done = new Promise<void>((resolve) => python.on('exit', () => resolve()));
    try {
      await bound;
      const notified = await startGateway(
        cluster,
        writeGatewayConfig(cluster, { nodeId: 302, exports: exportsUsed }),
        { NOTIFY_SOCKET: socketPath },
      );
      await notified.process.waitForLog((line) => line['msg'] === 'nfs gateway ready');
      expect(await stopGateway(notified)).toEqual({ code: 0, signal: null });
      await done;
      expect(received.indexOf('READY=1')).toBeGreaterThanOrEqual(0);
      expect(received.indexOf('READY=1')).toBeLessThan(received.indexOf('STOPPING=1'));
    } finally {
      python.kill('SIGKILL');
    }
  });

  it('keeps handles working across a restart and on another gateway, with a new write verifier', async () => {
    const file = (await client.create(rootHandle, 'restart', { mode: 'guarded' })).handle as Buffer;
    const before = await client.write(file, 0n, Buffer.from('before the restart'));
    expect(before.status).toBe(S.ok);
    // A second gateway of the same cluster reads the first one's handles.
    const second = await startGateway(
      cluster,
      writeGatewayConfig(cluster, { nodeId: 301, exports: exportsUsed }),
    );
    const secondClient = await Nfs3Client.connect(second.port);
    try {
      expect((await secondClient.getattr(file)).status).toBe(S.ok);
      expect((await secondClient.lookup(rootHandle, 'restart')).handle).toEqual(file);
    } finally {
      secondClient.close();
      expect((await stopGateway(second)).code).toBe(0);
    }
    client.close();
    const exit = await stopGateway(gateway, 'SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    gateway = await startGateway(
      cluster,
      writeGatewayConfig(cluster, { nodeId: 300, port: gateway.port, exports: exportsUsed }),
    );
    client = await Nfs3Client.connect(gateway.port);
    expect((await client.getattr(file)).status).toBe(S.ok);
    const commit = await client.commit(file);
    expect(commit.status).toBe(S.ok);
    // The verifier changed: a client resends what it wrote UNSTABLE before, then commits again.
    expect(commit.verifier).not.toEqual(before.verifier);
    const resent = await client.write(file, 0n, Buffer.from('before the restart'));
    expect(resent.verifier).toEqual(commit.verifier);
    expect((await client.commit(file)).verifier).toEqual(resent.verifier);
    expect((await client.read(file, 0n, 100)).data?.toString()).toBe('before the restart');
  });
});
