// Proves request records: a mutation retried with the same request id, on any service of the same
// store, returns what its first attempt did and is not applied twice (an exclusive create does not
// fail with Exists, an unlink not with NotFound, a rename not twice); other ids and calls without
// one are untouched; records are swept after their time to live; an id far from the service's
// clock is not recorded; and a replayed create answers with the inode the first attempt made.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import { MetaCode, RpcCode } from '../../../src/common/status-code.js';
import { MetaService } from '../../../src/meta/meta-service.js';
import { formatRequestId, metaMethods as m } from '../../../src/meta/protocol/index.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import { expectCode, expectConsistent, fsOf, openHarness, root, type Harness } from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
let sequence = 0;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

/** A fresh request id at the harness clock's time. */
function requestId(): string {
  sequence += 1;
  return formatRequestId(harness.clock.nowMs(), 'client-1', sequence);
}

const exclusiveCreate = (path: string, id?: string) =>
  harness.call(m.create, {
    cred: root,
    at: { path },
    mode: 0o644,
    exclusive: true,
    write: false,
    read: true,
    ...(id === undefined ? {} : { requestId: id }),
  } as never);

describe('request records', () => {
  it('answers a retried exclusive create with the first attempt’s inode', async () => {
    const id = requestId();
    const first = await exclusiveCreate('/f', id);
    const again = await exclusiveCreate('/f', id);
    expect(again).toEqual(first);
    expect(again.created).toBe(true);
    // Without the id (or with another one) the create is a new call, and fails as O_EXCL says.
    await expectCode(exclusiveCreate('/f'), MetaCode.Exists);
    await expectCode(exclusiveCreate('/f', requestId()), MetaCode.Exists);
    await expectConsistent(harness);
  });

  it('applies a retried unlink and rename once', async () => {
    await fs.create('/a');
    await fs.create('/b');
    const unlinkId = requestId();
    const unlink = () =>
      harness.call(m.unlink, { cred: root, at: { path: '/a' }, requestId: unlinkId } as never);
    await unlink();
    await unlink();
    await expectCode(harness.call(m.unlink, { cred: root, at: { path: '/a' } }), MetaCode.NotFound);

    const renameId = requestId();
    const rename = () =>
      harness.call(m.rename, {
        cred: root,
        source: { path: '/b' },
        target: { path: '/c' },
        requestId: renameId,
      } as never);
    await rename();
    await fs.create('/b');
    // The retry does not move the new /b over /c.
    await rename();
    expect((await fs.stat('/b')).ino).not.toBe((await fs.stat('/c')).ino);
    await expectConsistent(harness);
  });

  it('is shared by every service on the store', async () => {
    const other = new MetaService({
      ...harness.service.options,
      random: seededRandom(99),
      logger: silentLogger(),
    });
    const id = requestId();
    const first = await exclusiveCreate('/shared', id);
    const request = { cred: root, at: { path: '/shared' }, mode: 0o644, exclusive: true, requestId: id };
    expect(await other.call(m.create, request as never)).toEqual(first);
  });

  it('sweeps records after their time to live, and does not record ids far from its clock', async () => {
    const id = requestId();
    await exclusiveCreate('/old', id);
    // More expired records than one sweep page: the sweep goes on page by page.
    for (const path of ['/old-1', '/old-2', '/old-3']) await exclusiveCreate(path, requestId());
    harness.clock.advance(limits.metaRequestRecordTtlMs + 1);
    const fresh = requestId();
    await exclusiveCreate('/new', fresh);
    expect(await harness.service.sweepRequestRecords(2)).toBe(4);
    // A record within its time to live stays.
    expect((await exclusiveCreate('/new', fresh)).created).toBe(true);
    // Swept: the id is too old to be recorded again, and the create runs (and fails) anew.
    await expectCode(exclusiveCreate('/old', id), MetaCode.Exists);

    const skewed = formatRequestId(harness.clock.nowMs() + limits.metaRequestRecordTtlMs, 'client-1', 1);
    await exclusiveCreate('/skewed', skewed);
    await expectCode(exclusiveCreate('/skewed', skewed), MetaCode.Exists);
  });

  it('refuses malformed request ids as bad requests', async () => {
    await expectCode(exclusiveCreate('/x', 'not-an-id'), RpcCode.BadRequest);
    await expectCode(exclusiveCreate('/x', `${formatRequestId(1, 'a b', 1)}`), RpcCode.BadRequest);
  });

  it('is not accepted by idempotent methods', async () => {
    await expectCode(
      harness.call(m.stat, { cred: root, at: { path: '/' }, requestId: requestId() } as never),
      RpcCode.BadRequest,
    );
  });
});
