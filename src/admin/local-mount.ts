/**
 * The mount point of `3fs local`: whether something is mounted there, whether that mount still
 * answers, who still uses it, and clearing a mount that an earlier run left dead (its FUSE daemon
 * was killed, or serves a cluster that is gone). A dead mount answers every call on the path with
 * ENOTCONN or EIO, so nothing, not even mkdir of the path, works until it is detached.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { FsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { CommonCode } from '../common/status-code.js';
import { detachMount } from './local-services.js';

/** Errors of a mount whose server is gone or no longer serves it. */
const deadMountErrors: ReadonlySet<string> = new Set(['ENOTCONN', 'ECONNABORTED', 'EIO']);
/** Stacked dead mounts (several crashed runs) detached at most before giving up. */
const deadMountsMax = 8;

/** True when `path` is a mount point in this process's mount namespace. */
export function isMounted(path: string): boolean {
  const escaped = path.replace(/ /g, '\\040');
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

/** Whether the mount on `path` answers a stat within the bound; an error says it is dead. */
async function mountAnswers(path: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), limits.localMountProbeMsMax);
  });
  const probed = stat(path).then(
    () => true,
    (error: unknown) => !deadMountErrors.has((error as NodeJS.ErrnoException).code ?? ''),
  );
  try {
    return await Promise.race([probed, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Makes `mount` ready to mount on: a dead mount left there by an earlier run is detached (lazily)
 * and said so through `write`; a mount that answers is refused, as another cluster serves it.
 */
export async function clearDeadMount(mount: string, write: (text: string) => void): Promise<void> {
  for (let detached = 0; isMounted(mount); detached++) {
    if (await mountAnswers(mount)) {
      throw new FsError(
        CommonCode.InvalidArgument,
        `${mount} is already mounted and in use (another 3fs local?); stop that first or choose another mount point`,
      );
    }
    if (detached === deadMountsMax || !(await detachMount(mount))) {
      throw new FsError(
        CommonCode.IoError,
        `${mount} is a dead mount that could not be detached; try "fusermount3 -u -z ${mount}" or, as root, "umount -l ${mount}"`,
      );
    }
    write(`${mount} was a dead mount left by an earlier run; detached it\n`);
  }
}

/**
 * Processes whose working directory, root or an open file is on `mount`, as far as /proc shows
 * them to this user. A mount they use is unmounted lazily: it leaves the tree at once, and they
 * lose access to it.
 */
export function mountUsers(mount: string): number[] {
  const under = (target: string): boolean => target === mount || target.startsWith(`${mount}/`);
  const users: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const links = ['cwd', 'root', ...readdirSync(`/proc/${entry}/fd`).map((fd) => `fd/${fd}`)];
      if (links.some((link) => under(readLinkOrEmpty(`/proc/${entry}/${link}`)))) users.push(pid);
    } catch {
      // Gone, or another user's process: not ours to see.
    }
  }
  return users;
}

function readLinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
