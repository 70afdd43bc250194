/**
 * The meta service (DESIGN §6): the POSIX namespace on the transactional KV. Other components use
 * it through this file; callers of the service need only ./protocol/.
 */
export { MetaServer, type MetaServerOptions } from './meta-server.js';
export { MetaService, type MetaServiceOptions } from './meta-service.js';
export { metaConfigSchema, type MetaConfig } from './config.js';
export { checkInvariants, type InvariantReport } from './fsck/invariant-checker.js';
export { setDirectoryLayoutCommand } from './admin-command.js';
export * from './protocol/index.js';
