// The whole system as programs see it: a real cluster (mgmtd, meta, three storage services, a
// replication-3 chain) used through the FUSE mount and through the client library without FUSE,
// each beside the same workload on a plain directory of the local disk: sequential write and read
// of 1 GiB with 1 MiB I/O, 4 KiB random reads, and create, stat and unlink of 10,000 small files.
// Replication writes three copies where the local disk writes one.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FsClient } from '../src/client/index.js';
import { seededRandom } from '../src/common/random.js';
import { startFuseCluster } from '../tests/integration/helpers/fuse-cluster.js';
import { TestWorld } from '../tests/integration/helpers/processes.js';
import { reportRatio } from './report.js';

const mib = 1024 * 1024;
const fileBytes = 1024 * mib;
const ioBytes = mib;
const randomReadBytes = 4096;
const randomReadMs = 3_000;
const smallFiles = 10_000;
const smallFileBytes = 100;
/** Requests in flight for the random reads and small-file operations. */
const concurrency = 16;

/** One side of the comparison: how to write, read and handle small files. */
interface Target {
  name: string;
  writeSequential(name: string, data: Buffer): Promise<void>;
  readSequential(name: string): Promise<number>;
  randomReads(name: string, deadlineMs: number): Promise<number>;
  create(name: string, data: Buffer): Promise<void>;
  stat(name: string): Promise<void>;
  unlink(name: string): Promise<void>;
}

/** A directory (the mount or the local disk) used through node:fs. */
function directoryTarget(name: string, root: string): Target {
  return {
    name,
    async writeSequential(file, data) {
      const handle = await open(join(root, file), 'w');
      try {
        for (let offset = 0; offset < fileBytes; offset += ioBytes)
          await handle.write(data, 0, ioBytes, offset);
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    async readSequential(file) {
      const handle = await open(join(root, file), 'r');
      const buffer = Buffer.allocUnsafe(ioBytes);
      let total = 0;
      try {
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, ioBytes, total);
          if (bytesRead === 0) return total;
          total += bytesRead;
        }
      } finally {
        await handle.close();
      }
    },
    async randomReads(file, deadlineMs) {
      const handle = await open(join(root, file), 'r');
      try {
        return await countUntil(deadlineMs, async (random) => {
          const buffer = Buffer.allocUnsafe(randomReadBytes);
          const offset = random.nextInt(fileBytes / randomReadBytes) * randomReadBytes;
          await handle.read(buffer, 0, randomReadBytes, offset);
        });
      } finally {
        await handle.close();
      }
    },
    create: (file, data) => writeFile(join(root, file), data),
    stat: async (file) => void (await stat(join(root, file))),
    unlink: (file) => unlink(join(root, file)),
  };
}

/**
 * The client library in this process, no FUSE. `release` takes back what a read returned once it
 * has been counted (releasePayload, for a client with a reply payload pool).
 */
export function clientTarget(
  client: FsClient,
  root: string,
  release: (bytes: Buffer) => void = () => undefined,
): Target {
  return {
    name: 'client library',
    async writeSequential(file, data) {
      const handle = await client.open(`${root}/${file}`, { write: true, create: true, truncate: true });
      try {
        for (let offset = 0; offset < fileBytes; offset += ioBytes) await handle.write(BigInt(offset), data);
        await handle.fsync();
      } finally {
        await handle.close();
      }
    },
    async readSequential(file) {
      const handle = await client.open(`${root}/${file}`);
      let total = 0;
      try {
        for (;;) {
          const bytes = await handle.read(BigInt(total), ioBytes);
          if (bytes.length === 0) return total;
          total += bytes.length;
          release(bytes);
        }
      } finally {
        await handle.close();
      }
    },
    async randomReads(file, deadlineMs) {
      const handle = await client.open(`${root}/${file}`);
      try {
        return await countUntil(deadlineMs, async (random) => {
          const offset = random.nextInt(fileBytes / randomReadBytes) * randomReadBytes;
          release(await handle.read(BigInt(offset), randomReadBytes));
        });
      } finally {
        await handle.close();
      }
    },
    create: (file, data) => client.writeFile(`${root}/${file}`, data),
    stat: async (file) => void (await client.stat(`${root}/${file}`)),
    unlink: (file) => client.unlink(`${root}/${file}`),
  };
}

