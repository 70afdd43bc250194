/**
 * Operations on buckets, the directories directly under the export root: ListBuckets (those the
 * caller may list, with valid bucket names), CreateBucket (mkdir with the key's identity, so the
 * export root's permissions decide who may), DeleteBucket (rmdir: BucketNotEmpty while anything is
 * in it; the bucket's abandoned multipart uploads go with it), HeadBucket (may the caller list
 * it), GetBucketLocation and GetBucketVersioning (never enabled).
 */
import type { Inode } from '../client/index.js';
import { hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { fromFsError, s3Error } from './errors.js';
import { isBucketName } from './names.js';
import {
  bucketOf,
  isoTime,
  readSmallBody,
  sendEmpty,
  sendXml,
  type GatewayServices,
  type S3Request,
} from './s3-request.js';
import { gatewayCredentials } from './staging.js';
import { childText, MalformedXmlError, parseXml, type XmlNode } from './xml.js';

/** The <Owner> of a listing: the caller's uid and key name. */
export function ownerNode(request: S3Request): XmlNode {
  return {
    name: 'Owner',
    children: [
      { name: 'ID', text: String(request.cred.uid) },
      { name: 'DisplayName', text: request.ownerName },
    ],
  };
}

export async function listBuckets(services: GatewayServices, request: S3Request): Promise<void> {
  const { fs } = services;
  const buckets: Array<{ name: string; ino: bigint }> = [];
  let cursor: string | undefined;
  do {
    const page = await fs
      .readDirPage(request.cred, { path: services.exportRoot }, limits.metaReaddirPageMax, cursor)
      .catch((error: unknown) => {
        throw fromFsError(error, 'NoSuchBucket');
      });
    for (const entry of page.entries) {
      if (entry.type === 'directory' && isBucketName(entry.name))
        buckets.push({ name: entry.name, ino: entry.ino });
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  const inodes: Array<Inode | null> = [];
  for (let start = 0; start < buckets.length; start += limits.metaBatchStatMax) {
    const slice = buckets.slice(start, start + limits.metaBatchStatMax);
    inodes.push(
      ...(await fs.batchStat(
        request.cred,
        slice.map((bucket) => bucket.ino),
      )),
    );
  }
  const children: XmlNode[] = buckets.flatMap((bucket, index) => {
    const inode = inodes[index];
    if (inode === null || inode === undefined) return [];
    return [
      {
        name: 'Bucket',
        children: [
          { name: 'Name', text: bucket.name },
          { name: 'CreationDate', text: isoTime(new Date(Number(inode.mtimeNs / 1_000_000n))) },
        ],
      },
    ];
  });
  sendXml(request, 200, {
    name: 'ListAllMyBucketsResult',
    children: [ownerNode(request), { name: 'Buckets', children }],
  });
}

export async function createBucket(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  const body = await readSmallBody(request, limits.s3XmlBodyBytesMax);
  if (body.length > 0) checkLocation(body.toString('utf8'), services.region);
  try {
    await services.fs.mkdir(request.cred, bucket.path, services.directoryMode, false);
  } catch (error) {
    if (!hasCode(error, MetaCode.Exists)) throw fromFsError(error, 'NoSuchBucket');
    const existing = await services.fs.stat(request.cred, bucket.path).catch(() => undefined);
    if (existing?.type === 'directory' && existing.uid === request.cred.uid)
      throw s3Error('BucketAlreadyOwnedByYou');
    throw s3Error('BucketAlreadyExists');
  }
  sendEmpty(request, 200, { location: `/${bucket.name}` });
}

/** A CreateBucketConfiguration must name our region (or none). */
function checkLocation(text: string, region: string): void {
  let location: string | undefined;
  try {
    const root = parseXml(text, { charactersMax: limits.s3XmlBodyBytesMax, depthMax: 4, elementsMax: 64 });
    if (root.name !== 'CreateBucketConfiguration')
      throw new MalformedXmlError('not a CreateBucketConfiguration');
    location = childText(root, 'LocationConstraint');
  } catch (error) {
    if (error instanceof MalformedXmlError) throw s3Error('MalformedXML', error.message);
    throw error;
  }
  if (location !== undefined && location !== '' && location !== region) {
    throw s3Error(
      'InvalidArgument',
      `the location constraint ${location} is not this gateway's region ${region}`,
    );
  }
}

export async function deleteBucket(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  try {
    await services.fs.rmdir(request.cred, bucket.path);
  } catch (error) {
    if (hasCode(error, MetaCode.NotEmpty)) throw s3Error('BucketNotEmpty');
    if (hasCode(error, MetaCode.NotDirectory)) throw s3Error('NoSuchBucket');
    throw fromFsError(error, 'NoSuchBucket');
  }
  // Uploads never completed belong to the bucket, whoever began them; a new bucket of the name
  // must not find them. The uploads directory is the gateway's own.
  await services.fs
    .removeRecursive(gatewayCredentials, services.uploads.bucketPath(bucket.name))
    .catch(() => undefined);
  sendEmpty(request, 204);
}

export async function headBucket(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  await checkListable(services, request, bucket.path);
  sendEmpty(request, 200, { 'x-amz-bucket-region': services.region });
}

/** NoSuchBucket or AccessDenied unless the caller may read the bucket's directory. */
export async function checkListable(
  services: GatewayServices,
  request: S3Request,
  path: string,
): Promise<void> {
  try {
    await services.fs.readDirPage(request.cred, { path }, 1);
  } catch (error) {
    if (hasCode(error, MetaCode.NotDirectory)) throw s3Error('NoSuchBucket');
    throw fromFsError(error, 'NoSuchBucket');
  }
}

export async function getBucketLocation(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  await checkListable(services, request, bucket.path);
  // us-east-1 is written as no constraint at all, as S3 does.
  sendXml(request, 200, {
    name: 'LocationConstraint',
    ...(services.region === 'us-east-1' ? {} : { text: services.region }),
  });
}

export async function getBucketVersioning(services: GatewayServices, request: S3Request): Promise<void> {
  const bucket = bucketOf(services, request);
  await checkListable(services, request, bucket.path);
  sendXml(request, 200, { name: 'VersioningConfiguration' });
}
