/**
 * The XML of the S3 API: a writer for response documents and a small, bounded parser for the
 * request bodies S3 defines (DeleteObjects, CompleteMultipartUpload, CreateBucketConfiguration).
 *
 * The parser reads elements, attributes (checked for form, then dropped), text, CDATA sections,
 * comments and the XML declaration. It refuses a DOCTYPE and every entity but the five predefined
 * ones and character references, so no document can reach outside itself or expand (no XXE, no
 * "billion laughs"). Its input size, nesting depth and element count are bounded by the caller;
 * every malformation is a MalformedXMLError, which the gateway answers as MalformedXML.
 */

/** A node of a document to write: an element with text or child elements. */
export interface XmlNode {
  readonly name: string;
  readonly text?: string;
  readonly children?: readonly XmlNode[];
}

/** An element read from a request body; element names lose any namespace prefix. */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  /** The element's own text (character data directly inside it, concatenated). */
  text: string;
}

/** The namespace of every S3 response document. */
export const s3Namespace = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** Escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is escaped here
  return text.replace(/[<>&"'\r]|[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (char) => {
    switch (char) {
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '&':
        return '&amp;';
      case '"':
        return '&quot;';
      case "'":
        return '&apos;';
      default:
        // Control characters (allowed in keys, not as raw XML 1.0 characters) as references,
        // which clients decode the way S3's own documents make them do.
        return `&#x${char.charCodeAt(0).toString(16).toUpperCase()};`;
    }
  });
}

function render(node: XmlNode, parts: string[]): void {
  parts.push(`<${node.name}>`);
  if (node.text !== undefined) parts.push(escapeXml(node.text));
  for (const child of node.children ?? []) render(child, parts);
  parts.push(`</${node.name}>`);
}

/** A whole document: the XML declaration and `root` (in the S3 namespace unless told not to). */
export function xmlDocument(root: XmlNode, options: { namespace?: boolean } = {}): string {
  const parts: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  const namespace = options.namespace ?? true;
  parts.push(namespace ? `<${root.name} xmlns="${s3Namespace}">` : `<${root.name}>`);
  if (root.text !== undefined) parts.push(escapeXml(root.text));
  for (const child of root.children ?? []) render(child, parts);
  parts.push(`</${root.name}>`);
  return parts.join('');
}

/** `{ name, text }`, leaving the element out when `text` is undefined. */
export function textNode(name: string, text: string | number | bigint | boolean | undefined): XmlNode[] {
  return text === undefined ? [] : [{ name, text: String(text) }];
}

/** A request body that is not well-formed XML, or breaks a bound. */
export class MalformedXmlError extends Error {
  override readonly name = 'MalformedXmlError';
}

export interface XmlBounds {
  /** Characters of the document at most. */
  readonly charactersMax: number;
  readonly depthMax: number;
  readonly elementsMax: number;
}

const nameStart = /[A-Za-z_:]/;
const nameChar = /[A-Za-z0-9_:.-]/;
const predefined: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Parses a request body; see the file comment. */
export function parseXml(text: string, bounds: XmlBounds): XmlElement {
  if (text.length > bounds.charactersMax) {
    throw new MalformedXmlError(`a document of more than ${bounds.charactersMax} characters`);
  }
  return new XmlParser(text, bounds).document();
}

class XmlParser {
  private position = 0;
  private elements = 0;

  constructor(
    private readonly text: string,
    private readonly bounds: XmlBounds,
  ) {}

  document(): XmlElement {
    if (this.text.startsWith('\uFEFF')) this.position = 1;
    this.skipMisc(true);
    if (this.peek() !== '<') this.fail('a root element');
    const root = this.element(1);
    this.skipMisc(false);
    if (this.position !== this.text.length) this.fail('nothing after the root element');
    return root;
  }

  /** Whitespace, comments and processing instructions (the declaration only at the start). */
  private skipMisc(atStart: boolean): void {
    for (;;) {
      this.skipSpace();
      if (this.text.startsWith('<?', this.position)) {
        const end = this.text.indexOf('?>', this.position + 2);
        if (end < 0) this.fail('an end of the processing instruction');
        const target = this.text.slice(this.position + 2, end).split(/\s/, 1)[0] ?? '';
        if (target.toLowerCase() === 'xml' && !(atStart && this.position <= 1)) {
          this.fail('the XML declaration only at the start');
        }
        this.position = end + 2;
        atStart = false;
      } else if (this.text.startsWith('<!--', this.position)) {
        this.comment();
      } else if (this.text.startsWith('<!', this.position)) {
        this.fail('no DOCTYPE or other declarations');
      } else {
        return;
      }
    }
  }

