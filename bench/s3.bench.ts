// The S3 gateway's data path as an S3 client sees it: PUT and GET of 1 MiB and 64 MiB objects
// (MiB/s) and of 4 KiB objects (objects/s), one request at a time over one keep-alive HTTP
// connection, signed as the SDKs sign over HTTPS (SigV4, unsigned payload), against
// `3fs local --s3`; beside the same files written and read whole through the same cluster's FUSE
// mount, as a ratio. S3_BENCH_TOTAL_MIB (per large size) and S3_BENCH_SMALL_SECONDS size a run;
// small values make a smoke run. Root drops the page cache before the FUSE reads.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authorizationHeader, formatAmzDate } from '../src/s3/sigv4.js';
import { dropCaches } from './client.bench.js';
import { startLocalCluster, type LocalCluster } from './local-cluster.js';
import { reportRatio } from './report.js';

const mib = 1024 * 1024;
/** Bytes written and read per large object size (S3_BENCH_TOTAL_MIB). */
const totalBytes = Number(process.env['S3_BENCH_TOTAL_MIB'] ?? '512') * mib;
/** Seconds each small-object loop runs (S3_BENCH_SMALL_SECONDS). */
const smallSeconds = Number(process.env['S3_BENCH_SMALL_SECONDS'] ?? '10');
const smallBytes = 4096;
const region = 'us-east-1';

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}

/** One signed request over a keep-alive connection; resolves with the status and the body's size. */
function s3Request(
  endpoint: { port: number; agent: Agent },
  key: Key,
  options: { method: 'PUT' | 'GET'; path: string; body?: Buffer },
): Promise<{ status: number; bytes: number }> {
  const timeMs = Date.now();
  const headers: Record<string, string> = {
    host: `127.0.0.1:${endpoint.port}`,
    'x-amz-date': formatAmzDate(timeMs),
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
  };
  const authorization = authorizationHeader(
    { method: options.method, path: options.path, headers, payloadHash: 'UNSIGNED-PAYLOAD' },
    { ...key, region, timeMs },
  );
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port: endpoint.port,
        method: options.method,
        path: options.path,
        agent: endpoint.agent,
        headers: { ...headers, authorization, 'content-length': String(options.body?.length ?? 0) },
      },
      (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

async function expectOk(result: Promise<{ status: number; bytes: number }>, what: string): Promise<number> {
  const { status, bytes } = await result;
  if (status !== 200) throw new Error(`${what} answered ${status}`);
  return bytes;
}

function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

interface Side {
  put(name: string, data: Buffer): Promise<void>;
  get(name: string): Promise<number>;
  /** Before reads: drop what the side could serve from this machine's memory. */
  beforeReads(): void;
}

/** PUT then GET `count` objects of `data`; MiB/s each way. */
async function largeObjects(side: Side, prefix: string, data: Buffer, count: number) {
  let start = process.hrtime.bigint();
  for (let index = 0; index < count; index++) await side.put(`${prefix}-${index}`, data);
  const putMiBps = (count * data.length) / mib / seconds(start);
  side.beforeReads();
  start = process.hrtime.bigint();
  for (let index = 0; index < count; index++) {
    const bytes = await side.get(`${prefix}-${index}`);
    if (bytes !== data.length) throw new Error(`read ${bytes} bytes of ${data.length}`);
  }
  return { putMiBps, getMiBps: (count * data.length) / mib / seconds(start) };
}

/** PUT 4 KiB objects for smallSeconds, then GET them; objects/s each way. */
async function smallObjects(side: Side, prefix: string) {
  const data = randomBytes(smallBytes);
  const deadline = process.hrtime.bigint() + BigInt(smallSeconds * 1e9);
  let start = process.hrtime.bigint();
  let count = 0;
  while (process.hrtime.bigint() < deadline) await side.put(`${prefix}-${count++}`, data);
  const putOps = count / seconds(start);
  side.beforeReads();
  start = process.hrtime.bigint();
  for (let index = 0; index < count; index++) await side.get(`${prefix}-${index}`);
  return { putOps, getOps: count / seconds(start) };
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

/** The key `3fs local --s3` made, from its credentials file. */
function localKey(cluster: LocalCluster): Key {
  const text = readFileSync(join(cluster.dataDir, 'etc', 's3-credentials'), 'utf8');
  const accessKeyId = /^aws_access_key_id = (\S+)$/m.exec(text)?.[1];
  const secretAccessKey = /^aws_secret_access_key = (\S+)$/m.exec(text)?.[1];
  if (accessKeyId === undefined || secretAccessKey === undefined) throw new Error('no key in s3-credentials');
  return { accessKeyId, secretAccessKey };
}

export async function run(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 's3-bench-'));
  const port = await freePort();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let cluster: LocalCluster | undefined;
  try {
    cluster = await startLocalCluster(work, { s3Port: port });
    const mount = cluster.mount;
    const key = localKey(cluster);
    const endpoint = { port, agent };
    // The bucket is a directory of the mount: both sides write into the same file system.
    mkdirSync(join(mount, 'bench'));
    mkdirSync(join(mount, 'bench', 'fuse'));
    const s3: Side = {
      put: (name, data) =>
        expectOk(
          s3Request(endpoint, key, { method: 'PUT', path: `/bench/s3/${name}`, body: data }),
          name,
        ).then(() => undefined),
      get: (name) => expectOk(s3Request(endpoint, key, { method: 'GET', path: `/bench/s3/${name}` }), name),
      // The gateway reads through the cluster; nothing of it is in this machine's page cache.
      beforeReads: () => undefined,
    };
    const fuse: Side = {
      put: async (name, data) => writeFileSync(join(mount, 'bench', 'fuse', name), data),
      get: async (name) => readFileSync(join(mount, 'bench', 'fuse', name)).length,
      beforeReads: () => void dropCaches(),
    };
    console.log(
      `${totalBytes / mib} MiB per large size, 4 KiB objects for ${smallSeconds} s, one request at a time; ` +
        `page cache dropped before FUSE reads: ${dropCaches()}`,
    );
    for (const size of [mib, 64 * mib]) {
      const data = randomBytes(size);
      const count = Math.max(1, Math.floor(totalBytes / size));
      const label = size === mib ? '1 MiB' : '64 MiB';
      const ours = await largeObjects(s3, `large-${size}`, data, count);
      const theirs = await largeObjects(fuse, `large-${size}`, data, count);
      reportRatio({
        workload: `PUT ${label} objects`,
        unit: 'MiB/s',
        ours: ours.putMiBps,
        baselineName: 'fuse',
        baseline: theirs.putMiBps,
      });
      reportRatio({
        workload: `GET ${label} objects`,
        unit: 'MiB/s',
        ours: ours.getMiBps,
        baselineName: 'fuse',
        baseline: theirs.getMiBps,
      });
    }
    const ours = await smallObjects(s3, 'small');
    const theirs = await smallObjects(fuse, 'small');
    reportRatio({
      workload: 'PUT 4 KiB objects',
      unit: 'objects/s',
      ours: ours.putOps,
      baselineName: 'fuse',
      baseline: theirs.putOps,
    });
    reportRatio({
      workload: 'GET 4 KiB objects',
      unit: 'objects/s',
      ours: ours.getOps,
      baselineName: 'fuse',
      baseline: theirs.getOps,
    });
  } finally {
    agent.destroy();
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
