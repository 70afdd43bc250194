// Proves that through the mount, a write to a file opened O_SYNC or O_DSYNC returns only once every
// replica synced it (each storage target's sync counter moves during the write), that fsync(2)
// syncs them too, and that an ordinary write does not (storage runs with sync_writes = false).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import { python } from '../fuse-binding/harness.js';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, startFuseCluster } from '../helpers/fuse-cluster.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('synchronous write tests');

describe.skipIf(skipReason !== undefined)('synchronous writes through the mount', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  const rpc = new RpcClient({ clusterSecret, logger: silentLogger() });
  let addresses: string[] = [];

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world);
    addresses = await Promise.all(
      cluster.storage.map(async (node) => {
        const line = await node.process.waitForLog((entry) => entry['msg'] === 'storage listening');
        return String(line['address']);
      }),
    );
  }, 90_000);

  afterAll(async () => {
    await rpc.close();
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  /** The sum of every target's sync counter. */
  async function syncs(): Promise<number> {
    let total = 0;
    for (const address of addresses) {
      const listed = await rpc.call(address, storageMethods.listTargets, {});
      for (const target of listed.targets) total += target.counters.syncs;
    }
    return total;
  }

  async function writeWith(flags: string, path: string, fsync = false): Promise<number> {
    const before = await syncs();
    const result = await python(
      [
        'import os',
        `fd = os.open(${JSON.stringify(path)}, os.O_CREAT | os.O_WRONLY | ${flags}, 0o644)`,
        'os.write(fd, b"x" * 100000)',
        ...(fsync ? ['os.fsync(fd)'] : []),
        'os.close(fd)',
      ].join('\n'),
    );
    expect(result.stderr).toBe('');
    return (await syncs()) - before;
  }

  it('syncs every replica on each O_SYNC and O_DSYNC write and on fsync, and not otherwise', async () => {
    const mnt = (cluster as FuseCluster).mountPoint;
    expect(await writeWith('0', `${mnt}/plain`)).toBe(0);
    // One chain of three replicas: every write is synced on all three.
    expect(await writeWith('os.O_SYNC', `${mnt}/o-sync`)).toBeGreaterThanOrEqual(3);
    expect(await writeWith('os.O_DSYNC', `${mnt}/o-dsync`)).toBeGreaterThanOrEqual(3);
    expect(await writeWith('0', `${mnt}/fsynced`, true)).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
