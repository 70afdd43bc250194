/** The mgmtd protocol: routing-info types and RPC method definitions, shared with every caller. */
export * from './routing-info.js';
