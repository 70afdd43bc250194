/**
 * mgmtd's persistence in the metadata KV: the cluster record, the primary's lease, and the
 * cluster state (nodes, targets, chains, chain tables, routing version). Every write of the
 * primary runs in a transaction that first checks the primary still holds its lease term, so a
 * primary that lost its lease can never overwrite its successor's state.
 */
import { FsError } from '../../common/errors.js';
import { decodeRecord, encodeRecord } from '../../common/record-codec.js';
import { MgmtdCode } from '../../common/status-code.js';
import type { KvEngine, KvReadTransaction, KvTransaction } from '../../kv/index.js';
import type { ChainInfo, ChainTable, NodeInfo, TargetInfo } from '../protocol/index.js';
import { keys, prefixRange, prefixes } from './keys.js';
import {
  chainRecordSchema,
  chainTableRecordSchema,
  clusterRecordSchema,
  leaseRecordSchema,
  nodeRecordSchema,
  routingVersionRecordSchema,
  targetRecordSchema,
  type ClusterRecord,
  type LeaseRecord,
} from './records.js';

/** Everything the primary keeps in memory, as loaded from the KV. */
export interface StoredState {
  routingVersion: number;
  nodes: NodeInfo[];
  targets: TargetInfo[];
  chains: ChainInfo[];
  chainTables: ChainTable[];
}

/** Records to write in one transaction. */
export interface StateChanges {
  routingVersion: number;
  nodes: NodeInfo[];
  targets: TargetInfo[];
  chains: ChainInfo[];
  chainTables: ChainTable[];
}

/** Who holds the lease, as a writer presents itself. */
export interface LeaseHolder {
  nodeId: number;
  term: number;
}

export async function readCluster(tx: KvReadTransaction): Promise<ClusterRecord | undefined> {
  const bytes = await tx.get(keys.cluster());
  return bytes === undefined ? undefined : decodeRecord(clusterRecordSchema, bytes, 'cluster record');
}

/** Writes the cluster record; refuses when the KV already holds a cluster. */
export async function initCluster(kv: KvEngine, record: ClusterRecord): Promise<void> {
  await kv.transact(async (tx) => {
    const existing = await readCluster(tx);
    if (existing !== undefined) {
      throw new FsError(
        MgmtdCode.ClusterAlreadyInitialized,
        `this metadata store already holds cluster "${existing.clusterId}" (created ${new Date(existing.createdAtMs).toISOString()})`,
      );
    }
    tx.set(keys.cluster(), encodeRecord(clusterRecordSchema, record));
  });
}

export async function readLease(tx: KvReadTransaction): Promise<LeaseRecord | undefined> {
  const bytes = await tx.get(keys.lease());
  return bytes === undefined ? undefined : decodeRecord(leaseRecordSchema, bytes, 'mgmtd lease');
}

/**
 * Takes the lease when it is free or expired, or renews it when `nodeId` holds it already.
 * Returns the lease as it stands after the transaction (held by us or by someone else).
 */
export async function acquireOrRenewLease(
  kv: KvEngine,
  options: { nodeId: number; address: string; nowMs: number; leaseMs: number },
): Promise<LeaseRecord> {
  return kv.transact(async (tx) => {
    const current = await readLease(tx);
    const heldByOther =
      current !== undefined && current.nodeId !== options.nodeId && current.expiresAtMs > options.nowMs;
    if (heldByOther) return current;
    const renewing =
      current !== undefined && current.nodeId === options.nodeId && current.expiresAtMs > options.nowMs;
    const lease: LeaseRecord = {
      format: 1,
      nodeId: options.nodeId,
      address: options.address,
      expiresAtMs: options.nowMs + options.leaseMs,
      term: renewing ? current.term : (current?.term ?? 0) + 1,
    };
    tx.set(keys.lease(), encodeRecord(leaseRecordSchema, lease));
    return lease;
  });
}

/** Gives the lease up (clean stop), so a standby takes over without waiting for expiry. */
export async function releaseLease(kv: KvEngine, holder: LeaseHolder): Promise<void> {
  await kv.transact(async (tx) => {
    const current = await readLease(tx);
    if (current === undefined || current.nodeId !== holder.nodeId || current.term !== holder.term) return;
    tx.set(keys.lease(), encodeRecord(leaseRecordSchema, { ...current, expiresAtMs: 0 }));
  });
}

async function checkLease(tx: KvTransaction, holder: LeaseHolder): Promise<void> {
  const lease = await readLease(tx);
  if (lease === undefined || lease.nodeId !== holder.nodeId || lease.term !== holder.term) {
    throw new FsError(
      MgmtdCode.NotPrimary,
      `mgmtd ${holder.nodeId} no longer holds the lease of term ${holder.term}`,
    );
  }
}

async function readAll<T>(
  tx: KvReadTransaction,
  base: Buffer,
  decodeOne: (bytes: Buffer) => T,
): Promise<T[]> {
  const [begin, end] = prefixRange(base);
  const pairs = await tx.getRange(begin, end);
  return pairs.map((pair) => decodeOne(pair.value));
}

/** Loads the whole cluster state (the primary does this once when it takes over). */
export async function loadState(kv: KvEngine): Promise<StoredState> {
  return kv.read(async (tx) => {
    const versionBytes = await tx.get(keys.routingVersion());
    const routingVersion =
      versionBytes === undefined
        ? 0
        : decodeRecord(routingVersionRecordSchema, versionBytes, 'routing version').routingVersion;
    const nodes = await readAll(
      tx,
      prefixes.node,
      (bytes) => decodeRecord(nodeRecordSchema, bytes, 'node').node,
    );
    const targets = await readAll(
      tx,
      prefixes.target,
      (bytes) => decodeRecord(targetRecordSchema, bytes, 'target').target,
    );
    const chains = await readAll(
      tx,
      prefixes.chain,
      (bytes) => decodeRecord(chainRecordSchema, bytes, 'chain').chain,
    );
    const chainTables = await readAll(
      tx,
      prefixes.chainTable,
      (bytes) => decodeRecord(chainTableRecordSchema, bytes, 'chain table').chainTable,
    );
    return { routingVersion, nodes, targets, chains, chainTables };
  });
}

/** Writes changed records and the routing version, if and only if `holder` still holds the lease. */
export async function saveChanges(kv: KvEngine, holder: LeaseHolder, changes: StateChanges): Promise<void> {
  await kv.transact(async (tx) => {
    await checkLease(tx, holder);
    for (const node of changes.nodes)
      tx.set(keys.node(node.nodeId), encodeRecord(nodeRecordSchema, { format: 1, node }));
    for (const target of changes.targets) {
      tx.set(keys.target(target.targetId), encodeRecord(targetRecordSchema, { format: 1, target }));
    }
    for (const chain of changes.chains) {
      tx.set(keys.chain(chain.chainId), encodeRecord(chainRecordSchema, { format: 1, chain }));
    }
    for (const chainTable of changes.chainTables) {
      tx.set(
        keys.chainTable(chainTable.chainTableId),
        encodeRecord(chainTableRecordSchema, { format: 1, chainTable }),
      );
    }
    tx.set(
      keys.routingVersion(),
      encodeRecord(routingVersionRecordSchema, { format: 1, routingVersion: changes.routingVersion }),
    );
  });
}
