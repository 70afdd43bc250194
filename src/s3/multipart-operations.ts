/**
 * The multipart operations: CreateMultipartUpload, UploadPart and UploadPartCopy (a part's bytes
 * streamed into place, its record made only once they passed every check), CompleteMultipartUpload
 * (the object assembled as multipart.ts plans it, given the S3 multipart ETag and renamed onto the
 * key), AbortMultipartUpload (the upload removed whole), ListParts and ListMultipartUploads.
 */
import { createHash } from 'node:crypto';
import type { Credentials, Inode, OpenFile } from '../client/index.js';
import { hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { ownerNode } from './bucket-operations.js';
import { fromFsError, s3Error } from './errors.js';
import {
  assemblyPlan,
  checkPartNumber,
  checkUploadId,
  mapLimited,
  metadataOf,
  newUploadId,
  parseUploadRecord,
  strideXattr,
  uploadRecord,
  uploadXattr,
  type AssemblyPlan,
  type Uploads,
  type Part,
  type PartRecord,
  type UploadLocation,
  type UploadRecord,
} from './multipart.js';
import { compareKeys, joinPath } from './names.js';
import { metadataFromHeaders, multipartEtag, quoted } from './object-meta.js';
import { copySourceOf, readRange } from './object-operations.js';
import { writeAll, type ObjectTarget } from './object-writer.js';
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
  type GatewayServices,
  type S3Request,
} from './s3-request.js';
import { MalformedXmlError, childText, childrenNamed, parseXml, type XmlNode } from './xml.js';

function uploadsOf(services: GatewayServices): Uploads {
  return services.uploads;
}

/** The request's bucket, key and upload. */
function uploadOf(services: GatewayServices, request: S3Request) {
  const bucket = bucketOf(services, request);
  const key = keyOf(request);
  const location = uploadsOf(services).locate(bucket.name, request.params.get('uploadId') ?? '');
  return { bucket, key, location };
}

export async function createMultipartUpload(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const key = keyOf(request);
  if (key.directory) throw s3Error('InvalidArgument', 'a key ending in "/" names a directory');
  const metadata = metadataFromHeaders(request.headers);
  await services.writer.checkTarget({ cred: request.cred, bucketPath: bucket.path, key });
  const nowMs = services.clock.nowMs();
  const uploadId = newUploadId(nowMs);
  await uploadsOf(services).create(
    request.cred,
    bucket.name,
    uploadRecord(key.key, metadata, request.cred.uid, nowMs),
    uploadId,
  );
  sendXml(request, 200, {
    name: 'InitiateMultipartUploadResult',
    children: [
      { name: 'Bucket', text: bucket.name },
      { name: 'Key', text: key.key },
      { name: 'UploadId', text: uploadId },
    ],
  });
}

/**
 * Writes one part (straight into the upload's data when it may, else into a file of its own),
 * then records it. `source` must end without error for the record to be made.
 */
async function writePart(
  services: GatewayServices,
  cred: Credentials,
  location: UploadLocation,
  part: { number: number; size: number },
  source: AsyncIterable<Buffer>,
  etagOf: () => string,
): Promise<PartRecord> {
  const uploads = uploadsOf(services);
  const { fs } = services;
  const stride = await uploads.strideFor(cred, location, part).catch((error: unknown) => {
    throw fromFsError(error, 'NoSuchUpload');
  });
  const existing = await uploads.part(cred, location, part.number);
  const direct = stride !== undefined && part.size > 0 && part.size <= stride && existing === undefined;
  let file: OpenFile;
  let fileName: string | undefined;
  if (direct) {
    file = await fs.openAt(cred, { path: location.dataPath }, { write: true }).catch((error: unknown) => {
      throw fromFsError(error, 'NoSuchUpload');
    });
  } else {
    fileName = uploads.partFileName(part.number);
    file = (
      await fs.createFile(cred, joinPath(location.path, fileName), 0o600).catch((error: unknown) => {
        throw fromFsError(error, 'NoSuchUpload');
      })
    ).file;
  }
  try {
    const start = direct ? BigInt((part.number - 1) * (stride ?? 0)) : 0n;
    await writeAll(file, source, start);
    await file.close();
  } catch (error) {
    await file.close().catch(() => undefined);
    if (fileName !== undefined)
      await fs.unlink(cred, joinPath(location.path, fileName)).catch(() => undefined);
    throw error;
  }
  const record: PartRecord = {
    etag: etagOf(),
    size: part.size,
    ...(fileName === undefined ? {} : { file: fileName }),
    atMs: services.clock.nowMs(),
  };
  await uploads.recordPart(cred, location, part.number, record).catch((error: unknown) => {
    throw fromFsError(error, 'NoSuchUpload');
  });
  return record;
}

