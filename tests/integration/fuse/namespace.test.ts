// Proves that the mounted file system behaves as POSIX for ordinary programs and several users: thousands of files in a tree, cp -a, tar, renames, hard links, symlinks, attributes, xattrs, flock, permissions, and the errno of every refusal.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nobody, python, run, sh, waitFor } from '../fuse-binding/harness.js';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, isRoot, startFuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('FUSE namespace tests');
if (skipReason === undefined && !isRoot) {
  console.warn('skipping the FUSE tests that need root (other users, chown): not running as root');
}
/** Tests that act as other users or give files away need root. */
const asRoot = isRoot ? it : it.skip;

/** Runs Python operations and prints "ok" or the errno name of each, one per line. */
const errnoProbe = [
  'import errno, json, os, sys',
  'def attempt(op):',
  '    try:',
  '        op()',
  '        return "ok"',
  '    except OSError as e:',
  '        return errno.errorcode[e.errno]',
].join('\n');

/** A Python other users can run too (a per-user installation on PATH may not be). */
const systemPython = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

async function probe(lines: string[], user?: { uid: number; gid: number }): Promise<string[]> {
  const program = [errnoProbe, ...lines.map((line) => `print(attempt(lambda: ${line}))`)].join('\n');
  const result =
    user === undefined ? await python(program) : await run(systemPython, ['-c', program], { user });
  expect(result.stderr).toBe('');
  return result.stdout.trim().split('\n');
}

