// The data path as users measure it: the same fio jobs on a directory of the local disk and on the
// mount of `3fs local` with its default settings (replication 3), and sequential I/O through the
// client library without FUSE. Each line gives ours beside the raw disk as a ratio, and the CPU time
// all of the cluster's processes spent per MiB or per 4 KiB read, since the machine's cores are the
// budget every replica shares. Needs fio, and root for dropping the page cache before reads.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FsClient, readReplyPool, releasePayload } from '../src/client/index.js';
import { silentLogger } from '../src/common/logger.js';
import { clientTarget, dropCaches } from './client.bench.js';
import { cpuMs, descendants, repoRoot, startLocalCluster, type LocalCluster } from './local-cluster.js';
import { reportRatio } from './report.js';

const mib = 1024 * 1024;
/** The file the jobs write and read (the client library's part writes its own of the same size). */
const fileSize = '1G';
const fileBytes = 1024 * mib;
/** Seconds each random-read job runs. */
const randomSeconds = Number(process.env['DATA_BENCH_RANDOM_SECONDS'] ?? '10');

interface Job {
  name: string;
  unit: 'MiB/s' | 'IOPS';
  args: string[];
  /** What one unit of CPU cost is counted per. */
  per: 'MiB' | '4 KiB read';
}

const jobs: Job[] = [
  {
    name: 'seq write 1 MiB + fsync',
    unit: 'MiB/s',
    per: 'MiB',
    args: ['--rw=write', '--bs=1M', '--end_fsync=1', '--ioengine=psync', `--size=${fileSize}`],
  },
  {
    name: 'seq read 1 MiB',
    unit: 'MiB/s',
    per: 'MiB',
    args: ['--rw=read', '--bs=1M', '--ioengine=psync', `--size=${fileSize}`],
  },
  ...[1, 4].map((jobCount): Job => ({
    name: `4 KiB random read, direct, ${jobCount} job${jobCount > 1 ? 's' : ''}`,
    unit: 'IOPS',
    per: '4 KiB read',
    args: [
      '--rw=randread',
      '--bs=4k',
      '--direct=1',
      '--ioengine=psync',
      `--numjobs=${jobCount}`,
      '--group_reporting',
      '--time_based',
      `--runtime=${randomSeconds}`,
      `--size=${fileSize}`,
    ],
  })),
];

interface JobResult {
  rate: number;
  /** CPU milliseconds of the cluster's processes per MiB or per read (undefined for the raw disk). */
  cpuMsPerUnit: number | undefined;
}

/** Runs one fio job on `file`; returns MiB/s or IOPS. */
function runFio(job: Job, file: string): number {
  dropCaches();
  const output = execFileSync(
    'fio',
    ['--name=bench', `--filename=${file}`, '--output-format=json', ...job.args],
    { encoding: 'utf8', maxBuffer: 64 * mib },
  );
  const parsed = JSON.parse(output) as {
    jobs: { read: { bw_bytes: number; iops: number }; write: { bw_bytes: number; iops: number } }[];
  };
  const result = parsed.jobs[0];
  if (result === undefined) throw new Error(`fio printed no job for ${job.name}`);
  const side = job.args.includes('--rw=write') ? result.write : result.read;
  return job.unit === 'MiB/s' ? side.bw_bytes / mib : side.iops;
}

/** The fio jobs on one directory; with `pids`, the CPU those processes spent per unit. */
function runJobs(directory: string, pids: () => number[] | undefined): JobResult[] {
  const file = join(directory, 'fio-data');
  const results: JobResult[] = [];
  for (const job of jobs) {
    const watched = pids();
    const cpuBefore = watched === undefined ? 0 : cpuMs(watched);
    const started = performance.now();
    const rate = runFio(job, file);
    const seconds = (performance.now() - started) / 1_000;
    // MiB moved or reads done, from the rate fio measured over the time the job took.
    const units = rate * seconds;
    const cpuMsPerUnit = watched === undefined ? undefined : (cpuMs(watched) - cpuBefore) / units;
    results.push({ rate, cpuMsPerUnit });
  }
  rmSync(file, { force: true });
  return results;
}

