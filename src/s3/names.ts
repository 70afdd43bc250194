/**
 * Bucket names and object keys, and where they live in the namespace: a bucket is a directory
 * directly under the export root, a key a path below it ("a/b/c" is the file c in the directories
 * a/b). A key that ends in "/" names a directory ("a/b/" is the directory b), which is how an
 * empty directory shows as an object.
 *
 * Invariants (everything a request names is checked here before any namespace call):
 * - a bucket name follows S3's rules (3 to 63 of a-z, 0-9, "." and "-", starting and ending with
 *   a letter or digit, no "..", not an IPv4 address), so it is one path component and never one
 *   of the gateway's own directories, which start with ".";
 * - a key is 1 to 1,024 bytes of UTF-8 without NUL; its components are non-empty, not "." or
 *   "..", and at most a name's bytes, so no key leaves its bucket or collides with another
 *   spelling of the same path.
 */
import { limits } from '../common/limits.js';
import { s3Error } from './errors.js';

const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ipv4Pattern = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Whether `name` is a valid bucket name (ListBuckets shows only directories that are). */
export function isBucketName(name: string): boolean {
  return (
    bucketPattern.test(name) &&
    !name.includes('..') &&
    !ipv4Pattern.test(name) &&
    !name.includes('.-') &&
    !name.includes('-.')
  );
}

/** Checks a bucket name; InvalidBucketName otherwise. */
export function checkBucketName(name: string): string {
  if (!isBucketName(name))
    throw s3Error('InvalidBucketName', `"${name.slice(0, 80)}" is not a valid bucket name`);
  return name;
}

/** A checked key: its components, and whether it names a directory (ends in "/"). */
export interface ObjectKey {
  readonly key: string;
  /** The path components below the bucket ("a/b/" → ["a", "b"]). */
  readonly components: readonly string[];
  readonly directory: boolean;
}

/** Checks a key; KeyTooLongError or InvalidArgument otherwise. */
export function parseKey(key: string): ObjectKey {
  if (key === '') throw s3Error('InvalidArgument', 'an empty key');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > limits.s3KeyBytesMax) {
    throw s3Error('KeyTooLongError', `a key of ${bytes} bytes (at most ${limits.s3KeyBytesMax})`);
  }
  if (key.includes('\0')) throw s3Error('InvalidArgument', 'a key with a NUL character');
  const directory = key.endsWith('/');
  const components = (directory ? key.slice(0, -1) : key).split('/');
  for (const component of components) {
    if (component === '')
      throw s3Error('InvalidArgument', 'a key with an empty path component ("//" or a leading "/")');
    if (component === '.' || component === '..') {
      throw s3Error('InvalidArgument', 'a key with a "." or ".." path component');
    }
    if (Buffer.byteLength(component, 'utf8') > limits.metaNameBytesMax) {
      throw s3Error('KeyTooLongError', `a key with a path component over ${limits.metaNameBytesMax} bytes`);
    }
  }
  return { key, components, directory };
}

/** Joins an absolute directory and relative components into an absolute namespace path. */
export function joinPath(base: string, ...components: readonly string[]): string {
  const parts = components.filter((part) => part !== '');
  if (parts.length === 0) return base;
  return base === '/' ? `/${parts.join('/')}` : `${base}/${parts.join('/')}`;
}

/** Compares two keys as S3 orders them: by their UTF-8 bytes (code points, not UTF-16 units). */
export function compareKeys(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}
