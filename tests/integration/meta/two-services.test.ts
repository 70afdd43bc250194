// Proves that meta services are stateless over one KV: two real meta_main processes on one sqlite
// database (and on one PostgreSQL server, where one can run, and on the live FoundationDB cluster
// FDB_CLUSTER_FILE names, where it is set) register with mgmtd, serve one
// namespace, let exactly one of many concurrent creates of one name win, keep every invariant (and no directory cycle) under a random stress of renames,
// links and unlinks from both ends, keep an unlinked open file until its writer closes, and stop
// cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import { MetaCode, statusName } from '../../../src/common/status-code.js';
import { foundationDbSectionSchema, openFoundationDbKvEngine } from '../../../src/kv/index.js';
import { setDirectoryLayoutCommand } from '../../../src/meta/index.js';
import { metaMethods as m, type Credentials } from '../../../src/meta/protocol/index.js';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';
import { foundationDbKvToml, postgresKvToml } from '../helpers/mgmtd-cluster.js';
import { startMetaCluster, type MetaCluster } from '../helpers/meta-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const root: Credentials = { uid: 0, gid: 0, groups: [] };
const alice: Credentials = { uid: 1000, gid: 1000, groups: [] };

/** The status of a failed call, or "ok". */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (!(error instanceof FsError)) throw error;
    return statusName(error.code);
  }
}

const postgres = postgresAvailability();

const fdbClusterFile = process.env['FDB_CLUSTER_FILE'] ?? '';
const foundationDbSkipReason =
  fdbClusterFile === ''
    ? 'FDB_CLUSTER_FILE is not set, so there is no live FoundationDB cluster to run against (point it at a cluster file to run these tests)'
    : undefined;
if (foundationDbSkipReason !== undefined)
  console.warn(`skipping meta services on foundationdb: ${foundationDbSkipReason}`);

/** Every key the services write under their prefix lies below this end (keys are at most 10,000 bytes). */
const allKeysEnd = Buffer.alloc(10_001, 0xff);

/** Clears what a run left under `keyPrefix` in the live FoundationDB cluster. */
async function clearFoundationDbPrefix(keyPrefix: string): Promise<void> {
  const section = foundationDbSectionSchema.parse({ cluster_file: fdbClusterFile, key_prefix: keyPrefix });
  const engine = await openFoundationDbKvEngine(section, { logger: silentLogger() });
  try {
    await engine.transact(async (tx) => tx.clearRange(Buffer.alloc(0), allKeysEnd));
  } finally {
    await engine.close();
  }
}

type Engine = 'sqlite' | 'postgres' | 'foundationdb';

/** Why the scenario cannot run on `engine` here, or undefined when it can. */
function skipReasonOf(engine: Engine): string | undefined {
  if (engine === 'postgres') return postgres.available ? undefined : postgres.reason;
  if (engine === 'foundationdb') return foundationDbSkipReason;
  return undefined;
}

/**
 * The whole scenario on one engine: sqlite always, postgres where a server can run, FoundationDB
 * where FDB_CLUSTER_FILE names a live cluster (under a key prefix of its own, cleared afterwards).
 */
