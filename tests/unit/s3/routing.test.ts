// Proves requests are routed to the S3 operation they are, by method, bucket, key, sub-resource and copy header, in path style and for configured virtual-hosted domains, and that what the gateway does not serve answers NotImplemented or MethodNotAllowed.
import { describe, expect, it } from 'vitest';
import { isReadOnly, operationOf, targetOf } from '../../../src/s3/routing.js';

function route(method: string, url: string, headers: Record<string, string> = {}, host = 'gw:9000') {
  const [path = '/', query = ''] = url.split('?');
  const params = new Map(
    query === ''
      ? []
      : query
          .split('&')
          .map((part) => [part.split('=')[0] ?? '', part.split('=')[1] ?? ''] as [string, string]),
  );
  return operationOf(method, targetOf(path, host, ['s3.example.com']), params, headers);
}

describe('routing', () => {
  it('finds the bucket and key in path style and under a virtual-hosted domain', () => {
    expect(targetOf('/', 'gw', [])).toEqual({ bucket: undefined, key: undefined });
    expect(targetOf('/bucket/', 'gw', [])).toEqual({ bucket: 'bucket', key: undefined });
    expect(targetOf('/bucket/a%20b/c', 'gw', [])).toEqual({ bucket: 'bucket', key: 'a b/c' });
    expect(targetOf('/a/b', 'photos.s3.example.com:9000', ['s3.example.com'])).toEqual({
      bucket: 'photos',
      key: 'a/b',
    });
    expect(targetOf('/', 'photos.s3.example.com', ['s3.example.com'])).toEqual({
      bucket: 'photos',
      key: undefined,
    });
  });

  it('names every operation served', () => {
    const cases: Array<[string, string, Record<string, string>, string]> = [
      ['GET', '/', {}, 'ListBuckets'],
      ['PUT', '/b', {}, 'CreateBucket'],
      ['DELETE', '/b', {}, 'DeleteBucket'],
      ['HEAD', '/b', {}, 'HeadBucket'],
      ['GET', '/b?location', {}, 'GetBucketLocation'],
      ['GET', '/b?versioning', {}, 'GetBucketVersioning'],
      ['GET', '/b', {}, 'ListObjects'],
      ['GET', '/b?list-type=2', {}, 'ListObjectsV2'],
      ['GET', '/b?uploads', {}, 'ListMultipartUploads'],
      ['POST', '/b?delete', {}, 'DeleteObjects'],
      ['PUT', '/b/k', {}, 'PutObject'],
      ['PUT', '/b/k', { 'x-amz-copy-source': '/b/x' }, 'CopyObject'],
      ['GET', '/b/k', {}, 'GetObject'],
      ['HEAD', '/b/k', {}, 'HeadObject'],
      ['DELETE', '/b/k', {}, 'DeleteObject'],
      ['POST', '/b/k?uploads', {}, 'CreateMultipartUpload'],
      ['PUT', '/b/k?partNumber=1&uploadId=u', {}, 'UploadPart'],
      ['PUT', '/b/k?partNumber=1&uploadId=u', { 'x-amz-copy-source': '/b/x' }, 'UploadPartCopy'],
      ['POST', '/b/k?uploadId=u', {}, 'CompleteMultipartUpload'],
      ['DELETE', '/b/k?uploadId=u', {}, 'AbortMultipartUpload'],
      ['GET', '/b/k?uploadId=u', {}, 'ListParts'],
    ];
    for (const [method, url, headers, operation] of cases)
      expect(route(method, url, headers), `${method} ${url}`).toBe(operation);
  });

  it('refuses what it does not serve', () => {
    expect(() => route('GET', '/b?acl')).toThrow(expect.objectContaining({ code: 'NotImplemented' }));
    expect(() => route('PUT', '/b/k?tagging')).toThrow(expect.objectContaining({ code: 'NotImplemented' }));
    expect(() => route('POST', '/b')).toThrow(expect.objectContaining({ code: 'NotImplemented' }));
    expect(() => route('PATCH', '/b/k')).toThrow(expect.objectContaining({ code: 'MethodNotAllowed' }));
    expect(() => route('DELETE', '/')).toThrow(expect.objectContaining({ code: 'MethodNotAllowed' }));
    expect(() => route('PUT', '/b/k?partNumber=1')).toThrow(
      expect.objectContaining({ code: 'InvalidRequest' }),
    );
    expect(() => targetOf('bucket', 'gw', [])).toThrow(expect.objectContaining({ code: 'InvalidURI' }));
  });

  it('lets anonymous requests only read', () => {
    expect(isReadOnly('GetObject')).toBe(true);
    expect(isReadOnly('ListObjectsV2')).toBe(true);
    expect(isReadOnly('PutObject')).toBe(false);
    expect(isReadOnly('DeleteObjects')).toBe(false);
    expect(isReadOnly('CreateMultipartUpload')).toBe(false);
  });
});
