// Proves that meta_main on sqlite with a commit interval acknowledges a create only once it survives the death of the process: four concurrent creators storm one namespace through the client library, meta_main is killed with SIGKILL in the middle (long before its commit interval would have synced anything), restarted on the same address, and every create acknowledged before the kill (and after it) is there, the namespace invariant checker finds nothing wrong, and syncMetadata answers through the restarted service.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FsClient } from '../../../src/client/index.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import { sqliteKvToml } from '../helpers/mgmtd-cluster.js';
import {
  connectRootClient,
  startMeta,
  startMetaCluster,
  writeMetaConfig,
  type MetaCluster,
  type MetaProcess,
} from '../helpers/meta-cluster.js';
import { closedPort } from '../helpers/monitor-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const creators = 4;
/** Longer than the test: no interval sync happens before the kill, only what the page cache holds survives it. */
const commitIntervalMs = 60_000;
const stormBeforeKillMs = 1_500;
const stormAfterRestartMs = 1_000;

let world: TestWorld;
let cluster: MetaCluster | undefined;
let client: FsClient | undefined;

beforeEach(() => {
  world = new TestWorld();
});

afterEach(async () => {
  await client?.close().catch(() => {});
  client = undefined;
  await cluster?.rpc.close();
  cluster = undefined;
  // Kills every process the test started (SIGKILL by PID) and removes the directories.
  await world.cleanup();
}, 30_000);

/** Writes a meta config on a fixed port, so that a restart comes back where clients look for it. */
async function writeFixedPortMetaConfig(started: MetaCluster): Promise<string> {
  const configPath = writeMetaConfig({
    dir: started.dir,
    nodeId: 50,
    secretFile: started.secretFile,
    databasePath: started.databasePath,
    mgmtdAddress: started.mgmtdAddress,
    kvToml: `${sqliteKvToml(started.databasePath, 'interval')}\ncommit_interval_ms = ${commitIntervalMs}`,
  });
  const port = await closedPort();
  const text = readFileSync(configPath, 'utf8');
  writeFileSync(configPath, text.replace('listen = "127.0.0.1:0"', `listen = "127.0.0.1:${port}"`));
  return configPath;
}

/** One creator: creates files in its own directory until stopped, recording each acknowledged one. */
async function create(
  fs: FsClient,
  index: number,
  acknowledged: Set<string>,
  failures: string[],
  running: { stop: boolean },
): Promise<void> {
  for (let sequence = 0; !running.stop; sequence++) {
    const path = `/storm/c${index}/f${sequence}`;
    try {
      const file = await fs.open(path, { create: true, exclusive: true, read: true, write: false });
      acknowledged.add(path);
      await file.close();
    } catch (error) {
      // A create cut off by the kill may fail; it was never acknowledged, so nothing is owed.
      failures.push(`${path}: ${String(error)}`);
    }
  }
}

describe('meta_main killed during a create storm', () => {
  it('keeps every acknowledged create and a sound namespace across SIGKILL and restart', async () => {
    cluster = await startMetaCluster(world, { metaCount: 0 });
    const configPath = await writeFixedPortMetaConfig(cluster);
    let meta: MetaProcess = await startMeta(world, configPath);
    client = await connectRootClient([cluster.mgmtdAddress]);
    const fs = client;
    for (let index = 0; index < creators; index++) await fs.mkdir(`/storm/c${index}`, { recursive: true });

    const acknowledged = new Set<string>();
    const failures: string[] = [];
    const running = { stop: false };
    const storm = Promise.all(
      Array.from({ length: creators }, (_, index) => create(fs, index, acknowledged, failures, running)),
    );
    await new Promise((resolve) => setTimeout(resolve, stormBeforeKillMs));
    const acknowledgedBeforeKill = new Set(acknowledged);
    meta.process.child.kill('SIGKILL');
    const exit = await meta.process.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(acknowledgedBeforeKill.size).toBeGreaterThan(creators * 10);

    meta = await startMeta(world, configPath);
    await new Promise((resolve) => setTimeout(resolve, stormAfterRestartMs));
    running.stop = true;
    await storm;

    const present = new Set<string>();
    for (let index = 0; index < creators; index++) {
      for (const entry of await fs.readdir(`/storm/c${index}`)) present.add(`/storm/c${index}/${entry.name}`);
    }
    const lostBeforeKill = [...acknowledgedBeforeKill].filter((path) => !present.has(path));
    expect(lostBeforeKill, 'creates acknowledged before the kill').toEqual([]);
    const lost = [...acknowledged].filter((path) => !present.has(path));
    expect(lost, 'creates acknowledged at any time').toEqual([]);
    // The storm went on after the restart: the service came back and served it.
    expect(acknowledged.size).toBeGreaterThan(acknowledgedBeforeKill.size);
    // Request ids make a create retried after the kill succeed once, never fail as "exists".
    expect(failures.filter((failure) => failure.includes('Exists'))).toEqual([]);

    const check = await cluster.call(meta.address, m.checkInvariants, {});
    expect(check.problems).toEqual([]);
    expect(check.truncated).toBe(false);
    expect(check.inodes).toBeGreaterThanOrEqual(acknowledged.size);
    expect(await fs.meta.call(m.syncMetadata, { cred: { uid: 0, gid: 0, groups: [] } })).toEqual({});
  }, 120_000);
});
