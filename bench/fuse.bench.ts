// The FUSE binding's request path: the in-memory fixture file system through a real mount, beside the
// same workload on tmpfs. The fixture runs in its own process with direct I/O, so every read and
// write is a FUSE request answered by JavaScript (nothing is served from the page cache), and with
// attribute timeouts of 0, so every fstat is a GETATTR request.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { reportRatio } from './report.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const fileBytes = 128 * 1024 * 1024;
const blockBytes = 1024 * 1024;
const randomBlockBytes = 4096;
const timedRunMs = 2_000;
const startTimeoutMs = 30_000;

interface Rates {
  sequentialWriteMiBps: number;
  sequentialReadMiBps: number;
  randomReadOps: number;
  getattrOps: number;
}

function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

/** Runs `step` repeatedly for about timedRunMs and returns how many times per second it ran. */
function perSecond(step: () => void): number {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(timedRunMs) * 1_000_000n;
  let count = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 64; i++) step();
    count += 64;
  }
  return count / seconds(start);
}

function measure(directory: string): Rates {
  const path = join(directory, 'bench.bin');
  const block = Buffer.alloc(blockBytes, 0xa5);
  const blocks = fileBytes / blockBytes;

  let fd = openSync(path, 'w');
  let start = process.hrtime.bigint();
  for (let i = 0; i < blocks; i++) writeSync(fd, block, 0, blockBytes, i * blockBytes);
  closeSync(fd);
  const sequentialWriteMiBps = fileBytes / (1024 * 1024) / seconds(start);

  fd = openSync(path, 'r');
  start = process.hrtime.bigint();
  let bytesRead = 0;
  for (let i = 0; i < blocks; i++) bytesRead += readSync(fd, block, 0, blockBytes, i * blockBytes);
  const sequentialReadMiBps = fileBytes / (1024 * 1024) / seconds(start);
  if (bytesRead !== fileBytes) throw new Error(`read ${bytesRead} bytes of ${fileBytes} from ${directory}`);

  // A fixed-seed linear congruential generator: the same offsets on both file systems.
  let seed = 12345;
  const small = Buffer.alloc(randomBlockBytes);
  const slots = fileBytes / randomBlockBytes;
  const randomReadOps = perSecond(() => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    readSync(fd, small, 0, randomBlockBytes, (seed % slots) * randomBlockBytes);
  });
  const getattrOps = perSecond(() => fstatSync(fd));
  closeSync(fd);
  rmSync(path);
  return { sequentialWriteMiBps, sequentialReadMiBps, randomReadOps, getattrOps };
}

/** Starts the fixture on `mountpoint`; resolves once it printed READY. */
function startFixture(mountpoint: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repoRoot, 'tests/fixtures/memfs/main.ts'),
      mountpoint,
      '--direct-io',
      '--attr-timeout-ms',
      '0',
      '--entry-timeout-ms',
      '0',
    ],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the fixture did not mount in time')), startTimeoutMs);
    child.on('exit', (code) => reject(new Error(`the fixture exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('READY ')) return;
      clearTimeout(timer);
      resolve(child);
    });
  });
}

/** A tmpfs directory for the baseline: /dev/shm when it is tmpfs, else the temporary directory. */
function baselineDirectory(): { path: string; name: string } {
  const shmIsTmpfs = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === '/dev/shm' && line.split(' ')[2] === 'tmpfs');
  const parent = shmIsTmpfs ? '/dev/shm' : tmpdir();
  return { path: mkdtempSync(join(parent, 'fuse-bench-')), name: shmIsTmpfs ? 'tmpfs' : parent };
}

export async function run(): Promise<void> {
  if (!existsSync('/dev/fuse') || !existsSync(join(repoRoot, 'native/fuse/build/Release/fuse.node'))) {
    console.log('skipped: needs /dev/fuse and the built native/fuse addon');
    return;
  }
  const baseline = baselineDirectory();
  const work = mkdtempSync(join(tmpdir(), 'fuse-bench-'));
  const mountpoint = join(work, 'mnt');
  spawnSync('mkdir', [mountpoint]);
  const fixture = await startFixture(mountpoint);
  try {
    const ours = measure(mountpoint);
    const theirs = measure(baseline.path);
    const rows: [string, string, keyof Rates][] = [
      ['sequential write, 1 MiB requests', 'MiB/s', 'sequentialWriteMiBps'],
      ['sequential read, 1 MiB requests', 'MiB/s', 'sequentialReadMiBps'],
      ['random read, 4 KiB', 'ops/s', 'randomReadOps'],
      ['getattr (fstat, attribute timeout 0)', 'ops/s', 'getattrOps'],
    ];
    for (const [workload, unit, key] of rows) {
      reportRatio({ workload, unit, ours: ours[key], baselineName: baseline.name, baseline: theirs[key] });
    }
  } finally {
    fixture.stdin?.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        fixture.kill('SIGKILL');
        resolve();
      }, 5_000);
      fixture.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    spawnSync('fusermount3', ['-u', '-z', mountpoint], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
    rmSync(baseline.path, { recursive: true, force: true });
  }
}
