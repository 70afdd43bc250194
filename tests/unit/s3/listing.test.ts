// Proves ListObjects pages over a directory tree equal S3's semantics on the same keys (sorted by UTF-8 bytes, "d/" after "d-x" and before "d0"; prefix, start-after, delimiters "/" and others, max-keys, continuation tokens), checked with fast-check against a model on random trees, and that a page re-reads nothing earlier pages covered.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DirectoryEntry, Inode } from '../../../src/client/index.js';
import { FsError } from '../../../src/common/errors.js';
import { ManualClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { MetaCode } from '../../../src/common/status-code.js';
import { decodeToken, encodeToken, listPage, type ListQuery } from '../../../src/s3/listing.js';
import { compareKeys } from '../../../src/s3/names.js';
import type { ObjectFs } from '../../../src/s3/object-fs.js';
import type { GatewayServices } from '../../../src/s3/s3-request.js';

interface Node {
  ino: bigint;
  children?: Map<string, Node>;
}

/** An in-memory tree answering the calls a listing makes, counting directory entries read. */
class TreeFs {
  private nextIno = 2n;
  readonly root: Node = { ino: 1n, children: new Map() };
  private readonly byIno = new Map<bigint, Node>([[1n, this.root]]);
  entriesRead = 0;

  add(key: string): boolean {
    const directory = key.endsWith('/');
    const parts = (directory ? key.slice(0, -1) : key).split('/');
    let node = this.root;
    for (const [index, part] of parts.entries()) {
      const last = index === parts.length - 1;
      const existing = node.children?.get(part);
      if (existing !== undefined) {
        if (existing.children === undefined || (last && !directory)) return false;
        node = existing;
        continue;
      }
      const made: Node = { ino: this.nextIno++, ...(last && !directory ? {} : { children: new Map() }) };
      this.byIno.set(made.ino, made);
      node.children?.set(part, made);
      node = made;
    }
    return true;
  }

  /** Every object key, as S3 would hold them: files, and empty directories as "d/". */
  keys(): string[] {
    const out: string[] = [];
    const visit = (node: Node, prefix: string): void => {
      if (node.children === undefined) {
        out.push(prefix.slice(0, -1));
        return;
      }
      if (node.children.size === 0 && prefix !== '') out.push(prefix);
      for (const [name, child] of node.children) visit(child, `${prefix}${name}/`);
    };
    visit(this.root, '');
    return out.sort(compareKeys);
  }

  private inode(node: Node): Inode {
    const common = {
      ino: node.ino,
      mode: 0o755,
      uid: 0,
      gid: 0,
      nlink: 1,
      atimeNs: 0n,
      mtimeNs: 0n,
      ctimeNs: 0n,
    };
    return node.children === undefined
      ? ({ type: 'file', ...common, length: 1n, truncateVersion: 0, layout: {} } as unknown as Inode)
      : ({ type: 'directory', ...common, parent: 1n, layout: {} } as unknown as Inode);
  }

  readonly fs = {
    stat: async (_cred: unknown, path: string) => {
      let node: Node | undefined = this.root;
      for (const part of path.split('/').filter((piece) => piece !== '')) {
        if (node.children === undefined) throw new FsError(MetaCode.NotDirectory, path);
        node = node.children.get(part);
        if (node === undefined) throw new FsError(MetaCode.NotFound, path);
      }
      return this.inode(node);
    },
    lookup: async (_cred: unknown, parent: bigint, name: string) => {
      const node = this.byIno.get(parent)?.children?.get(name);
      return node === undefined ? undefined : this.inode(node);
    },
    readDirPage: async (_cred: unknown, at: { parent?: bigint }, limit: number, cursor?: string) => {
      const node = this.byIno.get(at.parent ?? 1n);
      const names = [...(node?.children?.keys() ?? [])].sort(compareKeys);
      const after = cursor === undefined ? names : names.filter((name) => compareKeys(name, cursor) > 0);
      const page = after.slice(0, limit);
      this.entriesRead += page.length;
      const entries: DirectoryEntry[] = page.map((name) => {
        const child = node?.children?.get(name) as Node;
        return { name, ino: child.ino, type: child.children === undefined ? 'file' : 'directory' };
      });
      return { entries, nextCursor: after.length > limit ? (page[page.length - 1] ?? null) : null };
    },
    batchStat: async (_cred: unknown, inos: readonly bigint[]) =>
      inos.map((ino) => {
        const node = this.byIno.get(ino);
        return node === undefined ? null : this.inode(node);
      }),
    getXattr: async () => undefined,
  };
}

function servicesOf(tree: TreeFs): GatewayServices {
  return {
    fs: tree.fs as unknown as ObjectFs,
    exportRoot: '/',
    logger: silentLogger(),
    clock: new ManualClock(0),
  } as unknown as GatewayServices;
}

/** S3's answer on a sorted key list: the model the listing must match. */
function model(keys: string[], query: { prefix: string; delimiter: string; startAfter: string }) {
  const items: Array<{ key: string; prefix: boolean }> = [];
  for (const key of keys) {
    if (!key.startsWith(query.prefix) || compareKeys(key, query.startAfter) <= 0) continue;
    const at = query.delimiter === '' ? -1 : key.indexOf(query.delimiter, query.prefix.length);
    if (at < 0) {
      items.push({ key, prefix: false });
      continue;
    }
    const group = key.slice(0, at + query.delimiter.length);
    const last = items[items.length - 1];
    // A group's keys are contiguous in key order; a start-after inside a group still shows it.
    if (last?.prefix !== true || last.key !== group) items.push({ key: group, prefix: true });
  }
  return items;
}

/** Every page of a listing, followed through its continuation tokens. */
async function listAll(
  tree: TreeFs,
  query: { prefix: string; delimiter: string; startAfter: string; maxKeys: number },
) {
  const services = servicesOf(tree);
  const items: Array<{ key: string; prefix: boolean }> = [];
  let after: ListQuery['after'] =
    query.startAfter === '' ? undefined : { key: query.startAfter, inclusive: false, skipPrefix: false };
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await listPage(services, { uid: 0, gid: 0, groups: [] }, '/', { ...query, after });
    const pageItems = [
      ...page.objects.map((object) => ({ key: object.key, prefix: false })),
      ...page.prefixes.map((prefix) => ({ key: prefix, prefix: true })),
    ].sort((left, right) => compareKeys(left.key, right.key));
    expect(pageItems.length).toBeLessThanOrEqual(query.maxKeys);
    items.push(...pageItems);
    if (page.next === undefined) return items;
    after = decodeToken(encodeToken(page.next));
  }
  throw new Error('the listing never ended');
}

