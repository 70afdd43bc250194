/**
 * Operations on objects: PutObject (object-writer.ts: staged, checked, renamed into place),
 * GetObject and HeadObject (with Range and the conditional headers), DeleteObject and
 * DeleteObjects (the key's emptied directories tidied up to the bucket), and CopyObject (copied
 * inside the cluster, never through the client: a copy-on-write clone where the layouts allow,
 * else byte by byte through the gateway; onto itself it only replaces the metadata).
 *
 * An object is a regular file of the bucket's tree; a key ending in "/" is a directory, an object
 * of no bytes only while it is empty. Symbolic links and special files are no objects.
 */
import { releasePayload, type Credentials, type Inode, type OpenFile } from '../client/index.js';
import { assert, hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { S3Error, fromFsError, s3Error } from './errors.js';
import { joinPath, parseKey, type ObjectKey } from './names.js';
import {
  emptyMd5,
  encodeObjectRecord,
  metadataFromHeaders,
  objectHeaders,
  objectInfo,
  objectXattr,
  quoted,
  type ObjectInfo,
} from './object-meta.js';
import { copyMethod } from './copy-plan.js';
import { targetPath, type ObjectTarget, type StagedFile } from './object-writer.js';
import { parseRange } from './ranges.js';
import {
  bucketOf,
  isoTime,
  keyOf,
  planOf,
  readSmallBody,
  sendEmpty,
  sendXml,
  startBody,
  writeData,
  type GatewayServices,
  type S3Request,
} from './s3-request.js';
import { uriDecode } from './sigv4.js';
import { MalformedXmlError, childText, childrenNamed, parseXml, type XmlNode } from './xml.js';
import { createHash } from 'node:crypto';

/** An object found: its inode, path and what S3 says about it. */
export interface FoundObject {
  readonly inode: Inode;
  readonly path: string;
  readonly info: ObjectInfo;
}

/** NoSuchBucket when the bucket is missing, else NoSuchKey. */
async function missing(services: GatewayServices, cred: Credentials, bucketPath: string): Promise<never> {
  try {
    const bucket = await services.fs.stat(cred, bucketPath);
    if (bucket.type !== 'directory') throw s3Error('NoSuchBucket');
  } catch (error) {
    if (error instanceof S3Error) throw error;
    throw fromFsError(error, 'NoSuchBucket');
  }
  throw s3Error('NoSuchKey');
}

/** The object `key` of a bucket, with its record read; NoSuchKey when the key is no object. */
export async function findObject(
  services: GatewayServices,
  cred: Credentials,
  bucketPath: string,
  key: ObjectKey,
): Promise<FoundObject> {
  const { fs } = services;
  const path = joinPath(bucketPath, ...key.components);
  let inode: Inode;
  try {
    inode = await fs.stat(cred, path, false);
  } catch (error) {
    if (hasCode(error, MetaCode.NotFound) || hasCode(error, MetaCode.NotDirectory)) {
      return missing(services, cred, bucketPath);
    }
    throw fromFsError(error);
  }
  if (key.directory) {
    if (inode.type !== 'directory') throw s3Error('NoSuchKey');
    const page = await fs.readDirPage(cred, { parent: inode.ino, path: '' }, 1).catch((error: unknown) => {
      throw fromFsError(error);
    });
    if (page.entries.length > 0) throw s3Error('NoSuchKey', 'the key is a directory holding other objects');
    return { inode, path, info: objectInfo(inode, undefined) };
  }
  if (inode.type !== 'file') throw s3Error('NoSuchKey');
  const record = await fs
    .getXattr(cred, { parent: inode.ino, path: '' }, objectXattr)
    .catch((error: unknown) => {
      throw fromFsError(error);
    });
  return { inode, path, info: objectInfo(inode, record) };
}

export async function putObject(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const key = keyOf(request);
  const metadata = metadataFromHeaders(request.headers);
  const target: ObjectTarget = { cred: request.cred, bucketPath: bucket.path, key };
  const plan = planOf(request, { bytesMax: limits.s3PutObjectBytesMax, lengthRequired: true });
  // A small body costs less to take than the check's call; the rename refuses it all the same.
  if (key.directory || plan.length === undefined || plan.length > limits.s3CheckTargetBytesMin) {
    await services.writer.checkTarget(target);
  }
  if (key.directory) {
    const body = await startBody(request, plan).readAll();
    if (body.length > 0)
      throw s3Error('InvalidArgument', 'a key ending in "/" names a directory, which holds no data');
    await services.writer.makeParents(target);
    sendEmpty(request, 200, { etag: quoted(emptyMd5) });
    return;
  }
  const body = startBody(request, plan);
  const staged = await services.writer.stage(request.cred, body.data());
  services.metrics.received(body.bytes);
  const etag = body.md5Hex();
  await services.writer.publish(target, staged, { etag, metadata });
  sendEmpty(request, 200, { etag: quoted(etag) });
}

/** Evaluates If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since (RFC 9110 order). */
export function checkConditions(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  info: ObjectInfo,
  prefix = 'if-',
): 'ok' | 'not-modified' {
  const header = (name: string): string | undefined => {
    const value = headers[`${prefix}${name}`];
    return Array.isArray(value) ? value.join(',') : value;
  };
  const matches = (list: string): boolean =>
    list
      .split(',')
      .map((item) => item.trim().replace(/^W\//, ''))
      .some((item) => item === '*' || item === quoted(info.etag) || item === info.etag);
  const seconds = Math.floor(info.lastModified.getTime() / 1000);
  const dateOf = (text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const ms = Date.parse(text);
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
  };
  const ifMatch = header('match');
  if (ifMatch !== undefined && !matches(ifMatch))
    throw s3Error('PreconditionFailed', undefined, { Condition: 'If-Match' });
  const unmodifiedSince = dateOf(header('unmodified-since'));
  if (ifMatch === undefined && unmodifiedSince !== undefined && seconds > unmodifiedSince) {
    throw s3Error('PreconditionFailed', undefined, { Condition: 'If-Unmodified-Since' });
  }
  const ifNoneMatch = header('none-match');
  if (ifNoneMatch !== undefined && matches(ifNoneMatch)) return 'not-modified';
  const modifiedSince = dateOf(header('modified-since'));
  if (ifNoneMatch === undefined && modifiedSince !== undefined && seconds <= modifiedSince)
    return 'not-modified';
  return 'ok';
}

/** Response headers a signed GET may override through response-* query parameters. */
const overridable = [
  'content-type',
  'content-language',
  'expires',
  'cache-control',
  'content-disposition',
  'content-encoding',
] as const;

export async function getObject(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const key = keyOf(request);
  if (request.params.has('partNumber'))
    throw s3Error('NotImplemented', 'GET by part number is not implemented');
  const found = await findObject(services, request.cred, bucket.path, key);
  const { info } = found;
  const headers = objectHeaders(info);
  if (checkConditions(request.headers, info) === 'not-modified') {
    request.response.writeHead(304, {
      etag: headers['etag'] ?? '',
      'last-modified': headers['last-modified'] ?? '',
    });
    request.response.end();
    return;
  }
  if (request.auth.kind === 'key') {
    for (const name of overridable) {
      const value = request.params.get(`response-${name}`);
      if (value !== undefined) headers[name] = value;
    }
  }
  const rangeHeader = request.headers.range;
  const range = rangeHeader === undefined ? undefined : parseRange(rangeHeader, info.length);
  if (range === 'unsatisfiable') {
    request.response.setHeader('content-range', `bytes */${info.length}`);
    throw s3Error('InvalidRange', undefined, { ActualObjectSize: String(info.length) });
  }
  const start = range?.start ?? 0n;
  const end = range === undefined ? info.length : range.end + 1n;
  headers['content-length'] = String(end - start);
  if (range !== undefined) headers['content-range'] = `bytes ${start}-${range.end}/${info.length}`;
  if (request.method === 'HEAD' || end === start || found.inode.type !== 'file') {
    request.response.writeHead(range === undefined ? 200 : 206, headers);
    request.response.end();
    return;
  }
  const file = await services.fs
    .openInode(request.cred, found.inode.ino, { write: false })
    .catch((error: unknown) => {
      throw fromFsError(error);
    });
  try {
    request.response.writeHead(range === undefined ? 200 : 206, headers);
    await streamFile(services, request, file, start, end);
  } finally {
    await file.close().catch(() => undefined);
  }
}

/** Sends bytes [start, end) of `file`, as fast as the client reads them. */
async function streamFile(
  services: GatewayServices,
  request: S3Request,
  file: OpenFile,
  start: bigint,
  end: bigint,
) {
  const { response } = request;
  let offset = start;
  while (offset < end) {
    const length = Number(
      end - offset < BigInt(limits.s3ReadBlockBytes) ? end - offset : BigInt(limits.s3ReadBlockBytes),
    );
    const data = await file.read(offset, length);
    if (data.length === 0) {
      // The file was cut while it was sent: the length promised can no longer be kept.
      services.logger.warn({ path: request.rawPath }, 'an object became shorter while it was read');
      response.destroy();
      return;
    }
    offset += BigInt(data.length);
    services.metrics.sent(data.length);
    // Written out (or failed), the bytes go back to the client's pool.
    if (!(await writeData(response, data, () => releasePayload(data)))) return;
  }
  response.end();
}

export async function headObject(services: GatewayServices, request: S3Request): Promise<void> {
  return getObject(services, request);
}

/** What one key's deletion came to. */
type Deletion = { kind: 'deleted' } | { kind: 'error'; error: S3Error };

/** Deletes one object (a missing one is no error, as in S3) and tidies its emptied directories. */
async function deleteOne(services: GatewayServices, cred: Credentials, bucketPath: string, key: ObjectKey) {
  const { fs } = services;
  const path = joinPath(bucketPath, ...key.components);
  try {
    if (key.directory) await fs.rmdir(cred, path);
    else await fs.unlink(cred, path);
  } catch (error) {
    if (hasCode(error, MetaCode.NotFound)) {
      await missing(services, cred, bucketPath).catch((failure: unknown) => {
        if (failure instanceof S3Error && failure.code === 'NoSuchKey') return;
        throw failure;
      });
      return;
    }
    // A directory named without "/", a non-empty one, a file named with "/": no such object.
    if ([MetaCode.IsDirectory, MetaCode.NotEmpty, MetaCode.NotDirectory].some((code) => hasCode(error, code)))
      return;
    throw fromFsError(error);
  }
  const directories = key.directory ? key.components.slice(0, -1) : key.components.slice(0, -1);
  for (let depth = directories.length; depth > 0; depth--) {
    try {
      await fs.rmdir(cred, joinPath(bucketPath, ...directories.slice(0, depth)));
    } catch {
      return;
    }
  }
}

export async function deleteObject(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  await deleteOne(services, request.cred, bucket.path, keyOf(request));
  sendEmpty(request, 204);
}

export async function deleteObjects(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const body = await readSmallBody(request, limits.s3XmlBodyBytesMax);
  const { keys, quiet } = parseDeleteDocument(body.toString('utf8'));
  const outcomes = new Array<Deletion>(keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const index = next++;
      const key = keys[index] as string;
      try {
        await deleteOne(services, request.cred, bucket.path, parseKey(key));
        outcomes[index] = { kind: 'deleted' };
      } catch (error) {
        const failure = fromFsError(error);
        if (failure.code === 'NoSuchBucket' || failure.code === 'InternalError') throw failure;
        outcomes[index] = { kind: 'error', error: failure };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
  const children: XmlNode[] = [];
  keys.forEach((key, index) => {
    const outcome = outcomes[index];
    if (outcome?.kind === 'deleted' && !quiet)
      children.push({ name: 'Deleted', children: [{ name: 'Key', text: key }] });
    if (outcome?.kind === 'error') {
      children.push({
        name: 'Error',
        children: [
          { name: 'Key', text: key },
          { name: 'Code', text: outcome.error.code },
          { name: 'Message', text: outcome.error.message },
        ],
      });
    }
  });
  sendXml(request, 200, { name: 'DeleteResult', children });
}

/** The keys of a <Delete> document; MalformedXML for anything else. */
export function parseDeleteDocument(text: string): { keys: string[]; quiet: boolean } {
  try {
    const root = parseXml(text, {
      charactersMax: limits.s3XmlBodyBytesMax,
      depthMax: limits.s3XmlDepthMax,
      elementsMax: limits.s3XmlElementsMax,
    });
    if (root.name !== 'Delete') throw new MalformedXmlError('the root element is not <Delete>');
    const objects = childrenNamed(root, 'Object');
    if (objects.length === 0) throw new MalformedXmlError('no <Object> to delete');
    if (objects.length > limits.s3DeleteObjectsMax) {
      throw new MalformedXmlError(`more than ${limits.s3DeleteObjectsMax} objects`);
    }
    const keys = objects.map((object) => {
      const key = childText(object, 'Key');
      if (key === undefined) throw new MalformedXmlError('an <Object> without <Key>');
      return key;
    });
    const quiet = childText(root, 'Quiet');
    return { keys, quiet: quiet?.trim().toLowerCase() === 'true' };
  } catch (error) {
    if (error instanceof MalformedXmlError) throw s3Error('MalformedXML', error.message);
    throw error;
  }
}

/** The bucket and key of an x-amz-copy-source header. */
export function parseCopySource(value: string): { bucket: string; key: string } {
  const [path = '', query] = value.split('?', 2);
  if (query !== undefined && !/^versionId=(null)?$/.test(query)) {
    throw s3Error('NotImplemented', 'copying a version is not implemented (no bucket has versioning)');
  }
  const decoded = uriDecode(path).replace(/^\//, '');
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1)
    throw s3Error('InvalidArgument', 'x-amz-copy-source is not bucket/key');
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

/** The source object of a copy, checked against the x-amz-copy-source-if-* conditions. */
export async function copySourceOf(services: GatewayServices, request: S3Request): Promise<FoundObject> {
  const header = request.headers['x-amz-copy-source'];
  const source = parseCopySource(Array.isArray(header) ? header.join(',') : (header ?? ''));
  const bucketPath = bucketOf(services, {
    ...request,
    target: { bucket: source.bucket, key: source.key },
  }).path;
  const found = await findObject(services, request.cred, bucketPath, parseKey(source.key));
  if (found.inode.type !== 'file') throw s3Error('InvalidRequest', 'a directory cannot be copied');
  if (checkConditions(request.headers, found.info, 'x-amz-copy-source-if-') === 'not-modified') {
    throw s3Error('PreconditionFailed', 'the copy source was not modified');
  }
  return found;
}

/** Yields bytes [start, end) of a file, feeding `hash` on the way. */
export async function* readRange(
  services: GatewayServices,
  cred: Credentials,
  inode: Inode,
  range: { start: bigint; end: bigint },
  hash: ReturnType<typeof createHash>,
): AsyncGenerator<Buffer, void, undefined> {
  const file = await services.fs.openInode(cred, inode.ino, { write: false }).catch((error: unknown) => {
    throw fromFsError(error);
  });
  try {
    let offset = range.start;
    while (offset < range.end) {
      const left = range.end - offset;
      const data = await file.read(
        offset,
        Number(left < BigInt(limits.s3ReadBlockBytes) ? left : BigInt(limits.s3ReadBlockBytes)),
      );
      if (data.length === 0)
        throw s3Error('InvalidRequest', 'the copy source became shorter while it was copied');
      hash.update(data);
      offset += BigInt(data.length);
      yield data;
    }
  } finally {
    await file.close().catch(() => undefined);
  }
}

export async function copyObject(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const key = keyOf(request);
  if (key.directory) throw s3Error('InvalidArgument', 'a key ending in "/" names a directory');
  const directive = request.headers['x-amz-metadata-directive'] ?? 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw s3Error('InvalidArgument', 'x-amz-metadata-directive is COPY or REPLACE');
  const source = await copySourceOf(services, request);
  if (source.info.length > BigInt(limits.s3PutObjectBytesMax)) {
    throw s3Error('InvalidRequest', `the copy source is larger than ${limits.s3PutObjectBytesMax} bytes`);
  }
  const metadata = directive === 'REPLACE' ? metadataFromHeaders(request.headers) : source.info.metadata;
  const target: ObjectTarget = { cred: request.cred, bucketPath: bucket.path, key };
  let etag: string;
  let lastModified: Date;
  if (source.path === targetPath(target)) {
    if (directive === 'COPY') {
      throw s3Error(
        'InvalidRequest',
        'copying an object onto itself must replace its metadata (x-amz-metadata-directive: REPLACE)',
      );
    }
    await replaceMetadata(services, request.cred, source, metadata);
    etag = source.info.etag;
    lastModified = source.info.lastModified;
  } else {
    await services.writer.checkTarget(target);
    const copied = await stageCopy(services, request, { source, target: targetPath(target) });
    etag = copied.etag;
    const inode = await services.writer.publish(target, copied.staged, { etag, metadata });
    lastModified = new Date(Number(inode.mtimeNs / 1_000_000n));
  }
  sendXml(request, 200, {
    name: 'CopyObjectResult',
    children: [
      { name: 'LastModified', text: isoTime(lastModified) },
      { name: 'ETag', text: quoted(etag) },
    ],
  });
}

/**
 * A copy's bytes in staging with their ETag: a clone inside the cluster where one applies
 * (copy-plan.ts), which keeps the source's ETag, the ETag of the same bytes; else read and written
 * through the gateway, the ETag being the MD5 of what was read.
 */
async function stageCopy(
  services: GatewayServices,
  request: S3Request,
  copy: { source: FoundObject; target: string },
): Promise<{ staged: StagedFile; etag: string }> {
  const { inode, info } = copy.source;
  assert(inode.type === 'file', 'a copy source is a file');
  const log = { source: copy.source.path, target: copy.target, bytes: String(info.length) };
  let plan = copyMethod({ source: inode.layout, staging: await services.staging.layout() });
  if (plan.method === 'clone') {
    const staged = await services.writer.stageClone(request.cred, inode);
    if (staged !== undefined) {
      services.metrics.copied('clone');
      services.logger.info({ ...log, method: 'clone' }, 'object copied');
      return { staged, etag: info.etag };
    }
    plan = { method: 'bytes', reason: 'the source changed while it was cloned' };
  }
  const hash = createHash('md5');
  const staged = await services.writer.stage(
    request.cred,
    readRange(services, request.cred, inode, { start: 0n, end: info.length }, hash),
  );
  services.metrics.copied('bytes');
  services.logger.info({ ...log, method: 'bytes', reason: plan.reason }, 'object copied');
  return { staged, etag: hash.digest('hex') };
}

async function replaceMetadata(
  services: GatewayServices,
  cred: Credentials,
  object: FoundObject,
  metadata: ReturnType<typeof metadataFromHeaders>,
): Promise<void> {
  const { inode } = object;
  if (inode.type !== 'file') throw s3Error('InvalidRequest', 'a directory has no metadata');
  await services.fs
    .setXattr(
      cred,
      { parent: inode.ino, path: '' },
      objectXattr,
      encodeObjectRecord(inode, object.info.etag, metadata),
    )
    .catch((error: unknown) => {
      throw fromFsError(error);
    });
}
