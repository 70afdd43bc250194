/**
 * RPC methods served by mgmtd. Only the primary answers state queries and changes; a standby
 * answers MgmtdCode.NotPrimary, and `getPrimary` (served by every mgmtd) says who the primary is.
 */
import { z } from 'zod';
import { defineMethod } from '../../rpc/index.js';
import {
  chainIdSchema,
  chainInfoSchema,
  chainTableIdSchema,
  chainTableSchema,
  localStateSchema,
  nodeIdSchema,
  nodeTypeSchema,
  routingInfoSchema,
  targetIdSchema,
} from './routing-info.js';
import {
  callerInfoSchema,
  tokenTableSchema,
  userAttributesSchema,
  userInfoSchema,
  userNameSchema,
} from './users.js';

/** Service id of mgmtd in RPC frame headers. */
export const mgmtdServiceId = 1;

const primarySchema = z.strictObject({
  nodeId: nodeIdSchema,
  address: z.string().max(256),
  leaseExpiresAtMs: z.number().int().min(0),
});
export type PrimaryInfo = z.infer<typeof primarySchema>;

export const getPrimary = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 1,
  name: 'Mgmtd.getPrimary',
  request: z.strictObject({}),
  response: z.strictObject({ primary: primarySchema.nullable() }),
  idempotent: true,
});

export const heartbeatTargetSchema = z.strictObject({
  targetId: targetIdSchema,
  localState: localStateSchema,
  usedBytes: z.number().int().min(0),
  capacityBytes: z.number().int().min(0),
});
export type HeartbeatTarget = z.infer<typeof heartbeatTargetSchema>;

export const heartbeat = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 2,
  name: 'Mgmtd.heartbeat',
  request: z.strictObject({
    clusterId: z.string().max(64),
    node: z.strictObject({
      nodeId: nodeIdSchema,
      type: nodeTypeSchema,
      address: z.string().max(256),
      hostname: z.string().max(256),
      tags: z.array(z.string().max(128)).max(32),
    }),
    targets: z.array(heartbeatTargetSchema).max(4096),
  }),
  response: z.strictObject({ routingVersion: z.number().int().min(1) }),
  idempotent: true,
});

export const getRoutingInfo = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 3,
  name: 'Mgmtd.getRoutingInfo',
  request: z.strictObject({ knownVersion: z.number().int().min(0) }),
  // Null when the caller's version is current: routing info can be large and rarely changes.
  response: z.strictObject({ routingInfo: routingInfoSchema.nullable() }),
  idempotent: true,
});

export const createChainTable = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 4,
  name: 'Mgmtd.createChainTable',
  request: z.strictObject({
    chainTableId: chainTableIdSchema,
    replicas: z.number().int().min(1).max(16),
    /** Targets to use; all storage targets that are in no chain yet when absent. */
    targetIds: z.array(targetIdSchema).max(100_000).optional(),
  }),
  response: z.strictObject({ chainTable: chainTableSchema, chains: z.array(chainInfoSchema) }),
  idempotent: false,
});

export const uploadChainTable = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 5,
  name: 'Mgmtd.uploadChainTable',
  request: z.strictObject({
    chainTableId: chainTableIdSchema,
    chains: z
      .array(z.strictObject({ chainId: chainIdSchema, targetIds: z.array(targetIdSchema).min(1).max(16) }))
      .min(1)
      .max(100_000),
  }),
  response: z.strictObject({ chainTable: chainTableSchema, chains: z.array(chainInfoSchema) }),
  idempotent: false,
});

/**
 * Moves the `lastsrv` target of a chain where nothing serves, and whose lastsrv target is down, to
 * the end of the chain as `offline`, and makes the next target the last serving one (3FS's
 * rotate-lastsrv). Writes acknowledged only by the old last serving target are lost.
 */
export const rotateLastServing = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 6,
  name: 'Mgmtd.rotateLastServing',
  request: z.strictObject({
    chainId: chainIdSchema,
    /** The chain version the caller saw; the chain is left alone when it changed since. */
    chainVersion: z.number().int().min(1).max(0xffff_ffff).optional(),
  }),
  response: z.strictObject({
    chain: chainInfoSchema,
    previousLastServing: targetIdSchema,
    nextLastServing: targetIdSchema,
  }),
  // A repeated rotation would give up one more replica's newest writes.
  idempotent: false,
});

// --- users and tokens (users.ts) ------------------------------------------------------------

/** Adds a user with one token, whose text is returned once and kept nowhere. */
export const userAdd = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 7,
  name: 'Mgmtd.userAdd',
  request: userAttributesSchema,
  response: z.strictObject({ user: userInfoSchema, token: z.string().max(128) }),
  idempotent: false,
});

export const userList = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 8,
  name: 'Mgmtd.userList',
  request: z.strictObject({}),
  response: z.strictObject({ users: z.array(userInfoSchema) }),
  idempotent: true,
});

export const userRemove = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 9,
  name: 'Mgmtd.userRemove',
  request: z.strictObject({ name: userNameSchema }),
  response: z.strictObject({}),
  idempotent: false,
});

/** A new token for a user; its other tokens keep working for `graceMs` (0: they stop at once). */
export const userSetToken = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 10,
  name: 'Mgmtd.userSetToken',
  request: z.strictObject({
    name: userNameSchema,
    graceMs: z
      .number()
      .int()
      .min(0)
      .max(365 * 24 * 3_600_000),
  }),
  response: z.strictObject({ user: userInfoSchema, token: z.string().max(128) }),
  idempotent: false,
});

/** The users table with the tokens' keys, for services to verify callers (nodes only). */
export const tokenTable = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 11,
  name: 'Mgmtd.tokenTable',
  request: z.strictObject({ knownVersion: z.number().int().min(0) }),
  response: z.strictObject({ table: tokenTableSchema.nullable() }),
  idempotent: true,
});

/** Who the caller is, as the server sees it. */
export const whoAmI = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 12,
  name: 'Mgmtd.whoAmI',
  request: z.strictObject({}),
  response: callerInfoSchema,
  idempotent: true,
});

/** One user's attributes (no tokens), for gateways mapping S3 keys to their users. */
export const userGet = defineMethod({
  serviceId: mgmtdServiceId,
  methodId: 13,
  name: 'Mgmtd.userGet',
  request: z.strictObject({ name: userNameSchema }),
  response: z.strictObject({ user: userAttributesSchema.nullable() }),
  idempotent: true,
});
