// Proves that `3fs local` supervises what it started: a meta and a storage service killed with SIGKILL under a workload through the mount are restarted and the workload completes with correct data; a launcher killed with SIGKILL leaves no process of the cluster and no dead mount behind; and a dead mount a crash left on the mount point is detached by the next run, which starts.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open as openFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMounted } from '../fuse-binding/harness.js';
import { fuseClusterSkipReason } from '../helpers/fuse-cluster.js';
import { TestWorld, eventually, type RunningProcess } from '../helpers/processes.js';
import { descendants, freeBasePort, stillRunning, type ProcessEntry } from './local-run.js';

const skipReason = fuseClusterSkipReason('3fs local supervision tests');

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * Writes files through the mount and reads each back until stopped; any failure or wrong byte
 * ends it with an error. `done` counts the files written and checked.
 */
class Workload {
  readonly written = new Map<string, string>();
  done = 0;
  private stopping = false;
  readonly finished: Promise<void>;

  constructor(private readonly directory: string) {
    this.finished = this.run();
  }

  private async run(): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    for (let index = 0; !this.stopping; index++) {
      // Sizes that end mid-chunk, so writes and reads cross partial chunks.
      const data = randomBytes(200_000 + index * 4_099);
      const path = join(this.directory, `file-${index}`);
      await writeFile(path, data);
      const back = await readFile(path);
      if (sha256(back) !== sha256(data)) throw new Error(`${path} read back wrong right after writing`);
      this.written.set(path, sha256(data));
      this.done++;
    }
  }

  /** Resolves when `more` further files were written and checked. */
  async progress(more: number, timeoutMs: number, what: string): Promise<void> {
    const target = this.done + more;
    await eventually(async () => (this.done >= target ? true : undefined), timeoutMs, what);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.finished;
  }
}

