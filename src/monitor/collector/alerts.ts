/**
 * Conditions an operator must act on, computed from the routing info the collector fetches from
 * mgmtd: targets offline, chains with fewer serving replicas than members, disks over the full
 * ratio, nodes declared offline, and the collector itself without routing info. Pure.
 */
import { NodeStatus, PublicState, type ChainInfo, type RoutingInfo } from '../../mgmtd/protocol/index.js';

export const AlertKind = {
  RoutingUnavailable: 'routing-unavailable',
  NodeOffline: 'node-offline',
  TargetOffline: 'target-offline',
  ChainDegraded: 'chain-degraded',
  ChainUnavailable: 'chain-unavailable',
  DiskFull: 'disk-full',
} as const;
export type AlertKind = (typeof AlertKind)[keyof typeof AlertKind];

export type AlertSeverity = 'critical' | 'warning';

export interface Alert {
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  /** What it is about: "node 3", "target 101", "chain 7". */
  readonly subject: string;
  readonly message: string;
}

/** Serving members of a chain and its size. */
export function chainHealth(chain: ChainInfo): { serving: number; replicas: number } {
  const serving = chain.targets.filter((target) => target.publicState === PublicState.Serving).length;
  return { serving, replicas: chain.targets.length };
}

/** Every alert in force for `routing`; `routingError` says why there is none, when there is none. */
export function computeAlerts(
  routing: RoutingInfo | undefined,
  options: { diskFullRatio: number; routingError?: string | undefined },
): Alert[] {
  if (routing === undefined) {
    return [
      {
        kind: AlertKind.RoutingUnavailable,
        severity: 'critical',
        subject: 'mgmtd',
        message: `no routing info from mgmtd${options.routingError ? `: ${options.routingError}` : ''}`,
      },
    ];
  }
  const alerts: Alert[] = [];
  for (const node of routing.nodes) {
    if (node.status !== NodeStatus.Offline) continue;
    alerts.push({
      kind: AlertKind.NodeOffline,
      severity: 'warning',
      subject: `node ${node.nodeId}`,
      message: `${node.type} node ${node.nodeId} (${node.hostname}, ${node.address}) is offline`,
    });
  }
  for (const target of routing.targets) {
    const where = `on node ${target.nodeId}${target.chainId > 0 ? `, chain ${target.chainId}` : ''}`;
    if (target.publicState === PublicState.Offline || target.publicState === PublicState.LastServing) {
      alerts.push({
        kind: AlertKind.TargetOffline,
        severity: target.chainId > 0 ? 'critical' : 'warning',
        subject: `target ${target.targetId}`,
        message: `target ${target.targetId} ${where} is ${target.publicState}`,
      });
    }
    if (target.capacityBytes > 0 && target.usedBytes / target.capacityBytes > options.diskFullRatio) {
      const percent = ((100 * target.usedBytes) / target.capacityBytes).toFixed(1);
      alerts.push({
        kind: AlertKind.DiskFull,
        severity: 'warning',
        subject: `target ${target.targetId}`,
        message: `target ${target.targetId} ${where} uses ${percent} % of its disk`,
      });
    }
  }
  for (const chain of routing.chains) {
    const { serving, replicas } = chainHealth(chain);
    if (serving === replicas) continue;
    alerts.push({
      kind: serving === 0 ? AlertKind.ChainUnavailable : AlertKind.ChainDegraded,
      severity: serving === 0 ? 'critical' : 'warning',
      subject: `chain ${chain.chainId}`,
      message: `chain ${chain.chainId} has ${serving} of ${replicas} replicas serving (${chain.targets
        .map((target) => `${target.targetId}:${target.publicState}`)
        .join(' ')})`,
    });
  }
  return alerts;
}
