// Proves the collector's alert conditions: offline targets, chains with fewer serving replicas
// than members, disks over 90 %, offline nodes, and missing routing info; a healthy cluster has none.
import { describe, expect, it } from 'vitest';
import type { RoutingInfo, TargetInfo } from '../../../src/mgmtd/protocol/index.js';
import { computeAlerts } from '../../../src/monitor/collector/alerts.js';

function target(targetId: number, overrides: Partial<TargetInfo> = {}): TargetInfo {
  return {
    targetId,
    nodeId: 10,
    chainId: 1,
    localState: 'up-to-date',
    publicState: 'serving',
    usedBytes: 10,
    capacityBytes: 100,
    ...overrides,
  };
}

function routing(targets: TargetInfo[], nodeStatus: 'online' | 'offline' = 'online'): RoutingInfo {
  return {
    clusterId: 'c',
    routingVersion: 3,
    nodes: [
      {
        nodeId: 10,
        type: 'storage',
        address: 'a:1',
        hostname: 'h',
        status: nodeStatus,
        lastHeartbeatMs: 1,
        tags: [],
      },
    ],
    targets,
    chains: [
      {
        chainId: 1,
        chainVersion: 2,
        targets: targets.map((one) => ({ targetId: one.targetId, publicState: one.publicState })),
      },
    ],
    chainTables: [],
  };
}

const options = { diskFullRatio: 0.9 };

describe('alerts', () => {
  it('finds nothing wrong with a healthy cluster', () => {
    expect(computeAlerts(routing([target(1), target(2), target(3)]), options)).toEqual([]);
  });

  it('reports an offline target and its degraded chain', () => {
    const alerts = computeAlerts(
      routing([target(1), target(2), target(3, { publicState: 'offline' })]),
      options,
    );
    expect(alerts.map((alert) => [alert.kind, alert.subject, alert.severity])).toEqual([
      ['target-offline', 'target 3', 'critical'],
      ['chain-degraded', 'chain 1', 'warning'],
    ]);
    expect(alerts[1]?.message).toContain('2 of 3 replicas serving');
  });

  it('reports a chain without any serving replica as unavailable', () => {
    const alerts = computeAlerts(routing([target(1, { publicState: 'lastsrv' })]), options);
    expect(alerts.map((alert) => alert.kind)).toEqual(['target-offline', 'chain-unavailable']);
  });

  it('reports a syncing replica as a degraded chain but not as an offline target', () => {
    const alerts = computeAlerts(routing([target(1), target(2, { publicState: 'syncing' })]), options);
    expect(alerts.map((alert) => alert.kind)).toEqual(['chain-degraded']);
  });

  it('reports disks over the ratio, not at it', () => {
    const alerts = computeAlerts(
      routing([
        target(1, { usedBytes: 91, capacityBytes: 100 }),
        target(2, { usedBytes: 90, capacityBytes: 100 }),
      ]),
      options,
    );
    expect(alerts.map((alert) => [alert.kind, alert.subject])).toEqual([['disk-full', 'target 1']]);
    expect(alerts[0]?.message).toContain('91.0 %');
  });

  it('reports offline nodes and missing routing info', () => {
    expect(computeAlerts(routing([target(1)], 'offline'), options).map((alert) => alert.kind)).toEqual([
      'node-offline',
    ]);
    const missing = computeAlerts(undefined, { ...options, routingError: 'mgmtd unreachable' });
    expect(missing).toEqual([
      expect.objectContaining({
        kind: 'routing-unavailable',
        severity: 'critical',
        message: expect.stringContaining('mgmtd unreachable'),
      }),
    ]);
  });
});
