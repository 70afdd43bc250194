// Proves directory quotas in meta: usage follows creates, removals, length reports, truncates,
// grants, renames in and out of (nested) quota trees and hard links exactly, as a walk of each
// tree recounts it; hard limits refuse creates, truncates and grants past them with EDQUOT, soft
// limits do once their grace period ends; moves usage cannot follow are EXDEV; a quota set on a
// full tree counts what is there (over several transactions, with changes in between), and one
// removed and set again counts anew; items in the trash count until purged; a cluster without
// quotas stamps nothing on its inodes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetaCode } from '../../../src/common/status-code.js';
import { limits } from '../../../src/common/limits.js';
import {
  metaMethods as m,
  type Credentials,
  type Inode,
  type InodeId,
  type QuotaInfo,
  type QuotaUsage,
  type Session,
} from '../../../src/meta/protocol/index.js';
import { countStep, setQuota as setQuotaOperation } from '../../../src/meta/quota/quota-admin.js';
import { MetaReader } from '../../../src/meta/store/meta-store.js';
import { QuotaReader } from '../../../src/meta/store/quota-records.js';
import {
  alice,
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

const mib = 1024n * 1024n;
const grantBytes = BigInt(limits.metaQuotaGrantBytes);

function session(sessionId: string, clientId = 'client-1'): Session {
  return { clientId, sessionId };
}

type Limit = bigint | null;
type Limits = {
  hardBytes?: Limit;
  softBytes?: Limit;
  hardInodes?: Limit;
  softInodes?: Limit;
  graceS?: number;
};

async function setQuota(path: string, quotaLimits: Limits, cred: Credentials = root) {
  return harness.call(m.quotaSet, { cred, at: { path }, ...quotaLimits });
}

async function usageOf(path: string): Promise<QuotaUsage> {
  const { quota } = await harness.call(m.quotaGet, { cred: root, at: { path } });
  if (quota === null) throw new Error(`${path} has no quota`);
  return quota.usage;
}

function usage(inodes: number, bytes: bigint = 0n, reservedBytes: bigint = 0n): QuotaUsage {
  return { inodes: BigInt(inodes), bytes, reservedBytes };
}

async function openForWriting(path: string, sessionId: string): Promise<Inode> {
  return (
    await harness.call(m.create, { cred: root, at: { path }, mode: 0o644, session: session(sessionId) })
  ).inode;
}

async function report(ino: InodeId, bytes: bigint): Promise<void> {
  const { inode } = await harness.call(m.stat, { cred: root, at: { parent: ino, path: '' } });
  const truncateVersion = inode.type === 'file' ? inode.truncateVersion : 0;
  await harness.call(m.sync, { cred: root, ino, length: { bytes, truncateVersion } });
}

async function close(ino: InodeId, sessionId: string): Promise<void> {
  await harness.call(m.close, { cred: root, ino, session: session(sessionId) });
}

async function grant(ino: InodeId, sessionId: string, endBytes: bigint): Promise<bigint | null> {
  return (await harness.call(m.quotaGrant, { cred: root, ino, session: session(sessionId), endBytes }))
    .ceilingBytes;
}

/** Writes `bytes` through a write session as a client does: a grant, then the length report. */
async function writeFile(path: string, bytes: bigint, sessionId = 'w'): Promise<Inode> {
  const inode = await openForWriting(path, sessionId);
  if (bytes > 0n) {
    const ceiling = await grant(inode.ino, sessionId, bytes);
    if (ceiling !== null && ceiling < bytes) throw new Error(`granted ${ceiling} of ${bytes}`);
    await report(inode.ino, bytes);
  }
  await close(inode.ino, sessionId);
  return inode;
}

/** Recounts every quota by walking its tree, and expects the kept usage to be exactly that. */
async function expectExactUsage(): Promise<void> {
  const { quotas } = await harness.call(m.quotaList, { cred: root, limit: limits.metaQuotaListPageMax });
  for (const quota of quotas) {
    expect(quota.usage, `usage of quota on ${quota.path}`).toEqual(await recount(quota));
  }
  await expectConsistent(harness);
}

async function recount(quota: QuotaInfo): Promise<QuotaUsage> {
  return harness.kv.read(async (tx) => {
    const reader = new MetaReader(tx);
    const grants = new QuotaReader(tx);
    const seen = new Set<InodeId>();
    let total = usage(0);
    const walk = async (directory: InodeId): Promise<void> => {
      for (const entry of await reader.listEntries(directory, undefined, 1_000)) {
        if (seen.has(entry.ino)) continue;
        seen.add(entry.ino);
        const inode = await reader.requireInode(entry.ino);
        let bytes = 0n;
        let reservedBytes = 0n;
        if (inode.type === 'file') {
          bytes = inode.length;
          const ceiling = await grants.grant(inode.ino);
          if (ceiling !== undefined && ceiling > inode.length) reservedBytes = ceiling - inode.length;
        }
        total = {
          inodes: total.inodes + 1n,
          bytes: total.bytes + bytes,
          reservedBytes: total.reservedBytes + reservedBytes,
        };
        if (inode.type === 'directory') await walk(inode.ino);
      }
    };
    await walk(quota.directory);
    return total;
  });
}

describe('inode usage', () => {
  it('counts every create below the directory and not the directory itself', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardInodes: 100n });
    expect(await usageOf('/q')).toEqual(usage(0));
    await fs.mkdir('/q/d');
    await fs.create('/q/d/f');
    await fs.symlink('/q/link', '/q/d/f');
    await harness.call(m.mknod, { cred: root, at: { path: '/q/fifo' }, type: 'fifo', mode: 0o644 });
    await fs.mkdirp('/q/a/b/c');
    expect(await usageOf('/q')).toEqual(usage(7));
    expect((await fs.stat('/q/d/f')).quotas).toHaveLength(1);
    await fs.unlink('/q/d/f');
    await fs.unlink('/q/link');
    await harness.call(m.removeRecursive, { cred: root, at: { path: '/q/a' } });
    expect(await usageOf('/q')).toEqual(usage(2));
    await expectExactUsage();
  });

  it('refuses creates past the hard inode limit with EDQUOT, and takes them again after a removal', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardInodes: 3n });
    await fs.create('/q/1');
    await fs.mkdir('/q/2');
    await fs.create('/q/2/3');
    await expectCode(fs.create('/q/4'), MetaCode.QuotaExceeded);
    await expectCode(fs.mkdir('/q/2/4'), MetaCode.QuotaExceeded);
    await expectCode(fs.symlink('/q/4', '/q/1'), MetaCode.QuotaExceeded);
    await expectCode(
      harness.call(m.mknod, { cred: root, at: { path: '/q/4' }, type: 'socket', mode: 0o644 }),
      MetaCode.QuotaExceeded,
    );
    await expectCode(
      harness.call(m.mkdirs, { cred: root, at: { path: '/q/x/y' }, mode: 0o755, recursive: true }),
      MetaCode.QuotaExceeded,
    );
    // Outside the tree nothing is limited.
    await fs.create('/free');
    await fs.unlink('/q/1');
    await fs.create('/q/4');
    expect(await usageOf('/q')).toEqual(usage(3));
    await expectExactUsage();
  });

  it('costs no quota field on inodes of a cluster without quotas', async () => {
    await fs.mkdir('/d');
    expect((await fs.create('/d/f')).quotas).toBeUndefined();
    expect((await fs.stat('/d')).quotas).toBeUndefined();
  });
});