export async function uploadPart(services: GatewayServices, request: S3Request): Promise<void> {
  const { key, location } = uploadOf(services, request);
  const number = checkPartNumber(request.params.get('partNumber'));
  const plan = planOf(request, { bytesMax: limits.s3PartBytesMax, lengthRequired: true });
  await uploadsOf(services).record(request.cred, location, key.key);
  if (plan.length === undefined) throw s3Error('MissingContentLength');
  const body = startBody(request, plan);
  const record = await writePart(
    services,
    request.cred,
    location,
    { number, size: plan.length },
    body.data(),
    () => body.md5Hex(),
  );
  services.metrics.received(body.bytes);
  sendEmpty(request, 200, { etag: quoted(record.etag) });
}

export async function uploadPartCopy(services: GatewayServices, request: S3Request): Promise<void> {
  const { key, location } = uploadOf(services, request);
  const number = checkPartNumber(request.params.get('partNumber'));
  await uploadsOf(services).record(request.cred, location, key.key);
  const source = await copySourceOf(services, request);
  const rangeHeader = request.headers['x-amz-copy-source-range'];
  let range = { start: 0n, end: source.info.length };
  if (typeof rangeHeader === 'string') {
    const parsed = parseRange(rangeHeader, source.info.length);
    if (parsed === undefined || parsed === 'unsatisfiable' || !/^bytes=\d+-\d+$/.test(rangeHeader)) {
      throw s3Error(
        'InvalidArgument',
        `the range ${rangeHeader} is not valid for a source of ${source.info.length} bytes`,
      );
    }
    range = { start: parsed.start, end: parsed.end + 1n };
  }
  const size = range.end - range.start;
  if (size > BigInt(limits.s3PartBytesMax)) throw s3Error('EntityTooLarge');
  const hash = createHash('md5');
  const record = await writePart(
    services,
    request.cred,
    location,
    { number, size: Number(size) },
    readRange(services, request.cred, source.inode, range, hash),
    () => hash.digest('hex'),
  );
  sendXml(request, 200, {
    name: 'CopyPartResult',
    children: [
      { name: 'LastModified', text: isoTime(new Date(record.atMs)) },
      { name: 'ETag', text: quoted(record.etag) },
    ],
  });
}

/** The parts a CompleteMultipartUpload document lists. */
export function parseCompleteDocument(text: string): Array<{ number: number; etag: string }> {
  try {
    const root = parseXml(text, {
      charactersMax: limits.s3XmlBodyBytesMax,
      depthMax: limits.s3XmlDepthMax,
      elementsMax: limits.s3XmlElementsMax,
    });
    if (root.name !== 'CompleteMultipartUpload')
      throw new MalformedXmlError('the root is not <CompleteMultipartUpload>');
    const parts = childrenNamed(root, 'Part');
    if (parts.length === 0) throw new MalformedXmlError('no <Part>');
    if (parts.length > limits.s3PartsMax) throw new MalformedXmlError(`more than ${limits.s3PartsMax} parts`);
    return parts.map((part) => {
      const number = childText(part, 'PartNumber')?.trim();
      const etag = childText(part, 'ETag')?.trim();
      if (number === undefined || etag === undefined)
        throw new MalformedXmlError('a <Part> without PartNumber or ETag');
      return { number: checkPartNumber(number), etag: etag.replace(/^"|"$/g, '') };
    });
  } catch (error) {
    if (error instanceof MalformedXmlError) throw s3Error('MalformedXML', error.message);
    throw error;
  }
}