function defineTwoServiceTests(engine: Engine): void {
  const skipReason = skipReasonOf(engine);
  describe.skipIf(skipReason !== undefined)(
    skipReason === undefined
      ? `two meta services on one ${engine} KV`
      : `two meta services on one ${engine} KV (skipped: ${skipReason})`,
    () => {
      let world: TestWorld;
      let cluster: MetaCluster;
      let first: string;
      let second: string;
      let server: PostgresTestServer | undefined;
      let keyPrefix: string | undefined;

      beforeAll(async () => {
        world = new TestWorld();
        let kv = {};
        if (engine === 'postgres') {
          server = await startPostgresTestServer(postgres);
          kv = { kvToml: postgresKvToml(server, 'meta_two_services') };
        }
        if (engine === 'foundationdb') {
          keyPrefix = `3fs-test/${process.pid}/${Date.now()}/meta/`;
          kv = { kvToml: foundationDbKvToml(fdbClusterFile, keyPrefix) };
        }
        cluster = await startMetaCluster(world, { metaCount: 2, ...kv });
        [first, second] = cluster.metas.map((meta) => meta.address) as [string, string];
      }, 90_000);

      afterAll(async () => {
        await cluster?.rpc.close();
        await world.cleanup();
        await server?.close();
        if (keyPrefix !== undefined) await clearFoundationDbPrefix(keyPrefix);
      });

      it('register with mgmtd as meta nodes and serve one namespace with layouts from the chain table', async () => {
        const metaNodes = await eventually(
          async () => {
            const routing = await cluster.mgmtd.refreshRoutingInfo();
            const nodes = routing.nodes.filter((node) => node.type === 'meta' && node.status === 'online');
            return nodes.length === 2 ? nodes : undefined;
          },
          10_000,
          'both meta services in routing info',
        );
        expect(metaNodes.map((node) => node.address).sort()).toEqual([first, second].sort());
        await cluster.call(first, m.mkdirs, { cred: root, at: { path: '/shared' }, mode: 0o777 });
        const { inode } = await cluster.call(second, m.create, {
          cred: alice,
          at: { path: '/shared/f' },
          mode: 0o644,
          write: false,
        });
        expect(inode.type === 'file' && inode.layout).toMatchObject({ chainTableId: 1, stripeSize: 2 });
        const seen = await cluster.call(first, m.stat, { cred: alice, at: { path: '/shared/f' } });
        expect(seen.inode.ino).toBe(inode.ino);
        const statFs = await cluster.call(first, m.statFs, { cred: alice });
        expect(statFs.chunkSizeBytes).toBe(1024 * 1024);
      });

      it('lets exactly one of many concurrent exclusive creates of one name succeed', async () => {
        await cluster.call(first, m.mkdirs, { cred: root, at: { path: '/race' }, mode: 0o777 });
        const attempts = Array.from({ length: 40 }, (_, index) =>
          outcome(
            cluster.call(index % 2 === 0 ? first : second, m.create, {
              cred: root,
              at: { path: '/race/same' },
              mode: 0o644,
              exclusive: true,
              write: false,
            }),
          ),
        );
        const mkdirs = Array.from({ length: 20 }, (_, index) =>
          outcome(
            cluster.call(index % 2 === 0 ? first : second, m.mkdirs, {
              cred: root,
              at: { path: '/race/dir' },
              mode: 0o755,
            }),
          ),
        );
        const results = await Promise.all(attempts);
        expect(results.filter((result) => result === 'ok')).toHaveLength(1);
        expect(results.filter((result) => result === 'Meta.Exists')).toHaveLength(39);
        const dirResults = await Promise.all(mkdirs);
        expect(dirResults.filter((result) => result === 'ok')).toHaveLength(1);
        expect(dirResults.filter((result) => result === 'Meta.Exists')).toHaveLength(19);
        const listing = await cluster.call(second, m.readDir, {
          cred: root,
          at: { path: '/race' },
          limit: 100,
        });
        expect(listing.entries.map((entry) => entry.name)).toEqual(['dir', 'same']);
      });

      it('keeps every invariant and makes no cycle under concurrent renames, links and unlinks from both ends', async () => {
        const names = ['a', 'b', 'c'];
        await cluster.call(first, m.mkdirs, {
          cred: root,
          at: { path: '/stress/a/b' },
          mode: 0o755,
          recursive: true,
        });
        const random = seededRandom(20_240);
        const pick = (): string => names[random.nextInt(names.length)] as string;
        const path = (): string => `/stress/${Array.from({ length: 1 + random.nextInt(2) }, pick).join('/')}`;
        // Weighted toward renames, which are what could make a cycle if two services raced.
        const kinds = [
          'rename',
          'rename',
          'rename',
          'link',
          'unlink',
          'mkdir',
          'mkdir',
          'create',
          'create',
          'rmdir',
        ];
        const operations = Array.from({ length: 400 }, (_, index) => {
          const address = index % 2 === 0 ? first : second;
          const kind = kinds[random.nextInt(kinds.length)];
          const source = { path: path() };
          const target = { path: path() };
          switch (kind) {
            case 'rename':
              return () => cluster.call(address, m.rename, { cred: root, source, target });
            case 'link':
              return () => cluster.call(address, m.hardLink, { cred: root, source, target });
            case 'unlink':
              return () => cluster.call(address, m.unlink, { cred: root, at: source });
            case 'mkdir':
              return () => cluster.call(address, m.mkdirs, { cred: root, at: source, mode: 0o755 });
            case 'create':
              return () =>
                cluster.call(address, m.create, { cred: root, at: source, mode: 0o644, write: false });
            default:
              return () => cluster.call(address, m.rmdir, { cred: root, at: source });
          }
        });
        // Sixteen callers at a time, half on each service.
        const statuses = new Map<string, number>();
        for (let index = 0; index < operations.length; index += 16) {
          const batch = operations.slice(index, index + 16).map((operation) => outcome(operation()));
          for (const status of await Promise.all(batch))
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
        expect(statuses.get('ok') ?? 0).toBeGreaterThan(40);
        expect(statuses.get('Meta.InvalidArgument') ?? 0).toBeGreaterThan(0);
        // Conflicts are retried inside the services: callers only ever see namespace answers.
        for (const status of statuses.keys())
          expect(status === 'ok' || status.startsWith('Meta.'), status).toBe(true);
        const report = await cluster.call(second, m.checkInvariants, {});
        expect(report.problems).toEqual([]);
        expect(report.entries).toBeGreaterThan(0);
      });

      it('keeps a file unlinked on one service while it is open for writing on the other, then queues it for GC', async () => {
        const session = { clientId: 'client-x', sessionId: 'fd-1' };
        const { inode } = await cluster.call(first, m.create, {
          cred: root,
          at: { path: '/open-file' },
          mode: 0o644,
          session,
        });
        await cluster.call(first, m.sync, {
          cred: root,
          ino: inode.ino,
          length: { bytes: 1000n, truncateVersion: 0 },
        });
        await cluster.call(second, m.unlink, { cred: root, at: { path: '/open-file' } });
        const queued = async () =>
          (await cluster.call(first, m.listGcQueue, { limit: 1024 })).entries.map((entry) => entry.ino);
        expect(await queued()).not.toContain(inode.ino);
        const [orphan] = (await cluster.call(first, m.batchStat, { cred: root, inos: [inode.ino] })).inodes;
        expect(orphan).toMatchObject({ nlink: 0, length: 1000n });
        expect((await cluster.call(first, m.checkInvariants, {})).problems).toEqual([]);
        await cluster.call(second, m.close, {
          cred: root,
          ino: inode.ino,
          session,
          length: { bytes: 2000n, truncateVersion: 0 },
        });
        expect(await queued()).toContain(inode.ino);
        const entry = (await cluster.call(first, m.listGcQueue, { limit: 1024 })).entries.find(
          (item) => item.ino === inode.ino,
        );
        expect(entry?.length).toBe(2000n);
      });

      it('changes a directory’s default layout through the operator command', async () => {
        const routing = await cluster.mgmtd.refreshRoutingInfo();
        const inode = await setDirectoryLayoutCommand({
          rpc: cluster.rpc,
          routing,
          path: '/shared',
          stripeSize: 1,
          chunkSizeBytes: 65_536,
          timeoutMs: 5_000,
        });
        expect(inode).toMatchObject({ layout: { chainTableId: 1, stripeSize: 1, chunkSizeBytes: 65_536 } });
        const created = await cluster.call(second, m.create, {
          cred: root,
          at: { path: '/shared/after' },
          mode: 0o644,
          write: false,
        });
        expect(created.inode.type === 'file' && created.inode.layout).toMatchObject({
          stripeSize: 1,
          chunkSizeBytes: 65_536,
        });
        await expect(
          setDirectoryLayoutCommand({
            rpc: cluster.rpc,
            routing,
            path: '/shared',
            chainTableId: 77,
            timeoutMs: 5_000,
          }),
        ).rejects.toMatchObject({ code: MetaCode.NoChainTable });
      });

      it('answers bad requests with a status and keeps serving', async () => {
        const bad = await outcome(cluster.call(first, m.stat, { cred: root, at: { path: 42 } } as never));
        expect(bad).toBe('Rpc.BadRequest');
        expect(
          await outcome(
            cluster.call(first, m.mkdirs, { cred: root, at: { path: `/${'x'.repeat(256)}` }, mode: 0o755 }),
          ),
        ).toBe('Meta.NameTooLong');
        expect(await outcome(cluster.call(first, m.stat, { cred: root, at: { path: '/' } }))).toBe('ok');
      });

      it('stops cleanly on SIGTERM', async () => {
        const meta = cluster.metas[1];
        if (meta === undefined) throw new Error('two services');
        meta.process.child.kill('SIGTERM');
        expect(await meta.process.exited).toEqual({ code: 0, signal: null });
        await meta.process.waitForLog((line) => line['msg'] === 'meta stopped');
        expect(await outcome(cluster.call(first, m.stat, { cred: root, at: { path: '/shared/f' } }))).toBe(
          'ok',
        );
      });
    },
  );
}

defineTwoServiceTests('sqlite');
defineTwoServiceTests('postgres');
defineTwoServiceTests('foundationdb');
