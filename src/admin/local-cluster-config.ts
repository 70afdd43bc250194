/**
 * The data directory of `3fs local`: the cluster secret, one TOML config per service, the
 * metadata database and the storage targets. Everything is written on first use and kept, so a
 * second run finds the same cluster (same ports, same node and target ids, same data). The ports
 * chosen on the first run are recorded in etc/local.json and win over later flags.
 *
 * Node ids: mgmtd 1, meta 2, storage 11..13 (target id = node id * 100 + 1), FUSE 200, the NFS
 * gateway 250, the S3 gateway 260, the monitor collector 900. Ports: mgmtd P, meta P+10, storage
 * P+21..P+23, collector P+90 (dashboard) and P+91 (pushes); the NFS and S3 gateways' are the ones
 * `--nfs` and `--s3` name, on loopback.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { CommonCode } from '../common/status-code.js';
import { localS3NodeId, s3ConfigText, type LocalS3 } from './local-s3.js';
import { localTokenFiles, type LocalTokens } from './local-users.js';

/** Storage services of a local cluster: one per replica of its one chain. */
export const localStorageCount = 3;
export const localReplicas = 3;
const mgmtdNodeId = 1;
const metaNodeId = 2;
const storageNodeIdBase = 10;
/** The FUSE daemon's node id. */
export const localFuseNodeId = 200;
/** The NFS gateway's node id. */
export const localNfsNodeId = 250;
const monitorNodeId = 900;
/**
 * Heartbeats every half second and a 5 s timeout: a restarted local cluster is serving again
 * within seconds (storage waits for mgmtd to show its targets offline first), while a busy
 * machine still leaves a storage service 2.5 s before it fences itself.
 */
const heartbeatIntervalMs = 500;
const heartbeatTimeoutMs = 5_000;
/** mgmtd's lease: a restarted mgmtd is primary again within it, before storage fences itself. */
const leaseMs = 1_500;

export interface LocalClusterOptions {
  /** The data directory. */
  dataDir: string;
  mgmtdPort: number;
  clusterId: string;
  /** The collector's dashboard and /metrics port; default mgmtdPort + 90. Its RPC port is the next one. */
  monitorPort?: number;
  /** A PostgreSQL URL (postgres://user@host:port/database) as the metadata engine instead of sqlite. */
  kvUrl?: string;
  /** The NFS gateway's port on 127.0.0.1; no gateway when absent. */
  nfsPort?: number;
  /** The S3 gateway's port on 127.0.0.1; no gateway when absent. */
  s3Port?: number;
}

export interface LocalStorage {
  name: string;
  nodeId: number;
  targetId: number;
  address: string;
  config: string;
}

/** Where everything of a local cluster is. */
export interface LocalLayout {
  dataDir: string;
  clusterId: string;
  secretFile: string;
  databasePath: string;
  /** Written once the cluster is initialized: its absence makes a run the first one. */
  initializedMarker: string;
  mgmtd: { address: string; config: string };
  meta: { address: string; config: string };
  storage: LocalStorage[];
  monitor: { dashboard: string; rpcAddress: string; config: string };
  fuse: { config: string; nodeId: number };
  /** The NFS gateway, when asked for (`--nfs PORT`). */
  nfs: { config: string; nodeId: number; address: string } | undefined;
  /** The S3 gateway, when asked for (`--s3 PORT`). */
  s3: LocalS3 | undefined;
  /** True on the first run (the cluster is initialized then). */
  fresh: boolean;
  /** The token files of the local users (local-users.ts). */
  tokens: LocalTokens;
}

const recordSchema = z.strictObject({
  clusterId: z.string(),
  mgmtdPort: z.number().int().min(1).max(65_535),
  monitorPort: z.number().int().min(1).max(65_535),
  kvUrl: z.string().optional(),
});

/** A TOML basic string (its escapes are JSON's). */
function quoted(text: string): string {
  return JSON.stringify(text);
}

function writeIfMissing(path: string, content: string, mode = 0o644): void {
  if (!existsSync(path)) writeFileSync(path, content, { mode });
}