/** The listed parts' records, each checked against the list. */
async function listedParts(
  services: GatewayServices,
  cred: Credentials,
  location: UploadLocation,
  listed: ReadonlyArray<{ number: number; etag: string }>,
): Promise<Part[]> {
  for (let index = 1; index < listed.length; index++) {
    if ((listed[index] as { number: number }).number <= (listed[index - 1] as { number: number }).number) {
      throw s3Error('InvalidPartOrder');
    }
  }
  const uploads = uploadsOf(services);
  const parts = await mapLimited(listed, limits.s3ListLookupConcurrency, (entry) =>
    uploads.part(cred, location, entry.number),
  );
  return parts.map((part, index) => {
    const entry = listed[index] as { number: number; etag: string };
    if (part === undefined || part.etag !== entry.etag) {
      throw s3Error('InvalidPart', `part ${entry.number} was not uploaded with ETag ${entry.etag}`);
    }
    if (index < parts.length - 1 && part.size < limits.s3PartBytesMin) {
      throw s3Error(
        'EntityTooSmall',
        `part ${part.number} is ${part.size} bytes, less than ${limits.s3PartBytesMin}`,
      );
    }
    return part;
  });
}

export async function completeMultipartUpload(services: GatewayServices, request: S3Request): Promise<void> {
  const { bucket, key, location } = uploadOf(services, request);
  const listed = parseCompleteDocument(
    (await readSmallBody(request, limits.s3XmlBodyBytesMax)).toString('utf8'),
  );
  const record = await uploadsOf(services).record(request.cred, location, key.key);
  const parts = await listedParts(services, request.cred, location, listed);
  const strideBytes = await services.fs.getXattr(request.cred, { path: location.path }, strideXattr);
  const stride = strideBytes === undefined ? undefined : Number(strideBytes.toString('ascii'));
  const plan = assemblyPlan(parts, stride);
  const etag = multipartEtag(parts.map((part) => part.etag));
  const target: ObjectTarget = { cred: request.cred, bucketPath: bucket.path, key };
  await services.writer.checkTarget(target);
  const published = { etag, metadata: metadataOf(record) };
  if (plan.kind === 'in-place') {
    const inode = await assembleInPlace(services, request.cred, location, plan);
    await services.writer.publish(target, { path: location.dataPath, inode }, published, {
      keepOnFailure: true,
    });
  } else {
    const staged = await services.writer.stage(
      request.cred,
      concatenated(services, request.cred, location, plan),
    );
    await services.writer.publish(target, staged, published);
  }
  await services.fs.removeRecursive(request.cred, location.path).catch((error: unknown) => {
    services.logger.warn(
      { uploadId: location.uploadId },
      `a completed upload was not removed: ${String(error)}`,
    );
  });
  sendXml(request, 200, {
    name: 'CompleteMultipartUploadResult',
    children: [
      { name: 'Location', text: `/${bucket.name}/${key.key}` },
      { name: 'Bucket', text: bucket.name },
      { name: 'Key', text: key.key },
      { name: 'ETag', text: quoted(etag) },
    ],
  });
}

/** Moves and copies parts into `data` as planned, cuts it to the object's length; its inode. */
async function assembleInPlace(
  services: GatewayServices,
  cred: Credentials,
  location: UploadLocation,
  plan: Extract<AssemblyPlan, { kind: 'in-place' }>,
): Promise<Inode> {
  const { fs } = services;
  const data = await fs.openAt(cred, { path: location.dataPath }, { read: true, write: true });
  let ino: bigint;
  try {
    ino = data.ino;
    for (const step of plan.steps) {
      if (step.kind === 'in-place') continue;
      if (step.kind === 'move') {
        await writeAll(data, blocksOf(data, BigInt(step.from), step.size), BigInt(step.offset));
        continue;
      }
      const source = await fs.openAt(cred, { path: joinPath(location.path, step.file) }, { write: false });
      try {
        await writeAll(data, blocksOf(source, 0n, step.size), BigInt(step.offset));
      } finally {
        await source.close().catch(() => undefined);
      }
    }
    await data.close();
  } catch (error) {
    await data.close().catch(() => undefined);
    throw fromFsError(error, 'NoSuchUpload');
  }
  // Private while it was assembled; an object has the mode every upload gives.
  await fs.truncate(cred, ino, BigInt(plan.length), services.fileMode);
  return fs.statInode(cred, ino);
}

