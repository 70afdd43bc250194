/** The mgmtd protocol: routing-info types and RPC method definitions, shared with every caller. */
export * from './routing-info.js';
export * as mgmtdMethods from './methods.js';
export type { PrimaryInfo, HeartbeatTarget } from './methods.js';
export * from './users.js';
