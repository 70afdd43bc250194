/**
 * The child processes of `3fs local`: each service binary of this build, started in its own
 * process group so that a Ctrl-C in the terminal reaches only `3fs local`, which then stops them
 * in order (mount first, then meta and storage, then mgmtd and the collector). Their logs go to
 * this process's stderr. Each stop is bounded: SIGTERM, then SIGKILL after a deadline.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface LocalService {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once this process asked it to stop. */
  stopping: boolean;
}

export class LocalServices {
  private readonly services: LocalService[] = [];

  constructor(
    private readonly binDir: string,
    private readonly onUnexpectedExit: (
      service: LocalService,
      code: number | null,
      signal: string | null,
    ) => void,
  ) {
    // Whatever way this process ends, no service may outlive it.
    process.on('exit', () => this.killAll());
  }

  /** Starts `dist/<binary>.js` with `args` as service `name`. */
  start(name: string, binary: string, args: readonly string[]): LocalService {
    const child = spawn(process.execPath, [join(this.binDir, `${binary}.js`), ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: 127, signal: null }));
    });
    const service: LocalService = { name, child, exited, stopping: false };
    void exited.then(({ code, signal }) => {
      if (!service.stopping) this.onUnexpectedExit(service, code, signal);
    });
    this.services.push(service);
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

  /** Asks the services to stop (SIGTERM), SIGKILL after `timeoutMs`; resolves when all are gone. */
  async stop(services: readonly LocalService[], timeoutMs: number): Promise<boolean> {
    let clean = true;
    await Promise.all(
      services.map(async (service) => {
        service.stopping = true;
        if (isRunning(service)) service.child.kill('SIGTERM');
        const timer = setTimeout(() => {
          clean = false;
          if (isRunning(service)) service.child.kill('SIGKILL');
        }, timeoutMs);
        const { code, signal } = await service.exited;
        clearTimeout(timer);
        if (code !== 0 && signal !== 'SIGTERM') clean = false;
      }),
    );
    return clean;
  }

  /** SIGKILL to everything still running. */
  killAll(): void {
    for (const service of this.services) {
      service.stopping = true;
      if (isRunning(service)) service.child.kill('SIGKILL');
    }
  }
}

function isRunning(service: LocalService): boolean {
  return service.child.exitCode === null && service.child.signalCode === null;
}

/** Detaches a mount left behind by a FUSE daemon that did not stop (lazy unmount; bounded). */
export async function detachMount(mountPoint: string): Promise<void> {
  const run = (command: string, args: string[]): Promise<boolean> =>
    new Promise((resolve) => {
      execFile(command, args, { timeout: 10_000 }, (error) => resolve(error === null));
    });
  if (await run('fusermount3', ['-u', '-z', mountPoint])) return;
  if (process.geteuid?.() === 0) await run('umount', ['-l', mountPoint]);
}