/** Runs `operation` from `concurrency` loops until the deadline; returns operations per second. */
async function countUntil(
  deadlineMs: number,
  operation: (random: ReturnType<typeof seededRandom>) => Promise<void>,
): Promise<number> {
  const started = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const random = seededRandom(worker + 1);
      while (performance.now() - started < deadlineMs) {
        await operation(random);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1_000);
}

/** Runs `operation` for every small file, `concurrency` at once; returns operations per second. */
async function eachSmallFile(operation: (name: string) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < smallFiles) {
        const index = next++;
        await operation(`small/d${index % 100}/f${index}`);
      }
    }),
  );
  return smallFiles / ((performance.now() - started) / 1_000);
}

/**
 * Empties the kernel's page cache, dentries and inodes (root only), so local reads and lookups come
 * from the disk and lookups on a mount reach its daemon. Dirty pages are written back first (as
 * `sync; echo 3 > /proc/sys/vm/drop_caches`), since only clean ones can be dropped. Returns whether
 * the caches were dropped.
 */
export function dropCaches(): boolean {
  spawnSync('sync', { timeout: 60_000 });
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    // Not root: local reads may come from memory, which the ratio then shows.
    return false;
  }
}

interface Results {
  writeMiBps: number;
  readMiBps: number;
  randomIops: number;
  createOps: number;
  statOps: number;
  unlinkOps: number;
}

async function measure(target: Target, makeDirectories: () => Promise<void>): Promise<Results> {
  const data = randomBytes(ioBytes);
  let started = performance.now();
  await target.writeSequential('big', data);
  const writeMiBps = fileBytes / mib / ((performance.now() - started) / 1_000);
  dropCaches();
  started = performance.now();
  const read = await target.readSequential('big');
  const readMiBps = read / mib / ((performance.now() - started) / 1_000);
  dropCaches();
  const randomIops = await target.randomReads('big', randomReadMs);
  await target.unlink('big');
  await makeDirectories();
  const small = Buffer.alloc(smallFileBytes, 7);
  const createOps = await eachSmallFile((name) => target.create(name, small));
  const statOps = await eachSmallFile((name) => target.stat(name));
  const unlinkOps = await eachSmallFile((name) => target.unlink(name));
  return { writeMiBps, readMiBps, randomIops, createOps, statOps, unlinkOps };
}

function report(name: string, ours: Results, local: Results): void {
  const line = (workload: string, unit: string, key: keyof Results) =>
    reportRatio({
      workload: `${name}: ${workload}`,
      unit,
      ours: ours[key],
      baselineName: 'local disk',
      baseline: local[key],
    });
  line('sequential write 1 GiB, 1 MiB I/O', 'MiB/s', 'writeMiBps');
  line('sequential read 1 GiB, 1 MiB I/O', 'MiB/s', 'readMiBps');
  line(`4 KiB random reads, ${concurrency} in flight`, 'IOPS', 'randomIops');
  line(`create ${smallFiles} files of ${smallFileBytes} B`, 'ops/s', 'createOps');
  line(`stat ${smallFiles} files`, 'ops/s', 'statOps');
  line(`unlink ${smallFiles} files`, 'ops/s', 'unlinkOps');
}

export async function run(): Promise<void> {
  const world = new TestWorld();
  const cluster = await startFuseCluster(world);
  try {
    const localRoot = world.tempDir('3fs-bench-local-');
    const localDirs = async (): Promise<void> => {
      for (let index = 0; index < 100; index++)
        mkdirSync(join(localRoot, `small/d${index}`), { recursive: true });
    };
    const local = await measure(directoryTarget('local disk', localRoot), localDirs);

    const mount = cluster.mountPoint;
    const mountDirs = async (): Promise<void> => {
      for (let index = 0; index < 100; index++)
        mkdirSync(join(mount, `small/d${index}`), { recursive: true });
    };
    report('FUSE mount', await measure(directoryTarget('FUSE mount', mount), mountDirs), local);

    const client = await cluster.client();
    await client.mkdir('/lib', { recursive: true });
    const clientDirs = async (): Promise<void> => {
      for (let index = 0; index < 100; index++)
        await client.mkdir(`/lib/small/d${index}`, { recursive: true });
    };
    report('client library', await measure(clientTarget(client, '/lib'), clientDirs), local);
  } finally {
    await cluster.stop();
    await world.cleanup();
  }
}
