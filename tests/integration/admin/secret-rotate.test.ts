// Proves a running cluster changes its secret in the README's three steps without a restart: every
// node (mgmtd, meta, three storage services, a FUSE daemon) and a client library process has its
// own secret file, rewritten at each step and picked up on SIGHUP or by the periodic check, while a
// workload writes and reads through a long-lived client, fresh clients and the mount without one
// call failing; `admin secret-rotate status` shows each step taking hold; afterwards a client with
// only the old secret is refused, one with only the new is served, and a storage service restarted
// with only the new secret is brought back by peers that connect to it with the new one.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { FsClient } from '../../../src/client/index.js';
import { secretFingerprint, type ClusterSecrets } from '../../../src/common/cluster-secrets.js';
import { systemClock } from '../../../src/common/clock.js';
import { FsError, describeError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { SecretFileWatcher } from '../../../src/common/secret-file-watcher.js';
import { RpcCode } from '../../../src/common/status-code.js';
import { isMounted } from '../fuse-binding/harness.js';
import { fuseClusterSkipReason, startStorageProcess, writeStorageConfig } from '../helpers/fuse-cluster.js';
import { startMeta, writeMetaConfig } from '../helpers/meta-cluster.js';
import { createChainTable, startMgmtd, writeMgmtdConfig } from '../helpers/mgmtd-cluster.js';
import { TestWorld, eventually, type RunningProcess } from '../helpers/processes.js';
import { storageTimings } from '../helpers/storage-cluster.js';

const skipReason = fuseClusterSkipReason('secret rotation test');

const oldSecret = 'the-old-cluster-secret-0123456789';
const newSecret = 'the-new-cluster-secret-9876543210';
const oldPrint = secretFingerprint(oldSecret);
const newPrint = secretFingerprint(newSecret);

/** The three steps of the README, as the lines of every secret file. */
const steps = [
  { name: 'accept the new secret', secrets: [oldSecret, newSecret] },
  { name: 'connect with the new secret', secrets: [newSecret, oldSecret] },
  { name: 'drop the old secret', secrets: [newSecret] },
] as const;

const storageIds = [11, 12, 13] as const;
/** Processes told by SIGHUP; the others find the change by their periodic check. */
const toldBySighup: ReadonlySet<string> = new Set(['mgmtd', 'meta', 'storage-11']);

interface StatusJson {
  secrets: Array<{ fingerprint: string; current: number; accepted: number; refused: number }>;
  nodes: Array<{ nodeId: number; secrets: Array<{ fingerprint: string; result: string }> }>;
}

interface Workload {
  failures: string[];
  counts: { client: number; fresh: number; fuse: number };
  stop(): Promise<void>;
}

describe.skipIf(skipReason !== undefined)('rotating the cluster secret of a running cluster', () => {
  const world = new TestWorld();
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await world.cleanup();
  }, 60_000);

  it('goes through the three steps under a workload with no call failing, and refuses the old secret after', async () => {
    const dir = world.tempDir('3fs-rotate-');
    const secretsDir = join(dir, 'secrets');
    mkdirSync(secretsDir, { mode: 0o700 });
    const names = ['mgmtd', 'meta', ...storageIds.map((id) => `storage-${id}`), 'fuse', 'client', 'admin'];
    const fileOf = (name: string): string => join(secretsDir, name);
    const writeSecrets = (name: string, secrets: readonly string[]): void =>
      writeFileSync(fileOf(name), `${secrets.join('\n')}\n`, { mode: 0o600 });
    for (const name of names) writeSecrets(name, [oldSecret]);
    const bothFile = join(secretsDir, 'both');
    writeFileSync(bothFile, `${oldSecret}\n${newSecret}\n`, { mode: 0o600 });

    // --- the cluster, each process on its own secret file
    const databasePath = join(dir, 'meta.db');
    const mgmtdConfig = writeMgmtdConfig({
      dir,
      nodeId: 1,
      secretFile: fileOf('mgmtd'),
      databasePath,
      timings: storageTimings,
    });
    const init = await world.runBinary('admin', [
      '--config',
      mgmtdConfig,
      'init-cluster',
      '--chunk-size',
      String(64 * 1024),
      '--stripe',
      '2',
    ]);
    expect(init.code, init.stderr).toBe(0);
    const mgmtd = await startMgmtd(world, mgmtdConfig);
    await mgmtd.process.waitForLog((line) => line['msg'] === 'became primary');
    const metaConfig = writeMetaConfig({
      dir,
      nodeId: 2,
      secretFile: fileOf('meta'),
      databasePath,
      mgmtdAddress: mgmtd.address,
    });
    const storageConfigs = storageIds.map((nodeId) =>
      writeStorageConfig({
        dir,
        nodeId,
        secretFile: fileOf(`storage-${nodeId}`),
        mgmtdAddress: mgmtd.address,
        listen: '127.0.0.1:0',
      }),
    );
    const [meta, ...storage] = await Promise.all([
      startMeta(world, metaConfig).then((started) => started.process),
      ...storageConfigs.map((config) => startStorageProcess(world, config)),
    ]);
    const created = await createChainTable(world, {
      mgmtdAddress: mgmtd.address,
      secretFile: fileOf('admin'),
      replicas: 3,
    });
    expect(created.code, created.stderr).toBe(0);
    const processes = new Map<string, RunningProcess>([
      ['mgmtd', mgmtd.process],
      ['meta', meta as RunningProcess],
      ...storageIds.map((id, index) => [`storage-${id}`, storage[index] as RunningProcess] as const),
    ]);

    // The client library process follows its own file as the daemons do (faster, to keep the test short).
    const clientSecrets = new SecretFileWatcher({
      path: fileOf('client'),
      clock: systemClock,
      logger: silentLogger(),
      intervalMs: 250,
    });
    clientSecrets.start();
    cleanups.push(async () => clientSecrets.stop());
    // Warnings of the clients of this process: a refused connection would show here even when a
    // read went on to another replica.
    const clientWarnings: string[] = [];
    const clientLogger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          clientWarnings.push(chunk.toString('utf8'));
          done();
        },
      }),
    );
    const connectClient = (
      clusterSecret: string | ClusterSecrets,
      logger = clientLogger,
    ): Promise<FsClient> =>
      FsClient.connect({
        mgmtdAddresses: [mgmtd.address],
        clusterSecret,
        logger,
        tuning: { routingRefreshMs: undefined },
      });
    const client = await connectClient(clientSecrets.secrets);
    cleanups.push(() => client.close());
    await waitUntilServing(client);

    const mountPoint = join(dir, 'mnt');
    mkdirSync(mountPoint, { mode: 0o755 });
    const fuse = await mountFuse({
      world,
      dir,
      mountPoint,
      mgmtdAddress: mgmtd.address,
      secretFile: fileOf('fuse'),
    });
    cleanups.push(() => unmount(fuse, mountPoint));
    processes.set('fuse', fuse);
    await client.mkdir('/work');

    // --- the three steps under the workload
    const workload = startWorkload({
      client,
      mountPoint,
      connectFresh: () => connectClient(clientSecrets.secrets),
    });
    cleanups.push(() => workload.stop());
    const status = async (): Promise<StatusJson> => {
      const run = await world.runBinary('admin', [
        '--mgmtd',
        mgmtd.address,
        '--secret-file',
        fileOf('admin'),
        '--json',
        'secret-rotate',
        'status',
        '--also',
        bothFile,
      ]);
      if (run.code !== 0) throw new Error(`admin secret-rotate status failed: ${run.stderr}`);
      return JSON.parse(run.stdout) as StatusJson;
    };
    const servers = 2 + storageIds.length;
    const countsOf = (report: StatusJson, print: string) =>
      report.secrets.find((secret) => secret.fingerprint === print);

    for (const [index, step] of steps.entries()) {
      for (const name of names) writeSecrets(name, step.secrets);
      for (const name of toldBySighup) processes.get(name)?.child.kill('SIGHUP');
      const accepting = step.secrets.map(secretFingerprint);
      const took = (line: Record<string, unknown>): boolean =>
        line['msg'] === 'cluster secrets reloaded: new connections use them, established ones stay' &&
        JSON.stringify(line['accepting']) === JSON.stringify(accepting);
      // Every process, told or not, takes the step within the periodic check.
      await Promise.all([...processes.values()].map((running) => running.waitForLog(took, 10_000)));
      await eventually(
        async () => (clientSecrets.secrets.holds(step.secrets) ? true : undefined),
        5_000,
        'the client',
      );
      const report = await status();
      const oldCounts = countsOf(report, oldPrint);
      const newCounts = countsOf(report, newPrint);
      expect(report.nodes, step.name).toHaveLength(servers);
      if (index === 0) {
        expect(newCounts, step.name).toMatchObject({ accepted: servers, current: 0 });
        expect(oldCounts, step.name).toMatchObject({ accepted: servers, current: servers });
      } else if (index === 1) {
        expect(newCounts, step.name).toMatchObject({ accepted: servers, current: servers });
        expect(oldCounts, step.name).toMatchObject({ accepted: servers, current: 0 });
      } else {
        expect(newCounts, step.name).toMatchObject({ accepted: servers, current: servers });
        expect(oldCounts, step.name).toMatchObject({ accepted: 0, refused: servers });
      }
      // The workload runs on through every step: fresh connections are made in each.
      const freshBefore = workload.counts.fresh;
      await eventually(
        async () => (workload.counts.fresh >= freshBefore + 2 ? true : undefined),
        10_000,
        `fresh clients during step ${index + 1}`,
      );
    }
    for (const name of toldBySighup) {
      const running = processes.get(name);
      await running?.waitForLog(
        (line) => line['msg'] === 'SIGHUP: reading the cluster secret file again',
        1_000,
      );
    }
    await workload.stop();
    expect(workload.failures).toEqual([]);
    expect(workload.counts.client).toBeGreaterThan(5);
    expect(workload.counts.fresh).toBeGreaterThan(5);
    expect(workload.counts.fuse).toBeGreaterThan(5);

    // --- afterwards: the old secret alone is refused, the new one alone is served
    const refused = await connectClient(oldSecret, silentLogger()).then(
      async (unexpected) => {
        await unexpected.close();
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(refused, 'a client holding only the old secret').toBeInstanceOf(FsError);
    expect((refused as FsError).code).toBe(RpcCode.AuthFailed);
    const fresh = await connectClient(newSecret);
    cleanups.push(() => fresh.close());
    const written = randomBytes(150_000);
    await fresh.writeFile('/work/after-rotation', written);
    expect((await fresh.readFile('/work/after-rotation')).equals(written)).toBe(true);
    expect((await readFile(join(mountPoint, 'work', 'after-rotation'))).equals(written)).toBe(true);

    // A storage service restarted with only the new secret serves again: its peers, the FUSE
    // daemon and the clients reach it with the secret they took, not the one they started with.
    const restarted = processes.get('storage-13');
    restarted?.child.kill('SIGTERM');
    await restarted?.exited;
    processes.set('storage-13', await startStorageProcess(world, storageConfigs[2] as string));
    await waitUntilServing(fresh, 30_000);
    // Seven chunks: reads go round the replicas, so each reader reaches the restarted one.
    const afterRestart = randomBytes(7 * 64 * 1024);
    await fresh.writeFile('/work/after-restart', afterRestart);
    expect((await fresh.readFile('/work/after-restart')).equals(afterRestart)).toBe(true);
    expect((await client.readFile('/work/after-restart')).equals(afterRestart)).toBe(true);
    expect((await readFile(join(mountPoint, 'work', 'after-restart'))).equals(afterRestart)).toBe(true);
    const refusedLines = [
      ...clientWarnings,
      ...[...processes.values()].flatMap((running) => running.stderr().split('\n')),
    ].filter((line) => line.includes('refused the connection'));
    expect(refusedLines).toEqual([]);
  }, 120_000);
});

