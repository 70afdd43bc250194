/**
 * The users table a meta or storage service verifies callers' tokens against, loaded from mgmtd
 * (mgmtd/users/token-directory.ts) and started at once.
 */
import { systemClock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { mgmtdMethods } from '../mgmtd/protocol/index.js';
import { TokenDirectory, type RpcClient } from '../rpc/index.js';
import { MgmtdClient } from './mgmtd-client.js';

export function tokenDirectoryFromMgmtd(options: {
  config: { mgmtd: { addresses: readonly string[]; timeout_ms: number } };
  rpcClient: RpcClient;
  logger: Logger;
}): TokenDirectory {
  const mgmtd = new MgmtdClient({
    addresses: options.config.mgmtd.addresses,
    rpc: options.rpcClient,
    clock: systemClock,
    logger: options.logger,
    timeoutMs: options.config.mgmtd.timeout_ms,
  });
  const directory = new TokenDirectory({
    fetch: async (knownVersion) => (await mgmtd.call(mgmtdMethods.tokenTable, { knownVersion })).table,
    clock: systemClock,
    logger: options.logger,
  });
  directory.start();
  return directory;
}
