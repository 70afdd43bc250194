/**
 * Who a request is: the SigV4 decision over one request's method, path, query and headers, at a
 * given time, against the access keys the lookup knows. Three ways in:
 *  - an Authorization header (AWS4-HMAC-SHA256), whose x-amz-date must be within the allowed skew
 *    of the gateway's clock (15 minutes, as AWS) and whose x-amz-content-sha256 says how the body
 *    is checked (a hash, unsigned, or an aws-chunked body with chunk signatures or a trailer);
 *  - a presigned URL (X-Amz-Algorithm … X-Amz-Signature in the query), valid from its date (less
 *    the skew) for X-Amz-Expires seconds; its body is unsigned;
 *  - neither: anonymous, refused unless the configuration allows anonymous requests.
 *
 * Invariants: a request is signed only when the signature over its canonical form matches in
 * constant time; every x-amz-* header it carries is among the signed ones (so none can be added
 * to a signed request); the credential's date, region and service are the request's and ours.
 */
import { s3Error, type S3Error } from './errors.js';
import {
  PayloadMode,
  canonicalHeaders,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  formatAmzDate,
  parseAmzDate,
  parseAuthorization,
  parsePresigned,
  s3Service,
  sign,
  signaturesEqual,
  signingKey,
  stringToSign,
  type CredentialScope,
  type SignatureClaim,
} from './sigv4.js';

/** The request as the signature covers it. */
export interface RequestView {
  readonly method: string;
  /** The path as sent (still percent-encoded), without the query. */
  readonly rawPath: string;
  /** Decoded query pairs, in order. */
  readonly query: ReadonlyArray<readonly [string, string]>;
  /** Lower-case header names to every value sent. */
  readonly headers: Readonly<Record<string, readonly string[] | undefined>>;
}

/** The POSIX identity requests of a key act as. */
export interface PosixIdentity {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

/** An access key as authentication needs it. */
export interface AccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly identity: PosixIdentity;
}

/** Finds an access key by id (undefined: no such key). */
export type KeyLookup = (accessKeyId: string) => Promise<AccessKey | undefined>;

/** How the body of a signed request is to be checked. */
export type PayloadCheck =
  | { readonly kind: 'unsigned' }
  /** The body's SHA-256 must be this (hex). */
  | { readonly kind: 'sha256'; readonly expected: string }
  /** An aws-chunked body: with chunk signatures (`signing`) or without, with trailing headers or not. */
  | { readonly kind: 'chunked'; readonly signing: ChunkSigning | undefined; readonly trailer: boolean };

/** What the chunk signatures of an aws-chunked body chain from. */
export interface ChunkSigning {
  readonly key: Buffer;
  readonly scope: CredentialScope;
  readonly amzDate: string;
  /** The request's own signature: the first chunk's "previous signature". */
  readonly seedSignature: string;
}

export type Authenticated =
  | { readonly kind: 'key'; readonly key: AccessKey; readonly payload: PayloadCheck }
  | { readonly kind: 'anonymous'; readonly payload: PayloadCheck };

export interface AuthenticateOptions {
  readonly region: string;
  readonly nowMs: number;
  /** How far a request's date may be from now (header form) or in the future (presigned). */
  readonly skewMsMax: number;
  readonly lookup: KeyLookup;
  readonly allowAnonymous: boolean;
}

const hexSha256 = /^[0-9a-f]{64}$/;

function header(view: RequestView, name: string): string | undefined {
  const values = view.headers[name];
  return values === undefined ? undefined : values.join(',');
}

/** Authenticates a request; see the file comment. Throws the S3Error to answer. */
export async function authenticate(view: RequestView, options: AuthenticateOptions): Promise<Authenticated> {
  const authorization = header(view, 'authorization');
  const presigned = view.query.some(([name]) => name === 'X-Amz-Algorithm' || name === 'X-Amz-Credential');
  if (authorization !== undefined && presigned) {
    throw s3Error('InvalidArgument', 'only one authentication mechanism is allowed per request');
  }
  if (authorization !== undefined) return authenticateHeader(view, authorization, options);
  if (presigned) return authenticatePresigned(view, options);
  if (!options.allowAnonymous) throw s3Error('AccessDenied', 'anonymous requests are not allowed here');
  return { kind: 'anonymous', payload: { kind: 'unsigned' } };
}

