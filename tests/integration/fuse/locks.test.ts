// Proves that flock and fcntl locks hold across two mounts of one cluster (two FUSE daemons, as on two hosts): an exclusive flock on one keeps the other out until released; POSIX byte ranges conflict only where they overlap, split as POSIX says, are dropped by any close of the file by their process, and F_GETLK names the holder and its pid; a waiter interrupted by a signal gets EINTR and one that reaches its bound EDEADLK (fcntl) or EWOULDBLOCK (flock); and SIGKILL of the daemon holding a lock frees it within the lease.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithout } from '../../helpers/requirements.js';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, startFuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

/** Short leases, so a killed daemon's locks free quickly; B's waits end after `waitMaxMs`. */
const leaseMs = 2_000;
const waitMaxMs = 1_500;

function missingTools(): string | undefined {
  if (spawnSync('python3', ['-c', 'import ctypes'], { timeout: 10_000 }).status !== 0)
    return 'python3 (with ctypes) is missing';
  if (spawnSync('flock', ['--version'], { timeout: 10_000 }).status !== 0)
    return 'flock (util-linux) is missing';
  return undefined;
}

const skipReason =
  fuseClusterSkipReason('cluster-wide lock tests') ??
  (skipWithout('python3 and flock (for the lock tests)', missingTools()) ? 'tools missing' : undefined);

/**
 * A process that holds one descriptor of a file and runs lock commands read from stdin, one answer
 * line each: "getlk w START LEN" (the holder as "W START+LEN@PID", or "none"), "try r|w|u START LEN"
 * (F_SETLK), "wait r|w START LEN" (F_SETLKW), "ofd r|w|u START LEN" (F_OFD_SETLK, a lock of the
 * open file rather than the process), "flock sh|ex|un [nb]", "close-other" (opens and closes
 * a second descriptor of the file). "alarm SECONDS" at the end of a command sends SIGALRM then,
 * whose handler returns, so a waiting call ends with EINTR. Calls go through libc (ctypes), so the
 * errno is the kernel's, without Python's retry on EINTR. LEN 0 runs to the end of the file.
 */
const lockProgram = String.raw`
import ctypes, errno, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
class Flock(ctypes.Structure):
    _fields_ = [("l_type", ctypes.c_short), ("l_whence", ctypes.c_short),
                ("l_start", ctypes.c_int64), ("l_len", ctypes.c_int64), ("l_pid", ctypes.c_int32)]
F_GETLK, F_SETLK, F_SETLKW, F_OFD_SETLK = 5, 6, 7, 37
types = {"r": 0, "w": 1, "u": 2}
ops = {"sh": 1, "ex": 2, "un": 8}
signal.signal(signal.SIGALRM, lambda signum, frame: None)
path = sys.argv[1]
fd = os.open(path, os.O_RDWR)
print("pid", os.getpid(), flush=True)
def outcome(rc):
    code = ctypes.get_errno()
    # Linux names errno 35 both EDEADLK and EDEADLOCK; fcntl(2) says EDEADLK.
    return "ok" if rc == 0 else "EDEADLK" if code == errno.EDEADLK else errno.errorcode[code]
for line in sys.stdin:
    words = line.split()
    if "alarm" in words:
        signal.setitimer(signal.ITIMER_REAL, float(words[words.index("alarm") + 1]))
    command = words[0]
    if command in ("getlk", "try", "wait", "ofd"):
        lock = Flock(types[words[1]], os.SEEK_SET, int(words[2]), int(words[3]), 0)
        cmd = {"getlk": F_GETLK, "try": F_SETLK, "wait": F_SETLKW, "ofd": F_OFD_SETLK}[command]
        rc = libc.fcntl(fd, cmd, ctypes.byref(lock))
        if command == "getlk" and rc == 0:
            answer = "none" if lock.l_type == 2 else "%s %d+%d@%d" % ("RW"[lock.l_type], lock.l_start, lock.l_len, lock.l_pid)
        else:
            answer = outcome(rc)
    elif command == "flock":
        answer = outcome(libc.flock(fd, ops[words[1]] | (4 if "nb" in words else 0)))
    elif command == "close-other":
        os.close(os.open(path, os.O_RDONLY))
        answer = "ok"
    else:
        answer = "unknown command"
    signal.setitimer(signal.ITIMER_REAL, 0)
    print(answer, flush=True)
`;

class LockProcess {
  private readonly answers: Array<(line: string) => void> = [];
  private readonly early: string[] = [];
  stderr = '';

