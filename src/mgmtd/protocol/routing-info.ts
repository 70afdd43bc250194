/**
 * Cluster membership and placement as mgmtd hands it out: nodes, targets, chains, chain tables
 * and their states, under one routing-info version. Shared by every component that talks to mgmtd.
 *
 * Ids are numbers: node, target and chain ids are 32-bit in 3FS's own numbering schemes and fit
 * JavaScript's safe integers; the schemas bound them so a bad value is refused at the edge.
 */
import { z } from 'zod';

const u32 = z.number().int().min(0).max(0xffff_ffff);

export const nodeIdSchema = u32.min(1);
export const targetIdSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
export const chainIdSchema = u32.min(1);
export const chainTableIdSchema = u32.min(1);

export type NodeId = number;
export type TargetId = number;
export type ChainId = number;
export type ChainTableId = number;

/** Kinds of node in a cluster. */
export const NodeType = {
  Mgmtd: 'mgmtd',
  Meta: 'meta',
  Storage: 'storage',
  Client: 'client',
  Fuse: 'fuse',
  Monitor: 'monitor',
  /** An NFS gateway (nfs_gateway_main). */
  Nfs: 'nfs',
  /** An S3 gateway (s3_gateway_main). */
  S3: 's3',
} as const;
export type NodeType = (typeof NodeType)[keyof typeof NodeType];
export const nodeTypeSchema = z.enum(['mgmtd', 'meta', 'storage', 'client', 'fuse', 'monitor', 'nfs', 's3']);

/** A node's liveness as judged by mgmtd from its heartbeats. */
export const NodeStatus = { Online: 'online', Offline: 'offline' } as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];
export const nodeStatusSchema = z.enum(['online', 'offline']);

/** Public target states (DESIGN §7), as shown in routing info. */
export const PublicState = {
  Serving: 'serving',
  Syncing: 'syncing',
  Waiting: 'waiting',
  LastServing: 'lastsrv',
  Offline: 'offline',
} as const;
export type PublicState = (typeof PublicState)[keyof typeof PublicState];
export const publicStateSchema = z.enum(['serving', 'syncing', 'waiting', 'lastsrv', 'offline']);

/** Local target states (DESIGN §7), as reported by a storage service in its heartbeats. */
export const LocalState = { UpToDate: 'up-to-date', Online: 'online', Offline: 'offline' } as const;
export type LocalState = (typeof LocalState)[keyof typeof LocalState];
export const localStateSchema = z.enum(['up-to-date', 'online', 'offline']);

export const nodeInfoSchema = z.strictObject({
  nodeId: nodeIdSchema,
  type: nodeTypeSchema,
  address: z.string().max(256),
  hostname: z.string().max(256),
  status: nodeStatusSchema,
  /** Wall-clock time of the last heartbeat the primary received (0: none since it took over). */
  lastHeartbeatMs: z.number().int().min(0),
  /** Free-form labels, e.g. rack or zone, for placement and display. */
  tags: z.array(z.string().max(128)).max(32),
});
export type NodeInfo = z.infer<typeof nodeInfoSchema>;

export const targetInfoSchema = z.strictObject({
  targetId: targetIdSchema,
  nodeId: nodeIdSchema,
  /** The chain this target belongs to; 0 while it is in no chain yet. */
  chainId: z.number().int().min(0).max(0xffff_ffff),
  localState: localStateSchema,
  publicState: publicStateSchema,
  /** Disk usage as last reported (bytes). */
  usedBytes: z.number().int().min(0),
  capacityBytes: z.number().int().min(0),
});
export type TargetInfo = z.infer<typeof targetInfoSchema>;

export const chainTargetSchema = z.strictObject({
  targetId: targetIdSchema,
  publicState: publicStateSchema,
  /**
   * For a target that stopped serving: the chain version under which it last served, so it holds
   * every write acknowledged up to then. Absent while it serves, and for a target that has not
   * served since it joined the chain. Tells which down replica holds the newest writes.
   */
  servedUntilChainVersion: z.number().int().min(1).max(0xffff_ffff).optional(),
});
export type ChainTarget = z.infer<typeof chainTargetSchema>;

export const chainInfoSchema = z.strictObject({
  chainId: chainIdSchema,
  /** Bumped whenever the chain's membership, order or target states change. */
  chainVersion: z.number().int().min(1).max(0xffff_ffff),
  /** Ordered head first; offline targets are kept at the end. */
  targets: z.array(chainTargetSchema).min(1).max(16),
});
export type ChainInfo = z.infer<typeof chainInfoSchema>;

export const chainTableSchema = z.strictObject({
  chainTableId: chainTableIdSchema,
  chainTableVersion: z.number().int().min(1),
  chains: z.array(chainIdSchema).max(100_000),
});
export type ChainTable = z.infer<typeof chainTableSchema>;

export const routingInfoSchema = z.strictObject({
  clusterId: z.string(),
  routingVersion: z.number().int().min(1),
  nodes: z.array(nodeInfoSchema),
  targets: z.array(targetInfoSchema),
  chains: z.array(chainInfoSchema),
  chainTables: z.array(chainTableSchema),
});
export type RoutingInfo = z.infer<typeof routingInfoSchema>;
