/**
 * The S3 gateway's error model: every refusal is an `S3Error` naming one row of the table below
 * (the S3 error code clients branch on and its HTTP status), answered as an S3 XML error document
 * (`<Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId>`).
 *
 * Operating errors of the file system (FsError with a MetaCode, ClientCode, …) become S3 errors in
 * exactly one place, `fromFsError`, with a comment on every mapping that is not obvious. A broken
 * invariant (AssertionError) is never mapped: the gateway answers InternalError and logs it.
 */
import { FsError } from '../common/errors.js';
import { ClientCode, MetaCode, RpcCode, StorageCode, statusName } from '../common/status-code.js';
import { xmlDocument, type XmlNode } from './xml.js';

/** Every error the gateway answers: the S3 code (the row's key), its HTTP status and default message. */
export const s3ErrorTable = {
  AccessDenied: { status: 403, message: 'Access Denied' },
  AuthorizationHeaderMalformed: { status: 400, message: 'The authorization header is malformed' },
  AuthorizationQueryParametersError: {
    status: 400,
    message: 'The query parameters of a presigned request are malformed',
  },
  BadDigest: { status: 400, message: 'The digest you specified did not match what the server received' },
  BucketAlreadyExists: { status: 409, message: 'The requested bucket name is not available' },
  BucketAlreadyOwnedByYou: { status: 409, message: 'You already own this bucket' },
  BucketNotEmpty: { status: 409, message: 'The bucket you tried to delete is not empty' },
  EntityTooLarge: { status: 400, message: 'Your proposed upload exceeds the maximum allowed size' },
  EntityTooSmall: { status: 400, message: 'Your proposed upload is smaller than the minimum allowed size' },
  IncompleteBody: { status: 400, message: 'The request body ended before the length it announced' },
  InternalError: { status: 500, message: 'We encountered an internal error; please try again' },
  InvalidAccessKeyId: { status: 403, message: 'The access key id does not exist in our records' },
  InvalidArgument: { status: 400, message: 'Invalid argument' },
  InvalidBucketName: { status: 400, message: 'The specified bucket is not valid' },
  InvalidDigest: { status: 400, message: 'The Content-MD5 or checksum you specified is not valid' },
  InvalidPart: { status: 400, message: 'One or more of the specified parts could not be found' },
  InvalidPartOrder: { status: 400, message: 'The list of parts was not in ascending order' },
  InvalidRange: { status: 416, message: 'The requested range is not satisfiable' },
  InvalidRequest: { status: 400, message: 'Invalid request' },
  InvalidURI: { status: 400, message: 'Could not parse the specified URI' },
  KeyTooLongError: { status: 400, message: 'Your key is too long' },
  MalformedXML: { status: 400, message: 'The XML you provided was not well-formed or did not validate' },
  MaxMessageLengthExceeded: { status: 400, message: 'Your request was too big' },
  MetadataTooLarge: { status: 400, message: 'Your metadata headers exceed the maximum allowed size' },
  MethodNotAllowed: { status: 405, message: 'The specified method is not allowed against this resource' },
  MissingContentLength: { status: 411, message: 'You must provide the Content-Length HTTP header' },
  MissingSecurityHeader: { status: 400, message: 'Your request is missing a required header' },
  NoSuchBucket: { status: 404, message: 'The specified bucket does not exist' },
  NoSuchKey: { status: 404, message: 'The specified key does not exist' },
  NoSuchUpload: { status: 404, message: 'The specified multipart upload does not exist' },
  NotImplemented: { status: 501, message: 'A header or operation you provided is not implemented' },
  PreconditionFailed: {
    status: 412,
    message: 'At least one of the preconditions you specified did not hold',
  },
  RequestTimeTooSkewed: {
    status: 403,
    message: 'The difference between the request time and the server time is too large',
  },
  RequestTimeout: { status: 400, message: 'Your socket connection was not read from or written to in time' },
  ServiceUnavailable: { status: 503, message: 'Please reduce your request rate or try again' },
  SignatureDoesNotMatch: {
    status: 403,
    message: 'The request signature we calculated does not match the signature you provided',
  },
  SlowDown: { status: 503, message: 'Please reduce your request rate' },
  XAmzContentSHA256Mismatch: {
    status: 400,
    message: 'The provided x-amz-content-sha256 header does not match what was computed',
  },
  // Not AWS codes: a file system cannot hold both "a" and "a/b", which S3 allows.
  /** A key's parent path ("a" of "a/b") is an object, not a directory. */
  ParentIsObject: { status: 409, message: 'A prefix of the key is an object, so the key cannot exist' },
  /** The key names a directory holding other objects ("a" while "a/b" exists). */
  ObjectIsDirectory: { status: 409, message: 'The key is a prefix of other objects' },
  /** The file system is out of space. */
  StorageFull: { status: 507, message: 'The storage backend has no space left' },
} as const satisfies Record<string, { status: number; message: string }>;