describe.skipIf(skipReason !== undefined)('3fs local supervision', () => {
  let world: TestWorld;
  let mount: string | undefined;
  let launchers: RunningProcess[] = [];
  /** Every process of the cluster seen so far, for the cleanup to kill whatever is left. */
  let seen: ProcessEntry[] = [];

  beforeEach(() => {
    world = new TestWorld();
    mount = undefined;
    launchers = [];
    seen = [];
  });

  afterEach(async () => {
    for (const launcher of launchers) {
      if (launcher.child.pid !== undefined) seen.push(...descendants(launcher.child.pid));
      if (launcher.child.exitCode === null && launcher.child.signalCode === null)
        launcher.child.kill('SIGKILL');
    }
    for (const entry of seen) if (stillRunning(entry)) process.kill(entry.pid, 'SIGKILL');
    if (mount !== undefined && isMounted(mount))
      spawnSync('fusermount3', ['-u', '-z', mount], { timeout: 10_000 });
    await world.cleanup();
  }, 60_000);

  /** Starts `3fs local` and waits until it says the cluster is up. */
  async function start(args: string[]): Promise<RunningProcess> {
    const local = world.spawnBinary('3fs', ['local', ...args]);
    launchers.push(local);
    await eventually(
      async () => {
        if (local.child.exitCode !== null)
          throw new Error(`3fs local exited: ${local.stdout()}${local.stderr().slice(-3000)}`);
        return local.stdout().includes('is up') ? true : undefined;
      },
      90_000,
      '3fs local to come up',
    );
    return local;
  }

  /** The processes below the launcher now, remembered for the cleanup. */
  function clusterProcesses(local: RunningProcess): ProcessEntry[] {
    const found = descendants(local.child.pid as number);
    seen.push(...found);
    return found;
  }

  /** The one process of the cluster whose command line holds `fragment`. */
  function processOf(local: RunningProcess, fragment: string): ProcessEntry {
    const matches = clusterProcesses(local).filter((entry) => entry.command.includes(fragment));
    expect(matches.map((entry) => entry.command)).toHaveLength(1);
    return matches[0] as ProcessEntry;
  }

  /** SIGKILL to the launcher; then none of `processes` may remain, nor the mount. */
  async function killLauncher(local: RunningProcess, mountPoint: string): Promise<void> {
    const processes = clusterProcesses(local);
    expect(processes.length).toBeGreaterThanOrEqual(7);
    local.child.kill('SIGKILL');
    await local.exited;
    // A service stops within its own stop deadline (30 s) when its channel to the launcher closes.
    await eventually(
      async () => {
        const left = processes.filter(stillRunning);
        if (left.length === 0) return true;
        throw new Error(`still running: ${left.map((entry) => `${entry.pid} ${entry.command}`).join('; ')}`);
      },
      40_000,
      'every process of the killed cluster to be gone',
    );
    expect(isMounted(mountPoint)).toBe(false);
    expect((await stat(mountPoint)).isDirectory()).toBe(true);
  }

  /** SIGINT, then: exit code 0 and the mount gone. */
  async function stop(local: RunningProcess, mountPoint: string): Promise<void> {
    local.child.kill('SIGINT');
    const timer = setTimeout(() => local.child.kill('SIGKILL'), 60_000);
    const { code } = await local.exited;
    clearTimeout(timer);
    expect(local.stdout()).toContain('local cluster stopped\n');
    expect(code).toBe(0);
    expect(isMounted(mountPoint)).toBe(false);
  }

  it('restarts a killed meta and storage service under a workload, and leaves nothing behind when killed itself', async () => {
    const dir = world.tempDir('3fs-local-supervision-');
    const data = join(dir, 'data');
    mount = join(dir, 'mnt');
    const args = ['--data', data, '--mount', mount, '--mgmtd-port', String(await freeBasePort())];
    const first = await start(args);
    const workload = new Workload(join(mount, 'workload'));
    // A failing workload ends the test at once rather than at the next wait.
    const failed = workload.finished.then(
      () => undefined,
      (error: unknown) => {
        throw error;
      },
    );
    const progress = (more: number, what: string) =>
      Promise.race([workload.progress(more, 90_000, what), failed]);
    await progress(3, 'the workload to start');

    const meta = processOf(first, 'meta_main.js');
    process.kill(meta.pid, 'SIGKILL');
    await eventually(
      async () => (first.stdout().includes('meta restarted (pid ') ? true : undefined),
      30_000,
      'meta to be restarted',
    );
    expect(first.stdout()).toContain(`meta (pid ${meta.pid}) died: killed by SIGKILL; restarting it in 2 s`);
    await progress(3, 'the workload to go on after the meta restart');

    const storage = processOf(first, 'storage-2.toml');
    process.kill(storage.pid, 'SIGKILL');
    await eventually(
      async () => (first.stdout().includes('storage-2 restarted (pid ') ? true : undefined),
      30_000,
      'storage-2 to be restarted',
    );
    expect(first.stdout()).toContain(`storage-2 (pid ${storage.pid}) died: killed by SIGKILL`);
    await progress(3, 'the workload to go on after the storage restart');
    await workload.stop();

    // Every file the workload wrote reads back as written.
    expect(workload.written.size).toBeGreaterThanOrEqual(9);
    for (const [path, digest] of workload.written) expect(sha256(await readFile(path))).toBe(digest);

    // Written and not yet synced, on a descriptor still open when the launcher dies: the FUSE
    // daemon flushes it while the services it writes to are still there.
    const lastWords = randomBytes(3 * 1024 * 1024 + 17);
    const lastPath = join(mount, 'last-words');
    const open = await openFile(lastPath, 'w');
    await open.write(lastWords, 0, lastWords.length, 0);
    await killLauncher(first, mount);
    await open.close().catch(() => undefined);

    // The mount point is usable: a new run mounts on it and finds the files.
    const second = await start(args);
    const [path, digest] = [...workload.written][0] as [string, string];
    expect(sha256(await readFile(path))).toBe(digest);
    expect(sha256(await readFile(lastPath))).toBe(sha256(lastWords));
    await stop(second, mount);
  }, 300_000);

  it('detaches a dead mount that a crash left on the mount point, and starts', async () => {
    const dir = world.tempDir('3fs-local-dead-mount-');
    const data = join(dir, 'data');
    mount = join(dir, 'mnt');
    const args = ['--data', data, '--mount', mount, '--mgmtd-port', String(await freeBasePort())];
    const first = await start(args);
    await writeFile(join(mount, 'kept.txt'), 'kept\n');
    // The FUSE daemon, fusermount3 (which would unmount after it) and the launcher all die at once.
    const fuse = processOf(first, 'hf3fs_fuse_main.js');
    const fusermount = processOf(first, 'fusermount3');
    const services = clusterProcesses(first).filter((entry) => entry !== fuse && entry !== fusermount);
    process.kill(fusermount.pid, 'SIGKILL');
    process.kill(fuse.pid, 'SIGKILL');
    first.child.kill('SIGKILL');
    await first.exited;
    await eventually(
      async () => (stillRunning(fuse) || stillRunning(fusermount) ? undefined : true),
      10_000,
      'the killed FUSE daemon and fusermount3 to be gone',
    );
    // The other services stop by themselves once the launcher's channel closes; a second run
    // started while they still hold their ports would race them (its mgmtd restarts, and its
    // services may first register with the old one), which is not what this test is about.
    await eventually(
      async () => (services.some(stillRunning) ? undefined : true),
      40_000,
      "the first run's services to stop after their launcher died",
    );
    // A dead mount: the connection is gone (or was aborted with a request in flight).
    const dead = await stat(mount).then(
      () => 'answers',
      (error: NodeJS.ErrnoException) => error.code,
    );
    expect(['ENOTCONN', 'ECONNABORTED']).toContain(dead);

    const second = await start(args);
    expect(second.stdout()).toContain(`${mount} was a dead mount left by an earlier run; detached it`);
    expect(await readFile(join(mount, 'kept.txt'), 'utf8')).toBe('kept\n');
    await stop(second, mount);
  }, 240_000);
});
