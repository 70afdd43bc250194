// Proves that flock and fcntl (POSIX) locks taken by two processes on the mount behave as on a local file system, waits included.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cleanup, fuseSkipReason, python, run, sh, startFs, waitFor, type MountedFs } from './harness.js';

const skipReason = fuseSkipReason();

/** A Python program that takes a POSIX write lock on bytes [start, start + length) for two seconds. */
const holdPosixLock = [
  'import fcntl, os, sys, time',
  'fd = os.open(sys.argv[1], os.O_RDWR)',
  'fcntl.lockf(fd, fcntl.LOCK_EX, int(sys.argv[3]), int(sys.argv[2]))',
  'time.sleep(2)',
].join('\n');

/** Tries a POSIX lock without waiting and reports "ok", the errno name, or the holder found by F_GETLK. */
const tryPosixLock = [
  'import errno, fcntl, os, struct, sys',
  'fd = os.open(sys.argv[1], os.O_RDWR)',
  'start, length = int(sys.argv[2]), int(sys.argv[3])',
  'query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)',
  'kind, _, lstart, llen, pid = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, query))',
  'holder = "none" if kind == fcntl.F_UNLCK else f"{lstart}+{llen}@{pid}"',
  'try:',
  '    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start)',
  '    print("ok", holder)',
  'except OSError as e:',
  '    print(errno.errorcode[e.errno], holder)',
].join('\n');

describe.skipIf(skipReason !== undefined)('locks between processes on the mount', () => {
  let fs: MountedFs;
  let file: string;

  beforeAll(async () => {
    fs = await startFs();
    file = join(fs.mountpoint, 'locked');
    await writeFile(file, 'x'.repeat(1000));
  });
  afterAll(cleanup);

  it('flock: an exclusive lock excludes others until released; shared locks coexist', async () => {
    const holder = run('flock', ['-x', file, '-c', 'echo held; sleep 1.5'], { timeoutMs: 10_000 });
    await waitFor(
      async () => (await run('flock', ['-n', '-s', file, 'true'])).code !== 0,
      5_000,
      'the exclusive flock to be held',
    );
    const started = Date.now();
    const waiter = await run('flock', ['-x', file, '-c', 'echo waited'], { timeoutMs: 10_000 });
    expect(waiter.stdout).toBe('waited\n');
    expect((await holder).stdout).toBe('held\n');
    expect(Date.now() - started).toBeGreaterThan(200);
    const shared = await sh(`flock -s "${file}" -c 'flock -n -s "${file}" -c "echo both shared"'`);
    expect(shared.stdout).toBe('both shared\n');
    const excluded = await sh(`flock -s "${file}" -c 'flock -n -x "${file}" true; echo $?'`);
    expect(excluded.stdout).toBe('1\n');
  });

  it('fcntl: a write lock on a range refuses overlapping locks of another process, reports its holder, and is released when it closes', async () => {
    const holder = python(holdPosixLock, [file, '0', '100'], { timeoutMs: 15_000 });
    await waitFor(
      async () => (await python(tryPosixLock, [file, '50', '10'])).stdout.startsWith('EAGAIN'),
      5_000,
      'the POSIX lock to be held',
    );
    const overlapping = await python(tryPosixLock, [file, '50', '10']);
    expect(overlapping.stdout).toMatch(/^EAGAIN 0\+100@\d+\n$/);
    const disjoint = await python(tryPosixLock, [file, '100', '100']);
    expect(disjoint.stdout).toBe('ok none\n');
    expect((await holder).code).toBe(0);
    // Closed with its process: the range is free again.
    expect((await python(tryPosixLock, [file, '50', '10'])).stdout).toBe('ok none\n');
  });

  it('fcntl: a waiting F_SETLKW is granted once the holder exits, and one interrupted by a signal gives up with EINTR', async () => {
    const script = [
      'import fcntl, os, signal, sys, time',
      'path = sys.argv[1]',
      'fd = os.open(path, os.O_RDWR)',
      // The holder: a forked child (another lock owner) keeping the whole file locked for a second.
      'child = os.fork()',
      'if child == 0:',
      '    fcntl.lockf(fd, fcntl.LOCK_EX)',
      '    os.write(1, b"child locked\\n")',
      '    time.sleep(1)',
      '    os._exit(0)',
      'time.sleep(0.3)',
      // Interrupted wait: an alarm whose handler raises ends the blocked F_SETLKW.
      'class Alarm(Exception): pass',
      'def on_alarm(signum, frame): raise Alarm()',
      'signal.signal(signal.SIGALRM, on_alarm)',
      'signal.setitimer(signal.ITIMER_REAL, 0.2)',
      'try:',
      '    fcntl.lockf(fd, fcntl.LOCK_EX)',
      '    print("not interrupted")',
      'except Alarm:',
      '    print("interrupted")',
      'start = time.time()',
      'fcntl.lockf(fd, fcntl.LOCK_EX)',
      'print("granted after wait" if time.time() - start > 0.2 else "granted at once")',
      'os.waitpid(child, 0)',
    ].join('\n');
    const result = await python(script, [file], { timeoutMs: 15_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('child locked\ninterrupted\ngranted after wait\n');
    // Nothing stale left behind: the lock is free now that both processes are gone.
    expect((await python(tryPosixLock, [file, '0', '0'])).stdout).toBe('ok none\n');
  });
});
