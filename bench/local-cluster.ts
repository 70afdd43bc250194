// A `3fs local` cluster for the benchmarks that measure what users measure: the launcher runs from
// dist/ with the same defaults as `npm start` (embedded sqlite engine unless a PostgreSQL URL is
// given) on a data directory inside the benchmark's work directory, mounted with FUSE, on loopback
// ports that were free a moment before. It is stopped the way a user stops it (SIGINT: unmount,
// then the services in order); SIGKILL after a deadline, a lazy unmount of a mount still there and
// SIGKILL to services that outlived the launcher are the fallbacks, so a benchmark that fails
// midway leaves no process and no mount behind. Also the CPU accounting of its processes from /proc.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The launcher's own start-up stages each have a deadline of about a minute; this bounds them all. */
const mountTimeoutMs = 120_000;
/** The launcher bounds each stopping stage itself; this is the deadline for all of them. */
const stopTimeoutMs = 30_000;
/** Offsets of the ports `3fs local` derives from the mgmtd port (local-cluster-config.ts). */
const portOffsets = [0, 10, 21, 22, 23, 90, 91];
const portAttemptsMax = 50;
/** Warnings and errors of the cluster's log shown when it fails. */
const logLinesKept = 20;

/** A running `3fs local`: its mount, data directory, mgmtd port and the launcher's pid. */
export interface LocalCluster {
  mount: string;
  dataDir: string;
  mgmtdPort: number;
  pid: number;
  /** The last lines above info level the launcher and its services wrote, for failure messages. */
  log(): string;
  /** Unmounts and stops every process of the cluster; safe to call twice. */
  stop(): Promise<void>;
}

/** Starts `3fs local` on `<workDir>/cluster`, mounted on `<workDir>/mnt`; resolves once mounted. */
export async function startLocalCluster(
  workDir: string,
  options: { kvUrl?: string; nfsPort?: number; s3Port?: number } = {},
): Promise<LocalCluster> {
  const launcher = join(repoRoot, 'dist/3fs.js');
  if (!existsSync(launcher)) throw new Error('dist/ is not built (npm run build)');
  const dataDir = join(workDir, 'cluster');
  const mount = join(workDir, 'mnt');
  const mgmtdPort = await freeBasePort();
  const args = ['local', '--data', dataDir, '--mount', mount, '--mgmtd-port', String(mgmtdPort)];
  if (options.kvUrl !== undefined) args.push('--kv', options.kvUrl);
  // The NFS gateway, started before the mount this waits for.
  if (options.nfsPort !== undefined) args.push('--nfs', String(options.nfsPort));
  if (options.s3Port !== undefined) args.push('--s3', String(options.s3Port));
  // The launcher and its services write to a file, not to a pipe of this process: a pipe is only
  // drained while this process's event loop runs, and a synchronous call on the mount (mkdirSync,
  // rmSync) would then wait for a FUSE daemon blocked writing its log into the full pipe.
  const logPath = join(workDir, 'local.log');
  mkdirSync(workDir, { recursive: true });
  const logFd = openSync(logPath, 'a');
  const child = spawn(process.execPath, [launcher, ...args], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const log = (): string => logTail(logPath);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error('3fs local did not start');
  let stopped: Promise<void> | undefined;
  const cluster: LocalCluster = {
    mount,
    dataDir,
    mgmtdPort,
    pid,
    log,
    stop: () => (stopped ??= stopCluster({ child, exited, pid, mount })),
  };
  try {
    await waitUntil(() => isMounted(mount) || child.exitCode !== null, mountTimeoutMs, 'the local mount');
    if (!isMounted(mount)) throw new Error(`3fs local stopped before mounting:\n${log()}`);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function stopCluster(launcher: {
  child: { kill(signal: NodeJS.Signals): boolean; exitCode: number | null };
  exited: Promise<void>;
  pid: number;
  mount: string;
}): Promise<void> {
  const services = descendants(launcher.pid);
  if (launcher.child.exitCode === null) {
    launcher.child.kill('SIGINT');
    const timer = setTimeout(() => launcher.child.kill('SIGKILL'), stopTimeoutMs);
    await launcher.exited;
    clearTimeout(timer);
  }
  if (isMounted(launcher.mount)) spawnSync('umount', ['-l', launcher.mount], { timeout: 10_000 });
  // A launcher killed outright leaves its services running for a grace period; end them now.
  for (const service of services) {
    try {
      process.kill(service, 'SIGKILL');
    } catch {
      // Already gone, as after a clean stop.
    }
  }
}

/** The last warnings and errors in the cluster's log file. */
function logTail(path: string): string {
  try {
    // Services log JSON lines; the launcher's own lines (its banner) are plain text.
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{') && !line.startsWith('{"level":"info"'))
      .slice(-logLinesKept)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/** A mgmtd port whose whole family of derived ports was free a moment ago. */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < portAttemptsMax; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (const offset of portOffsets) free &&= await portFree(base + offset);
    if (free) return base;
  }
  throw new Error(`no free family of ports found in ${portAttemptsMax} attempts`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);
}

async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let ticksPerSecond: number | undefined;

/** The fields of /proc/<pid>/stat after the command name, or undefined once the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    // The command name may hold spaces and parentheses; the fields start after its last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat
      .slice(stat.lastIndexOf(')') + 1)
      .trim()
      .split(' ');
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) of these processes so far, in milliseconds. */
export function cpuMs(pids: readonly number[]): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  let ticks = 0;
  for (const pid of pids) {
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name. A process
    // that ended has its time lost to the count.
    const fields = statFields(pid);
    ticks += Number(fields?.[11] ?? 0) + Number(fields?.[12] ?? 0);
  }
  return (ticks / ticksPerSecond) * 1_000;
}

/** Every descendant of `pid` (for a cluster: the launcher's services and the FUSE daemon). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = Number(statFields(Number(entry))?.[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** The argument vector of a process, or an empty one once it is gone. */
function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/**
 * The pids of the cluster's processes running `dist/<binary>.js` (meta_main, hf3fs_fuse_main, …).
 * Looked up afresh for each measurement, since the launcher restarts a service that died.
 */
export function serviceProcesses(cluster: LocalCluster, binary: string): number[] {
  // The script is the first argument that is not a node flag (3fs local passes some to the data path).
  return descendants(cluster.pid).filter(
    (pid) =>
      commandLine(pid)
        .slice(1)
        .find((argument) => !argument.startsWith('-'))
        ?.endsWith(`/${binary}.js`) === true,
  );
}

/** The pids among `pids` whose command name (/proc/<pid>/comm) is `name`. */
export function processesNamed(pids: readonly number[], name: string): number[] {
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}
