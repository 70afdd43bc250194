// The NFS gateway's data path as a userspace NFS client sees it: sequential 1 MiB writes (then a
// COMMIT) and reads, and 4 KiB random reads, through libnfs against `3fs local --nfs`, beside the
// same loop on the same cluster's FUSE mount, as a ratio. One Python loop (nfs_io.py) does both, so
// only the path differs: libnfs over the gateway, or the kernel over FUSE. NFSv3 for all three;
// NFSv4 for the reads (the libnfs of Debian 12 writes at most 4 KiB per NFSv4 call). Needs libnfs
// (libnfs-utils) and python3; root drops the page cache before reads.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropCaches } from './client.bench.js';
import { startLocalCluster, type LocalCluster } from './local-cluster.js';
import { reportRatio } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const mib = 1024 * 1024;
/** The file each side writes and reads (NFS_BENCH_FILE_MIB; small for a smoke run). */
const fileBytes = Number(process.env['NFS_BENCH_FILE_MIB'] ?? '1024') * mib;
/** Seconds the random-read loop runs on each side. */
const randomSeconds = Number(process.env['NFS_BENCH_RANDOM_SECONDS'] ?? '10');

interface Rates {
  writeMiBps: number | undefined;
  readMiBps: number;
  randomReadOps: number;
}

function io(mode: 'write' | 'read' | 'random', target: string): number {
  if (mode !== 'write') dropCaches();
  const output = execFileSync(
    'python3',
    [join(here, 'nfs_io.py'), mode, target, String(fileBytes), String(randomSeconds)],
    { encoding: 'utf8', timeout: 3_600_000 },
  );
  const result = JSON.parse(output.trim().split('\n').pop() ?? '{}') as {
    mibPerSecond?: number;
    opsPerSecond?: number;
  };
  const rate = result.mibPerSecond ?? result.opsPerSecond;
  if (rate === undefined) throw new Error(`nfs_io.py ${mode} ${target} printed no rate: ${output}`);
  return rate;
}

function measure(write: string | undefined, read: string): Rates {
  return {
    writeMiBps: write === undefined ? undefined : io('write', write),
    readMiBps: io('read', read),
    randomReadOps: io('random', read),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function report(label: string, nfs: Rates, fuse: Rates): void {
  if (nfs.writeMiBps !== undefined && fuse.writeMiBps !== undefined) {
    reportRatio({
      workload: `${label} seq write 1 MiB + commit`,
      unit: 'MiB/s',
      ours: nfs.writeMiBps,
      baselineName: 'fuse',
      baseline: fuse.writeMiBps,
    });
  }
  reportRatio({
    workload: `${label} seq read 1 MiB`,
    unit: 'MiB/s',
    ours: nfs.readMiBps,
    baselineName: 'fuse',
    baseline: fuse.readMiBps,
  });
  reportRatio({
    workload: `${label} 4 KiB random read`,
    unit: 'IOPS',
    ours: nfs.randomReadOps,
    baselineName: 'fuse',
    baseline: fuse.randomReadOps,
  });
}

export async function run(): Promise<void> {
  if (!existsSync('/usr/lib/x86_64-linux-gnu/libnfs.so.13') && !existsSync('/usr/lib/libnfs.so.13')) {
    console.log('skipped: libnfs 4 (libnfs.so.13, Debian: libnfs-utils) is not installed');
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'nfs-bench-'));
  const port = await freePort();
  let cluster: LocalCluster | undefined;
  try {
    cluster = await startLocalCluster(work, { nfsPort: port });
    mkdirSync(join(cluster.mount, 'bench'));
    const url = (version: number, name: string): string =>
      `nfs://127.0.0.1/bench/${name}?version=${version}&nfsport=${port}&mountport=${port}`;
    console.log(
      `file ${fileBytes / mib} MiB, random reads ${randomSeconds} s, page cache dropped: ${dropCaches()}`,
    );
    const fuse = measure(join(cluster.mount, 'bench', 'fuse.bin'), join(cluster.mount, 'bench', 'fuse.bin'));
    const nfs3 = measure(url(3, 'nfs.bin'), url(3, 'nfs.bin'));
    report('nfs v3', nfs3, fuse);
    const nfs4 = measure(undefined, url(4, 'nfs.bin'));
    report('nfs v4', nfs4, fuse);
  } finally {
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