  private element(depth: number): XmlElement {
    if (depth > this.bounds.depthMax) this.fail(`nesting of at most ${this.bounds.depthMax}`);
    this.elements += 1;
    if (this.elements > this.bounds.elementsMax) this.fail(`at most ${this.bounds.elementsMax} elements`);
    this.expect('<');
    const qualified = this.name();
    const element: XmlElement = { name: localName(qualified), children: [], text: '' };
    const seen = new Set<string>();
    for (;;) {
      const hadSpace = this.skipSpace();
      const next = this.peek();
      if (next === '/') {
        this.expect('/>');
        return element;
      }
      if (next === '>') {
        this.position += 1;
        break;
      }
      if (!hadSpace) this.fail('whitespace before an attribute');
      const attribute = this.name();
      if (seen.has(attribute)) this.fail(`attribute ${attribute} once`);
      seen.add(attribute);
      this.skipSpace();
      this.expect('=');
      this.skipSpace();
      const quote = this.peek();
      if (quote !== '"' && quote !== "'") this.fail('a quoted attribute value');
      const end = this.text.indexOf(quote, this.position + 1);
      if (end < 0) this.fail('the end of an attribute value');
      const value = this.text.slice(this.position + 1, end);
      if (value.includes('<')) this.fail('no "<" in an attribute value');
      this.decode(value);
      this.position = end + 1;
    }
    this.content(element, qualified, depth);
    return element;
  }

  private content(element: XmlElement, qualified: string, depth: number): void {
    const texts: string[] = [];
    for (;;) {
      if (this.position >= this.text.length) this.fail(`the end tag of ${qualified}`);
      if (this.text.startsWith('</', this.position)) {
        this.position += 2;
        if (this.name() !== qualified) this.fail(`the end tag of ${qualified}`);
        this.skipSpace();
        this.expect('>');
        element.text = texts.join('');
        return;
      }
      if (this.text.startsWith('<!--', this.position)) {
        this.comment();
      } else if (this.text.startsWith('<![CDATA[', this.position)) {
        const end = this.text.indexOf(']]>', this.position + 9);
        if (end < 0) this.fail('the end of a CDATA section');
        texts.push(this.text.slice(this.position + 9, end));
        this.position = end + 3;
      } else if (this.text.startsWith('<?', this.position)) {
        const end = this.text.indexOf('?>', this.position + 2);
        if (end < 0) this.fail('the end of a processing instruction');
        const target = this.text.slice(this.position + 2, end).split(/\s/, 1)[0] ?? '';
        if (target.toLowerCase() === 'xml') this.fail('the XML declaration only at the start');
        this.position = end + 2;
      } else if (this.text.startsWith('<!', this.position)) {
        this.fail('no declarations inside elements');
      } else if (this.peek() === '<') {
        element.children.push(this.element(depth + 1));
      } else {
        const end = this.text.indexOf('<', this.position);
        if (end < 0) this.fail(`the end tag of ${qualified}`);
        const raw = this.text.slice(this.position, end);
        if (raw.includes(']]>')) this.fail('no "]]>" in text');
        texts.push(this.decode(raw));
        this.position = end;
      }
    }
  }

  private comment(): void {
    const end = this.text.indexOf('-->', this.position + 4);
    if (end < 0) this.fail('the end of a comment');
    if (this.text.slice(this.position + 4, end).includes('--')) this.fail('no "--" inside a comment');
    this.position = end + 3;
  }

  /** Text with its references replaced; any other "&" is malformed. */
  private decode(raw: string): string {
    if (!raw.includes('&')) return raw;
    return raw.replace(/&([^;&]{0,16});?/g, (match, body: string) => {
      if (!match.endsWith(';')) this.fail('references ending in ";"');
      const named = predefined[body];
      if (named !== undefined) return named;
      const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
      if (numeric === null) this.fail(`no entity other than the predefined ones (met &${body};)`);
      const code = numeric[1] !== undefined ? Number.parseInt(numeric[1], 16) : Number(numeric[2]);
      if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        this.fail('a character reference to a character');
      }
      return String.fromCodePoint(code);
    });
  }

  private name(): string {
    const start = this.position;
    if (!nameStart.test(this.peek())) this.fail('a name');
    this.position += 1;
    while (this.position < this.text.length && nameChar.test(this.peek())) this.position += 1;
    return this.text.slice(start, this.position);
  }

  private skipSpace(): boolean {
    const start = this.position;
    while (this.position < this.text.length && ' \t\r\n'.includes(this.peek())) this.position += 1;
    return this.position > start;
  }

  private peek(): string {
    return this.text.charAt(this.position);
  }

  private expect(literal: string): void {
    if (!this.text.startsWith(literal, this.position)) this.fail(`"${literal}"`);
    this.position += literal.length;
  }

  private fail(expected: string): never {
    throw new MalformedXmlError(`expected ${expected} at character ${this.position}`);
  }
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}

/** The children of `element` named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

/** The text of the only child named `name`, or undefined when there is none. */
export function childText(element: XmlElement, name: string): string | undefined {
  const found = childrenNamed(element, name);
  if (found.length > 1) throw new MalformedXmlError(`more than one <${name}> in <${element.name}>`);
  return found[0]?.text;
}