const nameArbitrary = fc
  .array(fc.constantFrom('a', 'b', '-', '.', '0', '~', 'é', '!', 'z'), { minLength: 1, maxLength: 3 })
  .map((chars) => chars.join(''))
  .filter((name) => name !== '.' && name !== '..');
const keyArbitrary = fc
  .tuple(fc.array(nameArbitrary, { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([parts, directory]) => parts.join('/') + (directory ? '/' : ''));

describe('listing', () => {
  it('orders a directory among names that sort around it as S3 orders the keys', async () => {
    const tree = new TreeFs();
    for (const key of ['d/x', 'd-x', 'd.txt', 'd0', 'd', 'c/', 'e/f/']) tree.add(key);
    const all = await listAll(tree, { prefix: '', delimiter: '', startAfter: '', maxKeys: 1000 });
    expect(all.map((item) => item.key)).toEqual(['c/', 'd-x', 'd.txt', 'd/x', 'd0', 'e/f/']);
    const grouped = await listAll(tree, { prefix: '', delimiter: '/', startAfter: '', maxKeys: 2 });
    expect(grouped).toEqual([
      { key: 'c/', prefix: true },
      { key: 'd-x', prefix: false },
      { key: 'd.txt', prefix: false },
      { key: 'd/', prefix: true },
      { key: 'd0', prefix: false },
      { key: 'e/', prefix: true },
    ]);
  });

  it('lists an empty directory named by the prefix as its "dir/" key', async () => {
    const tree = new TreeFs();
    tree.add('photos/');
    tree.add('other');
    expect(await listAll(tree, { prefix: 'photos/', delimiter: '/', startAfter: '', maxKeys: 10 })).toEqual([
      { key: 'photos/', prefix: false },
    ]);
    expect(await listAll(tree, { prefix: 'nothing/', delimiter: '/', startAfter: '', maxKeys: 10 })).toEqual(
      [],
    );
  });

  it('equals the model on random trees, prefixes, start-afters, delimiters and page sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(keyArbitrary, { minLength: 1, maxLength: 40 }),
        fc.oneof(
          fc.constant(''),
          keyArbitrary.map((key) => key.slice(0, Math.max(0, key.length - 1))),
        ),
        fc.constantFrom('', '/', '-', '.', 'a/'),
        fc.oneof(fc.constant(''), keyArbitrary),
        fc.integer({ min: 1, max: 7 }),
        async (keys, prefix, delimiter, startAfter, maxKeys) => {
          const tree = new TreeFs();
          for (const key of keys) tree.add(key);
          const expected = model(tree.keys(), { prefix, delimiter, startAfter });
          const actual = await listAll(tree, { prefix, delimiter, startAfter, maxKeys });
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads each entry of a flat directory about once across the pages of its listing', async () => {
    const tree = new TreeFs();
    for (let index = 0; index < 2500; index++) tree.add(`flat/file-${String(index).padStart(5, '0')}`);
    const all = await listAll(tree, { prefix: 'flat/', delimiter: '/', startAfter: '', maxKeys: 1000 });
    expect(all).toHaveLength(2500);
    expect(tree.entriesRead).toBeLessThan(2500 + 3 * 1025);
  });

  it('refuses a continuation token it did not make', () => {
    expect(() => decodeToken('not-a-token')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    expect(decodeToken(encodeToken({ key: 'a/', prefix: true }))).toEqual({
      key: 'a/',
      inclusive: false,
      skipPrefix: true,
    });
  });
});
