// Chunk throughput of real storage_main processes (mgmtd, storage services on loopback, fsync on,
// as deployed) beside the same I/O pattern on plain files in the same temp directory: 4 MiB chunk
// writes (each a new file + fdatasync on the plain side) and reads, and 4 KiB random reads, at
// concurrency 1 and 8. Replication 3 writes three copies through the chain where the plain file
// writes one; replication 1 shows the cost of the service itself.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom, type Random } from '../src/common/random.js';
import { TestWorld } from '../tests/integration/helpers/processes.js';
import { StorageCluster } from '../tests/integration/helpers/storage-cluster.js';
import { reportRatio } from './report.js';

const chunkBytes = 4 * 1024 * 1024;
const smallReadBytes = 4 * 1024;
const measureMs = 1_500;
const concurrencies = [1, 8] as const;
/** Chunks written before the read workloads run, so reads spread over more than one file. */
const readSetChunks = 16;

/** Runs `operation` from `workers` concurrent loops for measureMs; returns operations per second. */
async function rate(
  workers: number,
  operation: (worker: number, sequence: number) => Promise<void>,
): Promise<number> {
  let done = 0;
  let sequence = 0;
  const startMs = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() - startMs < measureMs) {
        await operation(worker, sequence++);
        done++;
      }
    }),
  );
  return done / ((performance.now() - startMs) / 1_000);
}

const mebibytes = (operationsPerSecond: number, bytes: number): number =>
  (operationsPerSecond * bytes) / (1 << 20);

/** The plain-file side: the same pattern with one file per chunk. */
class PlainFiles {
  constructor(private readonly directory: string) {
    mkdirSync(directory, { recursive: true });
  }

  path(index: number): string {
    return join(this.directory, `chunk-${index}`);
  }

  async write(index: number, data: Buffer): Promise<void> {
    const handle = await open(this.path(index), 'w');
    try {
      await handle.write(data, 0, data.length, 0);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  async readSmall(index: number, offset: number): Promise<void> {
    const handle = await open(this.path(index), 'r');
    try {
      await handle.read(Buffer.allocUnsafe(smallReadBytes), 0, smallReadBytes, offset);
    } finally {
      await handle.close();
    }
  }
}

function randomOffset(random: Random): number {
  return random.nextInt(chunkBytes / smallReadBytes) * smallReadBytes;
}

async function benchCluster(options: {
  replicas: number;
  storageNodes: number;
  plain: PlainFiles;
}): Promise<void> {
  const world = new TestWorld();
  try {
    const cluster = await StorageCluster.start(world, {
      storageNodes: options.storageNodes,
      targetsPerNode: 1,
      replicas: options.replicas,
      chunkSizeMaxBytes: chunkBytes,
    });
    const { client } = cluster;
    const data = randomBytes(chunkBytes);
    const label = `replication ${options.replicas}`;
    let inode = 1n;
    for (const workers of concurrencies) {
      const fileInode = inode++;
      const ours = await rate(workers, (_, sequence) =>
        client
          .replace({
            chainId: 1,
            chunkId: { inode: fileInode, index: sequence },
            chunkSizeBytes: chunkBytes,
            data,
          })
          .then(() => undefined),
      );
      const plain = await rate(workers, (_, sequence) => options.plain.write(sequence, data));
      reportRatio({
        workload: `${label}: 4 MiB chunk writes, ${workers} at once`,
        unit: 'MiB/s',
        ours: mebibytes(ours, chunkBytes),
        baselineName: 'file+fdatasync',
        baseline: mebibytes(plain, chunkBytes),
      });
    }
    const readInode = inode++;
    for (let index = 0; index < readSetChunks; index++) {
      await client.replace({
        chainId: 1,
        chunkId: { inode: readInode, index },
        chunkSizeBytes: chunkBytes,
        data,
      });
      await options.plain.write(index, data);
    }
    for (const workers of concurrencies) {
      const ours = await rate(workers, (_, sequence) =>
        client
          .read({
            chainId: 1,
            chunkId: { inode: readInode, index: sequence % readSetChunks },
            offset: 0,
            length: chunkBytes,
          })
          .then(() => undefined),
      );
      const plain = await rate(workers, (_, sequence) =>
        readFile(options.plain.path(sequence % readSetChunks)).then(() => undefined),
      );
      reportRatio({
        workload: `${label}: 4 MiB chunk reads, ${workers} at once`,
        unit: 'MiB/s',
        ours: mebibytes(ours, chunkBytes),
        baselineName: 'file read',
        baseline: mebibytes(plain, chunkBytes),
      });
    }
    for (const workers of concurrencies) {
      const random = seededRandom(workers);
      const ours = await rate(workers, () =>
        client
          .read({
            chainId: 1,
            chunkId: { inode: readInode, index: random.nextInt(readSetChunks) },
            offset: randomOffset(random),
            length: smallReadBytes,
          })
          .then(() => undefined),
      );
      const plain = await rate(workers, () =>
        options.plain.readSmall(random.nextInt(readSetChunks), randomOffset(random)),
      );
      reportRatio({
        workload: `${label}: 4 KiB random reads, ${workers} at once`,
        unit: 'ops/s',
        ours,
        baselineName: 'file pread',
        baseline: plain,
      });
    }
    await cluster.close();
  } finally {
    await world.cleanup();
  }
}

export async function run(): Promise<void> {
  const world = new TestWorld();
  try {
    const plain = new PlainFiles(join(world.tempDir('3fs-storage-bench-'), 'plain'));
    await benchCluster({ replicas: 1, storageNodes: 1, plain });
    await benchCluster({ replicas: 3, storageNodes: 3, plain });
  } finally {
    await world.cleanup();
  }
}
