/**
 * Device numbers as the FUSE protocol carries them (fuse_attr.rdev, fuse_mknod_in.rdev): the
 * kernel's 32-bit encoding (new_encode_dev), 12 bits of major and 20 of minor with the minor's low
 * byte lowest, which is also what glibc's makedev gives for numbers in that range. Meta keeps
 * major and minor apart, so its records do not depend on any platform's dev_t.
 */
import { deviceMajorMax, deviceMinorMax, type DeviceNumber } from '../meta/protocol/index.js';

/** The kernel's encoding of `device`. */
export function encodeDevice(device: DeviceNumber): number {
  const { major, minor } = device;
  if (!Number.isInteger(major) || major < 0 || major > deviceMajorMax)
    throw new RangeError(`major device number ${major} is not in 0..${deviceMajorMax}`);
  if (!Number.isInteger(minor) || minor < 0 || minor > deviceMinorMax)
    throw new RangeError(`minor device number ${minor} is not in 0..${deviceMinorMax}`);
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** Major and minor of a device number in the kernel's encoding (any u32 decodes). */
export function decodeDevice(rdev: number): DeviceNumber {
  if (!Number.isInteger(rdev) || rdev < 0 || rdev > 0xffff_ffff)
    throw new RangeError(`device number ${rdev} is not a 32-bit unsigned integer`);
  return { major: (rdev & 0xfff00) >>> 8, minor: ((rdev & 0xff) | ((rdev >>> 12) & 0xfff00)) >>> 0 };
}
