// Proves bucket names and keys are checked before they reach the namespace (S3's bucket rules; keys without "..", ".", empty components, NUL or more than 1,024 bytes), that ranges are read as S3 reads them, and that keys order by their UTF-8 bytes.
import { describe, expect, it } from 'vitest';
import { compareKeys, isBucketName, joinPath, parseKey } from '../../../src/s3/names.js';
import { parseRange } from '../../../src/s3/ranges.js';

describe('bucket names', () => {
  it("follows S3's rules", () => {
    for (const good of ['abc', 'my-bucket', 'my.bucket.1', 'a'.repeat(63), '0bucket'])
      expect(isBucketName(good), good).toBe(true);
    for (const bad of [
      'ab',
      'a'.repeat(64),
      'My-Bucket',
      '-abc',
      'abc-',
      'a..b',
      '192.168.1.1',
      '.s3-staging',
      'a_b',
      'a.-b',
    ]) {
      expect(isBucketName(bad), bad).toBe(false);
    }
  });
});

describe('keys', () => {
  it('splits keys into path components, a trailing "/" naming a directory', () => {
    expect(parseKey('a/b/c.txt')).toEqual({
      key: 'a/b/c.txt',
      components: ['a', 'b', 'c.txt'],
      directory: false,
    });
    expect(parseKey('photos/2024/')).toEqual({
      key: 'photos/2024/',
      components: ['photos', '2024'],
      directory: true,
    });
    expect(parseKey('ünïcode key')).toMatchObject({ components: ['ünïcode key'] });
  });

  it('refuses keys that would leave the bucket or are not one spelling of one path', () => {
    const invalid = ['../x', 'a/../b', 'a/./b', '.', 'a//b', '/a', 'a\0b', '', '/'];
    for (const key of invalid)
      expect(() => parseKey(key), JSON.stringify(key)).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
  });

  it('refuses keys over 1,024 bytes and components over a name', () => {
    expect(() => parseKey('k'.repeat(1025))).toThrow(expect.objectContaining({ code: 'KeyTooLongError' }));
    expect(() => parseKey('é'.repeat(513))).toThrow(expect.objectContaining({ code: 'KeyTooLongError' }));
    expect(() => parseKey(`a/${'n'.repeat(256)}`)).toThrow(
      expect.objectContaining({ code: 'KeyTooLongError' }),
    );
    expect(parseKey(`${'n'.repeat(255)}/${'m'.repeat(255)}`).components).toHaveLength(2);
  });

  it('joins paths under "/" and under a directory', () => {
    expect(joinPath('/', 'bucket', 'a')).toBe('/bucket/a');
    expect(joinPath('/s3', 'bucket')).toBe('/s3/bucket');
    expect(joinPath('/s3')).toBe('/s3');
  });

  it('orders keys by UTF-8 bytes, not UTF-16 units', () => {
    expect(compareKeys('a/', 'a-')).toBeGreaterThan(0);
    expect(compareKeys('\u{ffff}', '\u{10000}')).toBeLessThan(0);
    expect('\u{ffff}' < '\u{10000}').toBe(false);
  });
});

describe('ranges', () => {
  it('reads the three forms of one byte range', () => {
    expect(parseRange('bytes=0-9', 100n)).toEqual({ start: 0n, end: 9n });
    expect(parseRange('bytes=90-', 100n)).toEqual({ start: 90n, end: 99n });
    expect(parseRange('bytes=-10', 100n)).toEqual({ start: 90n, end: 99n });
    expect(parseRange('bytes=-1000', 100n)).toEqual({ start: 0n, end: 99n });
    expect(parseRange('bytes=50-1000', 100n)).toEqual({ start: 50n, end: 99n });
  });

  it('calls a range starting past the end unsatisfiable and ignores malformed ones', () => {
    expect(parseRange('bytes=100-', 100n)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100n)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-0', 0n)).toBe('unsatisfiable');
    for (const ignored of ['bytes=5-1', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-', 'bytes=a-b']) {
      expect(parseRange(ignored, 100n), ignored).toBeUndefined();
    }
  });
});
