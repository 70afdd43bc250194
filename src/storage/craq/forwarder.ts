/**
 * Sends an update to the successor (acting on the core's decision, replicator-core.ts). The
 * payload goes on exactly as it arrived, with the CRC32C its request carries, so every replica
 * checks the client's own checksum; that CRC32C (checked against the payload on arrival) is also
 * the frame's, so forwarding does not sum the payload again. Failures to reach the successor
 * become ForwardFailed; the successor's own status codes (ChainVersionMismatch,
 * ChunkVersionMismatch, NoSpace, …) are passed back unchanged for the core and the client to act on.
 */
import { FsError, assert, describeError } from '../../common/errors.js';
import { StorageCode } from '../../common/status-code.js';
import type { RpcCaller } from '../../rpc/index.js';
import { storageMethods, type ChunkUpdateOp, type UpdateReply } from '../protocol/index.js';
import type { ForwardBody } from './replicator-events.js';

export type { ForwardBody, WireUpdate } from './replicator-events.js';

/** How much longer than the successor's own deadline a forward waits for its answer. */
const replyGraceMs = 100;

export class Forwarder {
  constructor(private readonly rpc: RpcCaller) {}

  /** Sends `body` (with `payload`) to the successor at `address`. */
  async forward(options: {
    address: string;
    body: ForwardBody;
    payload: Buffer | undefined;
  }): Promise<UpdateReply> {
    const { address, body } = options;
    try {
      return await this.rpc.call(address, storageMethods.forward, body, {
        // The successor's own deadline is `timeoutMs`; the call waits a little longer for its answer.
        timeoutMs: body.timeoutMs + replyGraceMs,
        ...wirePayload(body.op, options.payload),
      });
    } catch (error) {
      if (error instanceof FsError && error.code >= 5000 && error.code < 6000) throw error;
      throw new FsError(
        StorageCode.ForwardFailed,
        `forwarding to target ${body.targetId} at ${address} failed: ${describeError(error)}`,
        { cause: error },
      );
    }
  }
}

/**
 * The payload options of a forward. A write or replace carries the CRC32C of its payload, checked
 * when the update arrived (or computed by the store over the bytes read), so the frame reuses it.
 */
function wirePayload(
  op: ChunkUpdateOp,
  payload: Buffer | undefined,
): { payload?: Buffer; payloadCrc32c?: number } {
  if (payload === undefined) return {};
  if (op.kind === 'write' || op.kind === 'replace') {
    assert(op.length === payload.length, 'an update announces its payload length');
    return { payload, payloadCrc32c: op.checksum };
  }
  return { payload };
}
