// Proves rename's POSIX rules (replace a file, replace an empty directory, refuse a non-empty one,
// refuse moving a directory under itself, same-inode no-op, no-replace, sticky and permission
// checks), and that random sequences of namespace changes keep every invariant.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { MetaCode } from '../../../src/common/status-code.js';
import { checkInvariants } from '../../../src/meta/fsck/invariant-checker.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import {
  alice,
  bob,
  expectCode,
  expectConsistent,
  fsOf,
  openHarness,
  root,
  type Harness,
} from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

describe('rename', () => {
  it('moves files and directories and updates the parent pointer and link counts', async () => {
    await fs.mkdirp('/a/sub');
    await fs.mkdir('/b');
    const file = await fs.create('/a/f');
    await fs.rename('/a/f', '/b/g');
    expect((await fs.stat('/b/g')).ino).toBe(file.ino);
    await expectCode(fs.stat('/a/f'), MetaCode.NotFound);
    const moved = await fs.rename('/a/sub', '/b/sub2');
    expect(moved.inode).toMatchObject({ type: 'directory', parent: (await fs.stat('/b')).ino });
    expect((await fs.stat('/a')).nlink).toBe(2);
    expect((await fs.stat('/b')).nlink).toBe(3);
    expect((await fs.stat('/b/sub2/..')).ino).toBe((await fs.stat('/b')).ino);
    await expectConsistent(harness);
  });

  it('replaces a file, which loses a link and goes to the GC queue', async () => {
    await fs.create('/f');
    const old = await fs.create('/g');
    await fs.rename('/f', '/g');
    expect(await fs.list('/')).toEqual(['g']);
    expect((await harness.call(m.listGcQueue, { limit: 10 })).entries.map((entry) => entry.ino)).toEqual([
      old.ino,
    ]);
    await expectConsistent(harness);
  });

  it('replaces an empty directory but refuses a non-empty one', async () => {
    await fs.mkdir('/src');
    await fs.mkdir('/empty');
    await fs.mkdirp('/full/x');
    await expectCode(fs.rename('/src', '/full'), MetaCode.NotEmpty);
    await fs.rename('/src', '/empty');
    expect(await fs.list('/')).toEqual(['empty', 'full']);
    expect((await fs.stat('/')).nlink).toBe(4);
    await expectConsistent(harness);
  });

  it('refuses a directory over a file and a file over a directory', async () => {
    await fs.mkdir('/d');
    await fs.mkdir('/e');
    await fs.create('/f');
    await expectCode(fs.rename('/d', '/f'), MetaCode.NotDirectory);
    await expectCode(fs.rename('/f', '/e'), MetaCode.IsDirectory);
    await expectCode(fs.rename('/f', '/new/'), MetaCode.NotDirectory);
  });

  it('refuses to move a directory under itself', async () => {
    await fs.mkdirp('/a/b/c');
    await expectCode(fs.rename('/a', '/a/b/c/a'), MetaCode.InvalidArgument);
    await expectCode(fs.rename('/a', '/a/x'), MetaCode.InvalidArgument);
    await expectCode(fs.rename('/a/b', '/a'), MetaCode.NotEmpty);
    await fs.rename('/a/b/c', '/c');
    await expectConsistent(harness);
  });

  it('does nothing when source and target are links of the same inode', async () => {
    await fs.create('/f');
    await fs.link('/f', '/g');
    await fs.rename('/f', '/g');
    expect(await fs.list('/')).toEqual(['f', 'g']);
    await fs.rename('/f', '/f');
    await expectConsistent(harness);
  });

  it('refuses replacing with no-replace, and renaming ".", ".." and the root', async () => {
    await fs.mkdir('/d');
    await fs.create('/f');
    await fs.create('/g');
    await expectCode(
      harness.call(m.rename, { cred: root, source: { path: '/f' }, target: { path: '/g' }, noReplace: true }),
      MetaCode.Exists,
    );
    await expectCode(fs.rename('/d/.', '/x'), MetaCode.InvalidArgument);
    await expectCode(fs.rename('/d/..', '/x'), MetaCode.InvalidArgument);
    await expectCode(fs.rename('/', '/x'), MetaCode.Busy);
    await expectCode(fs.rename('/f', '/'), MetaCode.Busy);
    await expectCode(fs.rename('/missing', '/x'), MetaCode.NotFound);
  });

  it('checks write permission on both directories, the sticky bit, and the moved directory itself', async () => {
    await fs.mkdir('/tmp', root, 0o1777);
    await fs.create('/tmp/alices', alice);
    await expectCode(fs.rename('/tmp/alices', '/tmp/mine', bob), MetaCode.NotPermitted);
    await fs.rename('/tmp/alices', '/tmp/renamed', alice);
    await fs.mkdir('/ro', root, 0o755);
    await expectCode(fs.rename('/tmp/renamed', '/ro/x', alice), MetaCode.PermissionDenied);
    await fs.mkdir('/tmp/rootdir', root, 0o755);
    await fs.mkdir('/tmp/alicedir', alice, 0o777);
    await fs.mkdir('/tmp/other', root, 0o777);
    // Moving root's directory elsewhere changes its "..": that needs write permission on it.
    await fs.chmod('/tmp', 0o777);
    await expectCode(fs.rename('/tmp/rootdir', '/tmp/other/x', alice), MetaCode.PermissionDenied);
    await fs.rename('/tmp/rootdir', '/tmp/same-parent', alice);
    await expectConsistent(harness);
  });
});

