/**
 * ListObjectsV2 and ListObjects (v1): a page of keys and common prefixes of one bucket, in key
 * order, from the key walk (key-walk.ts).
 *
 * - The walk starts in the directory the prefix names up to its last "/" ("photos/2024/jan"
 *   starts in photos/2024), at the later of the prefix, start-after (or marker) and the
 *   continuation token, and stops at the first key beyond the prefix.
 * - With the delimiter "/", directories are common prefixes without being read; another
 *   delimiter groups keys as S3 does, reading what it groups.
 * - max-keys (at most 1,000) counts keys and prefixes together; a page is truncated when one
 *   more item exists, or when the walk read s3ListEntriesScannedMax items for it.
 * - A continuation token is the last item of the page (and whether it was a prefix, whose keys
 *   the next page skips), so any gateway continues any other's listing.
 * - Sizes and times come from one batchStat per page, ETags from each file's record, looked up
 *   s3ListLookupConcurrency at a time.
 */
import type { Credentials, Inode, InodeId } from '../client/index.js';
import { hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { ownerNode } from './bucket-operations.js';
import { fromFsError, s3Error } from './errors.js';
import { walkDirectory, type WalkBound, type WalkItem } from './key-walk.js';
import { compareKeys, joinPath } from './names.js';
import { emptyMd5, objectInfo, objectXattr, quoted } from './object-meta.js';
import { bucketOf, isoTime, sendXml, type GatewayServices, type S3Request } from './s3-request.js';
import { uriEncode } from './sigv4.js';
import type { XmlNode } from './xml.js';

/** What a listing asks for. */
export interface ListQuery {
  readonly prefix: string;
  readonly delimiter: string;
  readonly maxKeys: number;
  /** Keys after this (start-after, marker, or a continuation token's key). */
  readonly after: WalkBound | undefined;
}

/** A listed key with what S3 shows of it. */
export interface ListedObject {
  readonly key: string;
  readonly size: bigint;
  readonly lastModified: Date;
  readonly etag: string;
  readonly ownerUid: number;
}

export interface ListPage {
  readonly objects: ListedObject[];
  readonly prefixes: string[];
  /** The item to continue after when truncated. */
  readonly next: { readonly key: string; readonly prefix: boolean } | undefined;
}

/** The later of two lower bounds. */
function laterBound(left: WalkBound | undefined, right: WalkBound | undefined): WalkBound | undefined {
  if (left === undefined) return right;
  if (right === undefined) return left;
  const order = compareKeys(left.key, right.key);
  if (order !== 0) return order > 0 ? left : right;
  return {
    key: left.key,
    inclusive: left.inclusive && right.inclusive,
    skipPrefix: left.skipPrefix || right.skipPrefix,
  };
}

/** Lists one page of a bucket; see the file comment. */
export async function listPage(
  services: GatewayServices,
  cred: Credentials,
  bucketPath: string,
  query: ListQuery,
): Promise<ListPage> {
  const slash = query.prefix.lastIndexOf('/');
  const baseKey = slash < 0 ? '' : query.prefix.slice(0, slash + 1);
  const baseComponents = baseKey === '' ? [] : baseKey.slice(0, -1).split('/');
  const bound = laterBound(
    query.after,
    query.prefix === '' ? undefined : { key: query.prefix, inclusive: true, skipPrefix: false },
  );
  const empty: ListPage = { objects: [], prefixes: [], next: undefined };
  // A bound past every key of the prefix leaves nothing; components no key has match nothing.
  if (bound !== undefined && !bound.key.startsWith(query.prefix) && compareKeys(bound.key, query.prefix) > 0)
    return empty;
  if (baseComponents.some((part) => part === '' || part === '.' || part === '..')) return empty;
  const base = await baseDirectory(services, cred, bucketPath, baseComponents);
  if (base === undefined || query.maxKeys === 0) return empty;
  const walk = walkDirectory(
    { fs: services.fs, cred, directoriesAsPrefixes: query.delimiter === '/' },
    base,
    baseKey,
    bound,
    true,
  );
  const prefixes: string[] = [];
  const objects: WalkItem[] = [];
  let next: ListPage['next'];
  // After a common prefix, the keys it groups are skipped (the walk skips whole directories itself).
  const skipped = query.after?.skipPrefix === true ? query.after.key : undefined;
  let last: ListPage['next'] = skipped === undefined ? undefined : { key: skipped, prefix: true };
  let lastPrefix: string | undefined = skipped;
  let scanned = 0;
  for await (const item of guarded(walk)) {
    const key = item.kind === 'object' ? item.key : item.prefix;
    if (!key.startsWith(query.prefix)) break;
    scanned += 1;
    const grouped = groupOf(item, key, query);
    if (grouped === undefined || grouped !== lastPrefix) {
      if (objects.length + prefixes.length >= query.maxKeys) {
        next = last;
        break;
      }
      if (grouped === undefined) {
        objects.push(item);
        last = { key, prefix: false };
      } else {
        prefixes.push(grouped);
        lastPrefix = grouped;
        last = { key: grouped, prefix: true };
      }
    }
    // Keys grouped into a prefix listed already are read, not listed: a bound on that reading.
    if (scanned >= limits.s3ListEntriesScannedMax) {
      next = last;
      break;
    }
  }
  await walk.return(undefined);
  return { objects: await describe(services, cred, objects), prefixes, next };
}

/** The walk, with the file system's refusals as S3 errors (AccessDenied for an unreadable prefix). */
async function* guarded(
  walk: AsyncGenerator<WalkItem, void, undefined>,
): AsyncGenerator<WalkItem, void, undefined> {
  try {
    yield* walk;
  } catch (error) {
    throw fromFsError(error, 'NoSuchBucket');
  }
}

/** The common prefix an item rolls up into, if any. */
function groupOf(item: WalkItem, key: string, query: ListQuery): string | undefined {
  if (item.kind === 'prefix') return item.prefix;
  if (query.delimiter === '' || query.delimiter === '/') return undefined;
  const at = key.indexOf(query.delimiter, query.prefix.length);
  return at < 0 ? undefined : key.slice(0, at + query.delimiter.length);
}

/** The inode id of the directory a prefix starts in; undefined when there is none (no keys). */
async function baseDirectory(
  services: GatewayServices,
  cred: Credentials,
  bucketPath: string,
  components: readonly string[],
): Promise<InodeId | undefined> {
  let inode: Inode;
  try {
    inode = await services.fs.stat(cred, joinPath(bucketPath, ...components), false);
  } catch (error) {
    if (
      components.length > 0 &&
      (hasCode(error, MetaCode.NotFound) || hasCode(error, MetaCode.NotDirectory))
    ) {
      await services.fs.stat(cred, bucketPath).catch((failure: unknown) => {
        throw fromFsError(failure, 'NoSuchBucket');
      });
      return undefined;
    }
    throw fromFsError(error, 'NoSuchBucket');
  }
  if (inode.type !== 'directory') {
    if (components.length === 0) throw s3Error('NoSuchBucket');
    return undefined;
  }
  return inode.ino;
}

/** Sizes, times and ETags of a page's objects. */
async function describe(
  services: GatewayServices,
  cred: Credentials,
  items: WalkItem[],
): Promise<ListedObject[]> {
  const objects = items.filter(
    (item): item is Extract<WalkItem, { kind: 'object' }> => item.kind === 'object',
  );
  const inodes: Array<Inode | null> = [];
  for (let start = 0; start < objects.length; start += limits.metaBatchStatMax) {
    const slice = objects.slice(start, start + limits.metaBatchStatMax);
    inodes.push(
      ...(await services.fs.batchStat(
        cred,
        slice.map((object) => object.ino),
      )),
    );
  }
  const described = new Array<ListedObject | undefined>(objects.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < objects.length) {
      const index = next++;
      const object = objects[index];
      const inode = inodes[index];
      if (object === undefined || inode === null || inode === undefined) continue;
      const record =
        inode.type === 'file'
          ? await services.fs
              .getXattr(cred, { parent: inode.ino, path: '' }, objectXattr)
              .catch(() => undefined)
          : undefined;
      const info = objectInfo(inode, record);
      described[index] = {
        key: object.key,
        size: info.length,
        lastModified: info.lastModified,
        etag: inode.type === 'directory' ? emptyMd5 : info.etag,
        ownerUid: inode.uid,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(limits.s3ListLookupConcurrency, objects.length) }, worker));
  return described.filter((object): object is ListedObject => object !== undefined);
}

