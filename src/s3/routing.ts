/**
 * Which S3 operation a request is: from its method, whether it names a bucket and a key (path
 * style "/bucket/key", or virtual-hosted "bucket.<domain>/key" for configured domains), and its
 * sub-resource query parameters (?uploads, ?uploadId=, ?delete, ?list-type=2, …) and headers
 * (x-amz-copy-source). Operations S3 has that the gateway does not serve answer NotImplemented;
 * a method that means nothing on the resource answers MethodNotAllowed.
 */
import { s3Error } from './errors.js';
import { uriDecode } from './sigv4.js';

export const operations = [
  'ListBuckets',
  'CreateBucket',
  'DeleteBucket',
  'HeadBucket',
  'GetBucketLocation',
  'GetBucketVersioning',
  'ListObjects',
  'ListObjectsV2',
  'ListMultipartUploads',
  'DeleteObjects',
  'PutObject',
  'CopyObject',
  'GetObject',
  'HeadObject',
  'DeleteObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
  'ListParts',
] as const;
export type Operation = (typeof operations)[number];

/** Where a request points. */
export interface Target {
  readonly bucket: string | undefined;
  /** Decoded; undefined for requests on the service or a bucket. */
  readonly key: string | undefined;
}

/** The bucket and key of a request (see the file comment); InvalidURI for a path that is not one. */
export function targetOf(
  rawPath: string,
  host: string | undefined,
  virtualHostDomains: readonly string[],
): Target {
  if (!rawPath.startsWith('/')) throw s3Error('InvalidURI', 'the request path does not start with "/"');
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  for (const domain of virtualHostDomains) {
    if (hostname.endsWith(`.${domain}`)) {
      const bucket = hostname.slice(0, -domain.length - 1);
      const key = rawPath.length > 1 ? uriDecode(rawPath.slice(1)) : undefined;
      return { bucket, key };
    }
  }
  const rest = rawPath.slice(1);
  if (rest === '') return { bucket: undefined, key: undefined };
  const slash = rest.indexOf('/');
  if (slash < 0) return { bucket: uriDecode(rest), key: undefined };
  const bucket = uriDecode(rest.slice(0, slash));
  const key = rest.slice(slash + 1);
  return { bucket, key: key === '' ? undefined : uriDecode(key) };
}

/** Sub-resources of S3 the gateway does not serve (bucket or object configuration). */
const unsupported = [
  'acl',
  'analytics',
  'accelerate',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'logging',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'tagging',
  'torrent',
  'versions',
  'website',
  'attributes',
];

/** The operation of a request on `target`. */
export function operationOf(
  method: string,
  target: Target,
  params: ReadonlyMap<string, string>,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Operation {
  for (const name of unsupported) {
    if (params.has(name)) throw s3Error('NotImplemented', `the ${name} sub-resource is not implemented`);
  }
  if (target.bucket === undefined) {
    if (method === 'GET') return 'ListBuckets';
    throw s3Error('MethodNotAllowed');
  }
  if (target.key === undefined) return bucketOperation(method, params);
  return objectOperation(method, params, headers['x-amz-copy-source'] !== undefined);
}

function bucketOperation(method: string, params: ReadonlyMap<string, string>): Operation {
  switch (method) {
    case 'GET':
      if (params.has('location')) return 'GetBucketLocation';
      if (params.has('versioning')) return 'GetBucketVersioning';
      if (params.has('uploads')) return 'ListMultipartUploads';
      return params.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    case 'HEAD':
      return 'HeadBucket';
    case 'PUT':
      if (params.has('versioning')) throw s3Error('NotImplemented', 'versioning is not implemented');
      return 'CreateBucket';
    case 'DELETE':
      return 'DeleteBucket';
    case 'POST':
      if (params.has('delete')) return 'DeleteObjects';
      throw s3Error('NotImplemented', 'POST uploads from forms are not implemented');
    default:
      throw s3Error('MethodNotAllowed');
  }
}

function objectOperation(method: string, params: ReadonlyMap<string, string>, copy: boolean): Operation {
  const uploadId = params.has('uploadId');
  switch (method) {
    case 'GET':
      return uploadId ? 'ListParts' : 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'PUT':
      if (params.has('partNumber') || uploadId) {
        if (!(params.has('partNumber') && uploadId))
          throw s3Error('InvalidRequest', 'a part needs partNumber and uploadId');
        return copy ? 'UploadPartCopy' : 'UploadPart';
      }
      return copy ? 'CopyObject' : 'PutObject';
    case 'DELETE':
      return uploadId ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'POST':
      if (params.has('uploads')) return 'CreateMultipartUpload';
      if (uploadId) return 'CompleteMultipartUpload';
      throw s3Error('NotImplemented', 'this POST on an object is not implemented');
    default:
      throw s3Error('MethodNotAllowed');
  }
}

/** Operations that only read: the only ones an anonymous request may make, where allowed. */
export function isReadOnly(operation: Operation): boolean {
  return [
    'ListBuckets',
    'HeadBucket',
    'GetBucketLocation',
    'GetBucketVersioning',
    'ListObjects',
    'ListObjectsV2',
    'GetObject',
    'HeadObject',
  ].includes(operation);
}
