/**
 * `admin secret-rotate`: helps an operator change the cluster secret without stopping anything
 * (README, "Rotating the cluster secret").
 *
 * - `status` asks every server node in routing info (mgmtd, meta, storage, monitor) which of the
 *   secrets tried it accepts and which one is its current one (the one it connects out with), by
 *   one handshake per node and secret, with no call made. The secrets tried are those of the
 *   admin's own secret file and of any further files named; they show as fingerprints, never in
 *   clear. Clients (FUSE mounts, NFS gateways) serve no cluster RPC: they are listed, not asked.
 * - `generate` prints a fresh random secret for the next rotation.
 */
import { randomBytes } from 'node:crypto';
import { readClusterSecretsFile, secretFingerprint } from '../../common/cluster-secrets.js';
import { limits } from '../../common/limits.js';
import { silentLogger } from '../../common/logger.js';
import { NodeType, type NodeInfo, type RoutingInfo } from '../../mgmtd/protocol/index.js';
import { probeClusterSecret, type SecretProbe, type SecretProbeResult } from '../../rpc/index.js';
import { printTable, type Output } from '../output.js';

/** A secret to try and where it was read, e.g. "/etc/3fs/cluster-secret line 2". */
export interface SecretCandidate {
  readonly secret: string;
  readonly source: string;
}

/** What one server node said about each secret tried, in the order of the report's secrets. */
export interface NodeSecretsRow {
  nodeId: number;
  type: NodeType;
  status: string;
  address: string;
  secrets: Array<{ fingerprint: string; result: SecretProbeResult; message?: string }>;
}

/** One secret tried, and how many server nodes hold it as current, accept it, refuse it. */
export interface SecretSummary {
  fingerprint: string;
  source: string;
  /** Nodes that connect out with it (their current secret). */
  current: number;
  /** Nodes that accept it (current ones included). */
  accepted: number;
  refused: number;
  unreachable: number;
}

export interface SecretStatusReport {
  secrets: SecretSummary[];
  /** Server nodes probed. */
  nodes: NodeSecretsRow[];
  /** Nodes without a cluster RPC server (FUSE mounts, NFS gateways, client processes). */
  clients: Array<{ nodeId: number; type: NodeType; status: string }>;
}

/** Node types that serve cluster RPC, so a handshake can ask them. */
const serverTypes: ReadonlySet<NodeType> = new Set([
  NodeType.Mgmtd,
  NodeType.Meta,
  NodeType.Storage,
  NodeType.Monitor,
]);

/** The secrets of each file in order, the first file first; a secret listed twice is tried once. */
export function candidatesFrom(files: readonly string[]): SecretCandidate[] {
  const candidates: SecretCandidate[] = [];
  for (const file of files) {
    for (const [index, secret] of readClusterSecretsFile(file).entries()) {
      if (candidates.some((candidate) => candidate.secret === secret)) continue;
      candidates.push({ secret, source: `${file} line ${index + 1}` });
    }
  }
  return candidates;
}

/** Runs `tasks` with at most `inflightMax` at once; results in the order of the tasks. */
async function runBounded<T>(tasks: readonly (() => Promise<T>)[], inflightMax: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < tasks.length; index = next++) {
      const task = tasks[index];
      if (task !== undefined) results[index] = await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflightMax, tasks.length) }, worker));
  return results;
}

function isAccepted(result: SecretProbeResult): boolean {
  return result === 'current' || result === 'accepted' || result === 'accepted-unknown';
}

/** Probes every server node of `routing` with every candidate and builds the report. */
export async function collectSecretStatus(options: {
  routing: Pick<RoutingInfo, 'nodes'>;
  candidates: readonly SecretCandidate[];
  /** One handshake (probeClusterSecret; a test passes a fake). */
  probe: (address: string, secret: string) => Promise<SecretProbe>;
  inflightMax?: number;
}): Promise<SecretStatusReport> {
  const { candidates } = options;
  const byId = (a: NodeInfo, b: NodeInfo): number => a.nodeId - b.nodeId;
  const servers = options.routing.nodes.filter((node) => serverTypes.has(node.type)).sort(byId);
  const tasks = servers.flatMap((node) =>
    candidates.map((candidate) => () => options.probe(node.address, candidate.secret)),
  );
  const probes = await runBounded(tasks, options.inflightMax ?? limits.adminSecretProbesInflightMax);
  const nodes: NodeSecretsRow[] = servers.map((node, nodeIndex) => ({
    nodeId: node.nodeId,
    type: node.type,
    status: node.status,
    address: node.address,
    secrets: candidates.map((candidate, index) => {
      const probe = probes[nodeIndex * candidates.length + index] ?? { result: 'unreachable' as const };
      return {
        fingerprint: secretFingerprint(candidate.secret),
        result: probe.result,
        ...(probe.message === undefined || probe.result !== 'unreachable' ? {} : { message: probe.message }),
      };
    }),
  }));
  const secrets = candidates.map((candidate, index): SecretSummary => {
    const results = nodes.map((node) => node.secrets[index]?.result ?? 'unreachable');
    const count = (keep: (result: SecretProbeResult) => boolean): number => results.filter(keep).length;
    return {
      fingerprint: secretFingerprint(candidate.secret),
      source: candidate.source,
      current: count((result) => result === 'current'),
      accepted: count(isAccepted),
      refused: count((result) => result === 'refused'),
      unreachable: count((result) => result === 'unreachable'),
    };
  });
  const clients = options.routing.nodes
    .filter((node) => !serverTypes.has(node.type))
    .sort(byId)
    .map((node) => ({ nodeId: node.nodeId, type: node.type, status: node.status }));
  return { secrets, nodes, clients };
}

/** Probes with real handshakes within `timeoutMs` each (connect and handshake). */
export function handshakeProbe(timeoutMs: number): (address: string, secret: string) => Promise<SecretProbe> {
  const logger = silentLogger();
  return (address, secret) =>
    probeClusterSecret({
      address,
      secret,
      logger,
      connectTimeoutMs: timeoutMs,
      handshakeTimeoutMs: timeoutMs,
    });
}

/** The report as a table and one line per secret (or JSON). */
export function printSecretStatus(output: Output, report: SecretStatusReport): void {
  if (output.json) {
    output.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  printTable(
    output,
    report,
    ['ID', 'TYPE', 'STATUS', 'ADDRESS', ...report.secrets.map((secret) => `SECRET ${secret.fingerprint}`)],
    report.nodes.map((node) => [
      node.nodeId,
      node.type,
      node.status,
      node.address,
      ...node.secrets.map((secret) => secret.result),
    ]),
  );
  const servers = report.nodes.length;
  const lines = report.secrets.map(
    (secret) =>
      `secret ${secret.fingerprint} (${secret.source}): current on ${secret.current} of ${servers} server node(s), ` +
      `accepted by ${secret.accepted}, refused by ${secret.refused}` +
      (secret.unreachable === 0 ? '' : `, ${secret.unreachable} unreachable`),
  );
  if (report.clients.length > 0) {
    const names = report.clients.map((client) => `${client.type} ${client.nodeId}`).join(', ');
    lines.push(
      `not asked (no cluster RPC server): ${names}; they read their secret file every ` +
        `${limits.clusterSecretCheckIntervalMs / 1000} s and on SIGHUP, as the servers do`,
    );
  }
  output.write(`${lines.join('\n')}\n`);
}

/** A fresh secret: 32 random bytes in base64 (44 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64');
}
