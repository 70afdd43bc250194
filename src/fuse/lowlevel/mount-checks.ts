/**
 * Checks before mounting that turn the usual failures into clear errors (no /dev/fuse, no
 * permission, no fusermount3, a mountpoint that is not a directory), and the recovery of a stale
 * mount left by a process that died without unmounting ("Transport endpoint is not connected").
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

import { FsError } from '../../common/errors.js';
import { CommonCode } from '../../common/status-code.js';
import { errnoOf, Errno } from './errno.js';

export const fuseDevicePath = '/dev/fuse';

/** True when this process runs as root (mounts directly rather than through fusermount3). */
export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** fusermount3's path on PATH (or the usual places), or undefined. */
export async function findFusermount(): Promise<string | undefined> {
  const directories = [
    ...(process.env['PATH'] ?? '').split(delimiter),
    '/usr/bin',
    '/bin',
    '/run/wrappers/bin',
  ];
  for (const directory of directories) {
    if (directory === '') continue;
    const candidate = join(directory, 'fusermount3');
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Fails with an error that says what to do when the FUSE device is missing or unusable. A user
 * (not root) mounts through the setuid fusermount3; it opens the device as the calling user, not
 * as root, so a user mounts only where the device is open to users (udev's rules make it 0666; a
 * container or a machine without udev may leave it 0600 root-only).
 */
export async function checkFuseDevice(options: { viaFusermount: boolean }): Promise<void> {
  let device;
  try {
    device = await stat(fuseDevicePath);
  } catch (error) {
    throw new FsError(
      CommonCode.IoError,
      `${fuseDevicePath} does not exist: load the fuse kernel module ("modprobe fuse"), or give the ` +
        `container the device ("--device /dev/fuse" and the SYS_ADMIN capability)`,
      { cause: error },
    );
  }
  if (options.viaFusermount && (await findFusermount()) === undefined) {
    throw new FsError(
      CommonCode.IoError,
      'fusermount3 was not found: install the fuse3 package (it mounts FUSE file systems for non-root users)',
    );
  }
  if (isRoot()) return;
  try {
    await access(fuseDevicePath, fsConstants.R_OK | fsConstants.W_OK);
  } catch (error) {
    const mode = (device.mode & 0o777).toString(8).padStart(4, '0');
    throw new FsError(
      CommonCode.IoError,
      `no permission to open ${fuseDevicePath} (mode ${mode}, owner uid ${device.uid}): a user's mount ` +
        `opens it as that user, even through fusermount3. Mount as root, or let users open it with ` +
        `"chmod 0666 ${fuseDevicePath}" (udev's default rules do so at boot; a container or a machine ` +
        `without udev needs it done by hand or by its start-up)`,
      { cause: error },
    );
  }
}

/**
 * Prepares `mountpoint`: it must be a directory. A stale FUSE mount there (its server died) answers
 * ENOTCONN; it is detached first, so the new mount does not stack on a dead one.
 */
export async function prepareMountpoint(
  mountpoint: string,
  options: { recoverStale: boolean; detach: (path: string) => Promise<void> },
): Promise<void> {
  let info;
  try {
    info = await stat(mountpoint);
  } catch (error) {
    if (!isStaleMountErrno(errnoOf(error)) || !options.recoverStale) {
      throw new FsError(CommonCode.InvalidArgument, `mountpoint ${mountpoint} is not usable`, {
        cause: error,
      });
    }
    await options.detach(mountpoint);
    info = await stat(mountpoint).catch((cause: unknown) => {
      throw new FsError(CommonCode.IoError, `a stale mount on ${mountpoint} could not be cleared`, { cause });
    });
  }
  if (!info.isDirectory())
    throw new FsError(CommonCode.InvalidArgument, `mountpoint ${mountpoint} is not a directory`);
}

/**
 * True for what a FUSE mount whose server is gone answers: ENOTCONN, or ECONNABORTED once the
 * kernel has aborted the connection (which it may do while the dying server's requests drain).
 */
function isStaleMountErrno(errno: number | undefined): boolean {
  return errno === Errno.ENOTCONN || errno === Errno.ECONNABORTED;
}

/** True when `mountpoint` is a FUSE mount whose server is gone. */
export async function isStaleMount(mountpoint: string): Promise<boolean> {
  try {
    await stat(mountpoint);
    return false;
  } catch (error) {
    return isStaleMountErrno(errnoOf(error));
  }
}

/** `fusermount3 -u -z mountpoint`: how a user detaches a FUSE mount. */
export function fusermountDetach(mountpoint: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'fusermount3',
      ['-u', '-z', '--', mountpoint],
      { timeout: timeoutMs },
      (error, _stdout, stderr) => {
        if (error === null) resolve();
        else
          reject(
            new FsError(CommonCode.IoError, `fusermount3 -u ${mountpoint} failed: ${stderr.trim()}`, {
              cause: error,
            }),
          );
      },
    );
  });
}
