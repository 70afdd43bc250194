// Proves the writing side of directory quotas: a write within the grant the client knows asks
// nothing, one past it asks meta, one past what meta can grant fails whole with EDQUOT, and a file
// meta says no byte limit applies to is never asked about again.
import { describe, expect, it } from 'vitest';
import type { MetaClient } from '../../../src/client/meta-client.js';
import { requireQuotaRoom, type QuotaRoom } from '../../../src/client/quota-room.js';
import { FsError } from '../../../src/common/errors.js';
import { MetaCode } from '../../../src/common/status-code.js';

const cred = { uid: 0, gid: 0, groups: [] };
const session = { clientId: 'c', sessionId: 's' };

function fakeMeta(answer: (endBytes: bigint) => bigint | null) {
  const asked: bigint[] = [];
  const meta = {
    async call(_method: unknown, request: { endBytes: bigint }) {
      asked.push(request.endBytes);
      return { ceilingBytes: answer(request.endBytes) };
    },
  } as unknown as MetaClient;
  return { meta, asked };
}

function room(): QuotaRoom {
  return { file: { ino: 5n }, quotaLimited: true, quotaCeiling: 0n };
}

describe('requireQuotaRoom', () => {
  it('asks meta only past the grant it knows', async () => {
    const { meta, asked } = fakeMeta((end) => end + 100n);
    const file = room();
    await requireQuotaRoom({ meta, room: file, cred, session, endBytes: 10n });
    await requireQuotaRoom({ meta, room: file, cred, session, endBytes: 110n });
    await requireQuotaRoom({ meta, room: file, cred, session, endBytes: 111n });
    expect(asked).toEqual([10n, 111n]);
    expect(file.quotaCeiling).toBe(211n);
  });

  it('fails whole with QuotaExceeded past what meta grants, keeping what it granted', async () => {
    const { meta } = fakeMeta(() => 50n);
    const file = room();
    const error = await requireQuotaRoom({ meta, room: file, cred, session, endBytes: 60n }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FsError);
    expect((error as FsError).code).toBe(MetaCode.QuotaExceeded);
    await requireQuotaRoom({ meta, room: file, cred, session, endBytes: 50n });
  });

  it('stops asking once meta says no byte limit applies', async () => {
    const { meta, asked } = fakeMeta(() => null);
    const file = room();
    await requireQuotaRoom({ meta, room: file, cred, session, endBytes: 1n << 40n });
    await requireQuotaRoom({ meta, room: file, cred, session, endBytes: 1n << 41n });
    expect(asked).toHaveLength(1);
    expect(file.quotaLimited).toBe(false);
  });
});
