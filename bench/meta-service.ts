// The meta service alone, for profiling it without FUSE and the kernel: creates, mkdirs, stats and
// readdir entries per second over RPC at concurrency 1 and 16, beside the same namespace operations
// on the local disk with node:fs, in one process.
//
// The meta service runs in this process on the embedded sqlite engine with synchronous = "full"
// (every acknowledged create is durable), behind a real RpcServer on loopback; the client shares the
// process, as in the RPC benchmark. The local-disk baseline does not fsync, so the ratio also shows
// what durability and a network hop cost. Creates and mkdirs carry request ids, as the client
// library sends them (their results are recorded for retries).
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../src/common/clock.js';
import { silentLogger } from '../src/common/logger.js';
import { seededRandom } from '../src/common/random.js';
import { openSqliteKvEngine } from '../src/kv/index.js';
import { MetaService } from '../src/meta/index.js';
import { formatRequestId, metaMethods as m, type Credentials } from '../src/meta/protocol/index.js';
import { RpcClient, RpcServer, type MethodDef } from '../src/rpc/index.js';
import { reportRatio } from './report.js';

const clusterSecret = 'benchmark-cluster-secret';
/** Short: these figures are the cheap companion of the mount's (meta.bench.ts). */
const measureMs = 1_000;
const readdirFiles = 2_000;
const readdirPage = 1_024;
const cred: Credentials = { uid: 0, gid: 0, groups: [] };

