/**
 * The cluster as the dashboard and /api/cluster show it: mgmtd's routing info (nodes, targets,
 * chains and their states) joined with what each process last reported, plus the alerts in force.
 * Pure: built from a routing snapshot and the sample store's reports.
 */
import type { NodeReport } from './sample-store.js';
import type { RoutingInfo, TargetInfo, ChainTarget } from '../../mgmtd/protocol/index.js';
import { chainHealth, computeAlerts, type Alert } from './alerts.js';

/** What the collector knows of routing info right now. */
export interface RoutingStatus {
  readonly routing: RoutingInfo | undefined;
  /** The collector's clock when routing info was last fetched (0: never). */
  readonly fetchedAtMs: number;
  /** Why the last fetch failed, when it did. */
  readonly error: string | undefined;
}

export interface NodeReporting {
  readonly lastPushMs: number;
  readonly pushes: number;
  readonly stale: boolean;
  readonly residentBytes: number | null;
  readonly eventLoopP99Ms: number | null;
}

export interface ClusterNodeView {
  readonly nodeId: number;
  readonly type: string;
  readonly hostname: string;
  readonly address: string;
  /** online/offline from mgmtd; "unknown" for a process that pushes but is not in routing info. */
  readonly status: string;
  readonly lastHeartbeatMs: number;
  readonly tags: readonly string[];
  readonly reporting: NodeReporting | null;
}

export interface ClusterView {
  readonly clusterId: string;
  readonly collector: { readonly nodeId: number; readonly timeMs: number };
  readonly routing: {
    readonly version: number | null;
    readonly fetchedAtMs: number;
    readonly error: string | null;
  };
  readonly nodes: ClusterNodeView[];
  readonly targets: TargetInfo[];
  readonly chains: {
    readonly chainId: number;
    readonly chainVersion: number;
    readonly targets: ChainTarget[];
    readonly serving: number;
    readonly replicas: number;
  }[];
  readonly alerts: Alert[];
}

function latestValue(report: NodeReport, name: string): number | null {
  for (const family of report.families) {
    for (const sample of family.samples) if (sample.name === name) return sample.value;
  }
  return null;
}

function reportingOf(
  report: NodeReport | undefined,
  nowMs: number,
  nodeStaleMs: number,
): NodeReporting | null {
  if (report === undefined) return null;
  const lagSeconds = latestValue(report, 'nodejs_eventloop_lag_p99_seconds');
  return {
    lastPushMs: report.receivedAtMs,
    pushes: report.pushes,
    stale: nowMs - report.receivedAtMs > nodeStaleMs,
    residentBytes: latestValue(report, 'process_resident_memory_bytes'),
    eventLoopP99Ms: lagSeconds === null ? null : lagSeconds * 1000,
  };
}

/** Builds the view; see the file comment. */
export function buildClusterView(options: {
  clusterId: string;
  collectorNodeId: number;
  nowMs: number;
  nodeStaleMs: number;
  diskFullRatio: number;
  routing: RoutingStatus;
  reports: readonly NodeReport[];
}): ClusterView {
  const { routing, nowMs } = options;
  const reports = new Map(options.reports.map((report) => [report.nodeId, report]));
  const info = routing.routing;
  const nodes: ClusterNodeView[] = (info?.nodes ?? []).map((node) => ({
    nodeId: node.nodeId,
    type: node.type,
    hostname: node.hostname,
    address: node.address,
    status: node.status,
    lastHeartbeatMs: node.lastHeartbeatMs,
    tags: node.tags,
    reporting: reportingOf(reports.get(node.nodeId), nowMs, options.nodeStaleMs),
  }));
  const known = new Set(nodes.map((node) => node.nodeId));
  for (const report of options.reports) {
    if (known.has(report.nodeId)) continue;
    nodes.push({
      nodeId: report.nodeId,
      type: report.nodeType,
      hostname: report.hostname,
      address: '',
      status: 'unknown',
      lastHeartbeatMs: 0,
      tags: [],
      reporting: reportingOf(report, nowMs, options.nodeStaleMs),
    });
  }
  nodes.sort((a, b) => a.nodeId - b.nodeId);
  return {
    clusterId: options.clusterId,
    collector: { nodeId: options.collectorNodeId, timeMs: nowMs },
    routing: {
      version: info?.routingVersion ?? null,
      fetchedAtMs: routing.fetchedAtMs,
      error: routing.error ?? null,
    },
    nodes,
    targets: info?.targets ?? [],
    chains: (info?.chains ?? []).map((chain) => ({
      chainId: chain.chainId,
      chainVersion: chain.chainVersion,
      targets: chain.targets,
      ...chainHealth(chain),
    })),
    alerts: computeAlerts(info, { diskFullRatio: options.diskFullRatio, routingError: routing.error }),
  };
}
