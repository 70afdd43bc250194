/**
 * `3fs local`: a whole cluster on one machine with the embedded metadata engine (DESIGN §10):
 * mgmtd, one meta service, three storage services with one target each and a chain table of
 * replication 3, the monitor collector, and (with --mount) the FUSE daemon mounted on a
 * directory. It prepares the data directory on the first run (local-cluster-config.ts), waits for
 * each stage to be ready, prints what runs where, and on SIGINT/SIGTERM unmounts first, then stops
 * the services in order. A second run on the same data directory finds the same files.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsClient, MgmtdClient } from '../client/index.js';
import { systemClock } from '../common/clock.js';
import { readSecretFile } from '../common/config.js';
import { FsError, describeError } from '../common/errors.js';
import { silentLogger } from '../common/logger.js';
import { CommonCode } from '../common/status-code.js';
import { mgmtdMethods, type RoutingInfo } from '../mgmtd/index.js';
import { RpcClient } from '../rpc/index.js';
import {
  localReplicas,
  prepareLocalCluster,
  type LocalClusterOptions,
  type LocalLayout,
} from './local-cluster-config.js';
import { LocalServices, detachMount, type LocalService } from './local-services.js';

export { prepareLocalCluster, type LocalClusterOptions, type LocalLayout } from './local-cluster-config.js';

export interface LocalRunOptions extends LocalClusterOptions {
  /** Where to mount; no mount when absent. */
  mount?: string;
}

const binDir = dirname(fileURLToPath(import.meta.url));
const chainTableId = 1;
/** Deadlines of the start-up stages. */
const startMsMax = 60_000;
const mountMsMax = 30_000;
/** How long each stop stage may take before its processes are killed. */
const stopFuseMsMax = 30_000;
const stopServicesMsMax = 15_000;
const pollMs = 200;

/** Thrown into a start-up wait when a stop was asked for or a service died. */
class StartAborted extends Error {}

/** Runs the local cluster until SIGINT/SIGTERM; returns the exit code. */
export async function runLocalCluster(
  options: LocalRunOptions,
  write: (text: string) => void,
): Promise<number> {
  const mount = options.mount === undefined ? undefined : resolve(options.mount);
  const layout = prepareLocalCluster({ ...options, allowOther: mayAllowOther() });
  if (mount !== undefined) mkdirSync(mount, { recursive: true });
  let abortReason: string | undefined;
  let fatal = false;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolveStopped) => (wake = resolveStopped));
  const requestStop = (reason: string, failed: boolean): void => {
    fatal ||= failed;
    if (abortReason !== undefined) return;
    abortReason = reason;
    write(`${reason}\n`);
    wake();
  };
  const services = new LocalServices(binDir, (service, code, signal) => {
    const what = `${service.name} exited unexpectedly (code ${code ?? '-'}, signal ${signal ?? '-'})`;
    // Without mgmtd or the mount the cluster is of no use; a storage or meta service is missed
    // but the cluster goes on (the chain keeps serving from the other replicas).
    if (service.name === 'mgmtd' || service.name === 'fuse')
      requestStop(`${what}; stopping everything`, true);
    else write(`${what}; the cluster goes on without it\n`);
  });
  const onSignal = (signal: string): void => {
    if (abortReason !== undefined) {
      write(`${signal} again: killing everything\n`);
      services.killAll();
      process.exit(1);
    }
    requestStop(`${signal}: stopping the local cluster`, false);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const rpc = new RpcClient({ clusterSecret: readSecretFile(layout.secretFile), logger: silentLogger() });
  const started: Started = { core: [], data: [], fuse: undefined };
  try {
    await start(layout, mount, services, rpc, started, () => abortReason);
    write(summary(layout, mount));
    await stopped;
  } catch (error) {
    if (!(error instanceof StartAborted)) requestStop(`start-up failed: ${describeError(error)}`, true);
  } finally {
    await rpc.close();
  }
  const clean = await stopAll(services, started, mount, write);
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  write(clean && !fatal ? 'local cluster stopped\n' : 'local cluster stopped with errors\n');
  return clean && !fatal ? 0 : 1;
}

interface Started {
  core: LocalService[];
  data: LocalService[];
  fuse: LocalService | undefined;
}

async function start(
  layout: LocalLayout,
  mount: string | undefined,
  services: LocalServices,
  rpc: RpcClient,
  started: Started,
  aborted: () => string | undefined,
): Promise<void> {
  if (layout.fresh) {
    const code = await services.run('admin', ['--config', layout.mgmtd.config, 'init-cluster'], 30_000);
    if (code !== 0) throw new FsError(CommonCode.Internal, `admin init-cluster failed (exit code ${code})`);
    writeFileSync(layout.initializedMarker, `${new Date().toISOString()}\n`);
  }
  started.core.push(services.start('mgmtd', 'mgmtd_main', ['--config', layout.mgmtd.config]));
  started.core.push(services.start('monitor', 'monitor_collector_main', ['--config', layout.monitor.config]));
  const mgmtd = new MgmtdClient({
    addresses: [layout.mgmtd.address],
    rpc,
    clock: systemClock,
    logger: silentLogger(),
    timeoutMs: 2_000,
  });
  await waitFor(
    () => mgmtd.refreshRoutingInfo(),
    () => true,
    'mgmtd to elect itself primary',
    aborted,
  );
  started.data.push(services.start('meta', 'meta_main', ['--config', layout.meta.config]));
  for (const storage of layout.storage) {
    started.data.push(services.start(storage.name, 'storage_main', ['--config', storage.config]));
  }
  await ensureChainTable(mgmtd, layout, aborted);
  await waitFor(
    () => mgmtd.refreshRoutingInfo(),
    (routing) => chainsServing(routing) && metaOnline(routing),
    'the meta service and a serving head in every chain',
    aborted,
  );
  if (layout.fresh) await giveRootDirectory(layout);
  if (mount === undefined) return;
  started.fuse = services.start('fuse', 'hf3fs_fuse_main', [
    '--config',
    layout.fuse.config,
    '--mount-point',
    mount,
  ]);
  await waitFor(
    async () => isMounted(mount),
    (mounted) => mounted,
    `the FUSE mount on ${mount}`,
    aborted,
    mountMsMax,
  );
}