export type S3ErrorCode = keyof typeof s3ErrorTable;

/** A refusal the gateway answers with an S3 error document. */
export class S3Error extends Error {
  readonly code: S3ErrorCode;
  readonly status: number;
  /** Extra elements of the error document (e.g. RequestTime and ServerTime of a skewed request). */
  readonly details: Readonly<Record<string, string>>;

  constructor(
    code: S3ErrorCode,
    message?: string,
    options: { cause?: unknown; details?: Record<string, string> } = {},
  ) {
    super(message ?? s3ErrorTable[code].message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = `S3Error(${code})`;
    this.code = code;
    this.status = s3ErrorTable[code].status;
    this.details = options.details ?? {};
  }
}

/** Shorthand: `throw s3Error('NoSuchKey')`. */
export function s3Error(code: S3ErrorCode, message?: string, details?: Record<string, string>): S3Error {
  return new S3Error(code, message, details === undefined ? {} : { details });
}

/** The XML error document of `error` for the request on `resource`. */
export function errorDocument(error: S3Error, resource: string, requestId: string): string {
  const children: XmlNode[] = [
    { name: 'Code', text: error.code },
    { name: 'Message', text: error.message },
    ...Object.entries(error.details).map(([name, text]) => ({ name, text })),
    { name: 'Resource', text: resource },
    { name: 'RequestId', text: requestId },
  ];
  return xmlDocument({ name: 'Error', children }, { namespace: false });
}

/** What a missing path means for the operation that met it. */
export type MissingMeans = 'NoSuchKey' | 'NoSuchBucket' | 'NoSuchUpload';

/**
 * The S3 error for an operating error of the file system; any other value (a bug) becomes
 * InternalError. `missing` says which "does not exist" the caller's NotFound means.
 */
export function fromFsError(error: unknown, missing: MissingMeans = 'NoSuchKey'): S3Error {
  if (error instanceof S3Error) return error;
  if (!(error instanceof FsError)) {
    return new S3Error('InternalError', undefined, { cause: error });
  }
  const code = mapStatus(error.code, missing);
  return new S3Error(code, `${s3ErrorTable[code].message} (${statusName(error.code)})`, { cause: error });
}

function mapStatus(status: number, missing: MissingMeans): S3ErrorCode {
  switch (status) {
    case MetaCode.NotFound:
      return missing;
    // EACCES and EPERM alike: the namespace's permissions refuse the key's user.
    case MetaCode.PermissionDenied:
    case MetaCode.NotPermitted:
      return 'AccessDenied';
    case MetaCode.NameTooLong:
      return 'KeyTooLongError';
    // ENOTDIR while resolving a key's path: "a" of "a/b" is a file.
    case MetaCode.NotDirectory:
      return 'ParentIsObject';
    // EISDIR: the key names a directory (a prefix of other keys).
    case MetaCode.IsDirectory:
      return 'ObjectIsDirectory';
    case MetaCode.NotEmpty:
      return 'ObjectIsDirectory';
    // A symlink loop, or a name meta refuses: the key cannot name an object here.
    case MetaCode.TooManySymlinks:
    case MetaCode.InvalidArgument:
      return 'InvalidArgument';
    case MetaCode.ValueTooLarge:
      return 'MetadataTooLarge';
    case MetaCode.FileTooLarge:
    case ClientCode.OffsetTooLarge:
      return 'EntityTooLarge';
    case MetaCode.NoSpace:
    case StorageCode.NoSpace:
    case ClientCode.NoSpace:
      return 'StorageFull';
    // Back-pressure and outages: clients retry a 503 with backoff.
    case ClientCode.Overloaded:
    case RpcCode.Overloaded:
    case StorageCode.ChunkBusy:
      return 'SlowDown';
    case ClientCode.IoTimeout:
    case ClientCode.NoServingReplica:
    case ClientCode.MetaUnreachable:
    case ClientCode.MgmtdUnreachable:
    case ClientCode.RoutingUnavailable:
    case ClientCode.TooManyOpenFiles:
    case MetaCode.TooManyOpenFiles:
    case RpcCode.Timeout:
    case RpcCode.ConnectFailed:
    case RpcCode.ConnectionClosed:
      return 'ServiceUnavailable';
    default:
      return 'InternalError';
  }
}
