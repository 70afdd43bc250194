/**
 * Helpers for tests on real FUSE mounts: start the in-memory file system in its own process (its
 * handlers need that process's event loop), run ordinary programs against the mount with bounded
 * waits, and clean up (unmount, kill by pid, remove temporary directories) even when a test fails.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { skipWithout } from '../../helpers/requirements.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const memfsMain = join(repoRoot, 'tests/fixtures/memfs/main.ts');
const nativeAddon = join(repoRoot, 'native/fuse/build/Release/fuse.node');

/** Deadline of starting a file system process (tsx compiles on start-up). */
const startTimeoutMs = 30_000;
/** Deadline of one program run against the mount, unless the test gives its own. */
const runTimeoutMs = 20_000;
/** How long a stopping file system process gets before SIGKILL. */
const stopTimeoutMs = 5_000;

/** uid/gid of the unprivileged user the multi-user tests run programs as ('nobody'). */
export const nobody = { uid: 65534, gid: 65534 };

export const isRoot = process.geteuid?.() === 0;

/**
 * Why FUSE tests cannot run here (printed as a warning), or undefined when they can; under CI=true
 * a missing piece fails the test file instead.
 */
export function fuseSkipReason(): string | undefined {
  const reason = findSkipReason();
  skipWithout('FUSE (for the binding tests)', reason);
  return reason;
}

function findSkipReason(): string | undefined {
  if (!existsSync('/dev/fuse'))
    return '/dev/fuse is missing (load the fuse module or pass the device to the container)';
  if (!existsSync(nativeAddon)) return 'native/fuse is not built (npm run build; needs libfuse3-dev)';
  if (!isRoot && !existsSync('/usr/bin/fusermount3') && !existsSync('/bin/fusermount3')) {
    return 'not root and fusermount3 is missing (install fuse3)';
  }
  return undefined;
}

/** True when `path` is a mount point in this process's mount namespace. */
export function isMounted(path: string): boolean {
  const escaped = path.replace(/ /g, '\\040');
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

/** Polls `predicate` every 20 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run as this user (through setpriv, dropping supplementary groups). */
  user?: { uid: number; gid: number };
  timeoutMs?: number;
  cwd?: string;
  input?: string;
}

/** Runs a program to completion; kills it (and fails) when it exceeds its deadline. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const argv =
    options.user === undefined
      ? [command, ...args]
      : [
          'setpriv',
          `--reuid=${options.user.uid}`,
          `--regid=${options.user.gid}`,
          '--clear-groups',
          command,
          ...args,
        ];
  const stdin = options.input === undefined ? 'ignore' : 'pipe';
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: options.cwd ?? repoRoot,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  return collect(child, options.timeoutMs ?? runTimeoutMs, argv.join(' '), options.input);
}

/** Runs a shell command line (sh -c). */
export function sh(script: string, options: RunOptions = {}): Promise<RunResult> {
  return run('sh', ['-c', script], options);
}

/** Runs a Python 3 program (xattrs, fcntl locks, renameat2: what shell tools lack). */
export function python(
  program: string,
  args: readonly string[] = [],
  options: RunOptions = {},
): Promise<RunResult> {
  return run('python3', ['-c', program, ...args], options);
}

