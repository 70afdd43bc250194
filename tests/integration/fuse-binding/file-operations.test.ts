// Proves that a TypeScript file system on the native FUSE binding, mounted for real, behaves as a POSIX file system for ordinary programs.
import { randomBytes } from 'node:crypto';
import {
  chmod,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  stat,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  cleanup,
  fuseSkipReason,
  isRoot,
  nobody,
  python,
  run,
  sh,
  startFs,
  waitFor,
  type MountedFs,
} from './harness.js';

const skipReason = fuseSkipReason();

describe.skipIf(skipReason !== undefined)('a mounted in-memory file system', () => {
  let fs: MountedFs;
  let root: string;
  let counter = 0;
  /** A fresh directory per test, so tests do not see each other's files. */
  const fresh = async (): Promise<string> => {
    const directory = join(root, `t${counter++}`);
    await mkdir(directory);
    return directory;
  };

  beforeAll(async () => {
    fs = await startFs(['--allow-other']);
    root = fs.mountpoint;
    // Let the unprivileged user create files at the top.
    await chmod(root, 0o1777);
  });
  afterAll(cleanup);

  it('negotiates 1 MiB writes and the capabilities a POSIX file system needs', () => {
    expect(fs.connection.maxWriteBytes).toBe(1024 * 1024);
    expect(fs.connection.enabled).toEqual(
      expect.arrayContaining(['asyncRead', 'posixLocks', 'flockLocks', 'atomicOTrunc', 'readdirplus']),
    );
  });

  it('creates, writes, reads, truncates and renames files with shell tools', async () => {
    const directory = await fresh();
    const script = await run('sh', [
      '-c',
      [
        'set -e',
        'cd "$0"',
        'printf "hello world\\n" > a',
        'cat a',
        'truncate -s 5 a',
        'printf "[%s]\\n" "$(cat a)"',
        'mv a b',
        'test ! -e a',
        'printf "more" >> b',
        'cat b; echo',
        'wc -c < b',
        'mkdir -p x/y/z && mv b x/y/z/c && cat x/y/z/c; echo',
        'rm -r x && ls -A | wc -l',
      ].join('\n'),
      directory,
    ]);
    expect(script.stderr).toBe('');
    expect(script.stdout.split('\n')).toEqual([
      'hello world',
      '[hello]',
      'hellomore',
      '9',
      'hellomore',
      '0',
      '',
    ]);
  });

  it("gives Node's fs the same view: positioned writes and reads, stat, readdir, unlink", async () => {
    const directory = await fresh();
    const path = join(directory, 'file.bin');
    const handle = await open(path, 'w+', 0o640);
    try {
      await handle.write(Buffer.from('abcdef'), 0, 6, 0);
      await handle.write(Buffer.from('XY'), 0, 2, 10);
      const buffer = Buffer.alloc(12);
      const { bytesRead } = await handle.read(buffer, 0, 12, 0);
      expect(bytesRead).toBe(12);
      expect(buffer).toEqual(Buffer.from('abcdef\0\0\0\0XY'));
      expect((await handle.stat()).size).toBe(12);
    } finally {
      await handle.close();
    }
    const info = await stat(path);
    expect(info.mode & 0o777).toBe(0o640);
    expect(info.isFile()).toBe(true);
    expect(await readdir(directory)).toEqual(['file.bin']);
    await truncate(path, 3);
    expect(await readFile(path, 'utf8')).toBe('abc');
    await unlink(path);
    expect(await readdir(directory)).toEqual([]);
  });

  it('keeps the names of a hard-linked file in agreement on nlink and mode right after a chmod', async () => {
    const directory = await fresh();
    const first = join(directory, 'first');
    const second = join(directory, 'second');
    await writeFile(first, 'shared', { mode: 0o644 });
    await link(first, second);
    await chmod(second, 0o600);
    const [a, b] = await Promise.all([stat(first), stat(second)]);
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
    expect(b.nlink).toBe(2);
    expect(a.mode & 0o777).toBe(0o600);
    expect(b.mode & 0o777).toBe(0o600);
    // The same check through another process, which has no cache of its own.
    const shell = await run('stat', ['-c', '%h %a', first, second]);
    expect(shell.stdout).toBe('2 600\n2 600\n');
    await unlink(first);
    expect((await stat(second)).nlink).toBe(1);
    expect(await readFile(second, 'utf8')).toBe('shared');
  });

  it('creates symlinks and resolves them', async () => {
    const directory = await fresh();
    await writeFile(join(directory, 'target'), 'pointed at');
    await symlink('target', join(directory, 'relative'));
    await symlink(join(directory, 'target'), join(directory, 'absolute'));
    expect(await readlink(join(directory, 'relative'))).toBe('target');
    expect((await lstat(join(directory, 'relative'))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(directory, 'absolute'), 'utf8')).toBe('pointed at');
    const shell = await run('cat', [join(directory, 'relative')]);
    expect(shell.stdout).toBe('pointed at');
  });

  it('stores extended attributes: set, get, list, replace, remove, and ENODATA when absent', async () => {
    const directory = await fresh();
    const path = join(directory, 'with-xattrs');
    await writeFile(path, '');
    const result = await python(
      [
        'import os, sys, errno',
        'p = sys.argv[1]',
        "os.setxattr(p, 'user.colour', b'blue')",
        "os.setxattr(p, 'user.empty', b'')",
        "print(os.getxattr(p, 'user.colour').decode())",
        'print(sorted(os.listxattr(p)))',
        "os.setxattr(p, 'user.colour', b'green', os.XATTR_REPLACE)",
        "print(os.getxattr(p, 'user.colour').decode())",
        'try:',
        "    os.setxattr(p, 'user.colour', b'red', os.XATTR_CREATE)",
        'except OSError as e:',
        '    print(errno.errorcode[e.errno])',
        "os.removexattr(p, 'user.colour')",
        'try:',
        "    os.getxattr(p, 'user.colour')",
        'except OSError as e:',
        '    print(errno.errorcode[e.errno])',
        'big = bytes(range(256)) * 64',
        "os.setxattr(p, 'user.big', big)",
        "print(os.getxattr(p, 'user.big') == big)",
      ].join('\n'),
      [path],
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual([
      'blue',
      "['user.colour', 'user.empty']",
      'green',
      'EEXIST',
      'ENODATA',
      'True',
      '',
    ]);
  });

  it('lists a large directory completely, and rm -r removes it while unlinking between reads', async () => {
    const directory = await fresh();
    const count = 600;
    const names = Array.from(
      { length: count },
      (_, i) => `entry-with-a-longish-name-${String(i).padStart(4, '0')}`,
    );
    await Promise.all(names.map((name) => writeFile(join(directory, name), name)));
    expect((await readdir(directory)).sort()).toEqual(names);
    const ls = await run('ls', ['-1', directory]);
    expect(ls.stdout.trim().split('\n')).toHaveLength(count);
    const removal = await run('rm', ['-r', directory]);
    expect(removal.stderr).toBe('');
    expect(removal.code).toBe(0);
  });

  it('renames with RENAME_NOREPLACE (refused over an existing name) and RENAME_EXCHANGE (swapped)', async () => {
    const directory = await fresh();
    await writeFile(join(directory, 'a'), 'A');
    await writeFile(join(directory, 'b'), 'B');
    const result = await python(
      [
        'import ctypes, os, sys, errno',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'AT_FDCWD = -100',
        'def renameat2(a, b, flags):',
        '    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:',
        '        return errno.errorcode[ctypes.get_errno()]',
        "    return 'ok'",
        'd = sys.argv[1]',
        "print(renameat2(d + '/a', d + '/b', 1))",
        "print(renameat2(d + '/a', d + '/b', 2))",
        "print(open(d + '/a').read(), open(d + '/b').read())",
      ].join('\n'),
      [directory],
    );
    expect(result.stdout.split('\n')).toEqual(['EEXIST', 'ok', 'B A', '']);
    await rename(join(directory, 'a'), join(directory, 'b'));
    expect(await readdir(directory)).toEqual(['b']);
    expect(await readFile(join(directory, 'b'), 'utf8')).toBe('B');
  });

  it('carries large files intact through 1 MiB requests, and copies with copy_file_range and fallocate', async () => {
    const directory = await fresh();
    const content = randomBytes(24 * 1024 * 1024 + 12345);
    const source = join(directory, 'source');
    await writeFile(source, content);
    expect((await readFile(source)).equals(content)).toBe(true);
    const dd = await run('dd', [
      `if=${source}`,
      `of=${join(directory, 'dd-copy')}`,
      'bs=1M',
      'iflag=direct',
      'oflag=direct',
    ]);
    expect(dd.code).toBe(0);
    expect((await readFile(join(directory, 'dd-copy'))).equals(content)).toBe(true);
    const copy = await python(
      [
        'import os, sys',
        'src = os.open(sys.argv[1], os.O_RDONLY)',
        'dst = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)',
        'total = 0',
        'while True:',
        '    n = os.copy_file_range(src, dst, 8 << 20)',
        '    if n == 0: break',
        '    total += n',
        'print(total)',
      ].join('\n'),
      [source, join(directory, 'range-copy')],
    );
    expect(copy.stdout.trim()).toBe(String(content.length));
    expect((await readFile(join(directory, 'range-copy'))).equals(content)).toBe(true);
    const fallocate = await run('fallocate', ['-l', '3M', join(directory, 'allocated')]);
    expect(fallocate.code).toBe(0);
    expect((await stat(join(directory, 'allocated'))).size).toBe(3 * 1024 * 1024);
  });

  it('frees inodes once the kernel forgets them (forget, batch forget)', async () => {
    const inodes = async (): Promise<number> => (await fs.command({ cmd: 'stats' }))['inodes'] as number;
    const directory = await fresh();
    const before = await inodes();
    const paths = Array.from({ length: 40 }, (_, i) => join(directory, `short-lived-${i}`));
    await Promise.all(paths.map((path) => writeFile(path, 'x')));
    expect(await inodes()).toBe(before + paths.length);
    await Promise.all(paths.map((path) => unlink(path)));
    // Unlinked and closed: the kernel evicts each inode and sends a forget for it.
    await waitFor(async () => (await inodes()) === before, 5_000, 'the forgets');
  });

  it('reports file system statistics', async () => {
    const result = await run('stat', ['-f', '-c', '%S %b %n', root]);
    expect(result.stdout.trim().split(' ').slice(0, 2)).toEqual(['4096', String(1 << 24)]);
  });

  it.skipIf(!isRoot)(
    "carries the caller's uid and gid: a file created by another user is theirs",
    async () => {
      const path = join(root, `made-by-nobody-${counter++}`);
      const result = await sh(
        `echo mine > "${path}" && mkdir "${path}.d" && stat -c '%u %g' "${path}" "${path}.d"`,
        {
          user: nobody,
        },
      );
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(`${nobody.uid} ${nobody.gid}\n${nobody.uid} ${nobody.gid}\n`);
      const info = await stat(path);
      expect([info.uid, info.gid]).toEqual([nobody.uid, nobody.gid]);
      // The kernel checks permissions against the owners the file system reported.
      const denied = await sh(`echo theirs > "${path}"`, { user: { uid: 65533, gid: 65533 } });
      expect(denied.stderr).toMatch(/Permission denied/);
    },
  );
});
