/** The TOML configuration of mgmtd_main, validated at start-up. */
import { z } from 'zod';
import { clusterSectionSchema, logSectionSchema, nodeSectionSchema } from '../common/config.js';
import { limits } from '../common/limits.js';
import { monitorSectionSchema } from '../common/metrics/index.js';
import { kvSectionSchema } from '../kv/index.js';

const positiveMs = z.number().int().min(1).max(3_600_000);

export const mgmtdConfigSchema = z.strictObject({
  node: nodeSectionSchema,
  cluster: clusterSectionSchema,
  kv: kvSectionSchema,
  mgmtd: z
    .strictObject({
      lease_ms: positiveMs.default(limits.mgmtdLeaseMsDefault),
      lease_renew_ms: positiveMs.default(limits.mgmtdLeaseRenewMsDefault),
      heartbeat_interval_ms: positiveMs.default(limits.heartbeatIntervalMsDefault),
      heartbeat_timeout_ms: positiveMs.default(limits.heartbeatTimeoutMsDefault),
      chain_update_interval_ms: positiveMs.default(limits.mgmtdChainUpdateMsDefault),
    })
    .prefault({})
    .superRefine((section, context) => {
      if (section.lease_renew_ms * 2 > section.lease_ms) {
        context.addIssue({
          code: 'custom',
          path: ['lease_renew_ms'],
          message: 'must be at most half of lease_ms',
        });
      }
      if (section.heartbeat_interval_ms * 3 > section.heartbeat_timeout_ms) {
        context.addIssue({
          code: 'custom',
          path: ['heartbeat_timeout_ms'],
          message: 'must be at least three times heartbeat_interval_ms',
        });
      }
    }),
  monitor: monitorSectionSchema.prefault({}),
  log: logSectionSchema.prefault({}),
});
export type MgmtdConfig = z.output<typeof mgmtdConfigSchema>;

/**
 * Why a failover of the primary would stop the storage services, or undefined when it would not.
 * A standby takes over at most `lease_ms + lease_renew_ms` after the primary dies, and a storage
 * service fences itself after half the heartbeat timeout without mgmtd (DESIGN §7): the takeover
 * must come first, with a margin for the services to find the new primary. A lone mgmtd never fails
 * over, so start-up warns rather than refusing.
 */
export function failoverHazard(section: MgmtdConfig['mgmtd']): string | undefined {
  const takeoverMs = section.lease_ms + section.lease_renew_ms;
  const fencingMs = section.heartbeat_timeout_ms / 2;
  if (takeoverMs + section.heartbeat_interval_ms <= fencingMs) return undefined;
  return (
    `a standby takes over up to ${takeoverMs} ms (lease_ms + lease_renew_ms) after the primary dies, ` +
    `but storage services fence themselves after ${fencingMs} ms (heartbeat_timeout_ms / 2) without ` +
    `mgmtd, less one heartbeat interval to find the new primary: a failover would stop every storage ` +
    `service; lower lease_ms or raise heartbeat_timeout_ms`
  );
}
