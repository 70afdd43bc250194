/**
 * The FUSE daemon (DESIGN §10): the file system on the native low-level binding (lowlevel/),
 * mapped onto the client library, its configuration, and its start and stop.
 */
export { fuseConfigSchema, type FuseConfig } from './config.js';
export { startFuseDaemon, mayAllowOther, type FuseDaemon, type FuseDaemonOptions } from './fuse-daemon.js';
export { FuseFileSystem, credentialsOf } from './fuse-file-system.js';
export { toErrno, errnoOfStatus } from './errno-map.js';
