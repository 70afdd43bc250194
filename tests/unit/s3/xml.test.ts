// Proves the S3 XML writer escapes what it must, and the request parser reads S3's request documents but refuses DOCTYPEs, entities, malformed markup and documents over its bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { childText, childrenNamed, parseXml, xmlDocument, MalformedXmlError } from '../../../src/s3/xml.js';
import { errorDocument, fromFsError, s3Error } from '../../../src/s3/errors.js';
import { FsError } from '../../../src/common/errors.js';
import { MetaCode, StorageCode } from '../../../src/common/status-code.js';

const bounds = { charactersMax: 1 << 20, depthMax: 8, elementsMax: 10_000 };

describe('xml writer', () => {
  it('writes a namespaced document with escaped text', () => {
    const text = xmlDocument({
      name: 'ListBucketResult',
      children: [{ name: 'Key', text: `a<b>&"c'\r\u0001` }],
    });
    expect(text).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        '<Key>a&lt;b&gt;&amp;&quot;c&apos;&#xD;&#x1;</Key></ListBucketResult>',
    );
  });

  it('round-trips any text through the writer and the parser', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        // eslint-disable-next-line no-control-regex -- the writer refers to these; drop them here
        const printable = text.replace(/[\u0000-\u001f\ufffe\uffff]/g, '');
        const parsed = parseXml(
          xmlDocument({ name: 'R', children: [{ name: 'Key', text: printable }] }),
          bounds,
        );
        expect(childText(parsed, 'Key')).toBe(printable);
      }),
    );
  });

  it('writes error documents with their code, details, resource and request id', () => {
    const document = errorDocument(
      s3Error('RequestTimeTooSkewed', undefined, { ServerTime: 'now' }),
      '/bucket/key',
      'req-1',
    );
    const parsed = parseXml(document, bounds);
    expect(parsed.name).toBe('Error');
    expect(childText(parsed, 'Code')).toBe('RequestTimeTooSkewed');
    expect(childText(parsed, 'ServerTime')).toBe('now');
    expect(childText(parsed, 'Resource')).toBe('/bucket/key');
    expect(childText(parsed, 'RequestId')).toBe('req-1');
  });
});

describe('xml parser', () => {
  it('reads a DeleteObjects document with a namespace, comments, CDATA and references', () => {
    const parsed = parseXml(
      `<?xml version="1.0" encoding="UTF-8"?>
      <!-- keys to delete -->
      <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
        <Quiet>true</Quiet>
        <Object><Key>a&amp;b&#x41;&#66;</Key></Object>
        <Object><Key><![CDATA[<raw>]]></Key><VersionId/></Object>
      </Delete>`,
      bounds,
    );
    expect(parsed.name).toBe('Delete');
    expect(childText(parsed, 'Quiet')).toBe('true');
    expect(childrenNamed(parsed, 'Object').map((object) => childText(object, 'Key'))).toEqual([
      'a&bAB',
      '<raw>',
    ]);
  });

  it('refuses DOCTYPEs, external and unknown entities, and malformed markup', () => {
    const documents = [
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete>&x;</Delete>',
      '<Delete>&lol;</Delete>',
      '<Delete>&amp</Delete>',
      '<Delete><Object></Delete>',
      '<Delete></Delete><Extra/>',
      '<Delete a="1" a="2"/>',
      '<Delete>&#0;</Delete>',
      '<Delete>&#xD800;</Delete>',
      '<?xml version="1.0"?>',
      'just text',
      '',
      '<Delete><!-- a -- b --></Delete>',
      '<Delete>x]]>y</Delete>',
      '<a><?xml version="1.0"?></a>',
    ];
    for (const text of documents) expect(() => parseXml(text, bounds), text).toThrow(MalformedXmlError);
  });

  it('refuses documents over the size, depth and element bounds', () => {
    expect(() => parseXml(`<a>${'x'.repeat(100)}</a>`, { ...bounds, charactersMax: 50 })).toThrow(
      /characters/,
    );
    expect(() => parseXml('<a>'.repeat(9) + '</a>'.repeat(9), bounds)).toThrow(/nesting/);
    expect(() => parseXml(`<a>${'<b/>'.repeat(20)}</a>`, { ...bounds, elementsMax: 10 })).toThrow(/elements/);
  });

  it('never throws anything but MalformedXmlError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseXml(text, bounds);
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedXmlError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('file system errors as S3 errors', () => {
  it('maps operating errors by code, and anything else to InternalError', () => {
    const cases: Array<[number, string, number]> = [
      [MetaCode.PermissionDenied, 'AccessDenied', 403],
      [MetaCode.NotPermitted, 'AccessDenied', 403],
      [MetaCode.NameTooLong, 'KeyTooLongError', 400],
      [MetaCode.NotDirectory, 'ParentIsObject', 409],
      [StorageCode.NoSpace, 'StorageFull', 507],
    ];
    for (const [code, s3Code, status] of cases) {
      expect(fromFsError(new FsError(code as never, 'x'))).toMatchObject({ code: s3Code, status });
    }
    expect(fromFsError(new FsError(MetaCode.NotFound, 'x'), 'NoSuchBucket').code).toBe('NoSuchBucket');
    expect(fromFsError(new Error('bug')).code).toBe('InternalError');
  });
});
