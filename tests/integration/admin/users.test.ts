// Proves users and tokens on a running cluster: `admin user-add` prints a token; a client holding
// only a user's token acts as that user whatever uid it claims (it cannot read, write or chmod
// another user's 0600 file by forging uid 0), cannot call admin or node-only methods, and heartbeats
// only as a client; a removed user's token stops working within the reload bound on open
// connections too, storage read channels included; a rotated-out token works through its grace
// period and then stops; a FUSE daemon with an untrusted token creates files as its user, one with
// a trusted token as the caller.
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsClient } from '../../../src/client/index.js';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode, MetaCode, MgmtdCode, RpcCode } from '../../../src/common/status-code.js';
import { mgmtdMethods } from '../../../src/mgmtd/protocol/index.js';
import { RpcClient, parseToken } from '../../../src/rpc/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import {
  fuseClusterSkipReason,
  isRoot,
  startFuseCluster,
  type FuseCluster,
} from '../helpers/fuse-cluster.js';
import { TestWorld } from '../helpers/processes.js';
import { RawClient } from '../helpers/raw-rpc-client.js';

const skipReason = fuseClusterSkipReason('user and token tests');

async function failure(promise: Promise<unknown>): Promise<FsError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FsError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe.skipIf(skipReason !== undefined)('users and tokens', () => {
  let world: TestWorld;
  let cluster: FuseCluster;
  const clients: FsClient[] = [];

  async function admin(
    args: string[],
    tokenFile?: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const auth =
      tokenFile === undefined ? ['--secret-file', cluster.secretFile] : ['--token-file', tokenFile];
    return world.runBinary('admin', ['--mgmtd', cluster.mgmtdAddress, ...auth, ...args]);
  }

  /** Adds a user and returns its token's file. */
  async function addUser(name: string, flags: string[]): Promise<string> {
    const added = await admin(['user-add', name, ...flags]);
    expect(added.code, added.stderr).toBe(0);
    return tokenFile(name, added.stdout);
  }

  function tokenFile(name: string, text: string): string {
    const path = join(cluster.dir, `${name}-${clients.length}-${Date.now()}.token`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  async function connectAs(token: string, credentials?: { uid: number; gid: number; groups: number[] }) {
    const client = await FsClient.connect({
      mgmtdAddresses: [cluster.mgmtdAddress],
      token,
      logger: silentLogger(),
      ...(credentials === undefined ? {} : { credentials }),
    });
    clients.push(client);
    return client;
  }

  function tokenOf(path: string): string {
    return spawnSync('cat', [path], { encoding: 'utf8' }).stdout.trim();
  }

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world);
    const root = await cluster.client();
    await root.mkdir('/shared', { mode: 0o777 });
    await root.chmod('/shared', 0o1777);
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it('acts as the token user whatever uid the client claims', async () => {
    const alice = tokenOf(await addUser('alice', ['--uid', '1000', '--gid', '1000']));
    const bob = tokenOf(await addUser('bob', ['--uid', '1001', '--gid', '1001']));
    const bobClient = await connectAs(bob);
    expect(bobClient.credentials).toEqual({ uid: 1001, gid: 1001, groups: [] });
    await bobClient.writeFile('/shared/bob-private', Buffer.from('only bob'), { mode: 0o600 });
    await bobClient.writeFile('/shared/bob-public', Buffer.from('anyone'), { mode: 0o644 });
    expect((await bobClient.stat('/shared/bob-private')).uid).toBe(1001);

    // Alice claims to be root in every request: the cluster takes her for uid 1000 all the same.
    const forged = await connectAs(alice, { uid: 0, gid: 0, groups: [0] });
    expect((await forged.readFile('/shared/bob-public')).toString()).toBe('anyone');
    expect((await failure(forged.readFile('/shared/bob-private'))).code).toBe(MetaCode.PermissionDenied);
    expect((await failure(forged.writeFile('/shared/bob-private', Buffer.from('overwritten')))).code).toBe(
      MetaCode.PermissionDenied,
    );
    expect((await failure(forged.chmod('/shared/bob-private', 0o666))).code).toBe(MetaCode.NotPermitted);
    // The sticky bit keeps others' files, which only their owner (or root) may remove.
    expect((await failure(forged.unlink('/shared/bob-public'))).code).toBe(MetaCode.NotPermitted);
    await forged.writeFile('/shared/alice-file', Buffer.from('mine'));
    const file = await forged.open('/shared/alice-file', { write: true });
    await file.write(4n, Buffer.from(' and synced'));
    await file.fsync();
    await file.close();
    expect((await forged.stat('/shared/alice-file')).uid).toBe(1000);
    expect((await bobClient.readFile('/shared/bob-private')).toString()).toBe('only bob');
  }, 60_000);

  it('keeps admin and node-only methods from user tokens', async () => {
    const carol = await addUser('carol', ['--uid', '1002', '--gid', '1002']);
    const ops = await addUser('ops', ['--uid', '0', '--gid', '0', '--admin']);
    const refused = await admin(['user-list'], carol);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/may not call it \(admin tokens only\)/);
    const listed = await admin(['--json', 'user-list'], ops);
    expect(listed.code, listed.stderr).toBe(0);
    const names = (JSON.parse(listed.stdout) as Array<{ name: string; tokens: object[] }>).map(
      (user) => user.name,
    );
    expect(names).toEqual(expect.arrayContaining(['alice', 'bob', 'carol', 'ops']));
    expect(listed.stdout).not.toMatch(/"key"/);
    // Commands that act on the namespace as root work with an admin token of uid 0, whoever runs them.
    const key = await admin(['s3-key-add', 'carol'], ops);
    expect(key.code, key.stderr).toBe(0);
    expect((await admin(['s3-key-add', 'carol'], carol)).code).toBe(1);

    const rpc = new RpcClient({
      clusterSecret: '',
      token: parseToken(tokenOf(carol), 'carol'),
      logger: silentLogger(),
    });
    try {
      // The users table with the tokens' keys goes to nodes only.
      const table = await failure(
        rpc.call(cluster.mgmtdAddress, mgmtdMethods.tokenTable, { knownVersion: 0 }),
      );
      expect(table.code).toBe(RpcCode.AuthFailed);
      // A user heartbeats as a client, never as a storage node.
      const heartbeat = await failure(
        rpc.call(cluster.mgmtdAddress, mgmtdMethods.heartbeat, {
          clusterId: 'test',
          node: { nodeId: 9_999, type: 'storage', address: '127.0.0.1:1', hostname: 'x', tags: [] },
          targets: [],
        }),
      );
      expect(heartbeat.code).toBe(MgmtdCode.HeartbeatRejected);
      // Storage: chunk reads are open to users, inspection and replication are not.
      const routing = await (await cluster.client()).routing.ready();
      const storageAddress = routing.nodes.find((node) => node.type === 'storage')?.address;
      expect(storageAddress).toBeDefined();
      const dump = await failure(rpc.call(storageAddress ?? '', storageMethods.listTargets, {}));
      expect(dump.code).toBe(RpcCode.AuthFailed);
    } finally {
      await rpc.close();
    }
  }, 60_000);

  it('stops a removed user within the reload bound, on open connections too', async () => {
    const dave = tokenOf(await addUser('dave', ['--uid', '1003', '--gid', '1003']));
    const client = await connectAs(dave);
    await client.writeFile('/shared/dave', Buffer.from('before'));
    const removed = await admin(['user-remove', 'dave']);
    expect(removed.code, removed.stderr).toBe(0);
    const removedAt = Date.now();
    let refusedAfterMs: number | undefined;
    while (Date.now() - removedAt < 20_000) {
      try {
        await client.stat('/shared/dave');
      } catch (error) {
        expect((error as FsError).code).toBe(RpcCode.AuthFailed);
        refusedAfterMs = Date.now() - removedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(refusedAfterMs).toBeDefined();
    // The documented bound: two reload periods (the meta service's and the storage service's are
    // independent), with room for a loaded machine.
    const boundMs = 2 * limits.userTokenRefreshMs + 5_000;
    expect(refusedAfterMs).toBeLessThan(boundMs);
    // A new connection is refused too (by mgmtd, whose copy reloads on its own schedule).
    let again: FsError | undefined;
    while (again === undefined && Date.now() - removedAt < boundMs) {
      again = await connectAs(dave).then(
        () => undefined,
        (error: unknown) => error as FsError,
      );
      if (again === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(again?.code).toBe(RpcCode.AuthFailed);
  }, 60_000);

  it('keeps a rotated-out token working through its grace period, then stops it', async () => {
    const erin = await addUser('erin', ['--uid', '1004', '--gid', '1004']);
    const old = tokenOf(erin);
    const oldClient = await connectAs(old);
    await oldClient.writeFile('/shared/erin', Buffer.from('one'));
    const rotated = await admin(['user-set-token', 'erin', '--grace', '4s']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const rotatedAt = Date.now();
    const fresh = await connectAs(rotated.stdout.trim());
    expect((await fresh.readFile('/shared/erin')).toString()).toBe('one');
    // Within the grace period the old token works, on its connection and on a new one.
    await oldClient.writeFile('/shared/erin', Buffer.from('two'));
    const reconnected = await connectAs(old);
    expect((await reconnected.readFile('/shared/erin')).toString()).toBe('two');
    expect(Date.now() - rotatedAt).toBeLessThan(4_000);
    // After it, the old token is refused and the new one goes on.
    await new Promise((resolve) => setTimeout(resolve, 4_500 - (Date.now() - rotatedAt)));
    expect((await failure(oldClient.readFile('/shared/erin'))).code).toBe(RpcCode.AuthFailed);
    expect((await failure(connectAs(old))).code).toBe(RpcCode.AuthFailed);
    expect((await fresh.readFile('/shared/erin')).toString()).toBe('two');
  }, 60_000);

  it("closes a storage read channel opened with a removed user's token within the reload bound", async () => {
    const token = parseToken(tokenOf(await addUser('gina', ['--uid', '1006', '--gid', '1006'])), 'gina');
    const routing = await (await cluster.client()).routing.ready();
    const storage = routing.nodes.find((node) => node.type === 'storage');
    const targetId = routing.chains[0]?.targets[0]?.targetId ?? 0;
    const channel = await RawClient.open(storage?.address ?? '', { token });
    try {
      const opened = await channel.call(storageMethods.openReadChannel, {});
      expect(opened?.header.status, JSON.stringify(opened?.body)).toBe(0);
      // Answered by the read server: the JavaScript handler would serve a relaxed read.
      const relaxed = await channel.call(storageMethods.read, {
        targetId,
        chunkId: { inode: 1n << 40n, index: 0 },
        offset: 0,
        length: 8,
        relaxed: true,
      });
      expect(relaxed?.header.status).toBe(CommonCode.InvalidArgument);
      const removed = await admin(['user-remove', 'gina']);
      expect(removed.code, removed.stderr).toBe(0);
      expect(await channel.closedWithin(2 * limits.userTokenRefreshMs + 5_000)).toBe(true);
    } finally {
      channel.close();
    }
  }, 60_000);

  it('mounts with a token: an untrusted one creates as its user, a trusted one as the caller', async () => {
    const plain = await addUser('frank', ['--uid', '1005', '--gid', '1005']);
    const trusted = await addUser('fuse-host', ['--uid', '0', '--gid', '0', '--trusted']);
    const asFrank = await cluster.mountAnother('', { tokenFile: plain });
    writeFileSync(join(asFrank, 'shared', 'made-by-root-as-frank'), 'x');
    // fsync reaches storage with the token too.
    const synced = spawnSync(
      'python3',
      [
        '-c',
        'import os,sys; f=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT); os.write(f, b"synced"); os.fsync(f)',
        join(asFrank, 'shared', 'synced-as-frank'),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(synced.status, synced.stderr).toBe(0);
    expect(statSync(join(asFrank, 'shared', 'made-by-root-as-frank')).uid).toBe(1005);
    // The trusted daemon holds no cluster secret at all: a host that only mounts needs none.
    const asCaller = await cluster.mountAnother('', { tokenFile: trusted, withoutSecret: true });
    if (isRoot) {
      const made = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          'touch',
          join(asCaller, 'shared', 'made-by-nobody'),
        ],
        { encoding: 'utf8', timeout: 10_000 },
      );
      expect(made.status, made.stderr).toBe(0);
      expect(statSync(join(asCaller, 'shared', 'made-by-nobody')).uid).toBe(65534);
    }
    writeFileSync(join(asCaller, 'shared', 'made-by-me'), 'y');
    expect(statSync(join(asCaller, 'shared', 'made-by-me')).uid).toBe(process.geteuid?.() ?? 0);
  }, 90_000);
});
