/**
 * The admin CLI's settings: from an optional TOML file (`--config`), overridden by flags. Only
 * `init-cluster` needs the `[kv]` section; every other command talks to mgmtd.
 */
import { z } from 'zod';
import { addressSchema, clusterSectionSchema, logSectionSchema } from '../common/config.js';
import { kvSectionSchema } from '../kv/index.js';

export const adminConfigSchema = z.strictObject({
  cluster: clusterSectionSchema,
  kv: kvSectionSchema.optional(),
  mgmtd: z.strictObject({ addresses: z.array(addressSchema).min(1).max(16) }).optional(),
  log: logSectionSchema.prefault({ level: 'warn' }),
});
export type AdminConfig = z.output<typeof adminConfigSchema>;

/**
 * Service configs (mgmtd.toml, …) carry the same `[cluster]` and `[kv]` sections: the admin
 * accepts them too, so `admin --config mgmtd.toml init-cluster` works on a fresh host.
 */
export const serviceConfigForAdminSchema = z.looseObject({
  cluster: clusterSectionSchema,
  kv: kvSectionSchema.optional(),
  node: z.looseObject({ listen: addressSchema.optional(), advertise: addressSchema.optional() }).optional(),
});
