// Proves that meta services on PostgreSQL ride out a server restart (a clean shutdown, then a
// crash) while operations run: each operation succeeds or fails with a clear retryable status,
// the services reconnect by themselves, every acknowledged create is there afterwards, and the
// invariant checker passes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { statusName } from '../../../src/common/status-code.js';
import { metaMethods as m, type Credentials } from '../../../src/meta/protocol/index.js';
import {
  postgresAvailability,
  postgresRestartSkipped,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';
import { postgresKvToml } from '../helpers/mgmtd-cluster.js';
import { startMetaCluster, type MetaCluster } from '../helpers/meta-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const root: Credentials = { uid: 0, gid: 0, groups: [] };
const postgres = postgresAvailability();
const skipped = !postgres.available || postgresRestartSkipped(postgres);

/** Statuses that tell the caller "the store was away; try again", and nothing else. */
const retryable = new Set(['Kv.Unavailable', 'Kv.RetriesExhausted', 'Kv.Conflict', 'Rpc.Timeout']);

describe.skipIf(skipped)('meta services while PostgreSQL restarts', () => {
  let world: TestWorld;
  let cluster: MetaCluster;
  let server: PostgresTestServer;

  beforeAll(async () => {
    world = new TestWorld();
    server = await startPostgresTestServer(postgres);
    cluster = await startMetaCluster(world, { metaCount: 2, kvToml: postgresKvToml(server, 'meta_restart') });
  }, 90_000);

  afterAll(async () => {
    await cluster?.rpc.close();
    await world?.cleanup();
    await server?.close();
  });

  it('answers success or a retryable status, reconnects, and loses no acknowledged create', async () => {
    expect(server.controllable).toBe(true);
    const addresses = cluster.metas.map((meta) => meta.address);
    await cluster.call(addresses[0] ?? '', m.mkdirs, { cred: root, at: { path: '/faults' }, mode: 0o755 });
    const acknowledged: string[] = [];
    const failures = new Map<string, number>();
    let running = true;

    const worker = async (workerIndex: number): Promise<void> => {
      for (let sequence = 0; running; sequence++) {
        const path = `/faults/w${workerIndex}-${sequence}`;
        try {
          await cluster.call(addresses[workerIndex % addresses.length] ?? '', m.create, {
            cred: root,
            at: { path },
            mode: 0o644,
            exclusive: true,
            write: false,
          });
          acknowledged.push(path);
        } catch (error) {
          const status = error instanceof FsError ? statusName(error.code) : String(error);
          failures.set(status, (failures.get(status) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

    await settle(700);
    const beforeRestart = acknowledged.length;
    await server.stop('fast');
    await settle(1_000);
    await server.start();
    await settle(1_000);
    // A crash, and an outage longer than the services' retry budget: callers must get a clear,
    // retryable status rather than wait forever.
    await server.stop('immediate');
    await settle(12_000);
    await server.start();
    // The services reconnect by themselves: creates succeed again without any restart of theirs.
    const afterRestart = acknowledged.length;
    await eventually(
      async () => (acknowledged.length > afterRestart + 10 ? true : undefined),
      30_000,
      'creates again',
    );
    running = false;
    await Promise.all(workers);

    expect(beforeRestart).toBeGreaterThan(0);
    expect(failures.size, 'the long outage reached the callers').toBeGreaterThan(0);
    for (const status of failures.keys())
      expect(retryable.has(status), `unexpected status ${status}`).toBe(true);
    for (const path of acknowledged) {
      const seen = await cluster.call(addresses[1] ?? '', m.stat, { cred: root, at: { path } });
      expect(seen.inode.type).toBe('file');
    }
    const report = await cluster.call(addresses[0] ?? '', m.checkInvariants, {});
    expect(report.problems).toEqual([]);
  });
});