// --- the two operations -----------------------------------------------------------------------

/** The opaque continuation token of an item. */
export function encodeToken(next: { key: string; prefix: boolean }): string {
  return Buffer.from(JSON.stringify({ k: next.key, p: next.prefix ? 1 : 0 }), 'utf8').toString('base64url');
}

export function decodeToken(token: string): WalkBound {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      k?: unknown;
      p?: unknown;
    };
    if (typeof parsed.k === 'string' && (parsed.p === 0 || parsed.p === 1)) {
      return { key: parsed.k, inclusive: false, skipPrefix: parsed.p === 1 };
    }
  } catch {
    // Refused below.
  }
  throw s3Error('InvalidArgument', 'The continuation token provided is incorrect');
}

function maxKeysOf(request: S3Request): number {
  const text = request.params.get('max-keys');
  if (text === undefined) return limits.s3ListPageMax;
  if (!/^\d{1,9}$/.test(text)) throw s3Error('InvalidArgument', 'max-keys is not a number');
  return Math.min(Number(text), limits.s3ListPageMax);
}

function encodingOf(request: S3Request): (text: string) => string {
  const encoding = request.params.get('encoding-type');
  if (encoding === undefined) return (text) => text;
  if (encoding !== 'url') throw s3Error('InvalidArgument', 'encoding-type must be url');
  return (text) => uriEncode(text, true);
}

