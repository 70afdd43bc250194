// Proves meta keeps the S3 gateway's access keys on a real KV: root adds, reads, lists (without secrets, in pages) and removes them; adding the same key again answers the stored one while another key under the same id is refused; other users may do none of it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetaCode } from '../../../src/common/status-code.js';
import { metaMethods as m, type S3KeyOwner } from '../../../src/meta/protocol/index.js';
import { alice, expectCode, openHarness, root, type Harness } from './meta-harness.js';

let harness: Harness;
beforeEach(async () => {
  harness = await openHarness();
});
afterEach(async () => harness.close());

const owner: S3KeyOwner = { kind: 'ids', uid: 1000, gid: 1000, groups: [20] };

function addKey(accessKeyId: string, secret = 's'.repeat(40), name = 'alice') {
  return harness.call(m.s3KeyAdd, { cred: root, accessKeyId, secretAccessKey: secret, name, owner });
}

describe('S3 access keys in meta', () => {
  it('adds, reads and removes a key, with meta clock as its creation time', async () => {
    harness.clock.advance(5_000);
    const now = harness.clock.nowMs();
    const added = await addKey('AKIDEXAMPLE000000001');
    expect(added.key).toEqual({
      accessKeyId: 'AKIDEXAMPLE000000001',
      name: 'alice',
      owner,
      createdAtMs: now,
    });
    expect('secretAccessKey' in added.key).toBe(false);
    const read = await harness.call(m.s3KeyGet, { cred: root, accessKeyId: 'AKIDEXAMPLE000000001' });
    expect(read.key?.secretAccessKey).toBe('s'.repeat(40));
    expect(await harness.call(m.s3KeyRemove, { cred: root, accessKeyId: 'AKIDEXAMPLE000000001' })).toEqual({
      removed: true,
    });
    expect(await harness.call(m.s3KeyRemove, { cred: root, accessKeyId: 'AKIDEXAMPLE000000001' })).toEqual({
      removed: false,
    });
    expect(
      (await harness.call(m.s3KeyGet, { cred: root, accessKeyId: 'AKIDEXAMPLE000000001' })).key,
    ).toBeNull();
  });

  it('answers a retried add with the stored key and refuses another key under the same id', async () => {
    const first = await addKey('AKIDEXAMPLE000000002');
    harness.clock.advance(1_000);
    expect(await addKey('AKIDEXAMPLE000000002')).toEqual(first);
    await expectCode(addKey('AKIDEXAMPLE000000002', 't'.repeat(40)), MetaCode.Exists);
  });

  it('lists keys in id order, page by page, without secrets', async () => {
    const ids = Array.from({ length: 5 }, (_, index) => `AKIDEXAMPLE00000010${index}`);
    for (const id of [...ids].reverse()) await addKey(id);
    const first = await harness.call(m.s3KeyList, { cred: root, limit: 3 });
    expect(first.keys.map((key) => key.accessKeyId)).toEqual(ids.slice(0, 3));
    expect(first.nextCursor).toBe(ids[2]);
    const second = await harness.call(m.s3KeyList, {
      cred: root,
      limit: 3,
      after: first.nextCursor ?? undefined,
    });
    expect(second.keys.map((key) => key.accessKeyId)).toEqual(ids.slice(3));
    expect(second.nextCursor).toBeNull();
    expect(JSON.stringify([first, second])).not.toContain('s'.repeat(40));
  });

  it('lets no one but root manage keys', async () => {
    await addKey('AKIDEXAMPLE000000003');
    await expectCode(
      harness.call(m.s3KeyAdd, {
        cred: alice,
        accessKeyId: 'AKIDEXAMPLE000000004',
        secretAccessKey: 's'.repeat(40),
        name: 'mallory',
        owner: { kind: 'ids', uid: 0, gid: 0, groups: [] },
      }),
      MetaCode.NotPermitted,
    );
    await expectCode(
      harness.call(m.s3KeyGet, { cred: alice, accessKeyId: 'AKIDEXAMPLE000000003' }),
      MetaCode.NotPermitted,
    );
    await expectCode(harness.call(m.s3KeyList, { cred: alice, limit: 10 }), MetaCode.NotPermitted);
    await expectCode(
      harness.call(m.s3KeyRemove, { cred: alice, accessKeyId: 'AKIDEXAMPLE000000003' }),
      MetaCode.NotPermitted,
    );
  });
});
