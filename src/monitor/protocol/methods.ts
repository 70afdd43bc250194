/**
 * RPC methods served by the monitor collector. Pushes travel over the cluster's own RPC, so they
 * are authenticated by the cluster secret like every other call between nodes, bounded by the
 * frame and body limits, and validated with zod at the collector's edge.
 */
import { z } from 'zod';
import { defineMethod } from '../../rpc/index.js';
import { nodeIdSchema, nodeTypeSchema } from '../../mgmtd/protocol/index.js';
import { metricFamiliesSchema } from './samples.js';

/** Service id of the monitor collector in RPC frame headers. */
export const monitorServiceId = 4;

/** A process pushes its current metric snapshot. Repeating a push does no harm: values are cumulative. */
export const push = defineMethod({
  serviceId: monitorServiceId,
  methodId: 1,
  name: 'Monitor.push',
  request: z.strictObject({
    clusterId: z.string().max(64),
    node: z.strictObject({
      nodeId: nodeIdSchema,
      type: nodeTypeSchema,
      hostname: z.string().max(256),
    }),
    /** The sender's wall clock when it took the snapshot (shown, never trusted for ordering). */
    sentAtMs: z.number().int().min(0),
    families: metricFamiliesSchema,
  }),
  response: z.strictObject({}),
  idempotent: true,
});
export type PushRequest = z.infer<typeof push.request>;