  private constructor(readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const waiter = this.answers.shift();
      if (waiter === undefined) this.early.push(line);
      else waiter(line);
    });
    child.stderr!.on('data', (data: Buffer) => (this.stderr += data.toString()));
  }

  /** Starts the program on `path` and returns once it has the file open. */
  static async open(path: string, running: Set<LockProcess>): Promise<{ process: LockProcess; pid: number }> {
    const child = spawn('python3', ['-u', '-c', lockProgram, path], { stdio: ['pipe', 'pipe', 'pipe'] });
    const process = new LockProcess(child);
    running.add(process);
    const first = await process.next(10_000);
    const pid = /^pid (\d+)$/.exec(first)?.[1];
    if (pid === undefined) throw new Error(`lock program did not start: ${first} ${process.stderr}`);
    return { process, pid: Number(pid) };
  }

  /** Sends one command; resolves with its answer line. */
  run(command: string, timeoutMs = 10_000): Promise<string> {
    this.child.stdin!.write(`${command}\n`);
    return this.next(timeoutMs);
  }

  private next(timeoutMs: number): Promise<string> {
    const early = this.early.shift();
    if (early !== undefined) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no answer within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.answers.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  /** Ends the program (its descriptors close, as at any exit). */
  async exit(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.stdin!.end();
    await exited;
  }
}