function contentsOf(
  object: ListedObject,
  encode: (text: string) => string,
  owner: XmlNode | undefined,
): XmlNode {
  return {
    name: 'Contents',
    children: [
      { name: 'Key', text: encode(object.key) },
      { name: 'LastModified', text: isoTime(object.lastModified) },
      { name: 'ETag', text: quoted(object.etag) },
      { name: 'Size', text: String(object.size) },
      { name: 'StorageClass', text: 'STANDARD' },
      ...(owner === undefined ? [] : [owner]),
    ],
  };
}

function commonPrefixesOf(prefixes: string[], encode: (text: string) => string): XmlNode[] {
  return prefixes.map((prefix) => ({
    name: 'CommonPrefixes',
    children: [{ name: 'Prefix', text: encode(prefix) }],
  }));
}

function optional(name: string, text: string | undefined): XmlNode[] {
  return text === undefined ? [] : [{ name, text }];
}

export async function listObjectsV2(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const encode = encodingOf(request);
  const prefix = request.params.get('prefix') ?? '';
  const delimiter = request.params.get('delimiter') ?? '';
  const startAfter = request.params.get('start-after');
  const token = request.params.get('continuation-token');
  const after = laterBound(
    startAfter === undefined || startAfter === ''
      ? undefined
      : { key: startAfter, inclusive: false, skipPrefix: false },
    token === undefined ? undefined : decodeToken(token),
  );
  const maxKeys = maxKeysOf(request);
  const page = await listPage(services, request.cred, bucket.path, { prefix, delimiter, maxKeys, after });
  const owner = request.params.get('fetch-owner') === 'true' ? ownerNode(request) : undefined;
  sendXml(request, 200, {
    name: 'ListBucketResult',
    children: [
      { name: 'Name', text: bucket.name },
      { name: 'Prefix', text: encode(prefix) },
      ...optional('Delimiter', delimiter === '' ? undefined : encode(delimiter)),
      { name: 'MaxKeys', text: String(maxKeys) },
      { name: 'KeyCount', text: String(page.objects.length + page.prefixes.length) },
      { name: 'IsTruncated', text: String(page.next !== undefined) },
      ...optional('EncodingType', request.params.get('encoding-type')),
      ...optional('ContinuationToken', token),
      ...optional('NextContinuationToken', page.next === undefined ? undefined : encodeToken(page.next)),
      ...optional('StartAfter', startAfter === undefined ? undefined : encode(startAfter)),
      ...page.objects.map((object) => contentsOf(object, encode, owner)),
      ...commonPrefixesOf(page.prefixes, encode),
    ],
  });
}

export async function listObjects(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const encode = encodingOf(request);
  const prefix = request.params.get('prefix') ?? '';
  const delimiter = request.params.get('delimiter') ?? '';
  const marker = request.params.get('marker') ?? '';
  // v1 continues after a marker; a prefix ending in the delimiter given as marker skips its keys.
  const after =
    marker === ''
      ? undefined
      : { key: marker, inclusive: false, skipPrefix: delimiter !== '' && marker.endsWith(delimiter) };
  const maxKeys = maxKeysOf(request);
  const page = await listPage(services, request.cred, bucket.path, { prefix, delimiter, maxKeys, after });
  const owner = ownerNode(request);
  sendXml(request, 200, {
    name: 'ListBucketResult',
    children: [
      { name: 'Name', text: bucket.name },
      { name: 'Prefix', text: encode(prefix) },
      { name: 'Marker', text: encode(marker) },
      ...optional('NextMarker', page.next === undefined ? undefined : encode(page.next.key)),
      { name: 'MaxKeys', text: String(maxKeys) },
      ...optional('Delimiter', delimiter === '' ? undefined : encode(delimiter)),
      { name: 'IsTruncated', text: String(page.next !== undefined) },
      ...optional('EncodingType', request.params.get('encoding-type')),
      ...page.objects.map((object) => contentsOf(object, encode, owner)),
      ...commonPrefixesOf(page.prefixes, encode),
    ],
  });
}
