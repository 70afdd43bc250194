/**
 * `3fs local`: a whole cluster on one machine with the embedded metadata engine (DESIGN §10):
 * mgmtd, one meta service, three storage services with one target each and a chain table of
 * replication 3, the monitor collector, (with --mount) the FUSE daemon mounted on a directory,
 * (with --nfs PORT) the NFS gateway and (with --s3 PORT) the S3 gateway on those ports of
 * 127.0.0.1. It prepares the data directory on the first run (local-cluster-config.ts), clears a
 * dead mount an earlier run left on the mount point, waits for each stage to be ready, and prints
 * what runs where. It supervises what it started (local-services.ts): a service that dies is
 * reported and restarted with backoff, and one that keeps dying stops the cluster. On SIGINT or
 * SIGTERM it unmounts and stops the gateways first, then stops the services in order, each stage
 * bounded; a mount still there after the FUSE daemon stopped is detached lazily. A second signal
 * kills everything at once. A second run on the same data directory finds the same files.
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsClient } from '../client/index.js';
import { MgmtdClient } from '../cluster/index.js';
import { systemClock } from '../common/clock.js';
import { readSecretFile, splitAddress } from '../common/config.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
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
import { ensureLocalS3Key, s3Summary, type LocalS3 } from './local-s3.js';
import { ensureLocalTokens } from './local-users.js';
import { clearDeadMount, isMounted, mountUsers } from './local-mount.js';
import {
  LocalServices,
  describeExit,
  detachMount,
  localRestartLimits,
  type LocalService,
  type ServiceEvent,
} from './local-services.js';

export { prepareLocalCluster, type LocalClusterOptions, type LocalLayout } from './local-cluster-config.js';
export { isMounted } from './local-mount.js';

export interface LocalRunOptions extends LocalClusterOptions {
  /** Where to mount; no mount when absent. */
  mount?: string;
}

const binDir = dirname(fileURLToPath(import.meta.url));
const chainTableId = 1;
/** Deadlines of the start-up stages. */
const startMsMax = 60_000;
const mountMsMax = 30_000;
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
  if (mount !== undefined) {
    try {
      await clearDeadMount(mount, write);
    } catch (error) {
      write(`${describeError(error)}\n`);
      return 1;
    }
    mkdirSync(mount, { recursive: true });
  }
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
  const services = new LocalServices(binDir, (event) => {
    const stop = reportServiceEvent(event, write);
    if (stop !== undefined) requestStop(stop.reason, stop.failed);
  });
  const onSignal = (signal: string): void => {
    if (abortReason !== undefined) {
      write(`${signal} again: killing everything\n`);
      services.killAll();
      if (mount !== undefined) detachMountNow(mount, write);
      process.exit(1);
    }
    requestStop(`${signal}: stopping the local cluster`, false);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const rpc = new RpcClient({ clusterSecret: readSecretFile(layout.secretFile), logger: silentLogger() });
  const started: Started = { core: [], data: [], fuse: undefined, nfs: undefined, s3: undefined };
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
  nfs: LocalService | undefined;
  s3: LocalService | undefined;
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
  await ensureLocalTokens(mgmtd, layout.tokens);
  if (layout.nfs !== undefined) await startNfs(layout.nfs, services, started, aborted);
  if (layout.s3 !== undefined) await startS3(layout, layout.s3, services, started, aborted);
  if (mount === undefined) return;
  // The FUSE daemon exits with status 0 only when its mount was removed from outside: the user
  // unmounted it, which ends the cluster rather than bringing the mount back.
  started.fuse = services.start(
    'fuse',
    'hf3fs_fuse_main',
    ['--config', layout.fuse.config, '--mount-point', mount],
    { cleanExitEnds: true },
  );
  await waitFor(
    async () => isMounted(mount),
    (mounted) => mounted,
    `the FUSE mount on ${mount}`,
    aborted,
    mountMsMax,
  );
}

/** Starts the NFS gateway and waits until it answers on its port. */
async function startNfs(
  nfs: NonNullable<LocalLayout['nfs']>,
  services: LocalServices,
  started: Started,
  aborted: () => string | undefined,
): Promise<void> {
  started.nfs = services.start('nfs', 'nfs_gateway_main', ['--config', nfs.config]);
  const { host, port } = splitAddress(nfs.address);
  await waitFor(
    () => portAnswers(host, port),
    (answers) => answers,
    `the NFS gateway on ${nfs.address}`,
    aborted,
  );
}

/** Makes the local user's S3 key (first run), starts the S3 gateway and waits until it answers. */
async function startS3(
  layout: LocalLayout,
  s3: LocalS3,
  services: LocalServices,
  started: Started,
  aborted: () => string | undefined,
): Promise<void> {
  await ensureLocalS3Key({ s3, mgmtdAddress: layout.mgmtd.address, secretFile: layout.secretFile });
  started.s3 = services.start('s3', 's3_gateway_main', ['--config', s3.config]);
  const { host, port } = splitAddress(s3.address);
  await waitFor(
    () => portAnswers(host, port),
    (answers) => answers,
    `the S3 gateway on ${s3.address}`,
    aborted,
  );
}

