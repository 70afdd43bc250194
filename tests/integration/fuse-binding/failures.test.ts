// Proves that failures on either side of the binding stay contained: handler errors and bad replies become errnos, no request is left unanswered, and dead or stopped servers leave no mount behind.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
  cleanup,
  fuseSkipReason,
  isMounted,
  isRoot,
  makeMountpoint,
  nobody,
  repoRoot,
  run,
  sh,
  startFs,
  waitFor,
  type MountedFs,
} from './harness.js';
import { inCi } from '../../helpers/requirements.js';

const skipReason = fuseSkipReason();
const rawRepliesFs = join(repoRoot, 'tests/integration/fuse-binding/raw-replies-fs.ts');

/** The RESULT lines a file system printed, by name. */
async function results(fs: MountedFs, name: string): Promise<string[]> {
  let found: string[] | undefined;
  await waitFor(
    () => {
      const line = fs
        .stdout()
        .split('\n')
        .find((text) => text.startsWith('RESULT ') && text.includes(`"name":"${name}"`));
      if (line !== undefined)
        found = (JSON.parse(line.slice('RESULT '.length)) as { refused: string[] }).refused;
      return found !== undefined;
    },
    5_000,
    `the ${name} result`,
  );
  return found ?? [];
}

function unmountedWithin(mountpoint: string, timeoutMs: number): Promise<void> {
  return waitFor(() => !isMounted(mountpoint), timeoutMs, `${mountpoint} to be unmounted`);
}

