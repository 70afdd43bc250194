/**
 * Sends an update to the successor (acting on forward-plan.ts's decision). The payload goes on
 * exactly as it arrived, with the CRC32C its request carries, so every replica checks the
 * client's own checksum; that CRC32C (checked against the payload on arrival) is also the frame's,
 * so forwarding does not sum the payload again. When the successor is syncing, or answers that it cannot apply the update
 * to its copy (ChunkVersionMismatch, or a corrupted base), the whole pending chunk is sent instead,
 * once. Failures to reach the successor become ForwardFailed; the successor's own status codes
 * (ChainVersionMismatch, NoSpace, …) are passed back unchanged for the client to act on.
 */
import { FsError, assert, describeError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { StorageCode, statusName } from '../../common/status-code.js';
import type { RpcClient } from '../../rpc/index.js';
import { storageMethods, type ChunkUpdateOp, type UpdateReply } from '../protocol/index.js';
import type { Successor } from './forward-plan.js';

/** The forward request without the parts the forwarder fills in. */
export interface ForwardRequest {
  readonly chainId: number;
  readonly chainVersion: number;
  readonly chunkId: { readonly inode: bigint; readonly index: number };
  readonly chunkSizeBytes: number;
  readonly updateVersion: number;
  readonly fromTargetId: number;
}

/** An update in the form sent on the wire, with its payload. */
export interface WireUpdate {
  readonly op: ChunkUpdateOp;
  readonly payload: Buffer | undefined;
}

/** Codes after which the successor gets the whole chunk instead of the update. */
const wholeChunkFallbackCodes: ReadonlySet<number> = new Set([
  StorageCode.ChunkVersionMismatch,
  StorageCode.ChunkCorrupted,
]);

export class Forwarder {
  constructor(
    private readonly rpc: RpcClient,
    private readonly logger: Logger,
  ) {}

  /** Forwards `update` to `successor` at `address`; `wholeChunk` reads the pending version in full. */
  async forward(options: {
    request: ForwardRequest;
    successor: Successor;
    address: string;
    update: WireUpdate;
    wholeChunk: () => Promise<WireUpdate>;
    timeoutMs: number;
  }): Promise<UpdateReply> {
    const { successor } = options;
    if (successor.fullChunk) return this.send(options, await options.wholeChunk());
    try {
      return await this.send(options, options.update);
    } catch (error) {
      if (!(error instanceof FsError) || !wholeChunkFallbackCodes.has(error.code)) throw error;
      this.logger.info(
        { successor: successor.targetId, code: statusName(error.code), reason: error.message },
        'successor cannot apply the update to its copy; sending the whole chunk',
      );
      return this.send(options, await options.wholeChunk());
    }
  }

  private async send(
    options: { request: ForwardRequest; successor: Successor; address: string; timeoutMs: number },
    update: WireUpdate,
  ): Promise<UpdateReply> {
    const { request, successor, address, timeoutMs } = options;
    try {
      return await this.rpc.call(
        address,
        storageMethods.forward,
        { ...request, targetId: successor.targetId, op: update.op, timeoutMs },
        // The successor's own deadline is `timeoutMs`; the call waits a little longer for its answer.
        { timeoutMs: timeoutMs + 100, ...wirePayload(update) },
      );
    } catch (error) {
      if (error instanceof FsError && error.code >= 5000 && error.code < 6000) throw error;
      throw new FsError(
        StorageCode.ForwardFailed,
        `forwarding to target ${successor.targetId} at ${address} failed: ${describeError(error)}`,
        { cause: error },
      );
    }
  }
}

/**
 * The payload options of a forward. A write or replace carries the CRC32C of its payload, checked
 * when the update arrived (or computed by the store over the bytes read), so the frame reuses it.
 */
function wirePayload(update: WireUpdate): { payload?: Buffer; payloadCrc32c?: number } {
  if (update.payload === undefined) return {};
  const { op } = update;
  if (op.kind === 'write' || op.kind === 'replace') {
    assert(op.length === update.payload.length, 'an update announces its payload length');
    return { payload: update.payload, payloadCrc32c: op.checksum };
  }
  return { payload: update.payload };
}
