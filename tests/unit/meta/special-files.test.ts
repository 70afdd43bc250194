// Proves that FIFOs, sockets and device nodes live in the namespace like any other inode: mknod with its rules (device numbers on devices only, devices by root only, bad input refused), link, rename and unlink of them, their records, and truncate through a writer's session after the file lost its write bit.
import { encode } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeRecord } from '../../../src/common/record-codec.js';
import { MetaCode, RpcCode } from '../../../src/common/status-code.js';
import {
  metaMethods as m,
  type Credentials,
  type Inode,
  type RequestOf,
} from '../../../src/meta/protocol/index.js';
import { inodeRecordSchema } from '../../../src/meta/store/records.js';
import {
  alice,
  bob,
  expectCode,
  expectConsistent,
  fsOf,
  openHarness,
  root,
  type Harness,
} from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

const mknod = async (request: RequestOf<typeof m.mknod>): Promise<Inode> =>
  (await harness.call(m.mknod, request)).inode;
const fifo = (path: string, cred: Credentials = root, mode = 0o644) =>
  mknod({ cred, at: { path }, type: 'fifo', mode });

describe('mknod', () => {
  it('makes FIFOs and sockets owned by the caller, listed with their types', async () => {
    await fs.mkdir('/pub', root, 0o777);
    const made = await fifo('/pub/pipe', alice, 0o640);
    expect(made).toMatchObject({ type: 'fifo', uid: alice.uid, gid: alice.gid, mode: 0o640, nlink: 1 });
    expect('device' in made).toBe(false);
    const socket = await mknod({ cred: bob, at: { path: '/pub/sock' }, type: 'socket', mode: 0o755 });
    expect(socket).toMatchObject({ type: 'socket', uid: bob.uid });
    expect(await fs.lstat('/pub/pipe')).toEqual(made);
    const { entries } = await harness.call(m.readDir, { cred: root, at: { path: '/pub' }, limit: 10 });
    expect(entries.map((entry) => [entry.name, entry.type])).toEqual([
      ['pipe', 'fifo'],
      ['sock', 'socket'],
    ]);
    await expectConsistent(harness);
  });

  it('makes device nodes with their device numbers, for root only', async () => {
    const device = { major: 259, minor: 0x12345 };
    const block = await mknod({ cred: root, at: { path: '/sda' }, type: 'blockDevice', mode: 0o660, device });
    expect(block).toMatchObject({ type: 'blockDevice', device });
    const char = await mknod({
      cred: root,
      at: { path: '/null' },
      type: 'charDevice',
      mode: 0o666,
      device: { major: 1, minor: 3 },
    });
    expect((await fs.stat('/null')).ino).toBe(char.ino);
    await fs.mkdir('/pub', root, 0o777);
    await expectCode(
      mknod({ cred: alice, at: { path: '/pub/dev' }, type: 'charDevice', mode: 0o600, device }),
      MetaCode.NotPermitted,
    );
    await expectConsistent(harness);
  });

  it('refuses a device without a number, a FIFO with one, and numbers or modes out of range', async () => {
    await expectCode(
      mknod({ cred: root, at: { path: '/d' }, type: 'charDevice', mode: 0o600 }),
      MetaCode.InvalidArgument,
    );
    await expectCode(
      mknod({ cred: root, at: { path: '/p' }, type: 'fifo', mode: 0o600, device: { major: 1, minor: 1 } }),
      MetaCode.InvalidArgument,
    );
    for (const device of [
      { major: 4096, minor: 0 },
      { major: 0, minor: 1 << 20 },
      { major: -1, minor: 0 },
    ]) {
      await expectCode(
        mknod({ cred: root, at: { path: '/d' }, type: 'blockDevice', mode: 0o600, device }),
        RpcCode.BadRequest,
      );
    }
    await expectCode(
      mknod({ cred: root, at: { path: '/p' }, type: 'fifo', mode: 0o10644 }),
      RpcCode.BadRequest,
    );
    await expectCode(
      mknod({ cred: root, at: { path: '/p' }, type: 'door' as 'fifo', mode: 0o644 }),
      RpcCode.BadRequest,
    );
    expect(await fs.list('/')).toEqual([]);
  });

  it('refuses an existing name, a trailing slash, and a directory without write permission', async () => {
    await fs.create('/f');
    await fs.symlink('/dangling', 'nowhere');
    await expectCode(fifo('/f'), MetaCode.Exists);
    await expectCode(fifo('/dangling'), MetaCode.Exists);
    await expectCode(fifo('/p/'), MetaCode.NotFound);
    await fs.mkdir('/closed', root, 0o755);
    await expectCode(fifo('/closed/p', alice), MetaCode.PermissionDenied);
    await expectCode(fifo('/missing/p'), MetaCode.NotFound);
  });

  it('drops setgid of a FIFO whose group the caller is not in', async () => {
    await fs.mkdir('/shared', root, 0o777);
    await fs.chown('/shared', { gid: 3000 });
    await fs.chmod('/shared', 0o2777);
    expect((await fifo('/shared/p', alice, 0o2644)).mode).toBe(0o644);
    expect((await fifo('/shared/q', root, 0o2644)).mode).toBe(0o2644);
  });
});