describe.skipIf(skipReason !== undefined)('locks across two mounts of one cluster', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let a: string;
  let b: string;
  const running = new Set<LockProcess>();

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world, { fuseSettings: `lock_lease_ms = ${leaseMs}` });
    a = cluster.mountPoint;
    b = await cluster.mountAnother(`lock_lease_ms = ${leaseMs}\nlock_wait_max_ms = ${waitMaxMs}`);
  }, 90_000);

  afterAll(async () => {
    for (const process of running) process.child.kill('SIGKILL');
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  async function open(path: string): Promise<{ process: LockProcess; pid: number }> {
    return LockProcess.open(path, running);
  }

  it('keeps the other mount out of an exclusive flock until it is released; shared flocks coexist', async () => {
    await writeFile(join(a, 'flocked'), 'x');
    const holder = await open(join(a, 'flocked'));
    expect(await holder.process.run('flock ex')).toBe('ok');
    const other = await open(join(b, 'flocked'));
    expect(await other.process.run('flock sh nb')).toBe('EAGAIN');
    // flock(1) on B waits, and gets the lock once A lets go.
    const started = performance.now();
    const waiting = new Promise<{ status: number | null; ms: number }>((resolve) => {
      const child = spawn('flock', ['-x', join(b, 'flocked'), '-c', 'true'], { timeout: 10_000 });
      child.on('exit', (status) => resolve({ status, ms: performance.now() - started }));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await holder.process.run('flock un')).toBe('ok');
    const waited = await waiting;
    expect(waited.status).toBe(0);
    expect(waited.ms).toBeGreaterThanOrEqual(250);
    // Shared on both mounts at once; then no exclusive one for either.
    expect(await holder.process.run('flock sh')).toBe('ok');
    expect(await other.process.run('flock sh nb')).toBe('ok');
    expect(await holder.process.run('flock ex nb')).toBe('EAGAIN');
    await holder.process.exit();
    // The last close of A's open file released its flock: B may now upgrade.
    expect(await other.process.run('flock ex nb')).toBe('ok');
    await other.process.exit();
  }, 30_000);

  it('makes fcntl byte ranges conflict across mounts where they overlap, split as POSIX says, and names the holder', async () => {
    await writeFile(join(a, 'ranges'), 'x'.repeat(200));
    const { process: holder, pid } = await open(join(a, 'ranges'));
    const { process: other, pid: otherPid } = await open(join(b, 'ranges'));
    expect(await holder.run('try w 0 100')).toBe('ok');
    // A read lock inside the write lock splits it in three.
    expect(await holder.run('try r 40 20')).toBe('ok');
    expect(await other.run('getlk w 50 1')).toBe(`R 40+20@${pid}`);
    expect(await other.run('getlk r 50 1')).toBe('none');
    expect(await other.run('getlk r 10 1')).toBe(`W 0+40@${pid}`);
    expect(await other.run('getlk r 70 1')).toBe(`W 60+40@${pid}`);
    expect(await other.run('getlk w 100 0')).toBe('none');
    expect(await other.run('try r 45 10')).toBe('ok');
    expect(await other.run('try w 99 1')).toBe('EAGAIN');
    expect(await other.run('try w 100 0')).toBe('ok');
    // Unlocking the middle of A's first part frees just those bytes.
    expect(await holder.run('try u 10 10')).toBe('ok');
    expect(await other.run('try w 10 10')).toBe('ok');
    expect(await other.run('try w 9 1')).toBe('EAGAIN');
    // B's locks stand in A's way too, and A learns B's pid.
    expect(await holder.run('try w 100 1')).toBe('EAGAIN');
    expect(await holder.run('getlk r 150 1')).toBe(`W 100+0@${otherPid}`);
    // Closing any descriptor of the file drops all of the process's POSIX locks on it.
    expect(await holder.run('close-other')).toBe('ok');
    expect(await other.run('try w 0 10')).toBe('ok');
    expect(await other.run('getlk w 0 0')).toBe('none');
    await holder.exit();
    await other.exit();
  }, 30_000);

  it('drops an open file description lock with the last close of its file, not with the lease', async () => {
    await writeFile(join(a, 'ofd'), 'x');
    const { process: holder } = await open(join(a, 'ofd'));
    const { process: other } = await open(join(b, 'ofd'));
    expect(await holder.run('ofd w 0 0')).toBe('ok');
    // Another descriptor's close by the same process leaves an OFD lock alone (it is the file's).
    expect(await holder.run('close-other')).toBe('ok');
    expect(await other.run('try r 0 1')).toBe('EAGAIN');
    await holder.exit();
    // The kernel sends the release in the background: it arrives within moments, not a lease.
    const started = performance.now();
    let answer = await other.run('try w 0 0');
    while (answer !== 'ok' && performance.now() - started < leaseMs / 2) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer = await other.run('try w 0 0');
    }
    expect(answer).toBe('ok');
    await other.exit();
  }, 30_000);

  it('answers a waiter interrupted by a signal with EINTR, for fcntl and flock', async () => {
    await writeFile(join(a, 'interrupted'), 'x');
    const { process: holder } = await open(join(a, 'interrupted'));
    const { process: waiter } = await open(join(b, 'interrupted'));
    expect(await holder.run('try w 0 0')).toBe('ok');
    expect(await holder.run('flock ex')).toBe('ok');
    const started = performance.now();
    expect(await waiter.run('wait w 0 0 alarm 0.3')).toBe('EINTR');
    expect(await waiter.run('flock ex alarm 0.3')).toBe('EINTR');
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeGreaterThanOrEqual(550);
    expect(elapsedMs).toBeLessThan(waitMaxMs * 2);
    // An interrupted waiter left nothing behind: once A is gone, B locks. The fcntl lock goes with
    // A's close (FLUSH, which close waits for); the flock with the file's release, which the
    // kernel sends after A has exited without waiting for it, so B may have to try again.
    await holder.exit();
    expect(await waiter.run('try w 0 0')).toBe('ok');
    const flocked = await eventually(
      async () => ((await waiter.run('flock ex nb')) === 'ok' ? true : undefined),
      5_000,
      "B's flock once A's release has reached meta",
    );
    expect(flocked).toBe(true);
    await waiter.exit();
  }, 30_000);

  it('ends a wait at its bound with EDEADLK for fcntl and EWOULDBLOCK for flock', async () => {
    await writeFile(join(a, 'bounded'), 'x');
    const { process: holder } = await open(join(a, 'bounded'));
    const { process: waiter } = await open(join(b, 'bounded'));
    expect(await holder.run('try r 0 0')).toBe('ok');
    expect(await holder.run('flock sh')).toBe('ok');
    const started = performance.now();
    expect(await waiter.run('wait w 0 0')).toBe('EDEADLK');
    expect(performance.now() - started).toBeGreaterThanOrEqual(waitMaxMs - 50);
    expect(await waiter.run('flock ex')).toBe('EAGAIN');
    await holder.exit();
    await waiter.exit();
  }, 30_000);

  // Last: it kills mount A's daemon.
  it('frees the locks of a SIGKILLed daemon within its lease', async () => {
    await writeFile(join(a, 'orphaned'), 'x');
    const { process: holder } = await open(join(a, 'orphaned'));
    const { process: other } = await open(join(b, 'orphaned'));
    expect(await holder.run('try w 0 0')).toBe('ok');
    expect(await holder.run('flock ex')).toBe('ok');
    // Renewals keep the lock past its first lease.
    await new Promise((resolve) => setTimeout(resolve, leaseMs + 500));
    expect(await other.run('try w 0 0')).toBe('EAGAIN');
    const daemon = cluster!.fuse!;
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    const killed = performance.now();
    expect(await other.run('try r 0 1')).toBe('EAGAIN');
    let freedMs: number | undefined;
    while (freedMs === undefined && performance.now() - killed < leaseMs + 3_000) {
      if ((await other.run('try w 0 0')) === 'ok') freedMs = performance.now() - killed;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(freedMs, 'the POSIX lock freed after the lease').toBeDefined();
    expect(freedMs!).toBeLessThanOrEqual(leaseMs + 500);
    expect(await other.run('flock ex nb')).toBe('ok');
    console.log(`a SIGKILLed daemon's locks freed after ${Math.round(freedMs!)} ms (lease ${leaseMs} ms)`);
    holder.child.kill('SIGKILL');
    await other.exit();
  }, 30_000);
});
