/**
 * The shapes of mgmtd's records in the KV (DESIGN §8), each with a format version for upgrades.
 * Every record is validated before it is written and after it is read (common/record-codec).
 */
import { z } from 'zod';
import {
  chainInfoSchema,
  chainTableSchema,
  nodeInfoSchema,
  nodeIdSchema,
  targetInfoSchema,
} from '../protocol/index.js';

const format1 = z.literal(1);

/** The cluster itself, written once by `admin init-cluster`. */
export const clusterRecordSchema = z.strictObject({
  format: format1,
  clusterId: z.string().min(1).max(64),
  createdAtMs: z.number().int().min(0),
  /** Defaults for the root directory's file layout (the meta service uses them). */
  defaultChunkSizeBytes: z
    .number()
    .int()
    .min(4096)
    .max(64 * 1024 * 1024),
  defaultStripeSize: z.number().int().min(1).max(256),
});
export type ClusterRecord = z.infer<typeof clusterRecordSchema>;

/** The primary's lease: who is primary, until when, and a term that grows with every new holder. */
export const leaseRecordSchema = z.strictObject({
  format: format1,
  nodeId: nodeIdSchema,
  address: z.string().max(256),
  expiresAtMs: z.number().int().min(0),
  term: z.number().int().min(1),
});
export type LeaseRecord = z.infer<typeof leaseRecordSchema>;

export const nodeRecordSchema = z.strictObject({ format: format1, node: nodeInfoSchema });
export const targetRecordSchema = z.strictObject({ format: format1, target: targetInfoSchema });
export const chainRecordSchema = z.strictObject({ format: format1, chain: chainInfoSchema });
export const chainTableRecordSchema = z.strictObject({ format: format1, chainTable: chainTableSchema });
export const routingVersionRecordSchema = z.strictObject({
  format: format1,
  routingVersion: z.number().int().min(1),
});