/** Waits until routing info shows every chain serving on every target and meta online. */
async function waitUntilServing(client: FsClient, timeoutMs = 60_000): Promise<void> {
  await eventually(
    async () => {
      const routing = await client.routing.refresh();
      const serving =
        routing.chains.length > 0 &&
        routing.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving'));
      return serving && routing.nodes.some((node) => node.type === 'meta' && node.status === 'online')
        ? true
        : undefined;
    },
    timeoutMs,
    'every chain serving and meta online',
  );
}

/** Mounts with hf3fs_fuse_main on its own secret file and waits for its "fuse mounted" line. */
async function mountFuse(options: {
  world: TestWorld;
  dir: string;
  mountPoint: string;
  mgmtdAddress: string;
  secretFile: string;
}): Promise<RunningProcess> {
  const config = join(options.dir, 'fuse.toml');
  writeFileSync(
    config,
    `[node]
id = 200

[cluster]
id = "test"
secret_file = "${options.secretFile}"

[mgmtd]
addresses = ["${options.mgmtdAddress}"]
heartbeat_interval_ms = ${storageTimings.heartbeatIntervalMs}

[fuse]
mount_point = "${options.mountPoint}"
allow_other = false
`,
  );
  const fuse = options.world.spawnBinary('hf3fs_fuse_main', ['--config', config]);
  try {
    await fuse.waitForLog((line) => line['msg'] === 'fuse mounted', 30_000);
  } catch (error) {
    await unmount(fuse, options.mountPoint);
    throw error;
  }
  return fuse;
}

