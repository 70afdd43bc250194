// Metadata as users meet it: creates, stats, directory entries and unlinks per second through the
// FUSE mount of a `3fs local` cluster this benchmark starts (defaults of `npm start`, embedded sqlite
// engine), beside the same workload on a directory of the disk that holds the cluster's data.
//
// The callers are worker processes (meta-worker.py) making the system calls of a user's shell tools:
// empty files created with open(O_CREAT|O_EXCL|O_WRONLY) and close, a stat of every file right after
// (warm) and again after `sync; echo 3 > /proc/sys/vm/drop_caches` (cold), a listing of the whole
// directory after dropping the caches, and an unlink of every file. They run as one process in one
// directory, as 16 processes each in a directory of its own, as 16 processes in one shared
// directory, so the kernel and the FUSE daemon see 16 callers at once, and as one process again
// (the services then warmed up, see layoutsFor). Each worker starts and
// prepares before the clock starts; a phase's rate is all workers' units over the time from the
// command to the last answer. Under each line, the CPU the cluster's processes (and the callers,
// whose system time holds the kernel's part) spent per unit, from /proc/<pid>/stat, shows where a
// profile should look.
//
// When a PostgreSQL server can be started (as the tests start one: fsync off, data thrown away),
// the same workload runs on a cluster with the PostgreSQL engine, with a quarter of the files, as a
// ratio to the sqlite figures. Last, the meta service alone over in-process RPC (meta-service.ts).
//
// META_BENCH_FILES (default 2,000) is the files of the single process; each of the 16 processes
// gets an eighth of it, twice the files in all, so each process still runs long beside its start.
// At ~300 creates/s through the mount the defaults finish within five minutes.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresAvailability,
} from '../tests/helpers/postgres-server.js';
import { dropCaches } from './client.bench.js';
import {
  cpuMs,
  descendants,
  processesNamed,
  serviceProcesses,
  startLocalCluster,
  type LocalCluster,
} from './local-cluster.js';
import { runMetaServiceAlone } from './meta-service.js';
import { reportRatio } from './report.js';

const workerScript = join(dirname(fileURLToPath(import.meta.url)), 'meta-worker.py');
const singleFiles = Number(process.env['META_BENCH_FILES'] ?? '2000');
const manyWorkers = 16;
/**
 * The PostgreSQL engine runs a quarter of the files: it creates and unlinks several times slower
 * than sqlite here, and the whole benchmark should stay within a few minutes.
 */
const postgresFiles = Math.max(1, Math.ceil(singleFiles / 4));
/** Bounds one phase even at a few creates per second with the default file counts. */
const phaseTimeoutMs = 600_000;
const workerStartTimeoutMs = 30_000;
/** A directory on the disk (not tmpfs, as /tmp may be) for the cluster's data and the baseline. */
const workBase = existsSync('/var/tmp') ? '/var/tmp' : tmpdir();

/** How the callers are arranged: how many processes, each with how many files, in which directories. */
interface Layout {
  name: string;
  key: string;
  workers: number;
  filesPerWorker: number;
  shared: boolean;
}

/**
 * The arrangements, with `files` files for the single process and an eighth of it per process of
 * 16. The single process runs first, on services that have just started, and once more last, after
 * the others: a JavaScript service runs its code interpreted until V8 has compiled the paths a
 * workload keeps taking, so the first thousands of creates after a start cost meta and the FUSE
 * daemon two to three times the CPU of later ones. The two lines show both.
 */
function layoutsFor(files: number): Layout[] {
  const perProcess = Math.max(1, Math.ceil(files / 8));
  return [
    { name: '1 proc', key: 'single', workers: 1, filesPerWorker: files, shared: false },
    {
      name: `${manyWorkers} procs, own dirs`,
      key: 'own',
      workers: manyWorkers,
      filesPerWorker: perProcess,
      shared: false,
    },
    {
      name: `${manyWorkers} procs, one dir`,
      key: 'shared',
      workers: manyWorkers,
      filesPerWorker: perProcess,
      shared: true,
    },
    {
      name: '1 proc, after the others',
      key: 'single-again',
      workers: 1,
      filesPerWorker: files,
      shared: false,
    },
  ];
}

const Command = { create: 'create', stat: 'stat', readdir: 'readdir', unlink: 'unlink' } as const;
type Command = (typeof Command)[keyof typeof Command];

interface Phase {
  name: string;
  command: Command;
  /** Whether the caches are dropped before it. */
  cold: boolean;
  unit: string;
  /** What one unit is, for the CPU line. */
  per: string;
}

