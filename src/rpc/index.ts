/**
 * The RPC layer's public face: framed binary RPC over TCP with cluster-secret authentication.
 * Other components import from here only; every other file of src/rpc is internal.
 */
export { defineMethod, type MethodDef } from './method.js';
export type { CallContext } from './request-dispatch.js';
export { RpcServer, type RpcHandlers, type RpcServerOptions } from './server.js';
export { PayloadPool, holdPayload, releasePayload } from './payload-pool.js';
export {
  RpcClient,
  type CallOptions,
  type ReplyWithPayload,
  type RpcCaller,
  type RpcClientOptions,
} from './client.js';
export { probeClusterSecret, type SecretProbe, type SecretProbeResult } from './secret-probe.js';
export {
  callerMayCall,
  createToken,
  nodeCaller,
  parseToken,
  tokenIdPattern,
  tokenKeyOf,
  type Caller,
  type MethodAccess,
  type PresentedToken,
  type TokenVerifier,
  type UserIdentity,
} from './caller.js';
export { TokenDirectory, type TokenDirectoryOptions, type TokenTable } from './token-directory.js';