/** Makes a tree of directories and files of assorted sizes and modes on the local disk. */
async function makeSourceTree(root: string): Promise<void> {
  await mkdir(join(root, 'a/b/c'), { recursive: true });
  await mkdir(join(root, 'empty'));
  const sizes = [0, 1, 4095, 4096, 70_000, 1024 * 1024 + 3, 2 * 1024 * 1024];
  for (const [index, size] of sizes.entries()) {
    await writeFile(join(root, index % 2 === 0 ? 'a' : 'a/b/c', `file-${size}`), randomBytes(size));
  }
  await writeFile(join(root, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(join(root, 'private'), 'secret', { mode: 0o600 });
  await sh(
    `cd "${root}" && ln -s a/file-0 link && ln -s ../../file-missing a/b/dangling && ln a/file-70000 hard`,
  );
  await sh(`touch -d '2001-02-03 04:05:06.789' "${root}/a/file-4095"`);
}

describe.skipIf(skipReason !== undefined)('the namespace through the mount', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let mnt: string;
  let local: string;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world);
    mnt = cluster.mountPoint;
    local = world.tempDir('3fs-source-');
    await makeSourceTree(join(local, 'src'));
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it('holds 2,000 small files in a nested tree and reads every one back', async () => {
    const files: string[] = [];
    for (let top = 0; top < 10; top++) {
      for (let middle = 0; middle < 4; middle++) {
        await mkdir(join(mnt, 'tree', `t${top}`, `m${middle}`), { recursive: true });
        for (let leaf = 0; leaf < 50; leaf++) files.push(join('tree', `t${top}`, `m${middle}`, `f${leaf}`));
      }
    }
    const parallel = 16;
    for (let start = 0; start < files.length; start += parallel) {
      await Promise.all(files.slice(start, start + parallel).map((file) => writeFile(join(mnt, file), file)));
    }
    const listed = await sh(`cd "${mnt}/tree" && find . -type f | wc -l && find . -type d | wc -l`);
    expect(listed.stdout.split('\n').map(Number).slice(0, 2)).toEqual([2_000, 51]);
    for (let start = 0; start < files.length; start += parallel) {
      const contents = await Promise.all(
        files.slice(start, start + parallel).map((file) => readFile(join(mnt, file), 'utf8')),
      );
      expect(contents).toEqual(files.slice(start, start + parallel));
    }
    expect((await readdir(join(mnt, 'tree/t3/m2'))).length).toBe(50);
    const removed = await run('rm', ['-r', join(mnt, 'tree/t9')], { timeoutMs: 60_000 });
    expect(removed.code).toBe(0);
    expect((await readdir(join(mnt, 'tree'))).length).toBe(9);
  }, 150_000);

  it('lists a directory of 1,500 names whole, by name alone and with ls -l, and removes it with rm -r', async () => {
    // Sizes tell the files apart in ls -l: the first reply of a listing carries attributes for a
    // few names, later ones for all once ls -l looks them up, the rest come from lookups.
    const count = 1_500;
    const made = await python(
      [
        'import os, sys',
        `d = ${JSON.stringify(join(mnt, 'wide'))}`,
        'os.mkdir(d)',
        `for i in range(${count}):`,
        '    p = os.path.join(d, "w%05d" % i)',
        '    os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))',
        '    os.truncate(p, i)',
        'print(len(os.listdir(d)))',
      ].join('\n'),
    );
    expect(made.stdout.trim()).toBe(String(count));
    const names = (await readdir(join(mnt, 'wide'))).sort();
    expect(names).toEqual(Array.from({ length: count }, (_, i) => `w${String(i).padStart(5, '0')}`));
    const long = await run('ls', ['-l', '-n', '-U', join(mnt, 'wide')]);
    expect(long.code).toBe(0);
    const sizes = new Map<string, number>();
    for (const line of long.stdout.trim().split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields.length >= 9 && fields[8]!.startsWith('w')) sizes.set(fields[8]!, Number(fields[4]));
    }
    expect(sizes.size).toBe(count);
    for (let i = 0; i < count; i += 1) expect(sizes.get(`w${String(i).padStart(5, '0')}`)).toBe(i);
    const removed = await run('rm', ['-r', join(mnt, 'wide')], { timeoutMs: 60_000 });
    expect(removed.code).toBe(0);
    expect(existsSync(join(mnt, 'wide'))).toBe(false);
  }, 120_000);

  it('lists a directory made here as names come and go, before and during a listing', async () => {
    // The daemon keeps the listing of a directory made through this mount as names are created;
    // a removal or a rename over a name starts a new one. Names present throughout a listing
    // must each show exactly once, whatever changes during it.
    const result = await python(
      [
        'import os, json',
        `d = ${JSON.stringify(join(mnt, 'changing'))}`,
        'os.mkdir(d)',
        'def make(name): os.close(os.open(os.path.join(d, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))',
        'for i in range(2500): make("a%05d" % i)',
        'first = sorted(os.listdir(d))',
        'os.mkdir(os.path.join(d, "sub"))',
        'os.symlink("a00010", os.path.join(d, "link"))',
        'for i in range(500): make("b%05d" % i)',
        'grown = sorted(os.listdir(d))',
        'os.rename(os.path.join(d, "a00007"), os.path.join(d, "a00008"))',
        'os.unlink(os.path.join(d, "a00009"))',
        'second = sorted(os.listdir(d))',
        'types = {e.name: (e.is_dir(follow_symlinks=False), e.is_symlink()) for e in os.scandir(d)}',
        // Mid-listing: the first kernel buffer holds about a thousand names; change the rest.
        'it = os.scandir(d)',
        'seen = [next(it).name for _ in range(100)]',
        'for i in range(300): make("c%05d" % i)',
        'for i in range(2000, 2100): os.unlink(os.path.join(d, "a%05d" % i))',
        'seen += [e.name for e in it]',
        'print(json.dumps({"first": first, "grown": grown, "second": second, "types": types, "seen": seen}))',
      ].join('\n'),
      [],
      { timeoutMs: 90_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as {
      first: string[];
      grown: string[];
      second: string[];
      types: Record<string, [boolean, boolean]>;
      seen: string[];
    };
    const a = (i: number) => `a${String(i).padStart(5, '0')}`;
    const b = (i: number) => `b${String(i).padStart(5, '0')}`;
    expect(out.first).toEqual(Array.from({ length: 2500 }, (_, i) => a(i)));
    const grown = [
      ...Array.from({ length: 2500 }, (_, i) => a(i)),
      ...Array.from({ length: 500 }, (_, i) => b(i)),
      'link',
      'sub',
    ].sort();
    expect(out.grown).toEqual(grown);
    const second = grown.filter((name) => name !== a(7) && name !== a(9));
    expect(out.second).toEqual(second);
    expect(out.types['sub']).toEqual([true, false]);
    expect(out.types['link']).toEqual([false, true]);
    expect(out.types[a(8)]).toEqual([false, false]);
    expect(new Set(out.seen).size).toBe(out.seen.length);
    const seen = new Set(out.seen);
    const removed = new Set(Array.from({ length: 100 }, (_, i) => a(2000 + i)));
    for (const name of second) if (!removed.has(name)) expect(seen.has(name), name).toBe(true);
    for (const name of seen) expect(second.includes(name) || name.startsWith('c'), name).toBe(true);
    const removedAll = await run('rm', ['-r', join(mnt, 'changing')], { timeoutMs: 60_000 });
    expect(removedAll.code).toBe(0);
  }, 150_000);

  it('stats a file open for reading after its last name is gone: no links, and its length', async () => {
    // stat --cached=never asks the file system itself (AT_STATX_FORCE_SYNC), whatever the kernel
    // cached: a file open only for reading is no longer in meta once unlinked.
    const result = await python(
      [
        'import os, subprocess',
        `p = ${JSON.stringify(join(mnt, 'open-then-gone'))}`,
        'with open(p, "w") as f: f.write("hello")',
        'fd = os.open(p, os.O_RDONLY)',
        'os.unlink(p)',
        'link = "/proc/%d/fd/%d" % (os.getpid(), fd)',
        'r = subprocess.run(["stat", "-L", "--cached=never", "-c", "%h %s", link], capture_output=True, text=True)',
        'print(r.stdout.strip(), r.stderr.strip(), os.fstat(fd).st_nlink, os.read(fd, 5).decode())',
      ].join('\n'),
    );
    expect(result.stdout.trim()).toBe('0 5  0 hello');
  });

  it('takes a tree copied with cp -a and extracted with tar, equal to its source', async () => {
    const source = join(local, 'src');
    const copied = await run('cp', ['-a', source, join(mnt, 'copy')], { timeoutMs: 60_000 });
    expect(copied.stderr).toBe('');
    const diff = await run('diff', ['-r', '--no-dereference', source, join(mnt, 'copy')], {
      timeoutMs: 60_000,
    });
    expect(diff.stdout + diff.stderr).toBe('');
    expect(diff.code).toBe(0);
    // cp -a kept modes, times and the hard link.
    expect((await stat(join(mnt, 'copy/private'))).mode & 0o7777).toBe(0o600);
    expect((await stat(join(mnt, 'copy/script.sh'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(mnt, 'copy/a/file-4095'))).mtimeMs).toBe(
      (await stat(join(source, 'a/file-4095'))).mtimeMs,
    );
    expect((await stat(join(mnt, 'copy/hard'))).ino).toBe((await stat(join(mnt, 'copy/a/file-70000'))).ino);
    expect((await lstat(join(mnt, 'copy/link'))).isSymbolicLink()).toBe(true);

    const archive = join(local, 'src.tar');
    expect((await run('tar', ['-cf', archive, '-C', source, '.'])).code).toBe(0);
    await mkdir(join(mnt, 'untar'));
    const extracted = await run('tar', ['-xf', archive, '-C', join(mnt, 'untar')], { timeoutMs: 60_000 });
    expect(extracted.stderr).toBe('');
    const untarDiff = await run('diff', ['-r', '--no-dereference', source, join(mnt, 'untar')], {
      timeoutMs: 60_000,
    });
    expect(untarDiff.stdout + untarDiff.stderr).toBe('');
  }, 120_000);

  it('renames files and directories, replacing and refusing as POSIX says', async () => {
    const base = join(mnt, 'renames');
    await mkdir(join(base, 'dir/sub'), { recursive: true });
    await writeFile(join(base, 'dir/sub/inner'), 'inner');
    await writeFile(join(base, 'one'), 'one');
    await writeFile(join(base, 'two'), 'two');
    const moved = await sh(
      `cd "${base}" && mv one moved && mv dir dir2 && mv two moved && mkdir busy && touch busy/x && mkdir target`,
    );
    expect(moved.stderr).toBe('');
    expect(await readFile(join(base, 'moved'), 'utf8')).toBe('two');
    expect(await readFile(join(base, 'dir2/sub/inner'), 'utf8')).toBe('inner');
    expect((await readdir(base)).sort()).toEqual(['busy', 'dir2', 'moved', 'target']);
    expect(
      await probe([
        `os.rename("${base}/target", "${base}/busy")`,
        `os.rename("${base}/dir2", "${base}/dir2/sub/under")`,
        `os.rename("${base}/moved", "${base}/dir2")`,
        `os.rename("${base}/dir2", "${base}/moved")`,
        `os.rename("${base}/missing", "${base}/x")`,
        `os.rename("${base}/busy", "${base}/target")`,
      ]),
    ).toEqual(['ENOTEMPTY', 'EINVAL', 'EISDIR', 'ENOTDIR', 'ENOENT', 'ok']);
  });

  asRoot(
    'shows every name of a hard-linked file with the same inode, nlink, mode, owner and times',
    async () => {
      const base = join(mnt, 'links');
      await mkdir(base);
      await writeFile(join(base, 'a'), 'data');
      const same = async (names: string[]) => {
        const stats = await Promise.all(names.map((name) => stat(join(base, name))));
        const shape = (entry: (typeof stats)[number]) =>
          [
            entry.ino,
            entry.nlink,
            entry.mode,
            entry.uid,
            entry.gid,
            entry.mtimeMs,
            entry.ctimeMs,
            entry.size,
          ].join();
        for (const entry of stats) expect(shape(entry)).toBe(shape(stats[0]!));
        return stats[0]!;
      };
      expect((await sh(`cd "${base}" && ln a b && ln b c`)).code).toBe(0);
      expect((await same(['a', 'b', 'c'])).nlink).toBe(3);
      await sh(`cd "${base}" && chmod 640 b`);
      expect((await same(['a', 'b', 'c'])).mode & 0o7777).toBe(0o640);
      await sh(`cd "${base}" && chown ${nobody.uid}:${nobody.gid} c`);
      expect((await same(['a', 'b', 'c'])).uid).toBe(nobody.uid);
      await sh(`cd "${base}" && touch -d '2010-01-01 00:00:00' a`);
      expect((await same(['a', 'b', 'c'])).mtimeMs).toBe(Date.parse('2010-01-01T00:00:00Z'));
      await sh(`cd "${base}" && mv a renamed`);
      await same(['renamed', 'b', 'c']);
      await sh(`cd "${base}" && rm c && echo more >> b`);
      const after = await same(['renamed', 'b']);
      expect(after.nlink).toBe(2);
      expect(await readFile(join(base, 'renamed'), 'utf8')).toBe('datamore\n');
    },
  );

  asRoot('keeps symlinks, modes, owners and times', async () => {
    const base = join(mnt, 'attrs');
    await mkdir(base);
    const script = await sh(
      [
        `cd "${base}"`,
        'echo content > file',
        'ln -s file link',
        'ln -s /nowhere/at/all dangling',
        'readlink link',
        'cat link',
        'chmod 4751 file',
        'stat -c %a file',
        `chown 1234:5678 file`,
        'stat -c "%u %g %a" file',
        'touch -m -d "1999-12-31 23:59:58.5" file',
        'touch -a -d "2000-01-01 00:00:01" file',
        'stat -c "%Y %X" file',
        'stat -c %F link',
        'test -e dangling || echo dangling',
      ].join(' && '),
    );
    expect(script.stderr).toBe('');
    expect(script.stdout.split('\n')).toEqual([
      'file',
      'content',
      '4751',
      // chown by root clears setuid, as on Linux.
      '1234 5678 751',
      `${Date.parse('1999-12-31T23:59:58Z') / 1000} ${Date.parse('2000-01-01T00:00:01Z') / 1000}`,
      'symbolic link',
      'dangling',
      '',
    ]);
    expect((await stat(join(base, 'file'))).mtimeMs).toBe(Date.parse('1999-12-31T23:59:58.500Z'));
  });

  it('stores extended attributes', async () => {
    const file = join(mnt, 'xattrs');
    await writeFile(file, 'x');
    const result = await python(
      [
        'import errno, os, sys',
        'p = sys.argv[1]',
        'os.setxattr(p, "user.color", b"blue")',
        'os.setxattr(p, "user.size", b"\\x00\\x01\\x02")',
        'print(os.getxattr(p, "user.color").decode(), list(os.getxattr(p, "user.size")))',
        'print(sorted(os.listxattr(p)))',
        'os.removexattr(p, "user.size")',
        'print(sorted(os.listxattr(p)))',
        'for op in (lambda: os.getxattr(p, "user.size"), lambda: os.setxattr(p, "user.color", b"x", os.XATTR_CREATE), lambda: os.setxattr(p, "user.new", b"x", os.XATTR_REPLACE)):',
        '    try:',
        '        op()',
        '    except OSError as e:',
        '        print(errno.errorcode[e.errno])',
      ].join('\n'),
      [file],
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      "blue [0, 1, 2]\n['user.color', 'user.size']\n['user.color']\nENODATA\nEEXIST\nENODATA\n",
    );
  });

  it('lets two processes exclude each other with flock', async () => {
    const file = join(mnt, 'locked');
    await writeFile(file, 'lock');
    const holder = run('flock', ['-x', file, '-c', 'echo held; sleep 1.5'], { timeoutMs: 15_000 });
    await waitFor(
      async () => (await run('flock', ['-n', '-s', file, 'true'])).code !== 0,
      5_000,
      'the exclusive lock to be held',
    );
    const started = Date.now();
    const waiter = await run('flock', ['-x', file, '-c', 'echo waited'], { timeoutMs: 15_000 });
    expect(waiter.stdout).toBe('waited\n');
    expect((await holder).stdout).toBe('held\n');
    expect(Date.now() - started).toBeGreaterThan(200);
  });

  it('reports the capacity of the storage targets through statfs', async () => {
    const result = await python(
      [
        'import os, sys',
        's = os.statvfs(sys.argv[1])',
        'print(s.f_blocks > 0, s.f_bavail > 0, s.f_namemax)',
      ].join('\n'),
      [mnt],
    );
    expect(result.stdout).toBe('True True 255\n');
  });

  it('answers each refusal with its errno', async () => {
    const base = join(mnt, 'errors');
    await mkdir(join(base, 'full'), { recursive: true });
    await writeFile(join(base, 'full/x'), 'x');
    await writeFile(join(base, 'file'), 'f');
    expect(
      await probe([
        `open("${base}/missing")`,
        `os.mkdir("${base}/full")`,
        `os.open("${base}/file", os.O_CREAT | os.O_EXCL | os.O_WRONLY)`,
        `os.rmdir("${base}/full")`,
        `open("${base}/full", "w")`,
        `os.mkdir("${base}/file/sub")`,
        `os.unlink("${base}/full")`,
        `os.rmdir("${base}/file")`,
        `os.link("${base}/full", "${base}/full-link")`,
        `open("${base}/${'n'.repeat(256)}", "w")`,
        `os.readlink("${base}/file")`,
        `os.symlink("x", "${base}/file")`,
      ]),
    ).toEqual([
      'ENOENT',
      'EEXIST',
      'EEXIST',
      'ENOTEMPTY',
      'EISDIR',
      'ENOTDIR',
      'EISDIR',
      'ENOTDIR',
      'EPERM',
      'ENAMETOOLONG',
      'EINVAL',
      'EEXIST',
    ]);
  });

  asRoot('checks permissions for a user other than root, as the kernel and meta both say', async () => {
    const base = join(mnt, 'perm');
    await mkdir(join(base, 'open'), { recursive: true, mode: 0o777 });
    await sh(
      `chmod 777 "${base}/open" && chmod 1777 "${base}" && echo secret > "${base}/private" && chmod 600 "${base}/private"`,
    );
    await sh(
      `echo shared > "${base}/readonly" && chmod 644 "${base}/readonly" && mkdir -m 755 "${base}/closed"`,
    );
    const asNobody = await probe(
      [
        `open("${base}/private")`,
        `open("${base}/readonly", "a")`,
        `open("${base}/closed/new", "w")`,
        `os.mkdir("${base}/closed/sub")`,
        `os.chmod("${base}/readonly", 0o666)`,
        `os.chown("${base}/open", 65534, 65534)`,
        `os.unlink("${base}/readonly")`,
        `open("${base}/readonly").read()`,
        `open("${base}/open/mine", "w").write("mine")`,
        `os.chmod("${base}/open/mine", 0o600)`,
        `os.rename("${base}/open/mine", "${base}/open/ours")`,
      ],
      nobody,
    );
    expect(asNobody).toEqual([
      'EACCES',
      'EACCES',
      'EACCES',
      'EACCES',
      'EPERM',
      'EPERM',
      // The directory is sticky and the file is root's.
      'EPERM',
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
    const made = await stat(join(base, 'open/ours'));
    expect([made.uid, made.gid, made.mode & 0o777]).toEqual([nobody.uid, nobody.gid, 0o600]);
    // Root reads what nobody made private; nobody cannot read root's.
    expect(await readFile(join(base, 'open/ours'), 'utf8')).toBe('mine');
    const cat = await run('cat', [join(base, 'private')], { user: nobody });
    expect(cat.code).not.toBe(0);
    expect(cat.stderr).toContain('Permission denied');
  });
});
