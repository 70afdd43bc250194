// Proves that bad input gets a clear error status, never a crash: wrong types and unknown fields
// are refused by the request schemas (BadRequest), bad names by the service (InvalidArgument,
// NameTooLong), huge batches by their bounds, and the service keeps serving afterwards.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { MetaCode, RpcCode } from '../../../src/common/status-code.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import { expectCode, expectConsistent, fsOf, openHarness, root, type Harness } from './meta-harness.js';

let harness: Harness;
beforeEach(async () => {
  harness = await openHarness();
});
afterEach(async () => harness.close());

describe('bad input', () => {
  it('refuses wrong types, missing and unknown fields with BadRequest', async () => {
    const cases: Array<[unknown, unknown]> = [
      [m.stat, { cred: root, at: { path: 5 } }],
      [m.stat, { cred: root }],
      [m.stat, { cred: { uid: -1, gid: 0, groups: [] }, at: { path: '/' } }],
      [m.stat, { cred: root, at: { path: '/', parent: 1 } }],
      [m.stat, { cred: root, at: { path: '/' }, extra: true }],
      [m.create, { cred: root, at: { path: '/f' }, mode: 0o10000 }],
      [
        m.create,
        { cred: root, at: { path: '/f' }, mode: 0o644, session: { clientId: 'a b', sessionId: 's' } },
      ],
      [m.setAttr, { cred: root, at: { path: '/' }, length: -1n }],
      [m.readDir, { cred: root, at: { path: '/' }, limit: 0 }],
      [m.setXattr, { cred: root, at: { path: '/' }, name: 'user.a', value: 'not bytes' }],
      [m.stat, null],
      [m.stat, 'a string'],
    ];
    for (const [method, request] of cases) {
      await expectCode(harness.call(method as typeof m.stat, request), RpcCode.BadRequest);
    }
  });

  it('refuses huge batches and pages by their bounds', async () => {
    const inos = Array.from({ length: 1025 }, (_, index) => BigInt(index));
    await expectCode(harness.call(m.batchStat, { cred: root, inos }), RpcCode.BadRequest);
    await expectCode(
      harness.call(m.readDir, { cred: root, at: { path: '/' }, limit: 1025 }),
      RpcCode.BadRequest,
    );
    await expectCode(harness.call(m.listGcQueue, { limit: 1_000_000 }), RpcCode.BadRequest);
    const groups = Array.from({ length: 257 }, (_, index) => index);
    await expectCode(
      harness.call(m.stat, { cred: { uid: 1, gid: 1, groups }, at: { path: '/' } }),
      RpcCode.BadRequest,
    );
    await expectCode(
      harness.call(m.stat, { cred: root, at: { path: 'x'.repeat(70_000) } }),
      RpcCode.BadRequest,
    );
  });

  it('refuses bad names with InvalidArgument or NameTooLong', async () => {
    const fs = fsOf(harness);
    await expectCode(harness.call(m.lookup, { cred: root, parent: 1n, name: '' }), MetaCode.InvalidArgument);
    await expectCode(
      harness.call(m.lookup, { cred: root, parent: 1n, name: 'a/b' }),
      MetaCode.InvalidArgument,
    );
    await expectCode(
      harness.call(m.lookup, { cred: root, parent: 1n, name: 'a\0' }),
      MetaCode.InvalidArgument,
    );
    await expectCode(
      harness.call(m.lookup, { cred: root, parent: 1n, name: 'n'.repeat(256) }),
      MetaCode.NameTooLong,
    );
    await expectCode(fs.create('/a\0b'), MetaCode.InvalidArgument);
    await expectCode(fs.create(`/${'n'.repeat(300)}`), MetaCode.NameTooLong);
    await expectCode(fs.create('/\uDC00'), MetaCode.InvalidArgument);
    await expectCode(
      harness.call(m.readDir, { cred: root, at: { path: '/' }, limit: 1, cursor: 'a/b' }),
      MetaCode.InvalidArgument,
    );
  });

  it('answers every random request with a status, never anything else (property)', async () => {
    const methods = [
      m.stat,
      m.create,
      m.mkdirs,
      m.rename,
      m.unlink,
      m.readDir,
      m.setAttr,
      m.hardLink,
      m.symlink,
    ];
    const anything = fc.anything({ withBigInt: true, withTypedArray: true, maxDepth: 3 });
    const pathLike = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom('/', '', '.', '..', '/a/../b', 'x\0'),
    );
    const request = fc.record(
      {
        cred: fc.oneof(fc.constant(root), anything),
        at: fc.oneof(fc.record({ path: pathLike }), anything),
        source: fc.record({ path: pathLike }),
        target: fc.oneof(fc.record({ path: pathLike }), pathLike),
        mode: fc.oneof(fc.integer({ min: 0, max: 0o7777 }), anything),
        limit: fc.integer({ min: -1, max: 2000 }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...methods), request, async (method, body) => {
        try {
          await harness.call(method as typeof m.stat, body);
        } catch (error) {
          expect(error).toBeInstanceOf(FsError);
        }
      }),
      { numRuns: 300, seed: 99 },
    );
    await expectConsistent(harness);
  });
});