describe('special files in the namespace', () => {
  it('are linked, renamed over each other, chmod-ed and unlinked like files', async () => {
    const pipe = await fifo('/pipe');
    await fs.link('/pipe', '/pipe2');
    expect((await fs.lstat('/pipe2')).nlink).toBe(2);
    const socket = await mknod({ cred: root, at: { path: '/sock' }, type: 'socket', mode: 0o600 });
    await fs.rename('/sock', '/pipe');
    expect((await fs.lstat('/pipe')).ino).toBe(socket.ino);
    expect((await fs.lstat('/pipe2')).nlink).toBe(1);
    expect((await fs.chmod('/pipe2', 0o600)).mode).toBe(0o600);
    expect((await fs.chown('/pipe2', { uid: 5, gid: 6 })).uid).toBe(5);
    await fs.unlink('/pipe2');
    await expectCode(
      harness.call(m.stat, { cred: root, at: { parent: pipe.ino, path: '' } }),
      MetaCode.NotFound,
    );
    // No chunks to collect: special files never reach the GC queue.
    expect((await harness.call(m.listGcQueue, { limit: 10 })).entries).toEqual([]);
    await expectConsistent(harness);
  });

  it('cannot be truncated, and hold no user.* attributes', async () => {
    await fifo('/p');
    await expectCode(
      harness.call(m.setAttr, { cred: root, at: { path: '/p' }, length: 0n }),
      MetaCode.InvalidArgument,
    );
    await expectCode(
      harness.call(m.setXattr, { cred: root, at: { path: '/p' }, name: 'user.a', value: new Uint8Array(1) }),
      MetaCode.NotPermitted,
    );
    await expectCode(
      harness.call(m.getXattr, { cred: root, at: { path: '/p' }, name: 'user.a' }),
      MetaCode.NoAttribute,
    );
  });

  it('are removed by a recursive removal', async () => {
    await fs.mkdir('/d');
    await fifo('/d/p');
    await mknod({
      cred: root,
      at: { path: '/d/c' },
      type: 'charDevice',
      mode: 0o600,
      device: { major: 1, minor: 5 },
    });
    expect((await harness.call(m.removeRecursive, { cred: root, at: { path: '/d' } })).removedInodes).toBe(3);
    await expectConsistent(harness);
  });

  it('decodes an inode record written before special files existed', () => {
    const stored = encode(
      {
        format: 1,
        inode: {
          type: 'symlink',
          ino: 5n,
          mode: 0o777,
          uid: 0,
          gid: 0,
          nlink: 1,
          atimeNs: 1n,
          mtimeNs: 1n,
          ctimeNs: 1n,
          target: 'x',
        },
      },
      { useBigInt64: true },
    );
    expect(decodeRecord(inodeRecordSchema, stored, 'inode 5').inode).toMatchObject({
      type: 'symlink',
      target: 'x',
    });
  });
});

describe('truncate through an open file', () => {
  const session = { clientId: 'client-1', sessionId: 's1' };

  it("needs no write permission with the writer's session, and needs it without", async () => {
    await fs.mkdir('/pub', root, 0o777);
    const { inode } = await harness.call(m.create, {
      cred: alice,
      at: { path: '/pub/f' },
      mode: 0o644,
      write: true,
      session,
    });
    await fs.chmod('/pub/f', 0o444, alice);
    await expectCode(
      harness.call(m.setAttr, { cred: alice, at: { parent: inode.ino, path: '' }, length: 10n }),
      MetaCode.PermissionDenied,
    );
    // A session the file does not have (another client's guess, or one pruned) grants nothing.
    await expectCode(
      harness.call(m.setAttr, {
        cred: alice,
        at: { parent: inode.ino, path: '' },
        length: 10n,
        session: { clientId: 'client-1', sessionId: 'other' },
      }),
      MetaCode.PermissionDenied,
    );
    const truncated = await harness.call(m.setAttr, {
      cred: alice,
      at: { parent: inode.ino, path: '' },
      length: 10n,
      session,
    });
    expect(truncated.inode).toMatchObject({ length: 10n, mode: 0o444 });
    // Once the session closes, the descriptor is gone and so is its permission.
    await harness.call(m.close, { cred: alice, ino: inode.ino, session });
    await expectCode(
      harness.call(m.setAttr, { cred: alice, at: { parent: inode.ino, path: '' }, length: 0n, session }),
      MetaCode.PermissionDenied,
    );
  });
});