/** The bytes [from, from + size) of an open file, block by block (each read before the next write). */
async function* blocksOf(
  file: OpenFile,
  from: bigint,
  size: number,
): AsyncGenerator<Buffer, void, undefined> {
  let offset = from;
  const end = from + BigInt(size);
  while (offset < end) {
    const left = end - offset;
    const length = Number(left < BigInt(limits.s3ReadBlockBytes) ? left : BigInt(limits.s3ReadBlockBytes));
    const block = await file.read(offset, length);
    if (block.length === 0) throw s3Error('InvalidPart', 'a part is shorter than its record says');
    offset += BigInt(block.length);
    yield block;
  }
}

/** Every part's bytes in order, for an object assembled afresh. */
async function* concatenated(
  services: GatewayServices,
  cred: Credentials,
  location: UploadLocation,
  plan: Extract<AssemblyPlan, { kind: 'afresh' }>,
): AsyncGenerator<Buffer, void, undefined> {
  for (const source of plan.sources) {
    const file = await services.fs.openAt(
      cred,
      { path: joinPath(location.path, source.file) },
      { write: false },
    );
    try {
      yield* blocksOf(file, BigInt(source.from), source.size);
    } finally {
      await file.close().catch(() => undefined);
    }
  }
}

export async function abortMultipartUpload(services: GatewayServices, request: S3Request): Promise<void> {
  const { key, location } = uploadOf(services, request);
  const uploads = uploadsOf(services);
  await uploads.record(request.cred, location, key.key);
  await uploads.remove(request.cred, location);
  sendEmpty(request, 204);
}

function boundedNumber(request: S3Request, name: string, fallback: number, max: number): number {
  const text = request.params.get(name);
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) throw s3Error('InvalidArgument', `${name} is not a number`);
  return Math.min(Number(text), max);
}

export async function listParts(services: GatewayServices, request: S3Request): Promise<void> {
  const { bucket, key, location } = uploadOf(services, request);
  const maxParts = boundedNumber(request, 'max-parts', limits.s3ListPageMax, limits.s3ListPageMax);
  const marker = boundedNumber(request, 'part-number-marker', 0, limits.s3PartsMax);
  await uploadsOf(services).record(request.cred, location, key.key);
  const parts = await uploadsOf(services).parts(request.cred, location, { after: marker, limit: maxParts });
  const shown = parts.slice(0, maxParts);
  const truncated = parts.length > maxParts;
  const last = shown[shown.length - 1];
  sendXml(request, 200, {
    name: 'ListPartsResult',
    children: [
      { name: 'Bucket', text: bucket.name },
      { name: 'Key', text: key.key },
      { name: 'UploadId', text: location.uploadId },
      { name: 'PartNumberMarker', text: String(marker) },
      ...(truncated && last !== undefined
        ? [{ name: 'NextPartNumberMarker', text: String(last.number) }]
        : []),
      { name: 'MaxParts', text: String(maxParts) },
      { name: 'IsTruncated', text: String(truncated) },
      { name: 'StorageClass', text: 'STANDARD' },
      { ...ownerNode(request), name: 'Initiator' },
      ownerNode(request),
      ...shown.map((part) => ({
        name: 'Part',
        children: [
          { name: 'PartNumber', text: String(part.number) },
          { name: 'LastModified', text: isoTime(new Date(part.atMs)) },
          { name: 'ETag', text: quoted(part.etag) },
          { name: 'Size', text: String(part.size) },
        ],
      })),
    ],
  });
}