describe('byte usage', () => {
  it('follows length reports, truncates down and up, and removals', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardBytes: 100n * mib });
    const file = await writeFile('/q/f', 10n * mib);
    expect(await usageOf('/q')).toEqual(usage(1, 10n * mib));
    await harness.call(m.setAttr, { cred: root, at: { path: '/q/f' }, length: 4n * mib });
    expect(await usageOf('/q')).toEqual(usage(1, 4n * mib));
    await harness.call(m.setAttr, { cred: root, at: { path: '/q/f' }, length: 50n * mib });
    expect(await usageOf('/q')).toEqual(usage(1, 50n * mib));
    await harness.call(m.open, {
      cred: root,
      at: { path: '/q/f' },
      write: true,
      truncate: true,
      session: session('t'),
    });
    expect(await usageOf('/q')).toEqual(usage(1, 0n));
    await close(file.ino, 't');
    await writeFile('/q/g', 30n * mib);
    await fs.unlink('/q/g');
    expect(await usageOf('/q')).toEqual(usage(1, 0n));
    await expectExactUsage();
  });

  it('refuses a truncate past the hard byte limit with EDQUOT', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardBytes: 10n * mib });
    await fs.create('/q/f');
    await expectCode(
      harness.call(m.setAttr, { cred: root, at: { path: '/q/f' }, length: 10n * mib + 1n }),
      MetaCode.QuotaExceeded,
    );
    await harness.call(m.setAttr, { cred: root, at: { path: '/q/f' }, length: 10n * mib });
    expect(await usageOf('/q')).toEqual(usage(1, 10n * mib));
  });

  it('keeps an unlinked file counted while it is open and frees it at its last close', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardBytes: 100n * mib });
    const file = await openForWriting('/q/f', 's');
    expect(await grant(file.ino, 's', 5n * mib)).toBe(5n * mib + grantBytes);
    await report(file.ino, 5n * mib);
    await fs.unlink('/q/f');
    expect(await usageOf('/q')).toEqual(usage(1, 5n * mib, grantBytes));
    await report(file.ino, 6n * mib);
    expect(await usageOf('/q')).toEqual(usage(1, 6n * mib, grantBytes - mib));
    await close(file.ino, 's');
    expect(await usageOf('/q')).toEqual(usage(0));
  });
});