/** The ports and cluster id of the data directory: recorded on the first run, read back after. */
function settle(options: LocalClusterOptions, etcDir: string): z.infer<typeof recordSchema> {
  const path = join(etcDir, 'local.json');
  if (existsSync(path)) {
    try {
      return recordSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    } catch (error) {
      throw new FsError(CommonCode.ConfigInvalid, `${path} is damaged: ${describeError(error)}`, {
        cause: error,
      });
    }
  }
  const record = {
    clusterId: options.clusterId,
    mgmtdPort: options.mgmtdPort,
    monitorPort: options.monitorPort ?? options.mgmtdPort + 90,
    ...(options.kvUrl === undefined ? {} : { kvUrl: options.kvUrl }),
  };
  if (record.mgmtdPort + 91 > 65_535) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `mgmtd port ${record.mgmtdPort} leaves no room for the other ports`,
    );
  }
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/** Writes whatever of the data directory is missing and returns its layout. */
export function prepareLocalCluster(options: LocalClusterOptions & { allowOther: boolean }): LocalLayout {
  const dataDir = resolve(options.dataDir);
  const etcDir = join(dataDir, 'etc');
  mkdirSync(etcDir, { recursive: true });
  const record = settle(options, etcDir);
  const secretFile = join(etcDir, 'cluster-secret');
  writeIfMissing(secretFile, `${randomBytes(32).toString('base64')}\n`, 0o600);
  const databasePath = join(dataDir, 'meta.db');
  const host = '127.0.0.1';
  const mgmtdAddress = `${host}:${record.mgmtdPort}`;
  const initializedMarker = join(etcDir, 'initialized');
  const kvSection =
    record.kvUrl === undefined ? sqliteSection(databasePath, 'full') : postgresSection(record.kvUrl);
  const metaKvSection =
    record.kvUrl === undefined ? sqliteSection(databasePath, 'interval') : postgresSection(record.kvUrl);
  const common = { clusterId: record.clusterId, secretFile, mgmtdAddress, kvSection };
  const layout: LocalLayout = {
    dataDir,
    clusterId: record.clusterId,
    secretFile,
    databasePath,
    initializedMarker,
    // Data directories from before the marker existed hold an initialized sqlite database.
    fresh: !existsSync(initializedMarker) && !existsSync(databasePath),
    mgmtd: { address: mgmtdAddress, config: join(etcDir, 'mgmtd.toml') },
    meta: { address: `${host}:${record.mgmtdPort + 10}`, config: join(etcDir, 'meta.toml') },
    storage: Array.from({ length: localStorageCount }, (_, index) => {
      const nodeId = storageNodeIdBase + index + 1;
      return {
        name: `storage-${index + 1}`,
        nodeId,
        targetId: nodeId * 100 + 1,
        address: `${host}:${record.mgmtdPort + 21 + index}`,
        config: join(etcDir, `storage-${index + 1}.toml`),
      };
    }),
    monitor: {
      dashboard: `http://${host}:${record.monitorPort}/`,
      rpcAddress: `${host}:${record.monitorPort + 1}`,
      config: join(etcDir, 'monitor.toml'),
    },
    fuse: { config: join(etcDir, 'fuse.toml'), nodeId: localFuseNodeId },
    tokens: localTokenFiles(etcDir),
    nfs:
      options.nfsPort === undefined
        ? undefined
        : { config: join(etcDir, 'nfs.toml'), nodeId: localNfsNodeId, address: `${host}:${options.nfsPort}` },
    s3:
      options.s3Port === undefined
        ? undefined
        : {
            config: join(etcDir, 's3.toml'),
            nodeId: localS3NodeId,
            address: `${host}:${options.s3Port}`,
            credentials: join(etcDir, 's3-credentials'),
          },
  };
  writeIfMissing(layout.mgmtd.config, mgmtdConfig(layout, common));
  writeIfMissing(layout.meta.config, metaConfig(layout, { ...common, kvSection: metaKvSection }));
  for (const storage of layout.storage) {
    const targetDir = join(dataDir, storage.name, `target-${storage.targetId}`);
    mkdirSync(targetDir, { recursive: true });
    writeIfMissing(storage.config, storageConfig(storage, targetDir, common, layout));
  }
  writeIfMissing(layout.monitor.config, monitorConfig(layout, common, record.monitorPort));
  // Rewritten every run: whether other users may use the mount depends on who runs it.
  writeFileSync(layout.fuse.config, fuseConfig(layout, common, options.allowOther));
  // Rewritten every run too: the ports are this run's --nfs and --s3.
  if (layout.nfs !== undefined) writeFileSync(layout.nfs.config, nfsConfig(layout, layout.nfs, common));
  if (layout.s3 !== undefined) {
    const sections = {
      cluster: clusterSection(common, layout.tokens.gateway),
      mgmtd: mgmtdSection(common),
      monitor: monitorSection(layout),
    };
    writeFileSync(layout.s3.config, s3ConfigText(layout.s3, sections));
  }
  return layout;
}

type Common = { clusterId: string; secretFile: string; mgmtdAddress: string; kvSection: string };