/** Stops the FUSE daemon (SIGTERM, then SIGKILL) and makes sure nothing stays mounted. */
async function unmount(fuse: RunningProcess, mountPoint: string): Promise<void> {
  if (fuse.child.exitCode === null && fuse.child.signalCode === null) {
    fuse.child.kill('SIGTERM');
    const timer = setTimeout(() => fuse.child.kill('SIGKILL'), 15_000);
    await fuse.exited;
    clearTimeout(timer);
  }
  if (isMounted(mountPoint)) spawnSync('fusermount3', ['-u', '-z', mountPoint], { timeout: 10_000 });
  if (isMounted(mountPoint)) spawnSync('umount', ['-l', mountPoint], { timeout: 10_000 });
}

/**
 * Writes and reads back files without pause through three paths: a client connected before the
 * rotation (its connections stay), a fresh client per round (new connections in every step), and
 * the FUSE mount. Every failure is recorded, none ends the loops.
 */
function startWorkload(options: {
  client: FsClient;
  mountPoint: string;
  connectFresh: () => Promise<FsClient>;
}): Workload {
  const failures: string[] = [];
  const counts = { client: 0, fresh: 0, fuse: 0 };
  let stopping = false;
  const roundTrip = async (what: string, run: (data: Buffer) => Promise<Buffer>): Promise<boolean> => {
    const data = randomBytes(40_000 + Math.floor(Math.random() * 160_000));
    try {
      const back = await run(data);
      if (back.equals(data)) return true;
      failures.push(`${what}: read back other bytes`);
    } catch (error) {
      failures.push(`${what}: ${describeError(error)}`);
    }
    return false;
  };
  const loop = async (kind: keyof typeof counts, run: (round: number, data: Buffer) => Promise<Buffer>) => {
    for (let round = 0; !stopping; round++) {
      if (await roundTrip(`${kind} round ${round}`, (data) => run(round, data))) counts[kind] += 1;
    }
  };
  const loops = [
    loop('client', async (round, data) => {
      await options.client.writeFile(`/work/client-${round}`, data);
      return options.client.readFile(`/work/client-${round}`);
    }),
    loop('fresh', async (round, data) => {
      const fresh = await options.connectFresh();
      try {
        await fresh.writeFile(`/work/fresh-${round}`, data);
        return await fresh.readFile(`/work/fresh-${round}`);
      } finally {
        await fresh.close();
      }
    }),
    loop('fuse', async (round, data) => {
      const path = join(options.mountPoint, 'work', `fuse-${round}`);
      await writeFile(path, data);
      return readFile(path);
    }),
  ];
  let stopped: Promise<void> | undefined;
  return {
    failures,
    counts,
    stop() {
      stopping = true;
      stopped ??= Promise.all(loops).then(() => undefined);
      return stopped;
    },
  };
}