/**
 * The client library as the package ships it (dist/client.js, which `npm run bench` builds first),
 * rather than its sources run through the TypeScript loader this benchmark runs under: that loader
 * made the same reads about a quarter slower (four times the collection time, slower socket writes).
 */
/** What the benchmark takes from the shipped client library. */
interface ClientLibrary {
  FsClient: typeof FsClient;
  readReplyPool: typeof readReplyPool;
  releasePayload: typeof releasePayload;
}

async function shippedClientLibrary(): Promise<ClientLibrary> {
  return (await import(pathToFileURL(join(repoRoot, 'dist/client.js')).href)) as ClientLibrary;
}

/** Sequential write and read of 1 GiB through the client library in this process. */
async function runClientLibrary(cluster: LocalCluster): Promise<{ writeMiBps: number; readMiBps: number }> {
  const clusterSecret = readFileSync(join(cluster.dataDir, 'etc/cluster-secret'), 'utf8').trim();
  const library = await shippedClientLibrary();
  // Reads land in reused buffers, each handed back once counted, as a program reading a stream
  // would do (the pool and releasePayload come from the same bundle as the client).
  const client = await library.FsClient.connect({
    mgmtdAddresses: [`127.0.0.1:${cluster.mgmtdPort}`],
    clusterSecret,
    logger: silentLogger(),
    replyPayloadPool: library.readReplyPool(),
  });
  try {
    await client.mkdir('/bench-client', { recursive: true });
    const target = clientTarget(client, '/bench-client', library.releasePayload);
    const data = Buffer.alloc(mib, 0x5a);
    let started = performance.now();
    await target.writeSequential('big', data);
    const writeMiBps = fileBytes / mib / ((performance.now() - started) / 1_000);
    dropCaches();
    started = performance.now();
    const read = await target.readSequential('big');
    const readMiBps = read / mib / ((performance.now() - started) / 1_000);
    await target.unlink('big');
    return { writeMiBps, readMiBps };
  } finally {
    await client.close();
  }
}

export async function run(): Promise<void> {
  if (spawnSync('fio', ['--version']).status !== 0) {
    throw new Error('the data benchmark runs fio: install it (Debian: apt-get install fio)');
  }
  if (!existsSync('dist/3fs.js')) throw new Error('dist/ is not built (npm run build)');
  const workDir = mkdtempSync(join(tmpdir(), '3fs-data-bench-'));
  try {
    const rawDir = join(workDir, 'raw');
    mkdirSync(rawDir);
    const raw = runJobs(rawDir, () => undefined);
    const cluster = await startLocalCluster(workDir);
    let ours: JobResult[];
    let library: { writeMiBps: number; readMiBps: number };
    try {
      ours = runJobs(cluster.mount, () => descendants(cluster.pid));
      library = await runClientLibrary(cluster);
    } finally {
      await cluster.stop();
    }
    for (const [index, job] of jobs.entries()) {
      const mine = ours[index];
      const disk = raw[index];
      if (mine === undefined || disk === undefined) continue;
      reportRatio({
        workload: `mount: ${job.name}`,
        unit: job.unit,
        ours: mine.rate,
        baselineName: 'raw disk',
        baseline: disk.rate,
      });
      if (mine.cpuMsPerUnit !== undefined) {
        console.log(`${''.padEnd(44)} cluster CPU ${mine.cpuMsPerUnit.toFixed(3)} ms per ${job.per}`);
      }
    }
    const [rawWrite, rawRead] = raw;
    reportRatio({
      workload: 'client library: seq write 1 GiB + fsync',
      unit: 'MiB/s',
      ours: library.writeMiBps,
      baselineName: 'raw disk',
      baseline: rawWrite?.rate ?? Number.NaN,
    });
    reportRatio({
      workload: 'client library: seq read 1 GiB',
      unit: 'MiB/s',
      ours: library.readMiBps,
      baselineName: 'raw disk',
      baseline: rawRead?.rate ?? Number.NaN,
    });
    console.log(
      '(raw disk: the same fio jobs on a directory beside the cluster; the page cache is dropped before each)',
    );
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
