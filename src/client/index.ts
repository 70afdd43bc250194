/** The client library (DESIGN §9). */
export { MgmtdClient } from './mgmtd-client.js';
export { HeartbeatLoop, type HeartbeatLoopOptions } from './heartbeat-loop.js';