/** Whether something accepts connections on `host:port` (bounded). */
function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = connect({ host, port });
    const done = (answers: boolean): void => {
      socket.destroy();
      resolveProbe(answers);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
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

/** Says what happened to a service; returns why the cluster must stop, when it must. */
function reportServiceEvent(
  event: ServiceEvent,
  write: (text: string) => void,
): { reason: string; failed: boolean } | undefined {
  const { service } = event;
  const windowS = localRestartLimits.windowMs / 1000;
  switch (event.kind) {
    case 'restarting':
      write(
        `${service.name} (pid ${service.child.pid}) died: ${describeExit(event.exit)}; restarting it in ` +
          `${event.delayMs / 1000} s (restart ${event.restartsInWindow + 1} of at most ` +
          `${localRestartLimits.restartsMax} within ${windowS} s)\n`,
      );
      return undefined;
    case 'restarted':
      write(`${service.name} restarted (pid ${service.child.pid})\n`);
      return undefined;
    case 'gave-up':
      return {
        reason:
          `${service.name} (pid ${service.child.pid}) died: ${describeExit(event.exit)}, after ` +
          `${event.restartsInWindow} restarts within ${windowS} s; stopping the local cluster`,
        failed: true,
      };
    case 'ended':
      // Someone unmounted the file system: a wish to stop, not a failure.
      return {
        reason: `${service.name} exited: its mount was removed from outside; stopping the local cluster`,
        failed: false,
      };
  }
}

/**
 * Unmount first (the FUSE daemon flushes what it buffered), then meta and storage, then the rest,
 * each stage bounded; a mount still there after its daemon stopped is detached lazily. Returns
 * whether everything stopped cleanly, having said what did not.
 */
async function stopAll(
  services: LocalServices,
  started: Started,
  mount: string | undefined,
  write: (text: string) => void,
): Promise<boolean> {
  const failed: string[] = [];
  // The gateway first, with the mount: both send what they buffered to meta and storage.
  const gateways = [started.nfs, started.s3].filter(
    (service): service is LocalService => service !== undefined,
  );
  if (gateways.length > 0) failed.push(...(await services.stop(gateways, limits.localStopFuseMsMax)));
  if (started.fuse !== undefined && mount !== undefined) {
    const users = mountUsers(mount);
    if (users.length > 0) {
      write(
        `${mount} is still in use by ${users.length} process(es) (pid ${users.join(', ')}); ` +
          'unmounting it lazily: they lose access to it\n',
      );
    }
    failed.push(...(await services.stop([started.fuse], limits.localStopFuseMsMax)));
    if (isMounted(mount)) {
      write(`${mount} is still mounted after the FUSE daemon stopped; detaching it lazily\n`);
      if (!(await detachMount(mount))) failed.push(`the mount (run "fusermount3 -u -z ${mount}")`);
    }
  }
  failed.push(...(await services.stop(started.data, limits.localStopServicesMsMax)));
  failed.push(...(await services.stop(started.core, limits.localStopServicesMsMax)));
  if (failed.length > 0) write(`not stopped cleanly: ${failed.join(', ')}\n`);
  return failed.length === 0;
}

/** For an exit that cannot wait: detaches the mount lazily (bounded), saying so when it fails. */
function detachMountNow(mount: string, write: (text: string) => void): void {
  if (!isMounted(mount)) return;
  const detached =
    spawnSync('fusermount3', ['-u', '-z', '--', mount], { timeout: 5_000 }).status === 0 ||
    (process.geteuid?.() === 0 && spawnSync('umount', ['-l', mount], { timeout: 5_000 }).status === 0);
  write(detached ? `detached ${mount}\n` : `could not detach ${mount}: run "fusermount3 -u -z ${mount}"\n`);
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
    `  tokens:  ${dirname(layout.tokens.local)}/{admin,fuse,gateway,user}.token (user.token: yours, for the client library)\n` +
    (mount === undefined
      ? '  mount:   none (pass --mount DIR to mount the file system)\n'
      : `  mount:   ${mount}\n`) +
    (layout.nfs === undefined ? '' : nfsSummary(layout.nfs.address)) +
    (layout.s3 === undefined ? '' : s3Summary(layout.s3)) +
    `  try:     ${admin} list-chains\n` +
    `           ${admin} ls /\n` +
    '  a service that dies is restarted; Ctrl-C unmounts and stops everything\n'
  );
}

/** The NFS lines of the summary: where it answers and how to reach it. */
function nfsSummary(address: string): string {
  const { port } = splitAddress(address);
  return (
    `  nfs:     ${address} (NFSv3 with MOUNT, and NFSv4.0, on this one port)\n` +
    `           nfs-ls "nfs://127.0.0.1/?version=3&nfsport=${port}&mountport=${port}"\n` +
    `           mount -t nfs -o vers=3,proto=tcp,port=${port},mountport=${port},mountproto=tcp,nolock 127.0.0.1:/ /mnt\n`
  );
}