describe('grants', () => {
  it('reserve room past the length until the last session closes, and no more than the limit holds', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardBytes: 20n * mib });
    const first = await openForWriting('/q/a', 'a');
    const second = await openForWriting('/q/b', 'b');
    expect(await grant(first.ino, 'a', mib)).toBe(mib + grantBytes);
    expect(await usageOf('/q')).toEqual(usage(2, 0n, mib + grantBytes));
    // Within the grant nothing is asked for; a report moves reserved bytes to written ones.
    expect(await grant(first.ino, 'a', mib)).toBe(mib + grantBytes);
    await report(first.ino, 3n * mib);
    expect(await usageOf('/q')).toEqual(usage(2, 3n * mib, mib + grantBytes - 3n * mib));
    // The second writer gets what is left, short of what it wanted: it may write up to there.
    expect(await grant(second.ino, 'b', 15n * mib)).toBe(20n * mib - (mib + grantBytes));
    expect(await grant(second.ino, 'b', 20n * mib)).toBe(20n * mib - (mib + grantBytes));
    const held = await usageOf('/q');
    expect(held.bytes + held.reservedBytes).toBe(20n * mib);
    // A second session of the same file keeps the grant when the first closes.
    await harness.call(m.open, { cred: root, at: { path: '/q/a' }, write: true, session: session('a2') });
    await close(first.ino, 'a');
    expect((await usageOf('/q')).reservedBytes).toBeGreaterThan(0n);
    await close(first.ino, 'a2');
    await close(second.ino, 'b');
    expect(await usageOf('/q')).toEqual(usage(2, 3n * mib));
    await expectExactUsage();
  });

  it('answer null where no byte limit applies, and need the write session', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardInodes: 10n });
    const file = await openForWriting('/q/f', 's');
    expect(await grant(file.ino, 's', mib)).toBeNull();
    const free = await openForWriting('/free', 's');
    expect(await grant(free.ino, 's', mib)).toBeNull();
    await expectCode(grant(file.ino, 'other', mib), MetaCode.InvalidArgument);
  });

  it('go back when the client is declared dead and its sessions pruned', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardBytes: 100n * mib });
    const file = await openForWriting('/q/f', 's');
    await grant(file.ino, 's', 2n * mib);
    await report(file.ino, 2n * mib);
    await harness.call(m.pruneSessions, { clientId: 'client-1' });
    expect(await usageOf('/q')).toEqual(usage(1, 2n * mib));
    await expectExactUsage();
  });
});

