/** mgmtd, the cluster manager (DESIGN §8): its server, configuration and cluster bootstrap. */
export { MgmtdServer, type MgmtdServerOptions } from './mgmtd-server.js';
export { failoverHazard, mgmtdConfigSchema, type MgmtdConfig } from './config.js';
export { initCluster, readCluster } from './store/mgmtd-store.js';
export type { ClusterRecord } from './store/records.js';
export * from './protocol/index.js';
export { readTokenTable } from './users/user-store.js';
