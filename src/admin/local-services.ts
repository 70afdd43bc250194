/**
 * The child processes of `3fs local` and their supervision. Each service binary of this build runs
 * in its own process group, so that a Ctrl-C in the terminal reaches only `3fs local`, which then
 * stops them in order (mount first, then meta and storage, then mgmtd and the collector). Their
 * logs go to this process's stderr.
 *
 * Invariants:
 * - A service that dies without being asked to is reported and restarted after a growing delay,
 *   at most a bounded number of times in a window (restart-policy.ts); past that it is reported as
 *   given up and left down, for the owner to stop the cluster.
 * - No service outlives this process: each holds an IPC channel to it and stops when the channel
 *   closes (common/service-runtime.ts), which the kernel does however this process ends, SIGKILL
 *   included; a normal exit also kills whatever still runs.
 * - Each stop is bounded: SIGTERM, then SIGKILL after a deadline; a pending restart is cancelled.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { systemClock } from '../common/clock.js';
import { limits } from '../common/limits.js';
import { checkRestartLimits, decideRestart, type RestartLimits } from './restart-policy.js';

/** How a process ended: its exit code, or the signal that killed it. */
export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What the supervisor tells its owner. */
export type ServiceEvent =
  | {
      kind: 'restarting';
      service: LocalService;
      exit: ServiceExit;
      delayMs: number;
      restartsInWindow: number;
    }
  | { kind: 'restarted'; service: LocalService }
  | { kind: 'gave-up'; service: LocalService; exit: ServiceExit; restartsInWindow: number }
  /** A service that exits with status 0 only when its work is over (the FUSE daemon, unmounted). */
  | { kind: 'ended'; service: LocalService; exit: ServiceExit };

/** The restart limits of `3fs local`, from common/limits.ts. */
export const localRestartLimits: RestartLimits = {
  delayMsInitial: limits.localRestartDelayMsInitial,
  delayMsMax: limits.localRestartDelayMsMax,
  restartsMax: limits.localRestartsMax,
  windowMs: limits.localRestartWindowMs,
};

/** One supervised service; `child` and `exited` are those of its current process. */
export interface LocalService {
  readonly name: string;
  child: ChildProcess;
  exited: Promise<ServiceExit>;
  /** Set once this process asked it to stop: it is not restarted any more. */
  stopping: boolean;
  /** When it was restarted (monotonic ms), for the restart bound. */
  readonly restartsMs: number[];
}

interface ServiceSpec {
  readonly binary: string;
  readonly args: readonly string[];
  /** Whether a clean exit (status 0) is an end rather than a failure to restart from. */
  readonly cleanExitEnds: boolean;
}

export class LocalServices {
  private readonly services = new Map<LocalService, ServiceSpec>();
  private readonly restartTimers = new Map<LocalService, NodeJS.Timeout>();

  constructor(
    private readonly binDir: string,
    private readonly report: (event: ServiceEvent) => void,
    private readonly restartLimits: RestartLimits = localRestartLimits,
  ) {
    checkRestartLimits(restartLimits);
    // Whatever way this process ends, no service may outlive it.
    process.on('exit', () => this.killAll());
  }

  /** Starts `dist/<binary>.js` with `args` as service `name`, supervised as the file comment says. */
  start(
    name: string,
    binary: string,
    args: readonly string[],
    options: { cleanExitEnds?: boolean } = {},
  ): LocalService {
    const spec: ServiceSpec = { binary, args, cleanExitEnds: options.cleanExitEnds ?? false };
    const { child, exited } = this.spawnService(spec);
    const service: LocalService = { name, child, exited, stopping: false, restartsMs: [] };
    this.services.set(service, spec);
    this.watch(service);
    return service;
  }