describe('soft limits', () => {
  it('let usage past them for the grace period, then refuse like the hard limit until usage is back under', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { softInodes: 2n, hardInodes: 10n, graceS: 3_600 });
    for (const name of ['a', 'b', 'c']) await fs.create(`/q/${name}`);
    const { quota } = await harness.call(m.quotaGet, { cred: root, at: { path: '/q' } });
    expect(quota?.softInodesSinceNs).toBeDefined();
    await fs.create('/q/d');
    harness.clock.advance(3_601_000);
    await expectCode(fs.create('/q/e'), MetaCode.QuotaExceeded);
    await fs.unlink('/q/a');
    await fs.unlink('/q/b');
    await fs.unlink('/q/c');
    await fs.create('/q/e');
    const after = await harness.call(m.quotaGet, { cred: root, at: { path: '/q' } });
    expect(after.quota?.softInodesSinceNs).toBeUndefined();
    await fs.create('/q/f');
  });

  it('refuse a soft limit above the hard one', async () => {
    await fs.mkdir('/q');
    await expectCode(setQuota('/q', { softBytes: 2n, hardBytes: 1n }), MetaCode.InvalidArgument);
  });
});

describe('renames', () => {
  it('move a file’s bytes and inode between quota trees, nested ones included', async () => {
    await fs.mkdirp('/a/inner');
    await fs.mkdir('/b');
    await setQuota('/a', { hardBytes: 100n * mib });
    await setQuota('/a/inner', { hardBytes: 50n * mib });
    await setQuota('/b', { hardBytes: 100n * mib });
    await writeFile('/a/inner/f', 7n * mib);
    expect(await usageOf('/a')).toEqual(usage(2, 7n * mib));
    expect(await usageOf('/a/inner')).toEqual(usage(1, 7n * mib));
    await fs.rename('/a/inner/f', '/a/f');
    expect(await usageOf('/a')).toEqual(usage(2, 7n * mib));
    expect(await usageOf('/a/inner')).toEqual(usage(0));
    await fs.rename('/a/f', '/b/f');
    expect(await usageOf('/a')).toEqual(usage(1));
    expect(await usageOf('/b')).toEqual(usage(1, 7n * mib));
    await fs.rename('/b/f', '/outside');
    expect(await usageOf('/b')).toEqual(usage(0));
    expect((await fs.stat('/outside')).quotas).toBeUndefined();
    await fs.rename('/outside', '/a/inner/back');
    expect(await usageOf('/a/inner')).toEqual(usage(1, 7n * mib));
    await expectExactUsage();
  });

  it('move an open file’s grant with it', async () => {
    await fs.mkdir('/a');
    await fs.mkdir('/b');
    await setQuota('/a', { hardBytes: 100n * mib });
    await setQuota('/b', { hardBytes: 100n * mib });
    const file = await openForWriting('/a/f', 's');
    await grant(file.ino, 's', mib);
    await report(file.ino, mib);
    await fs.rename('/a/f', '/b/f');
    expect(await usageOf('/a')).toEqual(usage(0));
    expect(await usageOf('/b')).toEqual(usage(1, mib, grantBytes));
    await close(file.ino, 's');
    expect(await usageOf('/b')).toEqual(usage(1, mib));
    await expectExactUsage();
  });

  it('refuse with EDQUOT a file the target quota cannot hold, and replace a file in place', async () => {
    await fs.mkdir('/a');
    await fs.mkdir('/b');
    await setQuota('/b', { hardBytes: 10n * mib, hardInodes: 1n });
    await writeFile('/a/big', 11n * mib);
    await expectCode(fs.rename('/a/big', '/b/big'), MetaCode.QuotaExceeded);
    await writeFile('/a/small', mib);
    await fs.rename('/a/small', '/b/small');
    await expectCode(fs.rename('/a/big', '/b/small'), MetaCode.QuotaExceeded);
    expect(await usageOf('/b')).toEqual(usage(1, mib));
    await expectExactUsage();
  });

  it('refuse with EXDEV a directory, or one link of several, between different quota trees', async () => {
    await fs.mkdirp('/a/dir');
    await fs.mkdir('/b');
    await setQuota('/a', { hardInodes: 100n });
    await fs.create('/a/dir/f');
    await expectCode(fs.rename('/a/dir', '/b/dir'), MetaCode.CrossQuota);
    await expectCode(fs.rename('/a/dir', '/dir'), MetaCode.CrossQuota);
    await fs.create('/a/h');
    await fs.link('/a/h', '/a/dir/h2');
    await expectCode(fs.rename('/a/h', '/b/h'), MetaCode.CrossQuota);
    // Within one quota's tree anything moves.
    await fs.mkdir('/a/other');
    await fs.rename('/a/dir', '/a/other/dir');
    await fs.rename('/a/h', '/a/other/h');
    expect(await usageOf('/a')).toEqual(usage(4));
    await expectExactUsage();
  });
});

