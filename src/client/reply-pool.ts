/**
 * The reply payload pool of the services that read files for others (the FUSE daemon, the NFS
 * and S3 gateways): chunk replies land in its buffers, and each service lets go of a read's bytes
 * once they are on their way to its own client (FsClientOptions.replyPayloadPool).
 */
import { limits } from '../common/limits.js';
import { PayloadPool } from '../rpc/index.js';

export function readReplyPool(): PayloadPool {
  return new PayloadPool({
    minBytes: limits.rpcDirectPayloadMinBytes,
    maxBytes: limits.readReplyPoolBytesMax,
    keptBytesMax: limits.readReplyPoolKeptBytesMax,
  });
}
