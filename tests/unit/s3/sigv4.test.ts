// Proves the SigV4 primitives reproduce AWS's published S3 examples (header and presigned forms), encode paths and queries as S3 signs them, and parse Authorization headers and presigned queries strictly.
import { describe, expect, it } from 'vitest';
import {
  authorizationHeader,
  canonicalQuery,
  canonicalUri,
  formatAmzDate,
  parseAmzDate,
  parseAuthorization,
  parsePresigned,
  parseQuery,
  presignedQuery,
  sha256Hex,
  uriEncode,
} from '../../../src/s3/sigv4.js';
import { S3Error } from '../../../src/s3/errors.js';

/** The example key of AWS's SigV4 documentation. */
const exampleKey = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  region: 'us-east-1',
  timeMs: Date.UTC(2013, 4, 24),
};
const emptyHash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function signatureOf(header: string): string {
  return /Signature=([0-9a-f]{64})$/.exec(header)?.[1] ?? '';
}

describe('SigV4 against the AWS S3 examples', () => {
  it('signs GET Object with a range', () => {
    const header = authorizationHeader(
      {
        method: 'GET',
        path: '/test.txt',
        headers: {
          host: 'examplebucket.s3.amazonaws.com',
          range: 'bytes=0-9',
          'x-amz-content-sha256': emptyHash,
          'x-amz-date': '20130524T000000Z',
        },
        payloadHash: emptyHash,
      },
      exampleKey,
    );
    expect(signatureOf(header)).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    expect(header).toContain('SignedHeaders=host;range;x-amz-content-sha256;x-amz-date');
  });

  it('signs PUT Object with a "$" in the key and a Date header', () => {
    const payloadHash = sha256Hex('Welcome to Amazon S3.');
    const header = authorizationHeader(
      {
        method: 'PUT',
        path: '/test%24file.text',
        headers: {
          date: 'Fri, 24 May 2013 00:00:00 GMT',
          host: 'examplebucket.s3.amazonaws.com',
          'x-amz-content-sha256': payloadHash,
          'x-amz-date': '20130524T000000Z',
          'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        },
        payloadHash,
      },
      exampleKey,
    );
    expect(signatureOf(header)).toBe('98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
  });

  it('signs GET Bucket lifecycle and a listing with a sorted query', () => {
    const headers = {
      host: 'examplebucket.s3.amazonaws.com',
      'x-amz-content-sha256': emptyHash,
      'x-amz-date': '20130524T000000Z',
    };
    const lifecycle = authorizationHeader(
      { method: 'GET', path: '/', query: [['lifecycle', '']], headers, payloadHash: emptyHash },
      exampleKey,
    );
    expect(signatureOf(lifecycle)).toBe('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
    const listing = authorizationHeader(
      {
        method: 'GET',
        path: '/',
        query: [
          ['prefix', 'J'],
          ['max-keys', '2'],
        ],
        headers,
        payloadHash: emptyHash,
      },
      exampleKey,
    );
    expect(signatureOf(listing)).toBe('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('presigns GET Object for a day', () => {
    const query = presignedQuery(
      { method: 'GET', path: '/test.txt', headers: { host: 'examplebucket.s3.amazonaws.com' } },
      { ...exampleKey, expiresSeconds: 86_400 },
    );
    expect(Object.fromEntries(query)['X-Amz-Signature']).toBe(
      'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    );
  });
});

describe('SigV4 encoding', () => {
  it('encodes all but unreserved characters, keeping "/" only in paths', () => {
    expect(uriEncode('a b+c/~_-.é', true)).toBe('a%20b%2Bc/~_-.%C3%A9');
    expect(uriEncode('a/b', false)).toBe('a%2Fb');
  });

  it('canonicalizes a path by decoding and encoding each segment once, without normalizing', () => {
    expect(canonicalUri('/bucket/a%20b/c+d')).toBe('/bucket/a%20b/c%2Bd');
    expect(canonicalUri('/bucket/x/../y//z')).toBe('/bucket/x/../y//z');
    expect(canonicalUri('/bucket/%7e')).toBe('/bucket/~');
    expect(() => canonicalUri('/bucket/%zz')).toThrow(S3Error);
  });

  it('parses and sorts queries by encoded name, then value', () => {
    const pairs = parseQuery('prefix=a%2Fb&list-type=2&delimiter=%2F&uploads');
    expect(pairs).toEqual([
      ['prefix', 'a/b'],
      ['list-type', '2'],
      ['delimiter', '/'],
      ['uploads', ''],
    ]);
    expect(canonicalQuery(pairs)).toBe('delimiter=%2F&list-type=2&prefix=a%2Fb&uploads=');
    expect(
      canonicalQuery([
        ['a', '2'],
        ['a', '1'],
        ['B', ''],
      ]),
    ).toBe('B=&a=1&a=2');
  });

  it('reads and writes x-amz-date, refusing impossible dates', () => {
    expect(parseAmzDate('20130524T000000Z')).toBe(Date.UTC(2013, 4, 24));
    expect(formatAmzDate(Date.UTC(2013, 4, 24, 1, 2, 3, 456))).toBe('20130524T010203Z');
    for (const bad of ['20130231T000000Z', '20130524T250000Z', '2013-05-24T00:00:00Z', '20130524T000000']) {
      expect(parseAmzDate(bad)).toBeUndefined();
    }
  });
});

describe('parsing claims', () => {
  const good =
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
    'SignedHeaders=host;x-amz-date, Signature=' +
    'a'.repeat(64);

  it('parses a well-formed Authorization header', () => {
    expect(parseAuthorization(good)).toEqual({
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      scope: { date: '20130524', region: 'us-east-1', service: 's3' },
      signedHeaders: ['host', 'x-amz-date'],
      signature: 'a'.repeat(64),
    });
  });

  it('refuses malformed Authorization headers as AuthorizationHeaderMalformed', () => {
    const cases = [
      good.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA1'),
      good.replace('/aws4_request', '/aws5_request'),
      good.replace('20130524', '2013-05-24'),
      good.replace('Signature=' + 'a'.repeat(64), 'Signature=xyz'),
      good.replace('SignedHeaders=host;x-amz-date, ', ''),
      good.replace('SignedHeaders=host;x-amz-date', 'SignedHeaders=Host;x-amz-date'),
      `${good}, Signature=${'b'.repeat(64)}`,
    ];
    for (const header of cases) {
      expect(() => parseAuthorization(header), header).toThrow(
        expect.objectContaining({ code: 'AuthorizationHeaderMalformed' }),
      );
    }
    expect(() => parseAuthorization('AWS AKID:signature')).toThrow(
      expect.objectContaining({ code: 'InvalidRequest' }),
    );
  });

  it('refuses presigned queries with missing or out-of-range fields', () => {
    const query = new Map(
      presignedQuery(
        { method: 'GET', path: '/b/k', headers: { host: 'h' } },
        { ...exampleKey, expiresSeconds: 60 },
      ),
    );
    expect(parsePresigned(query).expiresSeconds).toBe(60);
    const broken: Array<[string, string | undefined]> = [
      ['X-Amz-Expires', '0'],
      ['X-Amz-Expires', '604801'],
      ['X-Amz-Expires', '-5'],
      ['X-Amz-Date', '20130524'],
      ['X-Amz-Signature', 'short'],
      ['X-Amz-Credential', undefined],
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA1'],
    ];
    for (const [name, value] of broken) {
      const copy = new Map(query);
      if (value === undefined) copy.delete(name);
      else copy.set(name, value);
      expect(() => parsePresigned(copy), `${name}=${value}`).toThrow(
        expect.objectContaining({ code: 'AuthorizationQueryParametersError' }),
      );
    }
  });
});
