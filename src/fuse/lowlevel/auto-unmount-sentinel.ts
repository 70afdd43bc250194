/**
 * Makes fusermount3's auto_unmount reliable when this process is killed outright.
 *
 * fusermount3 unmounts when its socket to this process closes, but only if opening the mount point
 * then fails with ENOTCONN. A killed process releases its descriptors one after another, and the
 * socket can go before the FUSE device: fusermount3 then opens the mount point while the connection
 * still exists, its request is cut off by the device's release (ECONNABORTED, not ENOTCONN), and it
 * exits leaving a dead mount. So a small process of its own also holds the socket: when this
 * process dies, the sentinel's stdin (a pipe from here) ends, it waits half a second, by which time
 * the dead process's device is released, and exits, and only then does fusermount3 see the socket
 * close. A clean unmount tells the sentinel to exit at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../common/logger.js';

/** How long the sentinel keeps the socket after this process died. */
const holdAfterDeathSeconds = '0.5';

/** `read` succeeds on the word a clean unmount sends; at the end of the pipe it fails. */
const script = `if read -r word; then exit 0; fi; exec sleep ${holdAfterDeathSeconds}`;

/** A running sentinel: `release` lets it exit (the session ended cleanly). */
export interface AutoUnmountSentinel {
  release(): void;
}

/** Starts the sentinel for the socket descriptor `socketFd`; undefined when there is none. */
export function startAutoUnmountSentinel(socketFd: number, logger: Logger): AutoUnmountSentinel | undefined {
  if (!Number.isInteger(socketFd) || socketFd < 0) return undefined;
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore', socketFd], cwd: '/' });
  } catch (error) {
    logger.warn(
      { err: error },
      'cannot start the auto-unmount sentinel; a killed daemon may leave its mount',
    );
    return undefined;
  }
  child.on('error', (error) => {
    logger.warn({ err: error }, 'the auto-unmount sentinel failed; a killed daemon may leave its mount');
  });
  // Neither the sentinel nor its pipe keeps this process alive.
  child.unref();
  const stdin = child.stdin;
  stdin?.on('error', () => undefined);
  (stdin as unknown as { unref?: () => void } | null)?.unref?.();
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      stdin?.end('unmounted\n');
    },
  };
}
