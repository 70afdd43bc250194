/**
 * Loading of TOML configuration files, validated with zod. A bad file fails at start-up with
 * every problem listed by its full key path and the reason; nothing starts half-configured.
 */
import { readFileSync } from 'node:fs';
import TOML from '@iarna/toml';
import { z } from 'zod';
import { readClusterSecretsFile } from './cluster-secrets.js';
import { FsError, assert, describeError } from './errors.js';
import { CommonCode } from './status-code.js';
import { limits } from './limits.js';
import { logLevels } from './logger.js';

/** Formats zod issues as `key.path: reason` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        const prefix = path === '' ? '' : `${path}.`;
        return issue.keys.map((key) => `${prefix}${key}: unknown key`).join('\n');
      }
      return `${path === '' ? '(top level)' : path}: ${issue.message}`;
    })
    .join('\n');
}

/** Parses TOML text and validates it against `schema`; `source` names the file in errors. */
export function parseConfig<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  let raw: unknown;
  try {
    raw = TOML.parse(text);
  } catch (error) {
    throw new FsError(CommonCode.ConfigInvalid, `${source}: not valid TOML: ${describeError(error)}`, {
      cause: error,
    });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      `${source}: invalid configuration:\n${formatIssues(result.error.issues)}`,
    );
  }
  return result.data;
}

/** Reads and validates a TOML configuration file. */
export function loadConfig<S extends z.ZodType>(schema: S, path: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FsError(CommonCode.ConfigInvalid, `cannot read config file ${path}: ${describeError(error)}`, {
      cause: error,
    });
  }
  return parseConfig(schema, text, path);
}

/** `host:port` with a port in 0..65535 (0 asks the OS for a free port, for tests). */
export const addressSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected "host:port"')
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

/** The `[log]` section every process accepts. */
export const logSectionSchema = z.strictObject({
  level: z.enum(logLevels).default('info'),
});

/** The `[cluster]` section: which cluster a process belongs to and where its shared secret is. */
export const clusterSectionSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-", 1 to 64 of them'),
  /**
   * File holding the cluster secret that authenticates nodes to each other (never in the Nix
   * store): one secret per line, the first the one to connect with, all accepted (a rotation).
   */
  secret_file: z.string().min(1),
});

/**
 * The `[cluster]` section of a client of the file system (FUSE daemon, gateways): `token_file`,
 * when set, holds the user token its calls are made with (`admin user-add`), metrics pushes
 * included; the daemon then acts for other uids only if the token's user is trusted. With a token
 * the client needs no `secret_file`: a host that only mounts holds no secret of the cluster's.
 */
export const clientClusterSectionSchema = clusterSectionSchema
  .extend({
    secret_file: z.string().min(1).optional(),
    token_file: z.string().min(1).optional(),
  })
  .refine((cluster) => cluster.secret_file !== undefined || cluster.token_file !== undefined, {
    message: 'set token_file (a user token) or secret_file (the cluster secret)',
  });

/**
 * The `[cluster]` section of an NFS gateway: a token for its calls as other clients may, and the
 * secret file always, since the gateway's file handles are keyed by the cluster secret unless
 * `[nfs] handle_secret_file` names another.
 */
export const gatewayClusterSectionSchema = clusterSectionSchema.extend({
  token_file: z.string().min(1).optional(),
});

/**
 * Reads a cluster secret file and returns the secret this process connects with: its first line
 * (cluster-secrets.ts has the file's rules; a process that follows rotations watches the file
 * with secret-file-watcher.ts instead).
 */
export function readSecretFile(path: string): string {
  const [current] = readClusterSecretsFile(path);
  assert(current !== undefined, 'a parsed secret file lists at least one secret');
  return current;
}

/** Splits `host:port` into its parts. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  let host = address.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(address.slice(colon + 1)) };
}

/** The `[node]` section every service has: its id in the cluster and where it listens. */
export const nodeSectionSchema = z.strictObject({
  id: z.number().int().min(1).max(0xffff_ffff),
  /** Address to listen on; port 0 picks a free port (tests). */
  listen: addressSchema,
  /** Address others use to reach this node; defaults to the bound listen address. */
  advertise: addressSchema.optional(),
  hostname: z.string().max(256).optional(),
  /** Free-form labels (rack, zone) shown in routing info. */
  tags: z.array(z.string().max(128)).max(32).default([]),
});

/** The `[mgmtd]` section of services other than mgmtd: where it is and how often to heartbeat. */
export const mgmtdClientSectionSchema = z.strictObject({
  addresses: z.array(addressSchema).min(1).max(16),
  heartbeat_interval_ms: z.number().int().min(10).max(600_000).default(limits.heartbeatIntervalMsDefault),
  /** Deadline of each call to mgmtd. */
  timeout_ms: z.number().int().min(10).max(600_000).default(5_000),
});
