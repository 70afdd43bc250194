// Proves fallocate(2) through a real mount and the client library: util-linux fallocate -l, -n, -p, -z and -x work, modes the file system lacks fail with EOPNOTSUPP and promises past the usable space with ENOSPC, a punched or zeroed range is never read back stale from a cache, whole chunks punched out leave every replica, and an fsx-style run (fsx.py) of random writes, reads, truncates and every supported mode matches a byte-array model.
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FallocateFlag } from '../../../src/client/index.js';
import { hasCode } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { ClientCode, CommonCode } from '../../../src/common/status-code.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { storageMethods } from '../../../src/storage/protocol/index.js';
import { skipWithout } from '../../helpers/requirements.js';
import { run } from '../fuse-binding/harness.js';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, startFuseCluster } from '../helpers/fuse-cluster.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('FUSE fallocate tests');
const kib = 1024;
const mib = 1024 * kib;
/** Small chunks, so a few MiB cross many chunk boundaries (and hold four 64 KiB blocks each). */
const chunkSizeBytes = 256 * kib;
const fsxScript = join(import.meta.dirname, 'fsx.py');
/**
 * Operations of the randomized run here: 100,000 took 446 s on a 2-core machine (about 4.5 ms
 * each), too long for every run of the suite, so it runs 12,000 (about a minute). `FSX_OPS` asks
 * for more, `FSX_SEED` replays a failure, and `FSX_CHUNK_ENGINE=files` runs the cluster on the
 * TypeScript chunk store instead of the native engine.
 */
const fsxOps = Number(process.env['FSX_OPS'] ?? 12_000);
const chunkEngine = process.env['FSX_CHUNK_ENGINE'];