describe('hard links', () => {
  it('count a file once however many links it has in one tree, until its last link goes', async () => {
    await fs.mkdir('/q');
    await fs.mkdir('/q/d');
    await setQuota('/q', { hardBytes: 100n * mib });
    await writeFile('/q/f', 3n * mib);
    await fs.link('/q/f', '/q/d/g');
    expect(await usageOf('/q')).toEqual(usage(2, 3n * mib));
    await fs.unlink('/q/f');
    expect(await usageOf('/q')).toEqual(usage(2, 3n * mib));
    await fs.unlink('/q/d/g');
    expect(await usageOf('/q')).toEqual(usage(1));
    await expectExactUsage();
  });

  it('are refused with EXDEV between different quota trees', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardInodes: 100n });
    await fs.create('/q/f');
    await fs.create('/free');
    await expectCode(fs.link('/q/f', '/g'), MetaCode.CrossQuota);
    await expectCode(fs.link('/free', '/q/free'), MetaCode.CrossQuota);
  });
});

describe('setting and removing', () => {
  it('counts the tree already there, over several transactions', async () => {
    await fs.mkdirp('/q/a/b');
    for (let index = 0; index < 700; index++) await fs.create(`/q/a/f${index}`);
    for (let index = 0; index < 10; index++) await writeFile(`/q/a/b/g${index}`, BigInt(index) * mib);
    await fs.link('/q/a/f1', '/q/a/b/link');
    await fs.symlink('/q/sym', 'a');
    const { quota, done } = await setQuota('/q', { hardInodes: 1_000_000n });
    expect(done).toBe(true);
    expect(quota.counting).toBe(false);
    expect(quota.usage).toEqual(usage(2 + 700 + 10 + 1 + 1 - 1, 45n * mib));
    await expectExactUsage();
  });

  it('counts changes made while the count goes on exactly once', async () => {
    await fs.mkdirp('/q/a');
    await fs.mkdirp('/q/z');
    for (let index = 0; index < 600; index++) await fs.create(`/q/a/f${index}`);
    // Only the first transaction: the quota is set and counting.
    const set = await harness.service.mutate({ cred: root }, { ids: 1, squash: false }, (writer, ctx) =>
      setQuotaOperation(writer, ctx, { cred: root, at: { path: '/q' }, hardInodes: 10_000n }),
    );
    expect(
      await harness.service.mutate({ cred: root }, { ids: 0 }, (writer, ctx) =>
        countStep(writer, ctx, set.quotaId),
      ),
    ).toBe(false);
    // Meanwhile: creates in counted and uncounted directories, removals, a move between them.
    await fs.create('/q/new');
    await fs.create('/q/z/new');
    await fs.create('/q/a/zz-new');
    await fs.unlink('/q/a/f0');
    await fs.unlink('/q/a/f599');
    await fs.rename('/q/a/f5', '/q/z/f5');
    const reply = await setQuota('/q', {});
    expect(reply.done).toBe(true);
    expect(reply.quota.usage.inodes).toBe(2n + 600n + 3n - 2n);
    await expectExactUsage();
  });

  it('counts anew after a removal, whatever ids the old quota left on inodes', async () => {
    await fs.mkdirp('/q/d');
    await setQuota('/q', { hardInodes: 100n });
    await fs.create('/q/d/f');
    expect((await harness.call(m.quotaRemove, { cred: root, at: { path: '/q' } })).removed).toBe(true);
    expect((await harness.call(m.quotaRemove, { cred: root, at: { path: '/q' } })).removed).toBe(false);
    await fs.create('/q/d/g');
    await fs.unlink('/q/d/f');
    const { quota } = await setQuota('/q', { hardInodes: 100n });
    expect(quota.usage).toEqual(usage(2));
    await expectExactUsage();
  });

  it('changes limits of an existing quota without counting again', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardInodes: 1n });
    await fs.create('/q/f');
    const { quota } = await setQuota('/q', { hardInodes: null, hardBytes: mib });
    expect(quota.limits).toEqual({ hardBytes: mib, graceS: limits.quotaGraceSDefault });
    await fs.create('/q/g');
    expect(quota.usage).toEqual(usage(1));
  });

  it('goes with its directory', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardInodes: 1n });
    await fs.rmdir('/q');
    expect((await harness.call(m.quotaList, { cred: root, limit: 10 })).quotas).toEqual([]);
  });

  it('is root’s to set, remove and list; anyone reads one', async () => {
    await fs.mkdir('/q', root, 0o777);
    await expectCode(setQuota('/q', { hardInodes: 1n }, alice), MetaCode.NotPermitted);
    await setQuota('/q', { hardInodes: 5n });
    await expectCode(harness.call(m.quotaRemove, { cred: alice, at: { path: '/q' } }), MetaCode.NotPermitted);
    await expectCode(harness.call(m.quotaList, { cred: alice, limit: 10 }), MetaCode.NotPermitted);
    const seen = await harness.call(m.quotaGet, { cred: alice, at: { path: '/q' } });
    expect(seen.quota?.path).toBe('/q');
    await fs.create('/q/f', alice);
    const below = await harness.call(m.quotaGet, { cred: alice, at: { path: '/q/f' } });
    expect(below.quota).toBeNull();
    expect(below.containing.map((quota) => quota.path)).toEqual(['/q']);
  });

  it('lists page by page with paths', async () => {
    for (const name of ['a', 'b', 'c']) {
      await fs.mkdir(`/${name}`);
      await setQuota(`/${name}`, { hardInodes: 10n });
    }
    const first = await harness.call(m.quotaList, { cred: root, limit: 2 });
    expect(first.quotas.map((quota) => quota.path)).toEqual(['/a', '/b']);
    const rest = await harness.call(m.quotaList, { cred: root, limit: 2, after: first.nextCursor ?? 0n });
    expect(rest.quotas.map((quota) => quota.path)).toEqual(['/c']);
    expect(rest.nextCursor).toBeNull();
  });
});

