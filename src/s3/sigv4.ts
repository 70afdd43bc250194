/**
 * AWS Signature Version 4 as S3 uses it: the canonical request, the string to sign, the signing
 * key and signature, the parsing of the Authorization header and of a presigned URL's query, and
 * the strings to sign of aws-chunked payloads (per chunk and trailer). Pure functions: the
 * decision about a request (which key, which clock) is in authenticate.ts, the chunked body in
 * aws-chunked.ts. A signer is here too, for the tests and the benchmark, which sign as clients do.
 *
 * S3 specifics kept: the URI path is not normalized (".." and "//" are signed as sent) and each
 * segment is encoded once; the payload hash is the x-amz-content-sha256 header's value (a hex
 * SHA-256, UNSIGNED-PAYLOAD, or one of the STREAMING-… markers of an aws-chunked body).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { s3Error, type S3Error } from './errors.js';

export const signatureAlgorithm = 'AWS4-HMAC-SHA256';
export const chunkAlgorithm = 'AWS4-HMAC-SHA256-PAYLOAD';
export const trailerAlgorithm = 'AWS4-HMAC-SHA256-TRAILER';
export const scopeTerminator = 'aws4_request';
export const s3Service = 's3';

/** The x-amz-content-sha256 values that are not a hash of the body. */
export const PayloadMode = {
  Unsigned: 'UNSIGNED-PAYLOAD',
  StreamingSigned: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  StreamingSignedTrailer: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  StreamingUnsignedTrailer: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
} as const;
export type PayloadMode = (typeof PayloadMode)[keyof typeof PayloadMode];

/** The SHA-256 of no bytes, in hex. */
export const emptySha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The date, region and service a signature is scoped to. */
export interface CredentialScope {
  /** YYYYMMDD. */
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

/** What an Authorization header or a presigned query carries. */
export interface SignatureClaim {
  readonly accessKeyId: string;
  readonly scope: CredentialScope;
  /** Lower-case header names, in the order given (sorted, when the client is right). */
  readonly signedHeaders: readonly string[];
  /** Hex. */
  readonly signature: string;
}

/** A presigned URL's claim and its extra fields. */
export interface PresignedClaim extends SignatureClaim {
  /** X-Amz-Date: yyyymmddThhmmssZ. */
  readonly amzDate: string;
  readonly expiresSeconds: number;
}

const unreserved = /[A-Za-z0-9\-._~]/;

/** RFC 3986 encoding as SigV4 wants it: all but unreserved characters, "/" kept when asked. */
export function uriEncode(text: string, keepSlash: boolean): string {
  let out = '';
  for (const char of text) {
    if (unreserved.test(char) || (keepSlash && char === '/')) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8'))
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Percent-decoding that refuses malformed escapes and bytes that are not UTF-8 (InvalidURI). */
export function uriDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    throw s3Error('InvalidURI', 'a malformed percent-encoding in the request URI');
  }
}

/** The canonical URI of a request path as sent: each segment decoded, then encoded once. */
export function canonicalUri(rawPath: string): string {
  if (rawPath === '') return '/';
  return rawPath
    .split('/')
    .map((segment) => uriEncode(uriDecode(segment), false))
    .join('/');
}

/** A raw query string as decoded (name, value) pairs, in order; "a" alone is ("a", ""). */
export function parseQuery(rawQuery: string): Array<[string, string]> {
  if (rawQuery === '') return [];
  return rawQuery
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const equals = part.indexOf('=');
      const name = equals < 0 ? part : part.slice(0, equals);
      const value = equals < 0 ? '' : part.slice(equals + 1);
      return [uriDecode(name), uriDecode(value)];
    });
}

/** The canonical query string: every pair encoded, sorted by name then value. */
export function canonicalQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs
    .map(([name, value]) => [uriEncode(name, false), uriEncode(value, false)] as const)
    .sort(([nameA, valueA], [nameB, valueB]) =>
      nameA < nameB ? -1 : nameA > nameB ? 1 : valueA < valueB ? -1 : valueA > valueB ? 1 : 0,
    )
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** A header value as SigV4 canonicalizes it: trimmed, inner runs of spaces made one. */
function canonicalValue(value: string): string {
  return value.trim().replace(/ +/g, ' ');
}

/**
 * The canonical headers block ("name:value\n" per signed header); `headers` maps lower-case names
 * to every value the request carried. A signed header the request lacks is an error.
 */
export function canonicalHeaders(
  headers: Readonly<Record<string, readonly string[] | undefined>>,
  signedHeaders: readonly string[],
): string {
  return signedHeaders
    .map((name) => {
      const values = headers[name];
      if (values === undefined) {
        throw s3Error('AccessDenied', `the signed header ${name} is missing from the request`);
      }
      return `${name}:${values.map(canonicalValue).join(',')}\n`;
    })
    .join('');
}