/**
 * A new file system's root directory belongs to root; a user who runs the local cluster gets it,
 * so the file system is theirs to use (as a fresh disk's is after mkfs and chown).
 */
async function giveRootDirectory(layout: LocalLayout): Promise<void> {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  if (uid === 0) return;
  const client = await FsClient.connect({
    mgmtdAddresses: [layout.mgmtd.address],
    clusterSecret: readSecretFile(layout.secretFile),
    credentials: { uid: 0, gid: 0, groups: [] },
    tuning: { routingRefreshMs: undefined },
  });
  try {
    await client.chown('/', uid, gid);
  } finally {
    await client.close();
  }
}

/** Creates the chain table on the first run, once every storage target has registered. */
async function ensureChainTable(mgmtd: MgmtdClient, layout: LocalLayout, aborted: () => string | undefined) {
  const routing = await mgmtd.refreshRoutingInfo();
  if (routing.chainTables.some((table) => table.chainTableId === chainTableId)) return;
  await waitFor(
    () => mgmtd.refreshRoutingInfo(),
    (latest) =>
      layout.storage.every((storage) =>
        latest.targets.some(
          (target) => target.targetId === storage.targetId && target.localState === 'up-to-date',
        ),
      ),
    'every storage target to register',
    aborted,
  );
  await mgmtd.call(mgmtdMethods.createChainTable, {
    chainTableId,
    replicas: localReplicas,
    targetIds: layout.storage.map((storage) => storage.targetId),
  });
}

function chainsServing(routing: RoutingInfo): boolean {
  const table = routing.chainTables.find((candidate) => candidate.chainTableId === chainTableId);
  if (table === undefined || table.chains.length === 0) return false;
  return table.chains.every((chainId) => {
    const chain = routing.chains.find((candidate) => candidate.chainId === chainId);
    return chain?.targets[0]?.publicState === 'serving';
  });
}

function metaOnline(routing: RoutingInfo): boolean {
  return routing.nodes.some((node) => node.type === 'meta' && node.status === 'online');
}

/** Polls `probe` until `ready` holds for its value; fails at the deadline or when aborted. */
async function waitFor<T>(
  probe: () => Promise<T>,
  ready: (value: T) => boolean,
  what: string,
  aborted: () => string | undefined,
  timeoutMs = startMsMax,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (aborted() !== undefined) throw new StartAborted(aborted());
    try {
      const value = await probe();
      if (ready(value)) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError === undefined ? '' : ` (last error: ${describeError(lastError)})`;
      throw new FsError(CommonCode.Internal, `timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolveSleep) => setTimeout(resolveSleep, pollMs));
  }
}

/** True when this user may mount with allow_other (root, or user_allow_other in /etc/fuse.conf). */
function mayAllowOther(): boolean {
  if (process.geteuid?.() === 0) return true;
  try {
    return /^\s*user_allow_other\s*$/m.test(readFileSync('/etc/fuse.conf', 'utf8'));
  } catch {
    return false;
  }
}

/** True when `path` is a mount point in this process's mount namespace. */
export function isMounted(path: string): boolean {
  const escaped = path.replace(/ /g, '\\040');
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

/** Unmount first (the FUSE daemon flushes what it buffered), then meta and storage, then the rest. */
async function stopAll(
  services: LocalServices,
  started: Started,
  mount: string | undefined,
  write: (text: string) => void,
): Promise<boolean> {
  let clean = true;
  if (started.fuse !== undefined) {
    clean = (await services.stop([started.fuse], stopFuseMsMax)) && clean;
    if (mount !== undefined && existsSync(mount) && isMounted(mount)) {
      write(`${mount} is still mounted; detaching it\n`);
      await detachMount(mount);
      clean = false;
    }
  }
  clean = (await services.stop(started.data, stopServicesMsMax)) && clean;
  clean = (await services.stop(started.core, stopServicesMsMax)) && clean;
  return clean;
}

function summary(layout: LocalLayout, mount: string | undefined): string {
  const admin = `node ${join(binDir, 'admin.js')} --config ${layout.mgmtd.config}`;
  const storage = layout.storage.map((entry) => `${entry.address} (target ${entry.targetId})`).join(', ');
  return (
    `local cluster "${layout.clusterId}" is up; data in ${layout.dataDir}\n` +
    `  mgmtd:   ${layout.mgmtd.address}\n` +
    `  meta:    ${layout.meta.address}\n` +
    `  storage: ${storage}; one chain of ${localReplicas} replicas\n` +
    `  monitor: ${layout.monitor.dashboard} (dashboard; Prometheus text at /metrics)\n` +
    (mount === undefined
      ? '  mount:   none (pass --mount DIR to mount the file system)\n'
      : `  mount:   ${mount}\n`) +
    `  try:     ${admin} list-chains\n` +
    `           ${admin} ls /\n` +
    '  Ctrl-C unmounts and stops everything\n'
  );
}
