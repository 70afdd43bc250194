/**
 * The operator side of `admin set-dir-layout`: finds the online meta services in routing info and
 * asks the first that answers to change a directory's default layout, speaking as root. Only a
 * failure to reach a service moves on to the next; a refusal (no such directory, bad chain
 * table) is the answer.
 */
import { FsError } from '../common/errors.js';
import { ClientCode, RpcCode } from '../common/status-code.js';
import type { RoutingInfo } from '../mgmtd/protocol/index.js';
import type { RpcClient } from '../rpc/index.js';
import { metaMethods, type Inode } from './protocol/index.js';

/** Failures after which another meta service may answer. */
const unreachableCodes: ReadonlySet<number> = new Set([
  RpcCode.ConnectFailed,
  RpcCode.ConnectionClosed,
  RpcCode.Timeout,
]);

export interface SetDirectoryLayoutOptions {
  rpc: RpcClient;
  routing: RoutingInfo;
  /** Absolute path of the directory. */
  path: string;
  chainTableId?: number;
  chunkSizeBytes?: number;
  stripeSize?: number;
  timeoutMs: number;
}

/** Changes a directory's default layout and returns the directory as it is now. */
export async function setDirectoryLayoutCommand(options: SetDirectoryLayoutOptions): Promise<Inode> {
  const addresses = options.routing.nodes
    .filter((node) => node.type === 'meta' && node.status === 'online')
    .map((node) => node.address);
  if (addresses.length === 0) throw new FsError(ClientCode.RoutingUnavailable, 'no meta service is online');
  const request = {
    cred: { uid: 0, gid: 0, groups: [] },
    at: { path: options.path },
    ...(options.chainTableId === undefined ? {} : { chainTableId: options.chainTableId }),
    ...(options.chunkSizeBytes === undefined ? {} : { chunkSizeBytes: options.chunkSizeBytes }),
    ...(options.stripeSize === undefined ? {} : { stripeSize: options.stripeSize }),
  };
  let lastError: unknown;
  for (const address of addresses) {
    try {
      const { inode } = await options.rpc.call(address, metaMethods.setDirLayout, request, {
        timeoutMs: options.timeoutMs,
      });
      return inode;
    } catch (error) {
      if (!(error instanceof FsError) || !unreachableCodes.has(error.code)) throw error;
      lastError = error;
    }
  }
  throw new FsError(ClientCode.RoutingUnavailable, `no meta service answered (${addresses.join(', ')})`, {
    cause: lastError,
  });
}
