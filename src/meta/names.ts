/**
 * Validation of names and paths, in bytes as POSIX counts them: a name is 1 to metaNameBytesMax
 * bytes of UTF-8 without "/" or NUL; a path is at most metaPathBytesMax bytes without NUL.
 */
import { FsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';

/** Throws InvalidArgument or NameTooLong unless `name` can be a directory entry's name. */
export function checkName(name: string): void {
  if (name.length === 0) throw new FsError(MetaCode.InvalidArgument, 'a name is not empty');
  if (name.includes('/'))
    throw new FsError(MetaCode.InvalidArgument, `name ${JSON.stringify(name)} contains "/"`);
  if (name.includes('\0')) throw new FsError(MetaCode.InvalidArgument, 'a name contains no NUL byte');
  checkUnpairedSurrogates(name);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > limits.metaNameBytesMax) {
    throw new FsError(
      MetaCode.NameTooLong,
      `name of ${bytes} bytes exceeds the limit of ${limits.metaNameBytesMax} bytes`,
    );
  }
}

/** Throws InvalidArgument or NameTooLong unless `path` is a path the service resolves. */
export function checkPath(path: string): void {
  if (path.includes('\0')) throw new FsError(MetaCode.InvalidArgument, 'a path contains no NUL byte');
  checkUnpairedSurrogates(path);
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > limits.metaPathBytesMax) {
    throw new FsError(
      MetaCode.NameTooLong,
      `path of ${bytes} bytes exceeds the limit of ${limits.metaPathBytesMax} bytes`,
    );
  }
}

/** The non-empty components of a path ("a//b/" has two). */
export function pathComponents(path: string): string[] {
  return path.split('/').filter((component) => component.length > 0);
}

/**
 * Strings cross the wire as UTF-8; a lone surrogate would be stored as U+FFFD and come back as a
 * different name, so it is refused rather than silently changed.
 */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkUnpairedSurrogates(text: string): void {
  if (loneSurrogate.test(text)) {
    throw new FsError(MetaCode.InvalidArgument, 'a name or path is not well-formed Unicode (lone surrogate)');
  }
}