function phases(cacheDroppable: boolean): Phase[] {
  const cold = cacheDroppable ? 'cold' : 'not cold';
  return [
    { name: 'create', command: Command.create, cold: false, unit: 'creates/s', per: 'create' },
    { name: 'stat, warm', command: Command.stat, cold: false, unit: 'stats/s', per: 'stat' },
    { name: `stat, ${cold}`, command: Command.stat, cold: true, unit: 'stats/s', per: 'stat' },
    { name: `readdir, ${cold}`, command: Command.readdir, cold: true, unit: 'entries/s', per: 'entry' },
    { name: 'unlink', command: Command.unlink, cold: false, unit: 'unlinks/s', per: 'unlink' },
  ];
}

/** Processes whose CPU is counted, by name; looked up at the start of each phase. */
type Watched = () => { name: string; pids: number[] }[];

interface PhaseResult {
  rate: number;
  /** CPU milliseconds per unit, by process name. */
  cpuMsPerUnit: { name: string; ms: number }[];
  /** How long single calls took, for the phases whose workers time each call (create, unlink). */
  calls?: CallTimes;
}

/**
 * A phase's calls, all workers together: the workers' median call (their middle one), the slowest
 * worker's 99th percentile, and the calls over meta-worker.py's SLOW_SECONDS with the share of the
 * workers' time they held.
 */
interface CallTimes {
  p50Ms: number;
  p99Ms: number;
  /** What counts as a slow call, in milliseconds. */
  slowOverMs: number;
  slowCalls: number;
  slowShare: number;
}

const callsSchema = z.object({
  p50Seconds: z.number().nonnegative(),
  p99Seconds: z.number().nonnegative(),
  slowOverSeconds: z.number().positive(),
  slowCalls: z.number().int().nonnegative(),
  slowSeconds: z.number().nonnegative(),
});

const replySchema = z.union([
  z.object({ ready: z.literal(true) }),
  z.object({
    units: z.number().int().nonnegative(),
    seconds: z.number().nonnegative(),
    calls: callsSchema.optional(),
  }),
  z.object({ error: z.string() }),
]);
type Reply = z.infer<typeof replySchema>;
type Done = { units: number; seconds: number; calls?: z.infer<typeof callsSchema> | undefined };

/** One worker process: sends it commands and reads its one-line answers, each within a deadline. */
class Worker {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  constructor(directory: string, prefix: string, files: number) {
    this.child = spawn('python3', [workerScript, directory, prefix, String(files)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4_000);
    });
    // A worker that died is reported by its missing answer, not by a write error.
    this.child.stdin.on('error', () => {});
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  async ready(): Promise<void> {
    const reply = await this.reply(workerStartTimeoutMs);
    if (!('ready' in reply)) throw new Error(`a worker started with ${JSON.stringify(reply)}`);
  }

  send(command: Command): void {
    this.child.stdin.write(`${command}\n`);
  }