async function authenticateHeader(
  view: RequestView,
  authorization: string,
  options: AuthenticateOptions,
): Promise<Authenticated> {
  const claim = parseAuthorization(authorization);
  const malformed = (message: string, details?: Record<string, string>): S3Error =>
    s3Error('AuthorizationHeaderMalformed', message, details);
  const { amzDate, dateMs } = requestDate(view);
  checkScope(claim.scope, options.region, malformed);
  if (claim.scope.date !== amzDate.slice(0, 8)) {
    throw malformed(`the credential date ${claim.scope.date} is not the date of the request (${amzDate})`);
  }
  if (Math.abs(options.nowMs - dateMs) > options.skewMsMax) {
    throw s3Error('RequestTimeTooSkewed', undefined, {
      RequestTime: amzDate,
      ServerTime: new Date(options.nowMs).toISOString(),
      MaxAllowedSkewMilliseconds: String(options.skewMsMax),
    });
  }
  if (!claim.signedHeaders.includes('host')) throw malformed('the host header must be signed');
  const dateHeader = view.headers['x-amz-date'] !== undefined ? 'x-amz-date' : 'date';
  if (!claim.signedHeaders.includes(dateHeader)) throw malformed(`the ${dateHeader} header must be signed`);
  checkUnsignedAmzHeaders(view, claim.signedHeaders, []);
  const payloadHash = header(view, 'x-amz-content-sha256');
  if (payloadHash === undefined) {
    throw s3Error('InvalidRequest', 'missing required header for this request: x-amz-content-sha256');
  }
  const payloadMode = payloadModeOf(payloadHash);
  const key = await lookupKey(options, claim.accessKeyId);
  const signature = verify(view, claim, key, { amzDate, payloadHash, exclude: undefined });
  const signing = {
    key: signingKey(key.secretAccessKey, claim.scope),
    scope: claim.scope,
    amzDate,
    seedSignature: signature,
  };
  return { kind: 'key', key, payload: payloadCheck(payloadMode, payloadHash, signing) };
}

async function authenticatePresigned(
  view: RequestView,
  options: AuthenticateOptions,
): Promise<Authenticated> {
  const query = new Map<string, string>();
  for (const [name, value] of view.query) {
    if (name.startsWith('X-Amz-') && query.has(name)) {
      throw s3Error('AuthorizationQueryParametersError', `${name} is given twice`);
    }
    if (!query.has(name)) query.set(name, value);
  }
  const claim = parsePresigned(query);
  checkScope(claim.scope, options.region, (message, details) =>
    s3Error('AuthorizationQueryParametersError', message, details),
  );
  if (claim.scope.date !== claim.amzDate.slice(0, 8)) {
    throw s3Error('AuthorizationQueryParametersError', 'the credential date is not the date of X-Amz-Date');
  }
  const dateMs = parseAmzDate(claim.amzDate) ?? 0;
  if (dateMs - options.nowMs > options.skewMsMax) throw s3Error('AccessDenied', 'Request is not valid yet');
  if (options.nowMs > dateMs + claim.expiresSeconds * 1000) {
    throw s3Error('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': String(claim.expiresSeconds),
      Expires: new Date(dateMs + claim.expiresSeconds * 1000).toISOString(),
      ServerTime: new Date(options.nowMs).toISOString(),
    });
  }
  if (!claim.signedHeaders.includes('host')) {
    throw s3Error('AuthorizationQueryParametersError', 'the host header must be signed');
  }
  // The body of a presigned request is not signed; its hash header, if any, is not either.
  checkUnsignedAmzHeaders(view, claim.signedHeaders, ['x-amz-content-sha256']);
  const key = await lookupKey(options, claim.accessKeyId);
  verify(view, claim, key, {
    amzDate: claim.amzDate,
    payloadHash: PayloadMode.Unsigned,
    exclude: 'X-Amz-Signature',
  });
  return { kind: 'key', key, payload: { kind: 'unsigned' } };
}