/** The canonical request of SigV4. */
export function canonicalRequest(parts: {
  method: string;
  canonicalUri: string;
  canonicalQuery: string;
  canonicalHeaders: string;
  signedHeaders: readonly string[];
  payloadHash: string;
}): string {
  return [
    parts.method,
    parts.canonicalUri,
    parts.canonicalQuery,
    parts.canonicalHeaders,
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}

export function scopeString(scope: CredentialScope): string {
  return `${scope.date}/${scope.region}/${scope.service}/${scopeTerminator}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function stringToSign(amzDate: string, scope: CredentialScope, request: string): string {
  return [signatureAlgorithm, amzDate, scopeString(scope), sha256Hex(request)].join('\n');
}

/** The key of one day, region and service, derived from the secret access key. */
export function signingKey(secretAccessKey: string, scope: CredentialScope): Buffer {
  const date = hmac(`AWS4${secretAccessKey}`, scope.date);
  const region = hmac(date, scope.region);
  const service = hmac(region, scope.service);
  return hmac(service, scopeTerminator);
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The hex signature of `text` under a signing key. */
export function sign(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** Compares two hex signatures in constant time. */
export function signaturesEqual(expected: string, given: string): boolean {
  const left = Buffer.from(expected, 'utf8');
  const right = Buffer.from(given, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The string to sign of one aws-chunked chunk (an empty last chunk included). */
export function chunkStringToSign(options: {
  amzDate: string;
  scope: CredentialScope;
  previousSignature: string;
  chunkSha256: string;
}): string {
  return [
    chunkAlgorithm,
    options.amzDate,
    scopeString(options.scope),
    options.previousSignature,
    emptySha256,
    options.chunkSha256,
  ].join('\n');
}

/** The string to sign of an aws-chunked body's trailing headers ("name:value\n" each). */
export function trailerStringToSign(options: {
  amzDate: string;
  scope: CredentialScope;
  previousSignature: string;
  trailerText: string;
}): string {
  return [
    trailerAlgorithm,
    options.amzDate,
    scopeString(options.scope),
    options.previousSignature,
    sha256Hex(options.trailerText),
  ].join('\n');
}

const accessKeyIdPattern = /^[A-Za-z0-9]{4,128}$/;
const datePattern = /^\d{8}$/;
const signaturePattern = /^[0-9a-f]{64}$/;
const headerNamePattern = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** `AKID/20130524/us-east-1/s3/aws4_request` as its parts; `fail` makes the error to throw. */
function parseCredential(
  text: string,
  fail: (why: string) => S3Error,
): { accessKeyId: string; scope: CredentialScope } {
  const parts = text.split('/');
  if (parts.length !== 5) throw fail('the credential is not AKID/date/region/service/aws4_request');
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  if (!accessKeyIdPattern.test(accessKeyId)) throw fail('the access key id is malformed');
  if (!datePattern.test(date)) throw fail('the credential date is not YYYYMMDD');
  if (region === '' || region.length > 64) throw fail('the credential region is malformed');
  if (terminator !== scopeTerminator) throw fail(`the credential does not end in ${scopeTerminator}`);
  return { accessKeyId, scope: { date, region, service } };
}

function parseSignedHeaders(text: string, fail: (why: string) => S3Error): string[] {
  const names = text.split(';');
  if (names.length === 0 || names.length > 64 || names.some((name) => !headerNamePattern.test(name))) {
    throw fail('SignedHeaders is malformed');
  }
  return names;
}

/** Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
export function parseAuthorization(header: string): SignatureClaim {
  const fail = (why: string): S3Error =>
    s3Error('AuthorizationHeaderMalformed', `the authorization header is malformed: ${why}`);
  if (!header.startsWith(`${signatureAlgorithm} `)) {
    throw header.startsWith('AWS ')
      ? s3Error('InvalidRequest', 'Signature Version 2 is not supported; sign with AWS4-HMAC-SHA256')
      : fail(`the algorithm is not ${signatureAlgorithm}`);
  }
  const fields = new Map<string, string>();
  for (const part of header.slice(signatureAlgorithm.length + 1).split(',')) {
    const trimmed = part.trim();
    const equals = trimmed.indexOf('=');
    if (equals <= 0) throw fail(`"${trimmed.slice(0, 32)}" is not name=value`);
    const name = trimmed.slice(0, equals);
    if (fields.has(name)) throw fail(`${name} is given twice`);
    fields.set(name, trimmed.slice(equals + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw fail('Credential, SignedHeaders and Signature are all required');
  }
  if (!signaturePattern.test(signature)) throw fail('the signature is not 64 hex digits');
  return {
    ...parseCredential(credential, fail),
    signedHeaders: parseSignedHeaders(signedHeaders, fail),
    signature,
  };
}

/** The longest a presigned URL may be valid, as S3 allows: seven days. */
export const presignedExpiresSecondsMax = 604_800;

/** Parses the X-Amz-* parameters of a presigned URL (the caller saw X-Amz-Algorithm). */
export function parsePresigned(query: ReadonlyMap<string, string>): PresignedClaim {
  const fail = (why: string): S3Error =>
    s3Error('AuthorizationQueryParametersError', `the presigned URL is malformed: ${why}`);
  const get = (name: string): string => {
    const value = query.get(name);
    if (value === undefined) throw fail(`${name} is missing`);
    return value;
  };
  if (get('X-Amz-Algorithm') !== signatureAlgorithm)
    throw fail(`X-Amz-Algorithm is not ${signatureAlgorithm}`);
  const amzDate = get('X-Amz-Date');
  if (parseAmzDate(amzDate) === undefined) throw fail('X-Amz-Date is not yyyymmddThhmmssZ');
  const expires = get('X-Amz-Expires');
  const expiresSeconds = Number(expires);
  if (!/^\d{1,7}$/.test(expires) || expiresSeconds < 1 || expiresSeconds > presignedExpiresSecondsMax) {
    throw fail(`X-Amz-Expires must be from 1 to ${presignedExpiresSecondsMax} seconds`);
  }
  const signature = get('X-Amz-Signature');
  if (!signaturePattern.test(signature)) throw fail('X-Amz-Signature is not 64 hex digits');
  return {
    ...parseCredential(get('X-Amz-Credential'), fail),
    signedHeaders: parseSignedHeaders(get('X-Amz-SignedHeaders'), fail),
    signature,
    amzDate,
    expiresSeconds,
  };
}

/** Milliseconds since the epoch of `yyyymmddThhmmssZ`, or undefined when malformed. */
export function parseAmzDate(text: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  // Date.UTC rolls 31 February over into March: such a date is malformed.
  if (
    back.getUTCMonth() !== month - 1 ||
    back.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return undefined;
  }
  return ms;
}

/** `yyyymmddThhmmssZ` of a time. */
export function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

// --- signing, as a client does (tests, the benchmark) ------------------------------------------

/** A request to sign: its path as sent (encoded), its query pairs (decoded) and headers. */
export interface RequestToSign {
  readonly method: string;
  readonly path: string;
  readonly query?: ReadonlyArray<readonly [string, string]>;
  /** Headers to sign, any case; "host" must be among them. */
  readonly headers: Readonly<Record<string, string>>;
  readonly payloadHash: string;
}

/** A key and where and when it signs. */
export interface SigningContext {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  readonly timeMs: number;
}

function lowerHeaders(headers: Readonly<Record<string, string>>): Record<string, string[]> {
  const lower: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = [value];
  return lower;
}

/** The Authorization header of `request` (which must carry x-amz-date of `context.timeMs`). */
export function authorizationHeader(request: RequestToSign, context: SigningContext): string {
  const amzDate = formatAmzDate(context.timeMs);
  const scope = { date: amzDate.slice(0, 8), region: context.region, service: s3Service };
  const headers = lowerHeaders(request.headers);
  const signedHeaders = Object.keys(headers).sort();
  const canonical = canonicalRequest({
    method: request.method,
    canonicalUri: canonicalUri(request.path),
    canonicalQuery: canonicalQuery(request.query ?? []),
    canonicalHeaders: canonicalHeaders(headers, signedHeaders),
    signedHeaders,
    payloadHash: request.payloadHash,
  });
  const signature = sign(signingKey(context.secretAccessKey, scope), stringToSign(amzDate, scope, canonical));
  return (
    `${signatureAlgorithm} Credential=${context.accessKeyId}/${scopeString(scope)}, ` +
    `SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`
  );
}

/** The query pairs of a presigned URL for `request` (headers: host and any others to sign). */
export function presignedQuery(
  request: Omit<RequestToSign, 'payloadHash'>,
  context: SigningContext & { expiresSeconds: number },
): Array<[string, string]> {
  const amzDate = formatAmzDate(context.timeMs);
  const scope = { date: amzDate.slice(0, 8), region: context.region, service: s3Service };
  const headers = lowerHeaders(request.headers);
  const signedHeaders = Object.keys(headers).sort();
  const query: Array<[string, string]> = [
    ...(request.query ?? []).map(([name, value]): [string, string] => [name, value]),
    ['X-Amz-Algorithm', signatureAlgorithm],
    ['X-Amz-Credential', `${context.accessKeyId}/${scopeString(scope)}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(context.expiresSeconds)],
    ['X-Amz-SignedHeaders', signedHeaders.join(';')],
  ];
  const canonical = canonicalRequest({
    method: request.method,
    canonicalUri: canonicalUri(request.path),
    canonicalQuery: canonicalQuery(query),
    canonicalHeaders: canonicalHeaders(headers, signedHeaders),
    signedHeaders,
    payloadHash: PayloadMode.Unsigned,
  });
  const signature = sign(signingKey(context.secretAccessKey, scope), stringToSign(amzDate, scope, canonical));
  return [...query, ['X-Amz-Signature', signature]];
}