  /** The answer to the command sent last: the units it did, and how long its calls took. */
  async done(): Promise<Done> {
    const reply = await this.reply(phaseTimeoutMs);
    if ('error' in reply) throw new Error(`a worker failed: ${reply.error}`);
    if (!('units' in reply)) throw new Error(`a worker answered ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Ends the worker: end of input, and SIGKILL should it be stuck in a call. */
  stop(): void {
    this.child.stdin.end();
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private async reply(timeoutMs: number): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`a worker did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const line = await Promise.race([this.lines.next(), timeout]);
      if (line.done === true) throw new Error(`a worker exited:\n${this.stderr}`);
      return replySchema.parse(JSON.parse(line.value));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts the layout's workers in fresh directories under `root`. */
async function startWorkers(root: string, layout: Layout): Promise<Worker[]> {
  const base = join(root, layout.key);
  mkdirSync(base);
  const workers: Worker[] = [];
  try {
    for (let index = 0; index < layout.workers; index++) {
      const directory = layout.shared ? base : join(base, `d${index}`);
      if (!layout.shared) mkdirSync(directory);
      workers.push(new Worker(directory, `w${index}-`, layout.filesPerWorker));
    }
    await Promise.all(workers.map((worker) => worker.ready()));
    return workers;
  } catch (error) {
    for (const worker of workers) worker.stop();
    throw error;
  }
}

/** Runs one phase on every worker at once; returns its rate and the CPU spent per unit. */
async function runPhase(workers: Worker[], phase: Phase, watched: Watched): Promise<PhaseResult> {
  if (phase.cold) dropCaches();
  const groups = [...watched(), { name: 'callers', pids: workers.map((worker) => worker.pid) }];
  const before = groups.map((group) => cpuMs(group.pids));
  const started = performance.now();
  for (const worker of workers) worker.send(phase.command);
  const answers = await Promise.all(workers.map((worker) => worker.done()));
  const seconds = (performance.now() - started) / 1_000;
  const units = answers.reduce((sum, answer) => sum + answer.units, 0);
  const cpuMsPerUnit = groups.map((group, index) => ({
    name: group.name,
    ms: (cpuMs(group.pids) - (before[index] ?? 0)) / units,
  }));
  const calls = callTimes(answers);
  return { rate: units / seconds, cpuMsPerUnit, ...(calls === undefined ? {} : { calls }) };
}

/** The workers' call times together (see CallTimes); undefined when a worker did not time its calls. */
function callTimes(answers: readonly Done[]): CallTimes | undefined {
  const timed = answers.flatMap((answer) => (answer.calls === undefined ? [] : [answer.calls]));
  if (timed.length === 0 || timed.length < answers.length) return undefined;
  const medians = timed.map((calls) => calls.p50Seconds).sort((a, b) => a - b);
  const workerSeconds = answers.reduce((sum, answer) => sum + answer.seconds, 0);
  const slowSeconds = timed.reduce((sum, calls) => sum + calls.slowSeconds, 0);
  return {
    p50Ms: (medians[medians.length >> 1] ?? 0) * 1_000,
    p99Ms: Math.max(...timed.map((calls) => calls.p99Seconds)) * 1_000,
    slowOverMs: Math.max(...timed.map((calls) => calls.slowOverSeconds)) * 1_000,
    slowCalls: timed.reduce((sum, calls) => sum + calls.slowCalls, 0),
    slowShare: workerSeconds > 0 ? slowSeconds / workerSeconds : 0,
  };
}

/** Every phase of one layout under `root`; the directories are removed afterwards. */
async function runLayout(root: string, layout: Layout, allPhases: Phase[], watched: Watched) {
  const workers = await startWorkers(root, layout);
  const directory = join(root, layout.key);
  const results: PhaseResult[] = [];
  try {
    for (const phase of allPhases) results.push(await runPhase(workers, phase, watched));
  } catch (error) {
    // The phase's error is the one to see; what removal can do after it is only tidying up.
    for (const worker of workers) worker.stop();
    try {
      rmSync(directory, { recursive: true, force: true });
    } catch {
      // The work directory goes as a whole at the end, after the unmount.
    }
    throw error;
  } finally {
    for (const worker of workers) worker.stop();
  }
  // After the unlink phase the directories are empty: failing to remove them is a finding.
  try {
    rmSync(directory, { recursive: true, force: true });
  } catch (error) {
    throw new Error(`removing ${directory} after the unlink phase failed`, { cause: error });
  }
  return results;
}

/** What one pass of the workload runs: which arrangements, which phases, whose CPU is counted. */
interface Workload {
  layouts: Layout[];
  phases: Phase[];
  /** Called with each layout's results as they come, so lines print while the rest still runs. */
  report: (layoutIndex: number, results: PhaseResult[]) => void;
}

/** Every layout of `workload` under `root`; returns the results by layout, then by phase. */
async function runAll(root: string, workload: Workload, watched: Watched): Promise<PhaseResult[][]> {
  mkdirSync(root, { recursive: true });
  const all: PhaseResult[][] = [];
  for (const [index, layout] of workload.layouts.entries()) {
    const results = await runLayout(root, layout, workload.phases, watched);
    workload.report(index, results);
    all.push(results);
  }
  return all;
}

/** The cluster's processes worth a profile, and the PostgreSQL server's when it is the engine. */
function clusterProcesses(cluster: LocalCluster, withPostgres: boolean): Watched {
  return () => [
    { name: 'meta_main', pids: serviceProcesses(cluster, 'meta_main') },
    { name: 'hf3fs_fuse_main', pids: serviceProcesses(cluster, 'hf3fs_fuse_main') },
    ...(withPostgres
      ? [{ name: 'postgres', pids: processesNamed(descendants(process.pid), 'postgres') }]
      : []),
  ];
}

/** Runs the workload on a fresh cluster's mount; always unmounts and stops the cluster. */
async function onCluster(
  workDir: string,
  options: { kvUrl?: string },
  workload: Workload,
): Promise<PhaseResult[][]> {
  const cluster = await startLocalCluster(workDir, options);
  try {
    const watched = clusterProcesses(cluster, options.kvUrl !== undefined);
    return await runAll(join(cluster.mount, 'meta-bench'), workload, watched);
  } catch (error) {
    console.log(`(the cluster's last warnings and errors:)\n${cluster.log()}`);
    throw error;
  } finally {
    await cluster.stop();
  }
}

/** A workload whose lines compare each phase with `baseline`'s result for the same layout and phase. */
function comparedWith(options: {
  engine: string;
  layouts: Layout[];
  phases: Phase[];
  baselineName: string;
  baseline: PhaseResult[][];
}): Workload {
  return {
    layouts: options.layouts,
    phases: options.phases,
    report: (layoutIndex, results) => {
      const layout = options.layouts[layoutIndex];
      for (const [index, phase] of options.phases.entries()) {
        const ours = results[index];
        if (ours === undefined || layout === undefined) continue;
        reportRatio({
          workload: `${options.engine}, ${layout.name}: ${phase.name}`,
          unit: phase.unit,
          ours: ours.rate,
          baselineName: options.baselineName,
          baseline: options.baseline[layoutIndex]?.[index]?.rate ?? Number.NaN,
        });
        const cpu = ours.cpuMsPerUnit.map((entry) => `${entry.name} ${entry.ms.toFixed(3)}`).join(', ');
        console.log(`${''.padEnd(4)}CPU ms per ${phase.per}: ${cpu}`);
        const calls = ours.calls;
        if (calls !== undefined) {
          console.log(
            `${''.padEnd(4)}one ${phase.per}: median ${calls.p50Ms.toFixed(2)} ms, 99th percentile ` +
              `${calls.p99Ms.toFixed(2)} ms; ${calls.slowCalls} over ${calls.slowOverMs} ms held ` +
              `${(calls.slowShare * 100).toFixed(0)}% of the callers' time`,
          );
        }
      }
    },
  };
}

/** Why the PostgreSQL part cannot run here, or the way to start its server. */
function postgresServer(): { skipped: string } | { availability: PostgresAvailability } {
  let availability: PostgresAvailability;
  try {
    availability = postgresAvailability();
  } catch (error) {
    return { skipped: String(error) };
  }
  if (!availability.available) return { skipped: availability.reason };
  // `3fs local` would initialize a new cluster in a database that may hold an earlier one.
  if (!availability.startsServer) {
    return { skipped: 'it needs a server of its own and THREEFS_TEST_POSTGRES_URL names a shared one' };
  }
  return { availability };
}

/** The PostgreSQL part, compared with sqlite; skipped, with the reason printed, when it cannot run. */
async function runPostgres(workDir: string, allPhases: Phase[], sqlite: PhaseResult[][]): Promise<void> {
  const found = postgresServer();
  if ('skipped' in found) {
    console.log(`(postgres engine: skipped, ${found.skipped})`);
    return;
  }
  const layouts = layoutsFor(postgresFiles);
  console.log(
    `(postgres engine: a throwaway server with fsync off; ${postgresFiles} files for 1 process, ` +
      `${layouts[1]?.filesPerWorker} per process for ${manyWorkers}, compared with sqlite's larger run)`,
  );
  const server = await startPostgresTestServer(found.availability);
  try {
    const workload = comparedWith({
      engine: 'postgres',
      layouts,
      phases: allPhases,
      baselineName: 'sqlite',
      baseline: sqlite,
    });
    await onCluster(workDir, { kvUrl: server.url }, workload);
  } finally {
    await server.close();
  }
}

export async function run(): Promise<void> {
  if (!Number.isInteger(singleFiles) || singleFiles < 1) {
    throw new Error(`META_BENCH_FILES must be a positive integer, not ${process.env['META_BENCH_FILES']}`);
  }
  const workDir = mkdtempSync(join(workBase, '3fs-meta-bench-'));
  try {
    const cacheDroppable = dropCaches();
    if (!cacheDroppable) console.log('(the page cache cannot be dropped here, not root: no phase runs cold)');
    const allPhases = phases(cacheDroppable);
    const layouts = layoutsFor(singleFiles);
    console.log(
      `(files: ${singleFiles} for 1 process, ${layouts[1]?.filesPerWorker} per process for ${manyWorkers}; ` +
        `local disk: ${workDir})`,
    );
    const disk = await runAll(
      join(workDir, 'disk'),
      { layouts, phases: allPhases, report: () => {} },
      () => [],
    );
    const sqlite = await onCluster(
      join(workDir, 'sqlite'),
      {},
      comparedWith({
        engine: 'sqlite',
        layouts,
        phases: allPhases,
        baselineName: 'local disk',
        baseline: disk,
      }),
    );
    // A failing PostgreSQL part still lets the meta service's figures print; its error ends the run.
    const postgresFailure = await runPostgres(join(workDir, 'postgres'), allPhases, sqlite).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (postgresFailure !== undefined) console.log(`(postgres engine: failed, ${String(postgresFailure)})`);
    await runMetaServiceAlone(workDir);
    if (postgresFailure !== undefined) throw postgresFailure;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