function sqliteSection(databasePath: string, synchronous: 'full' | 'interval'): string {
  const durability =
    synchronous === 'full'
      ? `# An acknowledged commit survives a power loss: the cluster's chains and targets never go back.
synchronous = "full"`
      : `# An acknowledged commit survives the death of any process at once, and a power loss within
# commit_interval_ms or once the file or its directory is fsynced, as on a local file system.
synchronous = "interval"
commit_interval_ms = ${limits.kvSqliteCommitIntervalMsDefault}`;
  return `[kv]
engine = "sqlite"
[kv.sqlite]
path = ${quoted(databasePath)}
${durability}
`;
}

function postgresSection(url: string): string {
  return `[kv]
engine = "postgres"
[kv.postgres]
url = ${quoted(url)}
`;
}

function clusterSection(common: Common, tokenFile?: string): string {
  return `[cluster]
id = "${common.clusterId}"
secret_file = ${quoted(common.secretFile)}
${tokenFile === undefined ? '' : `token_file = ${quoted(tokenFile)}\n`}`;
}

function mgmtdSection(common: Common, extra = ''): string {
  return `[mgmtd]
addresses = ["${common.mgmtdAddress}"]
heartbeat_interval_ms = ${heartbeatIntervalMs}
${extra}`;
}

function monitorSection(layout: LocalLayout): string {
  return `[monitor]
collector = "${layout.monitor.rpcAddress}"
push_interval_ms = 1000
`;
}

function mgmtdConfig(layout: LocalLayout, common: Common): string {
  return `# mgmtd of the local cluster (written by "3fs local" on its first run).
[node]
id = ${mgmtdNodeId}
listen = "${common.mgmtdAddress}"

${clusterSection(common)}
${common.kvSection}
[mgmtd]
lease_ms = ${leaseMs}
lease_renew_ms = ${leaseMs / 3}
heartbeat_interval_ms = ${heartbeatIntervalMs}
heartbeat_timeout_ms = ${heartbeatTimeoutMs}
chain_update_interval_ms = 250

${monitorSection(layout)}`;
}

function metaConfig(layout: LocalLayout, common: Common): string {
  return `# meta of the local cluster: stateless, on the same sqlite database as mgmtd.
[node]
id = ${metaNodeId}
listen = "${layout.meta.address}"

${clusterSection(common)}
${common.kvSection}
${mgmtdSection(common)}
${monitorSection(layout)}`;
}

function storageConfig(
  storage: LocalStorage,
  targetDir: string,
  common: Common,
  layout: LocalLayout,
): string {
  return `# ${storage.name} of the local cluster: one target, one replica of the chain.
[node]
id = ${storage.nodeId}
listen = "${storage.address}"

${clusterSection(common)}
${mgmtdSection(common, `heartbeat_timeout_ms = ${heartbeatTimeoutMs}\n`)}
[storage]
targets = [{ id = ${storage.targetId}, path = ${quoted(targetDir)} }]
# An acknowledged write is in every replica's page cache (it survives the death of any process);
# an fsync of the file puts it on disk. true puts every write on disk before it is acknowledged.
sync_writes = false

${monitorSection(layout)}`;
}

function monitorConfig(layout: LocalLayout, common: Common, monitorPort: number): string {
  return `[node]
id = ${monitorNodeId}
listen = "${layout.monitor.rpcAddress}"

${clusterSection(common)}
[mgmtd]
addresses = ["${common.mgmtdAddress}"]

[collector]
http_listen = "127.0.0.1:${monitorPort}"
self_interval_ms = 1000
`;
}

function fuseConfig(layout: LocalLayout, common: Common, allowOther: boolean): string {
  return `# The FUSE daemon of the local cluster (its mount point comes from "3fs local --mount").
[node]
id = ${layout.fuse.nodeId}

${clusterSection(common, layout.tokens.fuse)}
${mgmtdSection(common)}
[fuse]
allow_other = ${allowOther}

${monitorSection(layout)}`;
}

function nfsConfig(layout: LocalLayout, nfs: NonNullable<LocalLayout['nfs']>, common: Common): string {
  return `# The NFS gateway of the local cluster (its port comes from "3fs local --nfs").
[node]
id = ${nfs.nodeId}

${clusterSection(common, layout.tokens.gateway)}
${mgmtdSection(common)}
[nfs]
listen = "${nfs.address}"

# The whole namespace, to this machine only. Callers keep their identity (root too): the gateway
# answers loopback clients alone, who could use the FUSE mount as themselves anyway.
[[nfs.exports]]
path = "/"
clients = ["127.0.0.0/8", "::1/128"]
root_squash = false

${monitorSection(layout)}`;
}
