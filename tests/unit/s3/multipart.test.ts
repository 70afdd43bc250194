// Proves the assembly plan of a multipart upload copies nothing when parts 1..k sit at their places, moves parts down only when that cannot overwrite bytes still to be read, copies parts kept in their own files, and otherwise assembles afresh; and that the completion document is read strictly.
import { describe, expect, it } from 'vitest';
import {
  assemblyPlan,
  checkPartNumber,
  checkUploadId,
  newUploadId,
  type Part,
} from '../../../src/s3/multipart.js';
import { parseCompleteDocument } from '../../../src/s3/multipart-operations.js';

const mib = 1024 * 1024;
const stride = 5 * mib;

function part(number: number, size: number, file?: string): Part {
  return { number, size, etag: '0'.repeat(32), atMs: 0, ...(file === undefined ? {} : { file }) };
}

describe('the assembly plan', () => {
  it('leaves parts 1..k where they are, the last one shorter', () => {
    const plan = assemblyPlan([part(1, stride), part(2, stride), part(3, 17)], stride);
    expect(plan).toEqual({
      kind: 'in-place',
      length: 2 * stride + 17,
      steps: [
        { kind: 'in-place', offset: 0, size: stride },
        { kind: 'in-place', offset: stride, size: stride },
        { kind: 'in-place', offset: 2 * stride, size: 17 },
      ],
    });
  });

  it('moves a part down past a part left out, and copies a part kept in its own file', () => {
    const plan = assemblyPlan([part(1, stride), part(3, stride), part(4, 10, 'data-00004-x')], stride);
    expect(plan).toEqual({
      kind: 'in-place',
      length: 2 * stride + 10,
      steps: [
        { kind: 'in-place', offset: 0, size: stride },
        { kind: 'move', from: 2 * stride, offset: stride, size: stride },
        { kind: 'copy', file: 'data-00004-x', offset: 2 * stride, size: 10 },
      ],
    });
  });

  it('assembles afresh when a part in data would have to move up', () => {
    const plan = assemblyPlan([part(1, 6 * mib, 'data-00001-y'), part(2, stride)], stride);
    expect(plan).toEqual({
      kind: 'afresh',
      length: 11 * mib,
      sources: [
        { file: 'data-00001-y', from: 0, size: 6 * mib },
        { file: 'data', from: stride, size: stride },
      ],
    });
  });
});

describe('multipart requests', () => {
  it('reads the parts of a completion document, quotes and all', () => {
    const parts = parseCompleteDocument(
      '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        '<Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part>' +
        '<Part><ETag>def</ETag><PartNumber> 2 </PartNumber></Part></CompleteMultipartUpload>',
    );
    expect(parts).toEqual([
      { number: 1, etag: 'abc' },
      { number: 2, etag: 'def' },
    ]);
  });

  it('refuses malformed documents, part numbers and upload ids', () => {
    for (const text of [
      '<CompleteMultipartUpload/>',
      '<Other/>',
      '<CompleteMultipartUpload><Part/></CompleteMultipartUpload>',
      'junk',
    ]) {
      expect(() => parseCompleteDocument(text), text).toThrow(
        expect.objectContaining({ code: 'MalformedXML' }),
      );
    }
    expect(() =>
      parseCompleteDocument(
        '<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>',
      ),
    ).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    for (const number of ['0', '10001', '-1', '1.5', 'x', undefined]) {
      expect(() => checkPartNumber(number)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    }
    expect(checkPartNumber('10000')).toBe(10_000);
    expect(checkUploadId(newUploadId(Date.now()))).toMatch(/^[0-9a-z]+\.[0-9a-f]{24}$/);
    for (const id of ['../x', 'abc', '', 'x.y']) {
      expect(() => checkUploadId(id)).toThrow(expect.objectContaining({ code: 'NoSuchUpload' }));
    }
  });
});