  /** Runs `dist/<binary>.js` to completion (bounded); resolves with its exit code. */
  async run(binary: string, args: readonly string[], timeoutMs: number): Promise<number> {
    const child = spawn(process.execPath, [join(this.binDir, `${binary}.js`), ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number>((resolve) => {
      child.on('exit', (exitCode) => resolve(exitCode ?? 1));
      child.on('error', () => resolve(127));
    });
    clearTimeout(timer);
    return code;
  }

  /**
   * Asks the services to stop (SIGTERM), SIGKILL after `timeoutMs`; resolves when all are gone,
   * with the names of those that had to be killed or stopped with an error.
   */
  async stop(services: readonly LocalService[], timeoutMs: number): Promise<string[]> {
    const failed: string[] = [];
    await Promise.all(
      services.map(async (service) => {
        service.stopping = true;
        this.cancelRestart(service);
        if (!isRunning(service.child)) return;
        service.child.kill('SIGTERM');
        let killed = false;
        const timer = setTimeout(() => {
          killed = true;
          if (isRunning(service.child)) service.child.kill('SIGKILL');
        }, timeoutMs);
        const { code, signal } = await service.exited;
        clearTimeout(timer);
        if (killed) failed.push(`${service.name} (killed after ${timeoutMs} ms)`);
        else if (code !== 0 && signal !== 'SIGTERM')
          failed.push(`${service.name} (${describeExit({ code, signal })})`);
      }),
    );
    return failed;
  }

  /** SIGKILL to everything still running; no restart follows. */
  killAll(): void {
    for (const service of this.services.keys()) {
      service.stopping = true;
      this.cancelRestart(service);
      if (isRunning(service.child)) service.child.kill('SIGKILL');
    }
  }

  private spawnService(spec: ServiceSpec): { child: ChildProcess; exited: Promise<ServiceExit> } {
    const script = join(this.binDir, `${spec.binary}.js`);
    const child = spawn(process.execPath, [...nodeFlagsOf(spec.binary), script, ...spec.args], {
      // The IPC channel is how the service learns that this process is gone (see the file comment).
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      env: serviceEnvironment(spec.binary),
    });
    // This end of the channel must not keep this process alive either.
    child.channel?.unref();
    const exited = new Promise<ServiceExit>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: 127, signal: null }));
    });
    return { child, exited };
  }

  /** Decides, when the current process of `service` exits unasked, whether to restart it. */
  private watch(service: LocalService): void {
    const child = service.child;
    void service.exited.then((exit) => {
      // A stop was asked for, or this is an old process of a service restarted since.
      if (service.stopping || service.child !== child) return;
      const spec = this.services.get(service);
      if (spec === undefined) return;
      if (spec.cleanExitEnds && exit.code === 0) {
        this.report({ kind: 'ended', service, exit });
        return;
      }
      const decision = decideRestart(service.restartsMs, systemClock.monotonicMs(), this.restartLimits);
      if (decision.kind === 'give-up') {
        this.report({ kind: 'gave-up', service, exit, restartsInWindow: decision.restartsInWindow });
        return;
      }
      this.report({
        kind: 'restarting',
        service,
        exit,
        delayMs: decision.delayMs,
        restartsInWindow: decision.restartsInWindow,
      });
      const timer = setTimeout(() => {
        this.restartTimers.delete(service);
        if (service.stopping) return;
        const nowMs = systemClock.monotonicMs();
        // Restarts out of the window no longer count: the list stays within the bound.
        const recent = service.restartsMs.filter((atMs) => nowMs - atMs < this.restartLimits.windowMs);
        service.restartsMs.splice(0, service.restartsMs.length, ...recent, nowMs);
        const next = this.spawnService(spec);
        service.child = next.child;
        service.exited = next.exited;
        this.watch(service);
        this.report({ kind: 'restarted', service });
      }, decision.delayMs);
      this.restartTimers.set(service, timer);
    });
  }

  private cancelRestart(service: LocalService): void {
    const timer = this.restartTimers.get(service);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.restartTimers.delete(service);
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** "exit code 1", "killed by SIGKILL". */
export function describeExit(exit: ServiceExit): string {
  if (exit.signal !== null) return `killed by ${exit.signal}`;
  return `exit code ${exit.code ?? '-'}`;
}

/**
 * Detaches a mount that no FUSE daemon serves any more, or one still in use (lazy unmount: it
 * disappears from the tree at once, and goes once its last user lets go). Bounded; resolves whether
 * some way worked.
 */
export async function detachMount(mountPoint: string): Promise<boolean> {
  const run = (command: string, args: string[]): Promise<boolean> =>
    new Promise((resolve) => {
      execFile(command, args, { timeout: 10_000 }, (error) => resolve(error === null));
    });
  if (await run('fusermount3', ['-u', '-z', '--', mountPoint])) return true;
  if (process.geteuid?.() === 0) return run('umount', ['-l', mountPoint]);
  return false;
}

/**
 * Node flags of a service: the data path (storage_main, the FUSE daemon, the gateways) moves a
 * payload buffer per request; V8 counts them against a heap limit that starts small and collects
 * the whole heap again and again (a third of the CPU of a sequential write). A larger initial old
 * generation makes those collections rare. The Nix package's wrappers pass the same flag.
 */
export function nodeFlagsOf(binary: string): string[] {
  const dataPath = ['storage_main', 'hf3fs_fuse_main', 'nfs_gateway_main', 's3_gateway_main'];
  if (!dataPath.includes(binary)) return [];
  return [`--initial-old-space-size=${limits.dataPathInitialOldSpaceMiB}`];
}

/**
 * A service's environment: this process's, and for storage_main a larger libuv thread pool (the
 * chunk engine's disk work and syncs run there; libuv starts 4 threads) unless one is set already.
 */
function serviceEnvironment(binary: string): NodeJS.ProcessEnv {
  if (binary !== 'storage_main' || process.env['UV_THREADPOOL_SIZE'] !== undefined) return process.env;
  return { ...process.env, UV_THREADPOOL_SIZE: String(limits.storageThreadPoolSizeDefault) };
}