/** The request's date: x-amz-date, else an HTTP Date header. */
function requestDate(view: RequestView): { amzDate: string; dateMs: number } {
  const amz = header(view, 'x-amz-date');
  if (amz !== undefined) {
    const dateMs = parseAmzDate(amz);
    if (dateMs === undefined) throw s3Error('AccessDenied', 'x-amz-date is not yyyymmddThhmmssZ');
    return { amzDate: amz, dateMs };
  }
  const http = header(view, 'date');
  const dateMs = http === undefined ? Number.NaN : Date.parse(http);
  if (!Number.isFinite(dateMs)) {
    throw s3Error('AccessDenied', 'a signed request needs a valid x-amz-date or Date header');
  }
  return { amzDate: formatAmzDate(dateMs), dateMs };
}

function checkScope(
  scope: CredentialScope,
  region: string,
  fail: (message: string, details?: Record<string, string>) => S3Error,
): void {
  if (scope.region !== region) {
    throw fail(`the region '${scope.region}' is wrong; expecting '${region}'`, { Region: region });
  }
  if (scope.service !== s3Service) throw fail(`the service '${scope.service}' is not '${s3Service}'`);
}

function checkUnsignedAmzHeaders(
  view: RequestView,
  signed: readonly string[],
  exempt: readonly string[],
): void {
  const unsigned = Object.keys(view.headers).filter(
    (name) => name.startsWith('x-amz-') && !signed.includes(name) && !exempt.includes(name),
  );
  if (unsigned.length > 0) {
    throw s3Error(
      'AccessDenied',
      `there were headers present in the request which were not signed: ${unsigned.join(', ')}`,
    );
  }
}

function payloadModeOf(payloadHash: string): PayloadMode | 'sha256' {
  if (hexSha256.test(payloadHash)) return 'sha256';
  for (const mode of Object.values(PayloadMode)) if (payloadHash === mode) return mode;
  throw s3Error(
    'InvalidArgument',
    'x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING- mode',
  );
}

function payloadCheck(
  mode: PayloadMode | 'sha256',
  payloadHash: string,
  signing: ChunkSigning,
): PayloadCheck {
  switch (mode) {
    case 'sha256':
      return { kind: 'sha256', expected: payloadHash };
    case PayloadMode.Unsigned:
      return { kind: 'unsigned' };
    case PayloadMode.StreamingSigned:
      return { kind: 'chunked', signing, trailer: false };
    case PayloadMode.StreamingSignedTrailer:
      return { kind: 'chunked', signing, trailer: true };
    case PayloadMode.StreamingUnsignedTrailer:
      return { kind: 'chunked', signing: undefined, trailer: true };
  }
}

async function lookupKey(options: AuthenticateOptions, accessKeyId: string): Promise<AccessKey> {
  const key = await options.lookup(accessKeyId);
  if (key === undefined) throw s3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId });
  return key;
}

/** Checks the claim's signature; returns it (the seed of chunk signatures). */
function verify(
  view: RequestView,
  claim: SignatureClaim,
  key: AccessKey,
  options: { amzDate: string; payloadHash: string; exclude: string | undefined },
): string {
  const query =
    options.exclude === undefined ? view.query : view.query.filter(([name]) => name !== options.exclude);
  const canonical = canonicalRequest({
    method: view.method,
    canonicalUri: canonicalUri(view.rawPath),
    canonicalQuery: canonicalQuery(query),
    canonicalHeaders: canonicalHeaders(view.headers, claim.signedHeaders),
    signedHeaders: claim.signedHeaders,
    payloadHash: options.payloadHash,
  });
  const toSign = stringToSign(options.amzDate, claim.scope, canonical);
  const expected = sign(signingKey(key.secretAccessKey, claim.scope), toSign);
  if (!signaturesEqual(expected, claim.signature)) {
    throw s3Error('SignatureDoesNotMatch', undefined, {
      AWSAccessKeyId: claim.accessKeyId,
      StringToSign: toSign,
      CanonicalRequest: canonical,
    });
  }
  return claim.signature;
}
