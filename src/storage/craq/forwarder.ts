/**
 * Sends an update to the successor (acting on the core's decision, replicator-core.ts). The
 * payload goes on exactly as it arrived, with the CRC32C its request carries, so every replica
 * checks the client's own checksum; that CRC32C (checked against the payload on arrival) is also
 * the frame's, so forwarding does not sum the payload again. Failures to reach the successor
 * become ForwardFailed; the successor's own status codes (ChainVersionMismatch,
 * ChunkVersionMismatch, NoSpace, …) are passed back unchanged for the core and the client to act on.
 *
 * Updates without a payload (clones, removes, truncates, zeroed ranges) bound for one successor in
 * the same turn of the event loop leave together in one `forwardBatch` message (a clone batch at
 * the head makes dozens at once). Each is applied there exactly as if sent alone and gets its own
 * result, so batching changes what travels, never what happens: each caller still gets its own
 * reply or error, as from a forward of its update alone.
 */
import { FsError, assert, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { RpcCode, StorageCode } from '../../common/status-code.js';
import type { RpcCaller } from '../../rpc/index.js';
import {
  storageMethods,
  updateResultError,
  type ChunkUpdateOp,
  type UpdateReply,
  type UpdateResult,
} from '../protocol/index.js';
import type { ForwardBody } from './replicator-events.js';

export type { ForwardBody, WireUpdate } from './replicator-events.js';

/** How much longer than the successor's own deadline a forward waits for its answer. */
const replyGraceMs = 100;

/** A payload-free forward waiting for its batch to leave. */
interface QueuedForward {
  readonly body: ForwardBody;
  readonly resolve: (reply: UpdateReply) => void;
  readonly reject: (error: unknown) => void;
}

export class Forwarder {
  /** Per successor address: payload-free forwards of this turn of the event loop. */
  private readonly queued = new Map<string, QueuedForward[]>();

  constructor(private readonly rpc: RpcCaller) {}

  /** Sends `body` (with `payload`) to the successor at `address`. */
  forward(options: {
    address: string;
    body: ForwardBody;
    payload: Buffer | undefined;
  }): Promise<UpdateReply> {
    if (options.payload !== undefined) return this.forwardOne(options);
    return new Promise((resolve, reject) => {
      const queue = this.queued.get(options.address);
      if (queue !== undefined) {
        queue.push({ body: options.body, resolve, reject });
        return;
      }
      this.queued.set(options.address, [{ body: options.body, resolve, reject }]);
      process.nextTick(() => this.flush(options.address));
    });
  }

  /** Sends what waits for `address`: alone when it is one update, else in batches. */
  private flush(address: string): void {
    const queue = this.queued.get(address);
    assert(queue !== undefined && queue.length > 0, 'a flush has forwards to send');
    this.queued.delete(address);
    if (queue.length === 1) {
      const only = queue[0] as QueuedForward;
      this.forwardOne({ address, body: only.body, payload: undefined }).then(only.resolve, only.reject);
      return;
    }
    for (let start = 0; start < queue.length; start += limits.storageUpdateBatchMax) {
      void this.forwardBatch(address, queue.slice(start, start + limits.storageUpdateBatchMax));
    }
  }

  /** One forwardBatch call; settles every forward in it, never rejects itself. */
  private async forwardBatch(address: string, batch: QueuedForward[]): Promise<void> {
    const timeoutMs = Math.max(...batch.map((queued) => queued.body.timeoutMs));
    let results: UpdateResult[];
    try {
      const reply = await this.rpc.call(
        address,
        storageMethods.forwardBatch,
        { updates: batch.map((queued) => queued.body) },
        { timeoutMs: timeoutMs + replyGraceMs },
      );
      results = reply.results;
      if (results.length !== batch.length) {
        throw new FsError(
          StorageCode.ForwardFailed,
          `a batch of ${batch.length} forwards got ${results.length} results`,
        );
      }
    } catch (error) {
      if (error instanceof FsError && error.code === RpcCode.UnknownMethod) {
        // A successor that does not know batches yet (a rolling upgrade): each update alone.
        for (const queued of batch) {
          this.forwardOne({ address, body: queued.body, payload: undefined }).then(
            queued.resolve,
            queued.reject,
          );
        }
        return;
      }
      for (const queued of batch) queued.reject(forwardFailure(error, queued.body.targetId, address));
      return;
    }
    batch.forEach((queued, index) => {
      const result = results[index] as UpdateResult;
      if (result.ok) queued.resolve(result.reply);
      else queued.reject(forwardFailure(updateResultError(result), queued.body.targetId, address));
    });
  }

  private async forwardOne(options: {
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
      throw forwardFailure(error, body.targetId, address);
    }
  }
}

/** The successor's own storage status as it is; any other failure to forward as ForwardFailed. */
function forwardFailure(error: unknown, targetId: number, address: string): FsError {
  if (error instanceof FsError && error.code >= 5000 && error.code < 6000) return error;
  return new FsError(
    StorageCode.ForwardFailed,
    `forwarding to target ${targetId} at ${address} failed: ${describeError(error)}`,
    { cause: error },
  );
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
