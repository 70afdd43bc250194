// Proves the NFS gateway answers NFSv4.0 COMPOUNDs over a real socket: client ids and stateids that any gateway and a restarted one accept, the pseudo file system of a client's exports, OPEN/WRITE/COMMIT/CLOSE/READ of 64 MiB, every namespace operation with its error statuses, squashing and read-only exports, and a write verifier that changes across a restart.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XdrWriter } from '../../../src/nfs/xdr.js';
import { fuseClusterSkipReason, startFuseCluster, type FuseCluster } from '../helpers/fuse-cluster.js';
import {
  startGateway,
  stopGateway,
  writeGatewayConfig,
  type RunningGateway,
  type TestExport,
} from '../helpers/nfs-gateway.js';
import { TestWorld } from '../helpers/processes.js';
import { user } from './nfs3-client.js';
import { Nfs4Client, anonymousStateId, ops, type Attributes4, type StateId } from './nfs4-client.js';

const skipReason = fuseClusterSkipReason('the NFSv4 protocol tests');

const S = {
  ok: 0,
  noent: 2,
  acces: 13,
  exist: 17,
  notdir: 20,
  isdir: 21,
  inval: 22,
  rofs: 30,
  notempty: 66,
  stale: 70,
  badhandle: 10001,
  notsupp: 10004,
  badtype: 10007,
  nofilehandle: 10020,
  minorVersMismatch: 10021,
  staleClientId: 10022,
  badStateId: 10025,
  notSame: 10027,
  symlink: 10029,
  restorefh: 10030,
  attrNotSupp: 10032,
  badname: 10041,
  opIllegal: 10044,
} as const;

const exportsUsed: TestExport[] = [
  { path: '/' },
  { path: '/ro', readOnly: true },
  { path: '/squashed', rootSquash: true },
  { path: '/deep/er/export', clients: ['127.0.0.3/32'] },
];

