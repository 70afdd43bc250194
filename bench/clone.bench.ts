// Copy-on-write clones: the time `FsClient.clone` (what `admin clone` runs) takes to clone a 1 GiB
// file on a real cluster (mgmtd, meta, three storage services with the native chunk engine, a
// replication-3 chain), beside copying the same file on the local disk. A clone moves no data, so
// it should take metadata time: well under a second for 1 GiB. CLONE_BENCH_MIB sets a smaller
// file for a quick run. The local copy may read from the page cache: it is the easy baseline.
import { randomBytes } from 'node:crypto';
import { copyFile, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startFuseCluster } from '../tests/integration/helpers/fuse-cluster.js';
import { TestWorld } from '../tests/integration/helpers/processes.js';
import { reportRatio } from './report.js';

const mib = 1024 * 1024;
const fileMib = Number(process.env['CLONE_BENCH_MIB'] ?? 1024);
const fileBytes = fileMib * mib;
const ioBytes = mib;

async function localCopySeconds(dir: string, data: Buffer): Promise<number> {
  const source = join(dir, 'local-big');
  const handle = await open(source, 'w');
  try {
    for (let offset = 0; offset < fileBytes; offset += ioBytes) await handle.write(data, 0, ioBytes, offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const started = performance.now();
  await copyFile(source, join(dir, 'local-copy'));
  const seconds = (performance.now() - started) / 1_000;
  await rm(join(dir, 'local-copy'));
  await rm(source);
  return seconds;
}

export async function run(): Promise<void> {
  const world = new TestWorld();
  try {
    const cluster = await startFuseCluster(world);
    try {
      const client = await cluster.client();
      const data = randomBytes(ioBytes);
      const file = await client.open('/big', { write: true, create: true, truncate: true });
      for (let offset = 0; offset < fileBytes; offset += ioBytes) await file.write(BigInt(offset), data);
      await file.close();
      const started = performance.now();
      const summary = await client.clone('/big', '/big-clone');
      const cloneSeconds = (performance.now() - started) / 1_000;
      if (summary.bytes !== BigInt(fileBytes))
        throw new Error(`cloned ${summary.bytes} bytes, not ${fileBytes}`);
      console.log(`clone of a ${fileMib} MiB file: ${(cloneSeconds * 1_000).toFixed(0)} ms`);
      const copySeconds = await localCopySeconds(world.tempDir('3fs-clone-bench-'), data);
      reportRatio({
        workload: `clone ${fileMib} MiB (MiB/s, vs a local copy)`,
        unit: 'MiB/s',
        ours: fileMib / cloneSeconds,
        baselineName: 'local cp',
        baseline: fileMib / copySeconds,
      });
    } finally {
      await cluster.stop();
    }
  } finally {
    await world.cleanup();
  }
}
