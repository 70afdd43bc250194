/**
 * The NFS gateway (DESIGN §14): NFSv3 with MOUNT and NFSv4.0 on the client library, its configuration, and
 * its start and stop.
 */
export { nfsConfigSchema, type NfsConfig } from './config.js';
export { startNfsGateway, nfsClientId, type NfsGateway, type NfsGatewayOptions } from './gateway.js';
