// Proves through a real mount that FIFOs, sockets and device nodes are made (mkfifo, mknod with rdev, bind), typed in stat and readdir, linked, renamed and unlinked; that a FIFO carries data between two processes; that ftruncate through a descriptor opened writable still works after the file lost its write bit; and that statfs reports usable space and the inodes in use.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode, statusName } from '../../../src/common/status-code.js';
import { usableSpace } from '../../../src/meta/usable-space.js';
import { nobody, python, run } from '../fuse-binding/harness.js';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, isRoot, startFuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('FUSE special file tests');
/** Device nodes and acting as another user need root. */
const asRoot = isRoot ? it : it.skip;

/** A Python other users can run too (a per-user installation on PATH may not be). */
const systemPython = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Runs a Python program that prints one JSON value, and parses it. */
async function pythonJson(program: string, options: { user?: { uid: number; gid: number } } = {}) {
  const source = ['import json, os, socket, stat, errno', program].join('\n');
  const result = await run(systemPython, ['-c', source], options);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as unknown;
}

describe.skipIf(skipReason !== undefined)('special files through the mount', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let mnt: string;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world);
    mnt = cluster.mountPoint;
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  asRoot('makes FIFOs, sockets and device nodes with their types and device numbers', async () => {
    const base = join(mnt, 'kinds');
    const stats = await pythonJson(
      [
        `base = ${JSON.stringify(base)}`,
        'os.umask(0)',
        'os.mkdir(base)',
        'os.mkfifo(base + "/fifo", 0o640)',
        'os.mknod(base + "/char", stat.S_IFCHR | 0o620, os.makedev(1, 3))',
        'os.mknod(base + "/block", stat.S_IFBLK | 0o660, os.makedev(259, 0x12345))',
        'os.mknod(base + "/fifo2", stat.S_IFIFO | 0o600)',
        's = socket.socket(socket.AF_UNIX)',
        's.bind(base + "/sock")',
        's.close()',
        'out = {}',
        'for name in sorted(os.listdir(base)):',
        '    st = os.lstat(base + "/" + name)',
        '    out[name] = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev), st.st_size]',
        'print(json.dumps(out))',
      ].join('\n'),
    );
    expect(stats).toEqual({
      block: [0o060000, 0o660, 259, 0x12345, 0],
      char: [0o020000, 0o620, 1, 3, 0],
      fifo: [0o010000, 0o640, 0, 0, 0],
      fifo2: [0o010000, 0o600, 0, 0, 0],
      sock: [0o140000, expect.any(Number), 0, 0, 0],
    });
    // readdir's types (find -type reads d_type) and the client library's view agree.
    const byType = async (type: string) =>
      (await run('find', [base, '-mindepth', '1', '-type', type, '-printf', '%f\n'])).stdout
        .trim()
        .split('\n')
        .sort();
    expect(await byType('p')).toEqual(['fifo', 'fifo2']);
    expect(await byType('s')).toEqual(['sock']);
    expect(await byType('c')).toEqual(['char']);
    expect(await byType('b')).toEqual(['block']);
    const client = await cluster!.client();
    expect(await client.lstat('/kinds/block')).toMatchObject({
      type: 'blockDevice',
      device: { major: 259, minor: 0x12345 },
    });
    expect((await client.lstat('/kinds/sock')).type).toBe('socket');
  });

  asRoot('refuses device nodes to other users, and bad device numbers with a clear error', async () => {
    const base = join(mnt, 'refused');
    await run('mkdir', ['-m', '777', base]);
    const asNobody = await pythonJson(
      [
        `base = ${JSON.stringify(base)}`,
        'def attempt(op):',
        '    try:',
        '        op()',
        '        return "ok"',
        '    except OSError as e:',
        '        return errno.errorcode[e.errno]',
        'print(json.dumps([',
        '    attempt(lambda: os.mknod(base + "/c", stat.S_IFCHR | 0o600, os.makedev(1, 3))),',
        '    attempt(lambda: os.mkfifo(base + "/p")),',
        '    attempt(lambda: os.mkfifo(base + "/p")),',
        ']))',
      ].join('\n'),
      { user: nobody },
    );
    expect(asNobody).toEqual(['EPERM', 'ok', 'EEXIST']);
    const client = await cluster!.client();
    let caught: unknown;
    try {
      await client.mknod('/refused/bad', {
        type: 'charDevice',
        mode: 0o600,
        device: { major: 4096, minor: 0 },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FsError);
    expect(statusName((caught as FsError).code)).toBe(statusName(RpcCode.BadRequest));
    expect((caught as FsError).message).toContain('major');
    const open = client.open('/refused/p');
    await expect(open).rejects.toThrow(/is a fifo: open it through a mount/);
  });

  it('links, renames and unlinks special files like any other', async () => {
    const result = await pythonJson(
      [
        `base = ${JSON.stringify(join(mnt, 'moves'))}`,
        'os.mkdir(base)',
        'os.mkdir(base + "/sub")',
        'os.mkfifo(base + "/fifo")',
        'ino = os.lstat(base + "/fifo").st_ino',
        'os.link(base + "/fifo", base + "/sub/hard")',
        'links = os.lstat(base + "/fifo").st_nlink',
        'os.rename(base + "/fifo", base + "/moved")',
        's = socket.socket(socket.AF_UNIX)',
        's.bind(base + "/sock")',
        's.close()',
        '# A socket renamed over the FIFO replaces it; the FIFO keeps its other name.',
        'os.rename(base + "/sock", base + "/moved")',
        'replaced = [stat.S_ISSOCK(os.lstat(base + "/moved").st_mode), os.lstat(base + "/sub/hard").st_nlink]',
        'same = os.lstat(base + "/sub/hard").st_ino == ino',
        'os.unlink(base + "/sub/hard")',
        'os.unlink(base + "/moved")',
        'print(json.dumps([links, replaced, same, sorted(os.listdir(base)), os.listdir(base + "/sub")]))',
      ].join('\n'),
    );
    expect(result).toEqual([2, [true, 1], true, ['sub'], []]);
  });

  it('carries data through a FIFO from one process to another', async () => {
    const fifo = join(mnt, 'pipe');
    expect((await run('mkfifo', [fifo])).code).toBe(0);
    // More than a pipe's buffer, so writer and reader must take turns.
    const bytes = 1024 * 1024;
    const expected = createHash('sha256').update(Buffer.alloc(bytes, 'abcdefgh')).digest('hex');
    const reader = run('sh', ['-c', `sha256sum < "${fifo}"`], { timeoutMs: 30_000 });
    const writer = await python(
      ['import sys', `open(sys.argv[1], "wb").write(b"abcdefgh" * ${bytes / 8})`].join('\n'),
      [fifo],
      { timeoutMs: 30_000 },
    );
    expect(writer.stderr).toBe('');
    expect((await reader).stdout.split(' ')[0]).toBe(expected);
    expect((await run('stat', ['-c', '%F %s', fifo])).stdout).toBe('fifo 0\n');
  });

  asRoot('lets a descriptor opened writable truncate and write after the file became read-only', async () => {
    const base = join(mnt, 'open-time');
    await run('mkdir', ['-m', '777', base]);
    const result = await pythonJson(
      [
        `path = ${JSON.stringify(join(base, 'f'))}`,
        'def attempt(op):',
        '    try:',
        '        op()',
        '        return "ok"',
        '    except OSError as e:',
        '        return errno.errorcode[e.errno]',
        'fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)',
        'os.write(fd, b"x" * 100)',
        'os.fchmod(fd, 0o444)',
        'mode = stat.S_IMODE(os.stat(path).st_mode)',
        'results = [',
        '    attempt(lambda: os.ftruncate(fd, 10)),',
        '    os.fstat(fd).st_size,',
        '    attempt(lambda: os.pwrite(fd, b"y", 3)),',
        '    attempt(lambda: os.truncate(path, 5)),',
        '    attempt(lambda: open(path, "w")),',
        ']',
        'ro = os.open(path, os.O_RDONLY)',
        'results.append(attempt(lambda: os.ftruncate(ro, 1)))',
        'os.close(ro)',
        'os.close(fd)',
        'results.append(open(path, "rb").read().decode())',
        'print(json.dumps([mode, results]))',
      ].join('\n'),
      { user: nobody },
    );
    expect(result).toEqual([0o444, ['ok', 10, 'ok', 'EACCES', 'EACCES', 'EINVAL', 'xxxyxxxxxx']]);
  });

  it('reports usable space, not the sum of the replicas, and the inodes in use', async () => {
    const statvfs = async () => {
      const reply = (await pythonJson(
        [
          `s = os.statvfs(${JSON.stringify(mnt)})`,
          'print(json.dumps([s.f_frsize, s.f_blocks, s.f_bavail, s.f_files, s.f_ffree]))',
        ].join('\n'),
      )) as number[];
      const [blockBytes = 0, blocks = 0, available = 0, files = 0, filesFree = 0] = reply;
      return { blockBytes, blocks, available, inodesUsed: files - filesFree };
    };
    const client = await cluster!.client();
    const routing = await client.routing.refresh();
    const summed = routing.targets.reduce((sum, target) => sum + target.capacityBytes, 0);
    const before = await statvfs();
    expect(before.blocks * before.blockBytes).toBe(
      Math.floor(usableSpace(routing).capacityBytes / before.blockBytes) * before.blockBytes,
    );
    // Three replicas per chain: the sum over the targets is three times what files can use.
    expect(before.blocks * before.blockBytes).toBeLessThanOrEqual(summed / 3);
    expect(before.available).toBeGreaterThan(0);
    expect(before.available).toBeLessThanOrEqual(before.blocks);

    const base = join(mnt, 'counted');
    expect(
      (await run('sh', ['-c', `mkdir "${base}" && cd "${base}" && touch a b c && mkfifo p && ln a l`])).code,
    ).toBe(0);
    const after = await statvfs();
    // A directory, three files and a FIFO; the hard link is no new inode.
    expect(after.inodesUsed - before.inodesUsed).toBe(5);
    expect((await run('rm', ['-r', base])).code).toBe(0);
    expect((await statvfs()).inodesUsed).toBe(before.inodesUsed);
  });
});
