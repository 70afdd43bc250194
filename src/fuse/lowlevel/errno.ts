/**
 * Errors that answer a FUSE request with an errno, and the one mapping from a thrown value to
 * the errno its request is answered with. Status codes of the file system (FsError) are mapped by
 * the caller's `toErrno` (the FUSE daemon owns that table); this layer knows only errnos.
 */
import { constants } from 'node:os';

/** errno values by name (ENOENT, EIO, ...), from the platform. */
export const Errno = constants.errno;

/** The kernel takes error answers in 1..511; larger values are kernel-internal restart codes. */
const errnoMax = 511;

/** A handler's way to answer its request with an errno: `throw new FuseErrnoError(Errno.ENOENT)`. */
export class FuseErrnoError extends Error {
  readonly errno: number;

  constructor(errno: number, message?: string) {
    super(message ?? `${errnoName(errno)}`);
    this.name = 'FuseErrnoError';
    this.errno = errno;
  }
}

/** Shorthand for `new FuseErrnoError(errno, message)`. */
export function fuseError(errno: number, message?: string): FuseErrnoError {
  return new FuseErrnoError(errno, message);
}

/** ENOENT for 2, or `errno 2` for a number without a name. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(Errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** True for a valid errno answer. */
export function isValidErrno(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= errnoMax;
}

/**
 * The errno a thrown value carries, or undefined when it carries none (a bug: answered EIO and
 * logged). Understands FuseErrnoError, Node.js system errors (negative `errno`, `code` 'ENOENT')
 * and any object with a positive `errno`.
 */
export function errnoOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const candidate = error as { errno?: unknown; code?: unknown };
  if (typeof candidate.errno === 'number') {
    const errno = Math.abs(candidate.errno);
    if (isValidErrno(errno)) return errno;
  }
  if (typeof candidate.code === 'string' && Object.hasOwn(Errno, candidate.code)) {
    const errno = Errno[candidate.code as keyof typeof Errno];
    if (isValidErrno(errno)) return errno;
  }
  return undefined;
}