type Operation =
  | { kind: 'mkdir'; path: string }
  | { kind: 'create'; path: string }
  | { kind: 'rename'; source: string; target: string }
  | { kind: 'link'; source: string; target: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'rmdir'; path: string };

const names = ['a', 'b', 'c'];
const pathArbitrary = fc
  .array(fc.constantFrom(...names), { minLength: 1, maxLength: 3 })
  .map((parts) => `/${parts.join('/')}`);
const operationArbitrary: fc.Arbitrary<Operation> = fc.oneof(
  pathArbitrary.map((path) => ({ kind: 'mkdir' as const, path })),
  pathArbitrary.map((path) => ({ kind: 'create' as const, path })),
  fc.record({ kind: fc.constant('rename' as const), source: pathArbitrary, target: pathArbitrary }),
  fc.record({ kind: fc.constant('link' as const), source: pathArbitrary, target: pathArbitrary }),
  pathArbitrary.map((path) => ({ kind: 'unlink' as const, path })),
  pathArbitrary.map((path) => ({ kind: 'rmdir' as const, path })),
);

/**
 * Every key and value of the KV, to compare states; the inode id counter is left out, since a
 * batch of ids may be reserved before an operation that then fails.
 */
async function dump(): Promise<string[]> {
  const pairs = await harness.kv.read((tx) => tx.getRange(Buffer.from([0]), Buffer.from([0xff])));
  return pairs
    .filter((pair) => !pair.key.toString('latin1').startsWith('IALC'))
    .map((pair) => `${pair.key.toString('hex')}=${pair.value.toString('hex')}`);
}

async function apply(operation: Operation): Promise<void> {
  switch (operation.kind) {
    case 'mkdir':
      return void (await fs.mkdir(operation.path));
    case 'create':
      return void (await fs.create(operation.path));
    case 'rename':
      return void (await fs.rename(operation.source, operation.target));
    case 'link':
      return void (await fs.link(operation.source, operation.target));
    case 'unlink':
      return fs.unlink(operation.path).then(() => undefined);
    case 'rmdir':
      return fs.rmdir(operation.path).then(() => undefined);
  }
}

describe('random namespace changes', () => {
  it('keep every invariant; refused operations fail with a status and change nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operationArbitrary, { minLength: 1, maxLength: 40 }), async (operations) => {
        await harness.call(m.removeRecursive, { cred: root, at: { path: '/a' } }).catch(() => undefined);
        for (const name of ['b', 'c']) {
          await harness
            .call(m.removeRecursive, { cred: root, at: { path: `/${name}` } })
            .catch(() => undefined);
        }
        for (const operation of operations) {
          const before = await dump();
          try {
            await apply(operation);
          } catch (error) {
            expect(error).toBeInstanceOf(FsError);
            expect((error as FsError).code).toBeGreaterThanOrEqual(4000);
            expect((error as FsError).code).toBeLessThan(5000);
            expect(await dump()).toEqual(before);
          }
        }
        const report = await checkInvariants(harness.kv);
        expect(report.problems).toEqual([]);
      }),
      { numRuns: 40, seed: 4242 },
    );
  });
});