/** The caller's uploads of a bucket with their records (others' cannot be read and are left out). */
async function uploadsOfBucket(
  services: GatewayServices,
  cred: Credentials,
  bucket: string,
): Promise<Array<{ uploadId: string; record: UploadRecord }>> {
  const uploads = uploadsOf(services);
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    let page;
    try {
      page = await services.fs.readDirPage(
        cred,
        { path: uploads.bucketPath(bucket) },
        limits.metaReaddirPageMax,
        cursor,
      );
    } catch (error) {
      if (hasCode(error, MetaCode.NotFound)) return [];
      throw fromFsError(error);
    }
    for (const entry of page.entries) {
      if (entry.type !== 'directory') continue;
      try {
        ids.push(checkUploadId(entry.name));
      } catch {
        continue;
      }
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && ids.length < limits.s3ListEntriesScannedMax);
  const records = await mapLimited(ids, limits.s3ListLookupConcurrency, async (uploadId) => {
    const location = uploads.locate(bucket, uploadId);
    const bytes = await services.fs
      .getXattr(cred, { path: location.path }, uploadXattr)
      .catch(() => undefined);
    if (bytes === undefined) return undefined;
    const record = parseUploadRecord(bytes);
    return record === undefined ? undefined : { uploadId, record };
  });
  return records.filter((entry): entry is { uploadId: string; record: UploadRecord } => entry !== undefined);
}

export async function listMultipartUploads(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  await services.fs.stat(request.cred, bucket.path).catch((error: unknown) => {
    throw fromFsError(error, 'NoSuchBucket');
  });
  const prefix = request.params.get('prefix') ?? '';
  const delimiter = request.params.get('delimiter') ?? '';
  const keyMarker = request.params.get('key-marker') ?? '';
  const uploadIdMarker = request.params.get('upload-id-marker') ?? '';
  const maxUploads = boundedNumber(request, 'max-uploads', limits.s3ListPageMax, limits.s3ListPageMax);
  const all = (await uploadsOfBucket(services, request.cred, bucket.name))
    .filter(({ record }) => record.key.startsWith(prefix))
    .sort(
      (left, right) =>
        compareKeys(left.record.key, right.record.key) || compareKeys(left.uploadId, right.uploadId),
    )
    .filter(({ uploadId, record }) => {
      const order = compareKeys(record.key, keyMarker);
      return (
        keyMarker === '' ||
        order > 0 ||
        (order === 0 && uploadIdMarker !== '' && compareKeys(uploadId, uploadIdMarker) > 0)
      );
    });
  const uploads: XmlNode[] = [];
  const prefixes: string[] = [];
  let last: { key: string; uploadId: string } | undefined;
  let truncated = false;
  for (const { uploadId, record } of all) {
    const at = delimiter === '' ? -1 : record.key.indexOf(delimiter, prefix.length);
    const group = at < 0 ? undefined : record.key.slice(0, at + delimiter.length);
    if (group !== undefined && prefixes[prefixes.length - 1] === group) continue;
    if (uploads.length + prefixes.length >= maxUploads) {
      truncated = true;
      break;
    }
    if (group !== undefined) {
      prefixes.push(group);
      last = { key: group, uploadId: '' };
      continue;
    }
    last = { key: record.key, uploadId };
    const owner = {
      name: 'Owner',
      children: [
        { name: 'ID', text: String(record.ownerUid) },
        { name: 'DisplayName', text: String(record.ownerUid) },
      ],
    };
    uploads.push({
      name: 'Upload',
      children: [
        { name: 'Key', text: record.key },
        { name: 'UploadId', text: uploadId },
        { ...owner, name: 'Initiator' },
        owner,
        { name: 'StorageClass', text: 'STANDARD' },
        { name: 'Initiated', text: isoTime(new Date(record.initiatedMs)) },
      ],
    });
  }
  sendXml(request, 200, {
    name: 'ListMultipartUploadsResult',
    children: [
      { name: 'Bucket', text: bucket.name },
      { name: 'KeyMarker', text: keyMarker },
      { name: 'UploadIdMarker', text: uploadIdMarker },
      ...(truncated && last !== undefined
        ? [
            { name: 'NextKeyMarker', text: last.key },
            { name: 'NextUploadIdMarker', text: last.uploadId },
          ]
        : []),
      { name: 'Prefix', text: prefix },
      ...(delimiter === '' ? [] : [{ name: 'Delimiter', text: delimiter }]),
      { name: 'MaxUploads', text: String(maxUploads) },
      { name: 'IsTruncated', text: String(truncated) },
      ...uploads,
      ...prefixes.map((group) => ({ name: 'CommonPrefixes', children: [{ name: 'Prefix', text: group }] })),
    ],
  });
}
