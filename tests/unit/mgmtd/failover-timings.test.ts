// Proves the start-up check of mgmtd's timings: a standby must take over before the storage
// services fence themselves, or a failover of the primary would stop them all. The shipped
// defaults, etc/mgmtd.toml and the local cluster's configuration pass it.
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/common/config.js';
import { failoverHazard, mgmtdConfigSchema } from '../../../src/mgmtd/config.js';
import { prepareLocalCluster } from '../../../src/admin/local-cluster-config.js';

const base = `[node]
id = 1
listen = "127.0.0.1:0"
[cluster]
id = "test"
secret_file = "/dev/null"
[kv]
engine = "sqlite"
[kv.sqlite]
path = "/tmp/x.db"
`;

function mgmtdSection(toml: string) {
  return parseConfig(mgmtdConfigSchema, `${base}[mgmtd]\n${toml}`, 'test.toml').mgmtd;
}

describe('failoverHazard', () => {
  it('accepts the defaults and etc/mgmtd.toml', () => {
    expect(failoverHazard(mgmtdSection(''))).toBeUndefined();
    const shipped = loadConfig(mgmtdConfigSchema, resolve(import.meta.dirname, '../../../etc/mgmtd.toml'));
    expect(failoverHazard(shipped.mgmtd)).toBeUndefined();
  });

  it('names the takeover and fencing times when the lease outlasts half the heartbeat timeout', () => {
    const hazard = failoverHazard(
      mgmtdSection('lease_ms = 10000\nlease_renew_ms = 2000\nheartbeat_timeout_ms = 10000'),
    );
    expect(hazard).toMatch(/12000 ms \(lease_ms \+ lease_renew_ms\)/);
    expect(hazard).toMatch(/5000 ms \(heartbeat_timeout_ms \/ 2\)/);
  });

  it('leaves one heartbeat interval for the services to find the new primary', () => {
    const timings = 'lease_ms = 3000\nlease_renew_ms = 1000\nheartbeat_timeout_ms = 10000';
    expect(failoverHazard(mgmtdSection(`${timings}\nheartbeat_interval_ms = 1000`))).toBeUndefined();
    expect(failoverHazard(mgmtdSection(`${timings}\nheartbeat_interval_ms = 1001`))).toBeDefined();
  });

  it('accepts the local cluster written by "3fs local"', () => {
    const dataDir = mkdtempSync(join(tmpdir(), '3fs-local-config-'));
    try {
      const layout = prepareLocalCluster({
        dataDir,
        mgmtdPort: 18_000,
        clusterId: 'local',
        allowOther: false,
      });
      expect(failoverHazard(loadConfig(mgmtdConfigSchema, layout.mgmtd.config).mgmtd)).toBeUndefined();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
