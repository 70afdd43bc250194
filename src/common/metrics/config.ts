/**
 * The `[monitor]` section every service accepts: where it serves its own /metrics (optional),
 * which collector(s) it pushes snapshots to, and how often.
 *
 *   [monitor]
 *   listen = "0.0.0.0:9200"              # optional: this process's own Prometheus endpoint
 *   collector = ["10.0.0.5:9100"]        # the collector's RPC address(es); empty: no pushing
 *   push_interval_ms = 5000
 */
import { z } from 'zod';
import { addressSchema } from '../config.js';
import { limits } from '../limits.js';

export const monitorSectionSchema = z
  .strictObject({
    /** Address of this process's own /metrics endpoint; absent: none. */
    listen: addressSchema.optional(),
    /**
     * Collector RPC addresses; a push goes to one of them and moves on to the next after a
     * failure. One address may be given as a plain string.
     */
    collector: z
      .union([addressSchema, z.array(addressSchema).max(8)])
      .default([])
      .transform((value) => (typeof value === 'string' ? [value] : value)),
    push_interval_ms: z.number().int().min(100).max(3_600_000).default(limits.monitorPushIntervalMsDefault),
    /** Deadline of one push; at most push_interval_ms (the default), so pushes never pile up. */
    push_timeout_ms: z.number().int().min(10).max(3_600_000).optional(),
  })
  .superRefine((section, context) => {
    if (section.push_timeout_ms !== undefined && section.push_timeout_ms > section.push_interval_ms) {
      context.addIssue({
        code: 'custom',
        path: ['push_timeout_ms'],
        message: 'must be at most push_interval_ms',
      });
    }
  });

/** A parsed `[monitor]` section. */
export type MonitorSection = z.output<typeof monitorSectionSchema>;