/** Runs a Python program that prints one JSON value, and parses it. */
async function pythonJson(program: string): Promise<unknown> {
  const source = [
    'import ctypes, ctypes.util, errno, json, os',
    'libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)',
    'libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]',
    'def fallocate(fd, mode, offset, length):',
    '    if libc.fallocate(fd, mode, offset, length) != 0:',
    '        return errno.errorcode[ctypes.get_errno()]',
    '    return "ok"',
    program,
  ].join('\n');
  const result = await run('python3', ['-c', source]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as unknown;
}

/** Bytes of `length` from a pattern that differs at every offset (so misplaced bytes show). */
function pattern(length: number, seed = 1): Buffer {
  const data = Buffer.alloc(length);
  for (let at = 0; at < length; at++) data[at] = (at * 7 + seed + (at >> 9)) & 0xff || 1;
  return data;
}

describe.skipIf(skipReason !== undefined)('fallocate through the mount', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let mnt: string;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world, {
      chunkSizeBytes,
      ...(chunkEngine === undefined ? {} : { storageSettings: `chunk_engine = "${chunkEngine}"` }),
    });
    mnt = cluster.mountPoint;
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it('extends with fallocate -l and -x, keeps the size with -n, punches with -p and zeroes with -z', async () => {
    const path = join(mnt, 'util-linux');
    const fallocate = async (...args: string[]) => {
      const result = await run('fallocate', [...args, path]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    };
    await fallocate('-l', String(3 * mib));
    expect((await stat(path)).size).toBe(3 * mib);
    expect((await readFile(path)).equals(Buffer.alloc(3 * mib))).toBe(true);
    const data = pattern(3 * mib);
    await writeFile(path, data);
    await fallocate('-p', '-o', String(100 * kib), '-l', String(600 * kib));
    data.fill(0, 100 * kib, 700 * kib);
    expect((await readFile(path)).equals(data)).toBe(true);
    await fallocate('-z', '-o', String(2 * mib + 5), '-l', String(2 * mib));
    const zeroed = Buffer.concat([data.subarray(0, 2 * mib + 5), Buffer.alloc(2 * mib)]);
    expect((await stat(path)).size).toBe(4 * mib + 5);
    expect((await readFile(path)).equals(zeroed)).toBe(true);
    await fallocate('-n', '-o', '0', '-l', String(16 * mib));
    expect((await stat(path)).size).toBe(4 * mib + 5);
    await fallocate('-x', '-l', String(5 * mib));
    expect((await stat(path)).size).toBe(5 * mib);
    expect((await readFile(path)).subarray(0, 4 * mib + 5).equals(zeroed)).toBe(true);
    // A hole punched past the end changes nothing.
    await fallocate('-p', '-o', String(6 * mib), '-l', String(mib));
    expect((await stat(path)).size).toBe(5 * mib);
  });

  it('refuses modes the file system lacks with EOPNOTSUPP, bad ranges with EINVAL, and more space than there is with ENOSPC', async () => {
    const path = join(mnt, 'refusals');
    const results = await pythonJson(
      [
        `fd = os.open(${JSON.stringify(path)}, os.O_RDWR | os.O_CREAT, 0o644)`,
        'os.pwrite(fd, b"x" * 8192, 0)',
        'out = [',
        '    fallocate(fd, 0x08, 0, 4096),', // COLLAPSE_RANGE
        '    fallocate(fd, 0x20, 0, 4096),', // INSERT_RANGE
        '    fallocate(fd, 0x40, 0, 4096),', // UNSHARE_RANGE
        '    fallocate(fd, 0x02, 0, 4096),', // PUNCH_HOLE without KEEP_SIZE
        '    fallocate(fd, 0, 0, 0),',
        '    fallocate(fd, 0, 1 << 50, 1 << 50),', // 2 PiB: more than the test disks hold
        '    fallocate(fd, 0x01, 0, 1 << 50),',
        '    os.fstat(fd).st_size,',
        ']',
        'ro = os.open(' + JSON.stringify(path) + ', os.O_RDONLY)',
        'out.append(fallocate(ro, 0, 0, 4096))',
        'print(json.dumps(out))',
      ].join('\n'),
    );
    // Python names EOPNOTSUPP by its other name, ENOTSUP: the same number on Linux.
    expect(results).toEqual([
      'ENOTSUP',
      'ENOTSUP',
      'ENOTSUP',
      'ENOTSUP',
      'EINVAL',
      'ENOSPC',
      'ENOSPC',
      8192,
      'EBADF',
    ]);
  });

  it('never serves the old bytes of a punched or zeroed range from a cache, through any descriptor', async () => {
    const path = join(mnt, 'cached');
    const results = await pythonJson(
      [
        `path = ${JSON.stringify(path)}`,
        'data = bytes((i * 13 + 1) % 251 + 1 for i in range(1 << 20))',
        'fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)',
        'os.pwrite(fd, data, 0)',
        'other = os.open(path, os.O_RDONLY)',
        // Both descriptors read the whole file: the page cache (and read-ahead) hold it now.
        'assert os.pread(fd, 1 << 20, 0) == data and os.pread(other, 1 << 20, 0) == data',
        'out = [fallocate(fd, 3, 4096, 300000)]',
        'expected = bytearray(data)',
        'expected[4096:304096] = bytes(300000)',
        'out.append(os.pread(fd, 1 << 20, 0) == expected)',
        'out.append(os.pread(other, 1 << 20, 0) == expected)',
        'out.append(fallocate(fd, 0x10 | 1, 600001, 100000))',
        'expected[600001:700001] = bytes(100000)',
        'out.append(os.pread(fd, 1 << 20, 0) == expected)',
        'out.append(os.pread(other, 1 << 20, 0) == expected)',
        // A write buffered by the daemon just before a punch lands before it, not after.
        'os.pwrite(fd, b"late" * 1024, 800000)',
        'out.append(fallocate(fd, 3, 790000, 20000))',
        'expected[790000:810000] = bytes(20000)',
        'out.append(os.pread(other, 1 << 20, 0) == expected)',
        'os.close(fd)',
        'os.close(other)',
        'fresh = os.open(path, os.O_RDONLY)',
        'out.append(os.pread(fresh, 1 << 20, 0) == expected)',
        'print(json.dumps(out))',
      ].join('\n'),
    );
    expect(results).toEqual(['ok', true, true, 'ok', true, true, 'ok', true, true]);
  });

  it('removes whole chunks punched out on every replica', async () => {
    const client = await cluster!.client();
    const rpc = new RpcClient({ clusterSecret, logger: silentLogger() });
    try {
      const routing = await client.routing.refresh();
      const storageAddresses = routing.nodes
        .filter((node) => node.type === 'storage')
        .map((node) => node.address);
      expect(storageAddresses).toHaveLength(3);
      const chunkCounts = async (): Promise<number[]> => {
        const counts: number[] = [];
        for (const address of storageAddresses) {
          const { targets } = await rpc.call(address, storageMethods.listTargets, {});
          for (const target of targets) counts.push(target.chunkCount);
        }
        return counts;
      };
      const path = join(mnt, 'punched-chunks');
      await writeFile(path, pattern(8 * chunkSizeBytes));
      const before = await chunkCounts();
      // Chunks 1..6 lie wholly in the hole; chunk 0 and 7 keep their other bytes.
      const handle = await client.open('/punched-chunks', { write: true });
      try {
        await handle.fallocate(
          FallocateFlag.punchHole | FallocateFlag.keepSize,
          BigInt(chunkSizeBytes - 5),
          BigInt(6 * chunkSizeBytes + 10),
        );
      } finally {
        await handle.close();
      }
      const after = await chunkCounts();
      // One chain of three replicas: every target held every chunk, and lost the same six.
      expect(after.map((count, index) => (before[index] ?? 0) - count)).toEqual([6, 6, 6]);
      const expected = pattern(8 * chunkSizeBytes);
      expected.fill(0, chunkSizeBytes - 5, 7 * chunkSizeBytes + 5);
      expect((await readFile(path)).equals(expected)).toBe(true);
    } finally {
      await rpc.close();
    }
  });

  it('answers the client library by path and by handle, with status codes for what it refuses', async () => {
    const client = await cluster!.client();
    await client.writeFile('/library', pattern(mib));
    await client.fallocate('/library', 0, BigInt(mib), BigInt(mib));
    expect(await client.stat('/library')).toMatchObject({ type: 'file', length: BigInt(2 * mib) });
    await client.fallocate('/library', FallocateFlag.zeroRange | FallocateFlag.keepSize, 10n, 100n);
    const data = await client.readFile('/library');
    expect(data.subarray(10, 110).equals(Buffer.alloc(100))).toBe(true);
    expect(data.subarray(0, 10).equals(pattern(mib).subarray(0, 10))).toBe(true);
    await expect(client.fallocate('/library', FallocateFlag.collapseRange, 0n, 4096n)).rejects.toSatisfy(
      (error) => hasCode(error, CommonCode.NotImplemented),
    );
    await expect(client.fallocate('/library', 0, 0n, 1n << 55n)).rejects.toSatisfy((error) =>
      hasCode(error, ClientCode.NoSpace),
    );
    const reader = await client.open('/library');
    try {
      await expect(reader.fallocate(0, 0n, 1n)).rejects.toSatisfy((error) =>
        hasCode(error, ClientCode.BadFileHandle),
      );
    } finally {
      await reader.close();
    }
  });

  it(
    `matches a byte-array model over ${fsxOps} random writes, reads, truncates and fallocates (fsx.py)`,
    async () => {
      const seed = process.env['FSX_SEED'] ?? String(Math.floor(Math.random() * 2 ** 32));
      const timeoutMs = Math.max(120_000, fsxOps * 10);
      const result = await run(
        'python3',
        [
          fsxScript,
          join(mnt, 'fsx'),
          '--ops',
          String(fsxOps),
          '--seed',
          seed,
          '--max-size',
          String(4 * mib),
          '--chunk',
          String(chunkSizeBytes),
        ],
        { timeoutMs },
      );
      // The seed is in the output: a failure names what to replay (FSX_SEED=<seed>).
      expect(result.stdout).toMatch(/^fsx: seed \d+/);
      expect(result.stderr, result.stdout).toBe('');
      expect(result.code, result.stdout).toBe(0);
      console.info(result.stdout.trim().split('\n').at(-1));
    },
    Math.max(120_000, fsxOps * 10) + 30_000,
  );

  // Under CI=true a missing fio fails the file (skipWithout) instead of skipping the test.
  it.skipIf(
    skipWithout(
      'fio',
      existsSync('/usr/bin/fio') ? undefined : '/usr/bin/fio is missing (apt-get install fio)',
    ),
  )('lets fio lay out its file with its default preallocation', async () => {
    // fio preallocates with fallocate(fd, 0, 0, size) and complains on stderr when that fails.
    const path = join(mnt, 'fio');
    const result = await run('fio', [
      '--name=prealloc',
      `--filename=${path}`,
      '--size=8M',
      '--rw=write',
      '--bs=1M',
      '--fallocate=native',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await stat(path)).size).toBe(8 * mib);
  });
});