/** Runs `concurrency` loops of `operation` for measureMs; returns operations (or counted units) per second. */
async function rate(
  concurrency: number,
  operation: (worker: number, index: number) => Promise<number>,
): Promise<number> {
  const started = performance.now();
  const deadline = started + measureMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let index = 0; performance.now() < deadline; index++) {
        // Awaited first, then added: `done += await …` would read `done` before the await and lose
        // the other workers' counts.
        const units = await operation(worker, index);
        done += units;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

interface Workload {
  name: string;
  unit: string;
  ours: (concurrency: number) => Promise<number>;
  disk: (concurrency: number) => Promise<number>;
}

/** Calls one meta method on the benchmarked service. */
type Call = <Req, Res>(method: MethodDef<Req, Res>, request: Req) => Promise<Res>;

/** Fresh directory names, so every run creates into an empty directory. */
let round = 0;
let requests = 0;

/** A request id as the client library gives every mutation. */
function requestId(): { requestId: string } {
  return { requestId: formatRequestId(Date.now(), 'bench', ++requests) };
}

/** Creates (or mkdirs, with `directories`) of new names in one fresh directory. */
function creating(rpc: Call, diskRoot: string, directories: boolean): Workload {
  const name = directories ? 'mkdir' : 'create';
  return {
    name,
    unit: `${name}s/s`,
    ours: async (concurrency) => {
      const dir = `/${name}-${++round}`;
      await rpc(m.mkdirs, { cred, at: { path: dir }, mode: 0o755 });
      return rate(concurrency, async (worker, index) => {
        const at = { path: `${dir}/w${worker}-${index}` };
        // Mutations accept a request id beside their own fields (meta/protocol/methods.ts).
        if (directories) await rpc(m.mkdirs, { cred, at, mode: 0o755, ...requestId() } as never);
        else
          await rpc(m.create, {
            cred,
            at,
            mode: 0o644,
            exclusive: true,
            write: false,
            ...requestId(),
          } as never);
        return 1;
      });
    },
    disk: async (concurrency) => {
      const dir = join(diskRoot, `${name}-${++round}`);
      await mkdir(dir);
      return rate(concurrency, async (worker, index) => {
        const path = join(dir, `w${worker}-${index}`);
        if (directories) await mkdir(path);
        else await (await open(path, 'wx')).close();
        return 1;
      });
    },
  };
}

/** Stats of existing files, by path. */
function statting(rpc: Call, diskRoot: string): Workload {
  return {
    name: 'stat',
    unit: 'stats/s',
    ours: (concurrency) =>
      rate(concurrency, async (_, index) => {
        await rpc(m.stat, { cred, at: { path: `/listing/f${index % readdirFiles}` } });
        return 1;
      }),
    disk: (concurrency) =>
      rate(concurrency, async (_, index) => {
        await stat(join(diskRoot, 'listing', `f${index % readdirFiles}`));
        return 1;
      }),
  };
}

/** Whole listings of one directory, counted in entries. */
function listing(rpc: Call, diskRoot: string): Workload {
  return {
    name: 'readdir',
    unit: 'entries/s',
    ours: (concurrency) =>
      rate(concurrency, async () => {
        let count = 0;
        let cursor: string | undefined;
        for (;;) {
          const page = await rpc(m.readDir, {
            cred,
            at: { path: '/listing' },
            limit: readdirPage,
            ...(cursor === undefined ? {} : { cursor }),
          });
          count += page.entries.length;
          if (page.nextCursor === null) return count;
          cursor = page.nextCursor;
        }
      }),
    disk: (concurrency) => rate(concurrency, async () => (await readdir(join(diskRoot, 'listing'))).length),
  };
}

async function prepareListing(rpc: Call, diskRoot: string): Promise<void> {
  await rpc(m.mkdirs, { cred, at: { path: '/listing' }, mode: 0o755 });
  await mkdir(join(diskRoot, 'listing'));
  for (let start = 0; start < readdirFiles; start += 100) {
    await Promise.all(
      Array.from({ length: 100 }, async (_, offset) => {
        const name = `f${start + offset}`;
        await rpc(m.create, { cred, at: { path: `/listing/${name}` }, mode: 0o644, write: false });
        await (await open(join(diskRoot, 'listing', name), 'w')).close();
      }),
    );
  }
}

/** Prints the meta service's rates over in-process RPC beside node:fs on `diskBase`. */
export async function runMetaServiceAlone(diskBase: string): Promise<void> {
  const directory = await mkdtemp(join(diskBase, '3fs-meta-service-bench-'));
  const diskRoot = join(directory, 'disk');
  await mkdir(diskRoot);
  const logger = silentLogger();
  const kv = await openSqliteKvEngine({ path: join(directory, 'meta.sqlite'), synchronous: 'full', logger });
  const service = new MetaService({
    kv,
    clock: systemClock,
    random: seededRandom(1),
    logger,
    rootSquash: { enabled: false, uid: 65534, gid: 65534 },
    inodeIdBatch: 256,
    chainTables: () => ({ chainTableId: 1, chainTableVersion: 1, chains: [1, 2, 3, 4, 5, 6, 7, 8] }),
    capacity: () => ({ capacityBytes: 0, usedBytes: 0, freeBytes: 0 }),
  });
  const server = new RpcServer({ clusterSecret, logger });
  const client = new RpcClient({ clusterSecret, logger });
  try {
    await service.ensureRoot({ chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 4 });
    service.register(server);
    const address = await server.listen('127.0.0.1:0');
    const rpc: Call = (method, request) => client.call(address, method, request);
    await prepareListing(rpc, diskRoot);
    const workloads = [
      creating(rpc, diskRoot, false),
      creating(rpc, diskRoot, true),
      statting(rpc, diskRoot),
      listing(rpc, diskRoot),
    ];
    for (const workload of workloads) {
      for (const concurrency of [1, 16]) {
        const ours = await workload.ours(concurrency);
        const disk = await workload.disk(concurrency);
        reportRatio({
          workload: `meta service, RPC: ${workload.name}, concurrency ${concurrency}`,
          unit: workload.unit,
          ours,
          baselineName: 'local fs',
          baseline: disk,
        });
      }
    }
  } finally {
    await client.close();
    await server.close({ drainMs: 1_000 });
    await kv.close();
    await rm(directory, { recursive: true, force: true });
  }
}
