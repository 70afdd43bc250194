// Proves the gateway's SigV4 decision: AWS's chunked-upload example authenticates and its chunks verify, and wrong signatures, unknown keys, skewed or expired requests, wrong regions, unsigned x-amz headers and anonymous requests are refused with S3's error codes.
import { describe, expect, it } from 'vitest';
import { authenticate, type AccessKey, type RequestView } from '../../../src/s3/authenticate.js';
import {
  authorizationHeader,
  parseQuery,
  presignedQuery,
  sha256Hex,
  type SigningContext,
} from '../../../src/s3/sigv4.js';

const key: AccessKey = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  identity: { uid: 1000, gid: 1000, groups: [] },
};
const nowMs = Date.UTC(2013, 4, 24);
const region = 'us-east-1';
const lookup = async (id: string) => (id === key.accessKeyId ? key : undefined);
const options = { region, nowMs, skewMsMax: 15 * 60_000, lookup, allowAnonymous: false };

function view(init: {
  method: string;
  path: string;
  query?: string;
  headers: Record<string, string>;
}): RequestView {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(init.headers)) headers[name.toLowerCase()] = [value];
  return { method: init.method, rawPath: init.path, query: parseQuery(init.query ?? ''), headers };
}

/** A GET signed by `signer` at `timeMs` with the given extra headers. */
function signedGet(signer: SigningContext, extra: Record<string, string> = {}): RequestView {
  const emptyHash = sha256Hex('');
  const headers = {
    host: 'gateway:9000',
    'x-amz-content-sha256': emptyHash,
    'x-amz-date': new Date(signer.timeMs)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, ''),
  };
  const authorization = authorizationHeader(
    { method: 'GET', path: '/bucket/a%20key', headers, payloadHash: emptyHash },
    signer,
  );
  return view({ method: 'GET', path: '/bucket/a%20key', headers: { ...headers, ...extra, authorization } });
}

const signer: SigningContext = { ...key, region, timeMs: nowMs };

describe('authenticate', () => {
  it("accepts AWS's chunked upload example and hands on its chunk signing", async () => {
    const request = view({
      method: 'PUT',
      path: '/examplebucket/chunkObject.txt',
      headers: {
        host: 's3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '66560',
        'content-length': '66824',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,' +
          'SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;' +
          'x-amz-decoded-content-length;x-amz-storage-class,' +
          'Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      },
    });
    const result = await authenticate(request, options);
    expect(result.kind).toBe('key');
    expect(result.payload.kind).toBe('chunked');
    if (result.payload.kind !== 'chunked') return;
    expect(result.payload.trailer).toBe(false);
    expect(result.payload.signing?.seedSignature).toBe(
      '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
    );
  });

  it('accepts a signed GET and gives the key and a hash to check', async () => {
    const result = await authenticate(signedGet(signer), options);
    expect(result).toMatchObject({ kind: 'key', key: { accessKeyId: key.accessKeyId } });
    expect(result.payload).toEqual({ kind: 'sha256', expected: sha256Hex('') });
  });

  it('refuses a wrong secret with SignatureDoesNotMatch and an unknown key with InvalidAccessKeyId', async () => {
    await expect(
      authenticate(signedGet({ ...signer, secretAccessKey: 'wrong' }), options),
    ).rejects.toMatchObject({
      code: 'SignatureDoesNotMatch',
      status: 403,
    });
    await expect(
      authenticate(signedGet({ ...signer, accessKeyId: 'AKIDUNKNOWN0001' }), options),
    ).rejects.toMatchObject({
      code: 'InvalidAccessKeyId',
    });
  });

  it('refuses a request whose path or headers changed after signing', async () => {
    const request = signedGet(signer);
    await expect(authenticate({ ...request, rawPath: '/bucket/other' }, options)).rejects.toMatchObject({
      code: 'SignatureDoesNotMatch',
    });
    await expect(
      authenticate({ ...request, headers: { ...request.headers, 'x-amz-meta-added': ['1'] } }, options),
    ).rejects.toMatchObject({ code: 'AccessDenied' });
  });

  it('refuses a request 20 minutes off the clock with RequestTimeTooSkewed, either way', async () => {
    for (const offset of [-20 * 60_000, 20 * 60_000]) {
      await expect(
        authenticate(signedGet({ ...signer, timeMs: nowMs + offset }), options),
      ).rejects.toMatchObject({ code: 'RequestTimeTooSkewed', status: 403 });
    }
    await expect(
      authenticate(signedGet({ ...signer, timeMs: nowMs + 14 * 60_000 }), options),
    ).resolves.toMatchObject({
      kind: 'key',
    });
  });

  it('refuses another region with AuthorizationHeaderMalformed naming ours', async () => {
    await expect(authenticate(signedGet({ ...signer, region: 'eu-west-1' }), options)).rejects.toMatchObject({
      code: 'AuthorizationHeaderMalformed',
      details: { Region: region },
    });
  });

  it('refuses anonymous requests unless allowed', async () => {
    const anonymous = view({ method: 'GET', path: '/bucket/k', headers: { host: 'h' } });
    await expect(authenticate(anonymous, options)).rejects.toMatchObject({ code: 'AccessDenied' });
    await expect(authenticate(anonymous, { ...options, allowAnonymous: true })).resolves.toEqual({
      kind: 'anonymous',
      payload: { kind: 'unsigned' },
    });
  });

  it('requires x-amz-content-sha256 on header-signed requests', async () => {
    const headers = { host: 'h', 'x-amz-date': '20130524T000000Z' };
    const authorization = authorizationHeader(
      { method: 'GET', path: '/b/k', headers, payloadHash: 'UNSIGNED-PAYLOAD' },
      signer,
    );
    await expect(
      authenticate(view({ method: 'GET', path: '/b/k', headers: { ...headers, authorization } }), options),
    ).rejects.toMatchObject({ code: 'InvalidRequest' });
  });
});

describe('authenticate presigned URLs', () => {
  function presigned(timeMs: number, expiresSeconds: number, method = 'GET'): RequestView {
    const query = presignedQuery(
      { method, path: '/bucket/key', headers: { host: 'gateway:9000' } },
      { ...signer, timeMs, expiresSeconds },
    );
    return {
      method,
      rawPath: '/bucket/key',
      query,
      headers: { host: ['gateway:9000'] },
    };
  }

  it('accepts a presigned URL within its life, with an unsigned body', async () => {
    await expect(authenticate(presigned(nowMs - 30_000, 60), options)).resolves.toMatchObject({
      kind: 'key',
      payload: { kind: 'unsigned' },
    });
  });

  it('refuses an expired URL, one not yet valid, and one used for another method', async () => {
    await expect(authenticate(presigned(nowMs - 61_000, 60), options)).rejects.toMatchObject({
      code: 'AccessDenied',
      message: 'Request has expired',
    });
    await expect(authenticate(presigned(nowMs + 20 * 60_000, 60), options)).rejects.toMatchObject({
      code: 'AccessDenied',
    });
    const get = presigned(nowMs, 60);
    await expect(authenticate({ ...get, method: 'PUT' }, options)).rejects.toMatchObject({
      code: 'SignatureDoesNotMatch',
    });
  });

  it('refuses a URL that is both presigned and header-signed', async () => {
    const request = presigned(nowMs, 60);
    await expect(
      authenticate(
        { ...request, headers: { ...request.headers, authorization: ['AWS4-HMAC-SHA256 x'] } },
        options,
      ),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