describe('the trash', () => {
  it('keeps what was removed into it counted until it is purged', async () => {
    await fs.mkdir('/q');
    await setQuota('/q', { hardBytes: 100n * mib });
    await writeFile('/q/f', 2n * mib);
    const { item } = await harness.call(m.trashRemove, {
      cred: root,
      at: { path: '/q/f' },
      what: 'file',
      expireS: 60,
    });
    expect(item).not.toBeNull();
    expect(await usageOf('/q')).toEqual(usage(1, 2n * mib));
    for (;;) {
      const purged = await harness.call(m.purgeTrash, {
        cred: root,
        item: { uid: 0, name: item?.name ?? '' },
      });
      if (purged.done) break;
    }
    expect(await usageOf('/q')).toEqual(usage(0));
  });
});

describe('statfs', () => {
  it('shows a directory’s own quota, else the one with least room among those counting the inode', async () => {
    await fs.mkdirp('/a/b');
    await setQuota('/a', { hardBytes: 100n * mib });
    await setQuota('/a/b', { hardBytes: 200n * mib });
    await fs.create('/a/b/f');
    const statfs = async (path: string) =>
      (await harness.call(m.quotaStatFs, { cred: root, ino: (await fs.stat(path)).ino })).quota;
    expect((await statfs('/a/b'))?.limits.hardBytes).toBe(200n * mib);
    expect((await statfs('/a/b/f'))?.limits.hardBytes).toBe(100n * mib);
    expect(await statfs('/')).toBeNull();
  });
});