describe.skipIf(skipReason !== undefined)('NFSv4 protocol', () => {
  const world = new TestWorld();
  let cluster: FuseCluster;
  let gateway: RunningGateway;
  let client: Nfs4Client;
  let clientId: bigint;
  let rootHandle: Buffer;

  beforeAll(async () => {
    cluster = await startFuseCluster(world);
    for (const entry of ['ro', 'squashed', 'deep/er/export']) {
      mkdirSync(join(cluster.mountPoint, entry), { recursive: true });
      chmodSync(join(cluster.mountPoint, entry), 0o777);
    }
    gateway = await startGateway(cluster, writeGatewayConfig(cluster, { nodeId: 310, exports: exportsUsed }));
    client = await Nfs4Client.connect(gateway.port);
    clientId = await client.establish();
    rootHandle = await client.ok<Buffer>([ops.putrootfh(), ops.getfh()]);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it('confirms and renews client ids it made, and refuses made-up ones', async () => {
    expect(await client.status([ops.renew(clientId)])).toBe(S.ok);
    expect(await client.status([ops.renew(12345n)])).toBe(S.staleClientId);
    const { clientId: other } = await client.ok<{ clientId: bigint }>([ops.setclientid('x', randomBytes(8))]);
    expect(await client.status([ops.setclientidConfirm(other, Buffer.alloc(8))])).toBe(S.staleClientId);
    expect((await client.compound([ops.putrootfh()], 1)).status).toBe(S.minorVersMismatch);
    const illegal = await client.compound([ops.putrootfh(), ops.raw(77), ops.getfh()]);
    expect(illegal.status).toBe(S.opIllegal);
    expect(illegal.results.map((result) => result.op)).toEqual([24, 10044]);
    expect(await client.status([ops.getfh()])).toBe(S.nofilehandle);
    expect(await client.status([ops.putrootfh(), ops.restorefh()])).toBe(S.restorefh);
    expect(await client.ok<number[]>([ops.putrootfh(), ops.secinfo('ro')])).toEqual([1]);
  });

  it('writes 64 MiB through OPEN, WRITE, COMMIT and CLOSE and reads the same bytes back', async () => {
    const data = randomBytes(64 * 1024 * 1024);
    const [, , opened, handle] = (
      await client.compound([
        ops.putfh(rootHandle),
        ops.mkdir('big'),
        ops.open(clientId, 'file', { create: 'unchecked', mode: 0o600, write: true }),
        ops.getfh(),
      ])
    ).results.map((result) => result.value);
    const stateId = opened as StateId;
    const file = handle as Buffer;
    let verifier: Buffer | undefined;
    for (let offset = 0; offset < data.length; offset += 1024 * 1024) {
      const written = await client.ok<{ count: number; verifier: Buffer }>([
        ops.putfh(file),
        ops.write(stateId, BigInt(offset), data.subarray(offset, offset + 1024 * 1024)),
      ]);
      expect(written.count).toBe(1024 * 1024);
      verifier ??= written.verifier;
    }
    expect(await client.ok<Buffer>([ops.putfh(file), ops.commit()])).toEqual(verifier);
    const closed = await client.ok<StateId>([ops.putfh(file), ops.close(stateId)]);
    expect(closed.seqid).toBe(stateId.seqid + 1);
    const attributes = await client.ok<Attributes4>([ops.putfh(file), ops.getattr()]);
    expect(attributes).toMatchObject({ type: 1, size: BigInt(data.length), mode: 0o600, owner: '0' });
    const hash = createHash('sha256');
    let eof = false;
    for (let offset = 0; !eof; offset += 1024 * 1024) {
      const read = await client.ok<{ eof: boolean; data: Buffer }>([
        ops.putfh(file),
        ops.read(anonymousStateId, BigInt(offset), 1024 * 1024),
      ]);
      hash.update(read.data);
      eof = read.eof;
    }
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // A stateid names its file: another file's is refused.
    const other = await client.ok<StateId>([
      ops.putfh(rootHandle),
      ops.open(clientId, 'other', { create: 'unchecked', write: true }),
    ]);
    expect(await client.status([ops.putfh(file), ops.read(other, 0n, 10)])).toBe(S.badStateId);
  });

  it('creates, lists, renames, links and removes with the statuses of each failure', async () => {
    const dir = await client.ok<Buffer>([ops.putfh(rootHandle), ops.mkdir('ns'), ops.getfh()]);
    expect(await client.status([ops.putfh(rootHandle), ops.mkdir('ns')])).toBe(S.exist);
    await client.ok([
      ops.putfh(dir),
      ops.open(clientId, 'f', { create: 'guarded', mode: 0o644, write: true }),
    ]);
    expect(await client.status([ops.putfh(dir), ops.open(clientId, 'f', { create: 'guarded' })])).toBe(
      S.exist,
    );
    expect(await client.status([ops.putfh(dir), ops.open(clientId, 'missing')])).toBe(S.noent);
    expect(await client.status([ops.putfh(rootHandle), ops.open(clientId, 'ns')])).toBe(S.isdir);
    expect(await client.status([ops.putfh(dir), ops.lookup('missing')])).toBe(S.noent);
    expect(await client.status([ops.putfh(dir), ops.lookup('.')])).toBe(S.badname);
    expect(await client.status([ops.putfh(dir), ops.lookup('f'), ops.lookup('x')])).toBe(S.notdir);
    expect(await client.status([ops.putfh(dir), ops.read(anonymousStateId, 0n, 10)])).toBe(S.isdir);
    expect(await client.status([ops.putfh(dir), ops.lookup('f'), ops.readlink()])).toBe(S.inval);
    expect(await client.status([ops.putfh(dir), ops.createType(1, 'regular')])).toBe(S.badtype);
    expect(await client.status([ops.putfh(dir), ops.lookup('f'), ops.lock()])).toBe(S.notsupp);

    await client.ok([ops.putfh(dir), ops.symlink('link', 'f')]);
    expect(await client.ok<string>([ops.putfh(dir), ops.lookup('link'), ops.readlink()])).toBe('f');
    expect(await client.status([ops.putfh(dir), ops.open(clientId, 'link')])).toBe(S.symlink);
    await client.ok([ops.putfh(dir), ops.createType(7, 'fifo')]);
    await client.ok([ops.putfh(dir), ops.lookup('f'), ops.savefh(), ops.putfh(dir), ops.link('hard')]);
    expect((await client.ok<Attributes4>([ops.putfh(dir), ops.lookup('f'), ops.getattr()])).numlinks).toBe(2);
    await client.ok([ops.putfh(dir), ops.savefh(), ops.rename('hard', 'moved')]);
    expect(await client.status([ops.putfh(dir), ops.savefh(), ops.rename('hard', 'again')])).toBe(S.noent);
    const listing = await client.ok<{ entries: Array<{ name: string }>; eof: boolean }>([
      ops.putfh(dir),
      ops.readdir(0n),
    ]);
    expect(listing.entries.map((entry) => entry.name)).toEqual(['f', 'fifo', 'link', 'moved']);
    expect(listing.eof).toBe(true);

    expect(await client.status([ops.putfh(rootHandle), ops.remove('ns')])).toBe(S.notempty);
    const fileHandle = await client.ok<Buffer>([ops.putfh(dir), ops.lookup('f'), ops.getfh()]);
    for (const name of ['f', 'fifo', 'link', 'moved']) await client.ok([ops.putfh(dir), ops.remove(name)]);
    expect(await client.status([ops.putfh(dir), ops.remove('f')])).toBe(S.noent);
    expect(await client.status([ops.putfh(fileHandle), ops.getattr()])).toBe(S.stale);
    await client.ok([ops.putfh(rootHandle), ops.remove('ns')]);
    expect(await client.status([ops.putfh(dir), ops.getattr()])).toBe(S.stale);

    const forged = Buffer.from(rootHandle);
    forged[8] = (forged[8] ?? 0) ^ 1;
    expect(await client.status([ops.putfh(forged)])).toBe(S.badhandle);
    // SETATTR of an attribute the gateway does not keep (ACL), and VERIFY of a wrong size.
    expect(await client.status([ops.putfh(rootHandle), ops.setattrBits([12], Buffer.alloc(4))])).toBe(
      S.attrNotSupp,
    );
    const wrongSize = new XdrWriter(16).u64(12345n).toBuffer();
    expect(await client.status([ops.putfh(rootHandle), ops.verify([4], wrongSize)])).toBe(S.notSame);
  });

  it('pages through a large directory with READDIR cookies', async () => {
    const dir = await client.ok<Buffer>([ops.putfh(rootHandle), ops.mkdir('many'), ops.getfh()]);
    const expected: string[] = [];
    for (let index = 0; index < 200; index++) {
      const name = `entry-${String(index).padStart(4, '0')}`;
      await client.ok([ops.putfh(dir), ops.open(clientId, name, { create: 'guarded' })]);
      expected.push(name);
    }
    const names: string[] = [];
    let cookie = 0n;
    for (;;) {
      const page = await client.ok<{ entries: Array<{ name: string; cookie: bigint }>; eof: boolean }>([
        ops.putfh(dir),
        ops.readdir(cookie, 1024),
      ]);
      names.push(...page.entries.map((entry) => entry.name));
      if (page.eof) break;
      cookie = page.entries[page.entries.length - 1]?.cookie ?? 0n;
    }
    expect(names).toEqual(expected);
  });

  it('shows a client only the paths to its exports in the pseudo file system', async () => {
    const third = await Nfs4Client.connect(gateway.port, { localAddress: '127.0.0.3' });
    try {
      const root = await third.ok<{ entries: Array<{ name: string }> }>([ops.putrootfh(), ops.readdir(0n)]);
      expect(root.entries.map((entry) => entry.name)).toEqual(['deep']);
      expect(await third.status([ops.putrootfh(), ops.lookup('ro')])).toBe(S.noent);
      expect(await third.status([ops.putrootfh(), ops.mkdir('x')])).toBe(S.rofs);
      const pseudo = await third.ok<Attributes4>([ops.putrootfh(), ops.lookup('deep'), ops.getattr()]);
      const exported = await third.ok<Attributes4>([
        ops.putrootfh(),
        ops.lookup('deep'),
        ops.lookup('er'),
        ops.lookup('export'),
        ops.getattr(),
      ]);
      expect(exported.type).toBe(2);
      expect(exported.fsidMinor).not.toBe(pseudo.fsidMinor);
      const inside = await third.ok<Buffer>([
        ops.putrootfh(),
        ops.lookup('deep'),
        ops.lookup('er'),
        ops.lookup('export'),
        ops.mkdir('made'),
        ops.lookupp(),
        ops.lookupp(),
        ops.getfh(),
      ]);
      const er = await third.ok<Buffer>([ops.putrootfh(), ops.lookup('deep'), ops.lookup('er'), ops.getfh()]);
      expect(inside).toEqual(er);
      // The export does not allow 127.0.0.1, whatever handle it holds.
      const exportHandle = await third.ok<Buffer>([
        ops.putrootfh(),
        ops.lookup('deep'),
        ops.lookup('er'),
        ops.lookup('export'),
        ops.getfh(),
      ]);
      expect(await client.status([ops.putfh(exportHandle)])).toBe(S.acces);
    } finally {
      third.close();
    }
  });

  it('refuses changes on a read-only export, squashes root where asked, and checks callers', async () => {
    const readOnly = await client.ok<Buffer>([ops.putrootfh(), ops.lookup('ro'), ops.getfh()]);
    expect(
      await client.status([
        ops.putfh(readOnly),
        ops.open(clientId, 'x', { create: 'unchecked', write: true }),
      ]),
    ).toBe(S.rofs);
    expect(await client.status([ops.putfh(readOnly), ops.mkdir('x')])).toBe(S.rofs);
    expect((await client.ok<{ granted: number }>([ops.putfh(readOnly), ops.access(0x3f)])).granted).toBe(0x3);
    // The read-only export was entered from the export of "/"; its parent is that export's root.
    expect(await client.ok<Buffer>([ops.putfh(readOnly), ops.lookupp(), ops.getfh()])).toEqual(rootHandle);

    const squashed = await client.ok<Buffer>([ops.putrootfh(), ops.lookup('squashed'), ops.getfh()]);
    await client.ok([ops.putfh(squashed), ops.open(clientId, 'by-root', { create: 'guarded' })]);
    const made = await client.ok<Attributes4>([ops.putfh(squashed), ops.lookup('by-root'), ops.getattr()]);
    expect(made.owner).toBe('65534');

    const other = await Nfs4Client.connect(gateway.port);
    try {
      other.credential = user(1000);
      const privateDir = await client.ok<Buffer>([
        ops.putfh(rootHandle),
        ops.mkdir('private4', 0o700),
        ops.getfh(),
      ]);
      expect(await other.status([ops.putfh(privateDir), ops.lookup('x')])).toBe(S.acces);
      expect(
        await other.status([ops.putfh(privateDir), ops.open(clientId, 'x', { create: 'guarded' })]),
      ).toBe(S.acces);
    } finally {
      other.close();
    }
  });

  it('keeps handles and stateids working across a restart, with a new write verifier', async () => {
    const opened = await client.compound([
      ops.putfh(rootHandle),
      ops.open(clientId, 'restart4', { create: 'unchecked', write: true }),
      ops.getfh(),
    ]);
    const stateId = opened.results[1]?.value as StateId;
    const file = opened.results[2]?.value as Buffer;
    const before = await client.ok<{ verifier: Buffer }>([
      ops.putfh(file),
      ops.write(stateId, 0n, Buffer.from('v4 data')),
    ]);
    client.close();
    await stopGateway(gateway, 'SIGKILL');
    gateway = await startGateway(
      cluster,
      writeGatewayConfig(cluster, { nodeId: 310, port: gateway.port, exports: exportsUsed }),
    );
    client = await Nfs4Client.connect(gateway.port);
    expect(await client.status([ops.renew(clientId)])).toBe(S.ok);
    const commit = await client.ok<Buffer>([ops.putfh(file), ops.commit()]);
    expect(commit).not.toEqual(before.verifier);
    await client.ok([ops.putfh(file), ops.write(stateId, 0n, Buffer.from('v4 data'))]);
    await client.ok([ops.putfh(file), ops.commit()]);
    await client.ok([ops.putfh(file), ops.close(stateId)]);
    const read = await client.ok<{ data: Buffer }>([ops.putfh(file), ops.read(stateId, 0n, 100)]);
    expect(read.data.toString()).toBe('v4 data');
  });
});