function collect(
  child: ReturnType<typeof spawn>,
  timeoutMs: number,
  what: string,
  input: string | undefined,
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    if (input !== undefined && child.stdin !== null) {
      // The program may exit without reading its input: that is not an error here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}

/** A file system process serving a mount. */
export interface MountedFs {
  readonly mountpoint: string;
  readonly pid: number;
  readonly child: ChildProcessWithoutNullStreams;
  readonly connection: { maxWriteBytes: number; enabled: string[] };
  /** Everything the process wrote on stderr so far (its structured log). */
  stderr(): string;
  /** Everything the process wrote on stdout so far. */
  stdout(): string;
  /** Sends one JSON command on stdin and returns its one-line JSON answer. */
  command(request: object, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal) once the process ended; bounded. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: MountedFs[] = [];
const temporaryDirectories: string[] = [];

/** Makes a fresh directory to mount on (inside a temporary directory that `cleanup` removes). */
export async function makeMountpoint(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'fuse-binding-'));
  temporaryDirectories.push(directory);
  // mkdtemp makes it private; other users must reach the mount below it.
  await chmod(directory, 0o755);
  const mountpoint = join(directory, 'mnt');
  await run('mkdir', ['-m', '0755', mountpoint]);
  return mountpoint;
}

/**
 * Starts `script` (default: the memfs fixture) on `mountpoint` (default: a fresh one) and waits for
 * its READY line. Registered for `cleanup`.
 */
export async function startFs(
  args: readonly string[] = [],
  options: {
    mountpoint?: string;
    script?: string;
    nodeArgs?: readonly string[];
    prefix?: readonly string[];
  } = {},
): Promise<MountedFs> {
  const mountpoint = options.mountpoint ?? (await makeMountpoint());
  const argv = [
    ...(options.prefix ?? []),
    process.execPath,
    ...(options.nodeArgs ?? []),
    '--import',
    'tsx',
    options.script ?? memfsMain,
    mountpoint,
    ...args,
  ];
  const child = spawn(argv[0] as string, argv.slice(1), { cwd: repoRoot, stdio: 'pipe' });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stdin.on('error', () => undefined); // commands to a process that already exited go nowhere
  const lines = createInterface({ input: child.stdout });
  const pendingAnswers: ((line: string) => void)[] = [];
  let exitState: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitWaiters: (() => void)[] = [];
  child.on('exit', (code, signal) => {
    exitState = { code, signal };
    for (const waiter of exitWaiters.splice(0)) waiter();
  });

  const ready = new Promise<{ pid: number; connection: MountedFs['connection'] }>(
    (resolvePromise, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`file system did not start: ${stderr}`)),
        startTimeoutMs,
      );
      child.on('exit', () => {
        clearTimeout(timer);
        reject(new Error(`file system exited before READY: ${stderr}`));
      });
      lines.on('line', (line) => {
        if (line.startsWith('READY ')) {
          clearTimeout(timer);
          resolvePromise(
            JSON.parse(line.slice('READY '.length)) as { pid: number; connection: MountedFs['connection'] },
          );
        } else if (line.startsWith('{')) {
          pendingAnswers.shift()?.(line);
        }
      });
    },
  );

  const fs: MountedFs = {
    mountpoint,
    pid: child.pid ?? -1,
    child,
    connection: { maxWriteBytes: 0, enabled: [] },
    stderr: () => stderr,
    stdout: () => stdout,
    command(request, timeoutMs = runTimeoutMs) {
      return new Promise((resolvePromise, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no answer to ${JSON.stringify(request)}`)),
          timeoutMs,
        );
        pendingAnswers.push((line) => {
          clearTimeout(timer);
          resolvePromise(JSON.parse(line) as Record<string, unknown>);
        });
        child.stdin.write(`${JSON.stringify(request)}\n`);
      });
    },
    exited(timeoutMs = stopTimeoutMs) {
      return new Promise((resolvePromise, reject) => {
        if (exitState !== undefined) return resolvePromise(exitState);
        const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit`)), timeoutMs);
        exitWaiters.push(() => {
          clearTimeout(timer);
          resolvePromise(exitState ?? { code: null, signal: null });
        });
      });
    },
  };
  started.push(fs);
  const info = await ready;
  Object.assign(fs.connection, info.connection);
  return fs;
}

/** Detaches `mountpoint` if it is still mounted (a dead or stuck server). */
export function forceUnmount(mountpoint: string): void {
  if (!isMounted(mountpoint)) return;
  spawnSync('fusermount3', ['-u', '-z', mountpoint], { stdio: 'ignore', timeout: stopTimeoutMs });
  if (isMounted(mountpoint))
    spawnSync('umount', ['-l', mountpoint], { stdio: 'ignore', timeout: stopTimeoutMs });
}

/** Stops every file system started by the test, unmounts, removes temporary directories. */
export async function cleanup(): Promise<void> {
  for (const fs of started.splice(0)) {
    if (fs.child.exitCode === null && fs.child.signalCode === null) {
      fs.child.stdin.end();
      await fs.exited(stopTimeoutMs).catch(() => {
        fs.child.kill('SIGKILL');
        return fs.exited(stopTimeoutMs).catch(() => undefined);
      });
    }
    forceUnmount(fs.mountpoint);
  }
  for (const directory of temporaryDirectories.splice(0)) {
    // Never recurse into a mount that is somehow still there.
    if (isMounted(join(directory, 'mnt'))) continue;
    await rm(directory, { recursive: true, force: true }).catch(() => undefined);
  }
}
