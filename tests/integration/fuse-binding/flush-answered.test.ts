// Proves that a mount with flushOnlyTouched answers close(2) of a file nothing was written to,
// allocated, truncated or locked on without calling the flush handler, and calls it in every
// other case: a write through the handle or through another one of the inode, ftruncate,
// fallocate, copy_file_range into the file, a POSIX lock or a flock; and that without the option
// every close reaches the handler.
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cleanup, fuseSkipReason, python, startFs, waitFor, type MountedFs } from './harness.js';

const skipReason = fuseSkipReason();

/** Runs a Python snippet (given `d`, the mount) and returns the flushes the handler saw and the binding answered. */
async function flushesOf(fs: MountedFs, snippet: string): Promise<{ handler: number; answered: number }> {
  const before = await fs.command({ cmd: 'stats' });
  const result = await python(['import fcntl, os, sys', 'd = sys.argv[1]', snippet].join('\n'), [
    fs.mountpoint,
  ]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  // The kernel releases closed files in the background: wait until every handle is released, so
  // that no case sees the state the one before left.
  let after: Record<string, unknown> = {};
  await waitFor(
    async () => {
      after = await fs.command({ cmd: 'stats' });
      return after.handles === 0;
    },
    5_000,
    'every handle to be released',
  );
  return {
    handler: (after.flushes as number) - (before.flushes as number),
    answered: (after.flushesAnswered as number) - (before.flushesAnswered as number),
  };
}

describe.skipIf(skipReason !== undefined)('FLUSH answered by the binding (flushOnlyTouched)', () => {
  afterAll(cleanup);

  it('answers the close of files only created or read, and passes on every other', async () => {
    const fs = await startFs(['--flush-only-touched']);
    const cases: Array<[string, string, { handler: number; answered: number }]> = [
      [
        'created and closed',
        'for i in range(5): os.close(os.open(f"{d}/empty{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))',
        { handler: 0, answered: 5 },
      ],
      ['opened for reading', 'os.close(os.open(f"{d}/empty0", os.O_RDONLY))', { handler: 0, answered: 1 }],
      [
        'written through the handle',
        'fd = os.open(f"{d}/w", os.O_CREAT | os.O_WRONLY, 0o644); os.write(fd, b"x"); os.close(fd)',
        { handler: 1, answered: 0 },
      ],
      [
        'written through another handle of the file, both closed',
        [
          'a = os.open(f"{d}/empty1", os.O_WRONLY); b = os.open(f"{d}/empty1", os.O_RDONLY)',
          'os.write(a, b"y"); os.close(b); os.close(a)',
        ].join('\n'),
        { handler: 2, answered: 0 },
      ],
      [
        'a clean file again once every handle that saw a write closed',
        'os.close(os.open(f"{d}/empty1", os.O_RDONLY))',
        { handler: 0, answered: 1 },
      ],
      [
        'truncated',
        'fd = os.open(f"{d}/empty2", os.O_RDWR); os.ftruncate(fd, 10); os.close(fd)',
        { handler: 1, answered: 0 },
      ],
      [
        'allocated',
        'fd = os.open(f"{d}/empty3", os.O_RDWR); os.posix_fallocate(fd, 0, 4096); os.close(fd)',
        { handler: 1, answered: 0 },
      ],
      [
        'copied into',
        [
          's = os.open(f"{d}/w", os.O_RDONLY); t = os.open(f"{d}/empty4", os.O_WRONLY)',
          'os.copy_file_range(s, t, 1); os.close(t); os.close(s)',
        ].join('\n'),
        // The source is clean; the copy's target is not.
        { handler: 1, answered: 1 },
      ],
      [
        'POSIX-locked',
        'fd = os.open(f"{d}/empty0", os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); os.close(fd)',
        { handler: 1, answered: 0 },
      ],
      [
        'flocked',
        'fd = os.open(f"{d}/empty0", os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_SH); os.close(fd)',
        { handler: 1, answered: 0 },
      ],
    ];
    for (const [what, snippet, expected] of cases) {
      expect({ what, ...(await flushesOf(fs, snippet)) }).toEqual({ what, ...expected });
    }
    // A lock taken while another handle was open still reaches the handler at that handle's close.
    const locked = await flushesOf(
      fs,
      [
        'a = os.open(f"{d}/empty1", os.O_RDONLY); b = os.open(f"{d}/empty1", os.O_RDWR)',
        'fcntl.lockf(b, fcntl.LOCK_EX); os.close(a); os.close(b)',
      ].join('\n'),
    );
    expect(locked).toEqual({ handler: 2, answered: 0 });
    expect((await python(`print(open("${join(fs.mountpoint, 'w')}").read())`)).stdout).toBe('x\n');
  });

  it('passes every close on without the option', async () => {
    const fs = await startFs();
    const counts = await flushesOf(
      fs,
      'for i in range(3): os.close(os.open(f"{d}/plain{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))',
    );
    expect(counts).toEqual({ handler: 3, answered: 0 });
  });
});