describe.skipIf(skipReason !== undefined)('failures around the FUSE binding', () => {
  afterEach(cleanup);

  it('answers EIO when a handler throws, logs the error, and keeps serving', async () => {
    const fs = await startFs();
    const failed = await run('stat', [join(fs.mountpoint, '__throw__')]);
    expect(failed.stderr).toMatch(/Input\/output error/);
    await waitFor(() => fs.stderr().includes('deliberate failure in lookup'), 5_000, 'the logged error');
    expect(fs.stderr()).toMatch(/"op":"lookup".*handler failed, answered EIO/);
    const refused = await run('stat', [join(fs.mountpoint, '__bad_reply__')]);
    expect(refused.stderr).toMatch(/Input\/output error/);
    await writeFile(join(fs.mountpoint, 'still-works'), 'yes');
    expect(await readFile(join(fs.mountpoint, 'still-works'), 'utf8')).toBe('yes');
  });

  it('refuses replies of the wrong type and second replies with exceptions, and answers dropped requests', async () => {
    const fs = await startFs([], { script: rawRepliesFs, nodeArgs: ['--expose-gc'] });
    const at = (name: string): string => join(fs.mountpoint, name);

    expect((await run('stat', [at('double')])).stderr).toMatch(/No such file or directory/);
    expect(await results(fs, 'double')).toEqual(['ERR_FUSE_ALREADY_ANSWERED', 'ERR_FUSE_ALREADY_ANSWERED']);

    expect((await run('stat', [at('wrong-types')])).stderr).toMatch(/No such file or directory/);
    const wrongTypes = await results(fs, 'wrong-types');
    expect(wrongTypes.slice(0, -1).every((code) => code === 'ERR_FUSE_INVALID_REPLY')).toBe(true);
    expect(wrongTypes).toHaveLength(17);
    expect(wrongTypes.at(-1)).toBe('accepted');

    expect((await run('cat', [at('file')])).stdout).toBe('data');
    expect(await results(fs, 'read')).toEqual(['ERR_FUSE_INVALID_REPLY']);

    // Never answered by JavaScript: the collected handle answers EIO.
    expect((await run('stat', [at('dropped')], { timeoutMs: 10_000 })).stderr).toMatch(/Input\/output error/);
    // The dispatcher throws: EIO, and the process lives on.
    expect((await run('stat', [at('throws')])).stderr).toMatch(/Input\/output error/);
    // The addon's log line and the EIO reply travel separately: the line may land a moment later.
    await waitFor(
      () => /the JavaScript dispatcher threw on a lookup request/.test(fs.stderr()),
      5_000,
      "the addon's log line about the throwing dispatcher",
    );
    expect((await run('cat', [at('file')])).stdout).toBe('data');

    // Closing the session answers what is in flight; a later reply is refused, not a crash.
    const waiting = run('stat', [at('late')], { timeoutMs: 10_000 });
    await waitFor(() => fs.child.exitCode === null, 1_000, 'the server');
    await new Promise((resolve) => setTimeout(resolve, 300));
    fs.child.stdin.write('close\n');
    expect((await waiting).code).not.toBe(0);
    expect(await results(fs, 'late')).toEqual(['ERR_FUSE_SESSION_CLOSED']);
    expect((await fs.exited()).code).toBe(0);
    expect(isMounted(fs.mountpoint)).toBe(false);
  });

  // Threads 0 reads the device on the event loop, which stops reading while the slots are taken.
  it.each(['0', '2'])(
    'serves many more requests than it has slots, as slots free (threads %s)',
    async (threads) => {
      const fs = await startFs(['--max-inflight', '2', '--threads', threads]);
      const names = Array.from({ length: 40 }, (_, index) => join(fs.mountpoint, `f${index}`));
      await Promise.all(names.map((name) => writeFile(name, name)));
      const read = await Promise.all(names.map((name) => readFile(name, 'utf8')));
      expect(read).toEqual(names);
      // The kernel sends the last RELEASEs after close(2) has returned.
      await waitFor(
        async () => (await fs.command({ cmd: 'stats' }))['inflight'] === 0,
        5_000,
        'no request in flight',
      );
    },
  );

  it.each(['0', '2'])(
    'bounds the requests in flight and answers them all when unmounted (threads %s)',
    async (threads) => {
      const fs = await startFs(['--max-inflight', '2', '--threads', threads]);
      // One directory each: libfuse before 3.17 leaves the kernel serializing lookups per directory.
      const directories = ['d1', 'd2', 'd3', 'd4'].map((name) => join(fs.mountpoint, name));
      await Promise.all(directories.map((directory) => mkdir(directory)));
      const stuck = directories.map((directory) =>
        run('stat', [join(directory, '__hang')], { timeoutMs: 15_000 }),
      );
      await waitFor(
        async () => (await fs.command({ cmd: 'stats' }))['inflight'] === 2,
        5_000,
        'two requests in flight',
      );
      // Still two a moment later: the others wait in the kernel, not in JavaScript.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await fs.command({ cmd: 'stats' }))['inflight']).toBe(2);
      expect(await fs.command({ cmd: 'unmount', drainTimeoutMs: 200 })).toEqual({ unmounted: true });
      const ended = await Promise.all(stuck);
      for (const result of ended) expect(result.code).not.toBe(0);
      expect((await fs.exited()).code).toBe(0);
      expect(isMounted(fs.mountpoint)).toBe(false);
    },
  );

  it('leaves no mount behind when the server is killed (fusermount3 auto_unmount)', async () => {
    const fs = await startFs();
    await writeFile(join(fs.mountpoint, 'x'), 'x');
    fs.child.kill('SIGKILL');
    await fs.exited();
    // fusermount3 notices the death and detaches the mount; a loaded machine may take a moment.
    await unmountedWithin(fs.mountpoint, 20_000);
  });

  it('recovers at the next mount from a stale mount left by a killed server without auto_unmount', async () => {
    const mountpoint = await makeMountpoint();
    const first = await startFs(['--no-auto-unmount'], { mountpoint });
    first.child.kill('SIGKILL');
    await first.exited();
    expect(isMounted(mountpoint)).toBe(true);
    expect((await run('stat', [mountpoint])).stderr).toMatch(/Transport endpoint is not connected/);
    const second = await startFs(['--no-auto-unmount'], { mountpoint });
    await writeFile(join(second.mountpoint, 'fresh'), 'works');
    expect(await readFile(join(second.mountpoint, 'fresh'), 'utf8')).toBe('works');
    second.child.stdin.end();
    expect((await second.exited()).code).toBe(0);
    expect(isMounted(mountpoint)).toBe(false);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('unmounts cleanly on %s', async (signal) => {
    const fs = await startFs(['--no-auto-unmount']);
    await writeFile(join(fs.mountpoint, 'x'), 'x');
    fs.child.kill(signal);
    // The process ends (the fixture exits 0 once unmounted; else the signal's default action would).
    const ended = await fs.exited();
    expect(ended.code === 0 || ended.signal === signal).toBe(true);
    expect(isMounted(fs.mountpoint)).toBe(false);
    expect(fs.stderr()).toMatch(/FUSE file system unmounted/);
  });

  it.each([
    ['process.exit()', 'exit', 3],
    ['an uncaught exception', 'crash', 1],
  ] as const)('unmounts when the process ends through %s', async (_how, cmd, code) => {
    // Without fusermount3 watching: only the binding's exit hook can unmount.
    const fs = await startFs(['--no-auto-unmount']);
    fs.child.stdin.write(`${JSON.stringify({ cmd })}\n`);
    expect((await fs.exited()).code).toBe(code);
    expect(isMounted(fs.mountpoint)).toBe(false);
  });

  it('unmounts when the mount is taken away from outside (fusermount3 -u)', async () => {
    const fs = await startFs();
    expect((await run('fusermount3', ['-u', fs.mountpoint])).code).toBe(0);
    expect((await fs.exited()).code).toBe(0);
    expect(fs.stderr()).toMatch(/unmounted from outside/);
  });

  it('unmounts promptly while a cache notification waits for a lock held by a request it never read', async () => {
    // One request at a time: a statfs left unanswered keeps the session from reading the next.
    const fs = await startFs(['--max-inflight', '1']);
    const directory = join(fs.mountpoint, 'd');
    await mkdir(directory);
    await writeFile(join(directory, 'x'), 'x');
    // A lister with the directory open, which reads it when told: its READDIR then holds the
    // directory's lock while it waits in the kernel, unread.
    const lister = spawn(
      'python3',
      [
        '-c',
        [
          'import os, sys',
          `fd = os.open(${JSON.stringify(directory)}, os.O_RDONLY | os.O_DIRECTORY)`,
          'print("open", flush=True)',
          'sys.stdin.readline()',
          'try:',
          '    os.listdir(fd); print("listed", flush=True)',
          'except OSError as error:',
          '    print("error", error.errno, flush=True)',
        ].join('\n'),
      ],
      { stdio: 'pipe' },
    );
    let listed = '';
    lister.stdout.on('data', (chunk: Buffer) => (listed += chunk.toString()));
    let stalled: ReturnType<typeof spawn> | undefined;
    try {
      await waitFor(() => listed.includes('open'), 10_000, 'the lister to open the directory');
      expect(await fs.command({ cmd: 'stall-statfs' })).toEqual({ stalled: true });
      stalled = spawn('stat', ['-f', fs.mountpoint], { stdio: 'ignore' });
      await waitFor(
        async () => (await fs.command({ cmd: 'stats' }))['inflight'] === 1,
        10_000,
        'statfs to stall',
      );
      lister.stdin.write('\n');
      const waiting = (pid: number | undefined) => {
        try {
          return readFileSync(`/proc/${pid}/wchan`, 'utf8') === 'request_wait_answer';
        } catch {
          return false;
        }
      };
      await waitFor(() => waiting(lister.pid), 10_000, 'the READDIR to wait in the kernel');
      // The notification takes the directory's lock, which the lister holds: it waits too.
      const removed = fs.command({ cmd: 'remove', path: '/d/x' }, 30_000);
      await new Promise((resolveSleep) => setTimeout(resolveSleep, 300));
      const startedMs = Date.now();
      // Answers come back in the order they finish, which may be either (the notification is
      // answered once the lock is free).
      const answers = await Promise.all([
        removed,
        fs.command({ cmd: 'unmount', drainTimeoutMs: 100 }, 30_000),
      ]);
      expect(answers).toContainEqual({ unmounted: true });
      // The session answered the unread READDIR instead of waiting out the notification.
      expect(Date.now() - startedMs).toBeLessThan(5_000);
      await waitFor(() => lister.exitCode !== null, 10_000, 'the lister to finish');
      expect(listed).toMatch(/error \d+/);
      expect(fs.stderr()).not.toMatch(/left allocated/);
    } finally {
      lister.kill('SIGKILL');
      stalled?.kill('SIGKILL');
    }
  });

  it.skipIf(!isRoot)('mounts as an unprivileged user through fusermount3', async () => {
    const mountpoint = await makeMountpoint();
    await chown(mountpoint, nobody.uid, nobody.gid);
    // fusermount3 opens the device as the user, so users mount only where udev (or an admin)
    // made it 0666; once mounted, the session holds the device open whatever its mode.
    const fs = await withFuseDeviceMode(0o666, () =>
      startFs([], {
        mountpoint,
        prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      }),
    );
    const io = await sh(`echo mine > "${mountpoint}/f" && stat -c '%u %s' "${mountpoint}/f"`, {
      user: nobody,
    });
    expect(io.stderr).toBe('');
    expect(io.stdout).toBe(`${nobody.uid} 5\n`);
    fs.child.stdin.end();
    expect((await fs.exited()).code).toBe(0);
    expect(isMounted(mountpoint)).toBe(false);
  });

  it.skipIf(!isRoot)('says what to do when /dev/fuse is missing', async (context) => {
    const mountpoint = await makeMountpoint();
    const memfs = join(repoRoot, 'tests/fixtures/memfs/main.ts');
    const result = await run('unshare', [
      '--mount',
      'sh',
      '-c',
      `mount -t tmpfs none /dev && exec "${process.execPath}" --import tsx "${memfs}" "${mountpoint}" --ignore-stdin`,
    ]);
    if (/unshare failed|Operation not permitted/.test(result.stderr)) {
      const reason = `no mount namespaces here (${result.stderr.trim()})`;
      if (inCi) throw new Error(`this test needs a private mount namespace under CI=true: ${reason}`);
      context.skip(reason);
    }
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/\/dev\/fuse does not exist: load the fuse kernel module/);
  });

  it.skipIf(!isRoot).each([
    ['through fusermount3 (auto-unmount)', []],
    ['by opening it itself', ['--no-auto-unmount']],
  ])('says what to do when a user may not open /dev/fuse and mounts %s', async (_how, flags) => {
    const mountpoint = await makeMountpoint();
    await chown(mountpoint, nobody.uid, nobody.gid);
    const memfs = join(repoRoot, 'tests/fixtures/memfs/main.ts');
    const result = await withFuseDeviceMode(0o600, () =>
      run(process.execPath, ['--import', 'tsx', memfs, mountpoint, ...flags, '--ignore-stdin'], {
        user: nobody,
      }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/no permission to open \/dev\/fuse \(mode 0600, owner uid 0\)/);
    expect(result.stderr).toMatch(/chmod 0666 \/dev\/fuse/);
    expect(isMounted(mountpoint)).toBe(false);
  });
});

/**
 * Runs `body` with /dev/fuse at `mode` and restores the device's mode afterwards, so the tests see
 * both kinds of machine whatever this one has: 0666 where udev's rules ran, 0600 root-only where
 * nothing did (a container, a machine without udev). Only this file changes the mode, and its tests
 * run one at a time; root's mounts elsewhere do not depend on it.
 */
async function withFuseDeviceMode<T>(mode: number, body: () => Promise<T>): Promise<T> {
  const before = (await stat('/dev/fuse')).mode & 0o7777;
  await chmod('/dev/fuse', mode);
  try {
    return await body();
  } finally {
    await chmod('/dev/fuse', before);
  }
}
