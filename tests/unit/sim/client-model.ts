// A simulated writer: one per chunk, one write at a time, through the chain's head with the retry
// rules of the storage client (storage/client/storage-client.ts): fresh routing info and a backoff
// after a retryable failure, a bounded number of attempts. It keeps what the chunk may hold: the
// content of its last acknowledged write, plus the contents of writes that failed after it (each
// may or may not have landed) and of the write in flight. After a failure it replaces the whole
// chunk, so the content is known again once that replace is acknowledged.
import { FsError } from '../../../src/common/errors.js';
import type { Random } from '../../../src/common/random.js';
import { ClientCode, CommonCode, RpcCode, StorageCode } from '../../../src/common/status-code.js';
import type { ChainInfo, RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import { applyOp, type SimOp } from './chunk-model.js';
import { mgmtdId } from './mgmtd-model.js';
import type { Endpoint, SimNetwork } from './network.js';
import type { SimScheduler } from './scheduler.js';
import { storageEndpointId, type UpdateReply, type WriteRequest } from './storage-model.js';
import type { SimTimings } from './timings.js';

/** The storage client's retryable failures of an update. */
const updateRetryCodes: ReadonlySet<number> = new Set<number>([
  RpcCode.Timeout,
  RpcCode.ConnectionClosed,
  RpcCode.ConnectFailed,
  RpcCode.Overloaded,
  CommonCode.ShuttingDown,
  StorageCode.TargetNotFound,
  StorageCode.TargetNotServing,
  StorageCode.ChunkBusy,
  StorageCode.DiskFailed,
  StorageCode.ChainVersionMismatch,
  StorageCode.NotChainHead,
  StorageCode.ChainNotFound,
  StorageCode.ForwardFailed,
]);

/** Marks "the chunk does not exist" among possible contents. */
export const absent = '(absent)';

export class SimWriter implements Endpoint {
  readonly id: string;
  incarnation = 1;
  alive = true;
  private routing: RoutingInfo | undefined;
  /** Content after the last acknowledged write (undefined: absent, as before the first write). */
  acked: string | undefined = undefined;
  /** Contents of writes that failed since the last acknowledged one. */
  unknown: Array<string | undefined> = [];
  /** Content of the write in flight, if one is. */
  inFlight: { content: string | undefined } | undefined;
  ackedWrites = 0;
  failedWrites = 0;
  private sequence = 0;
  stopped = false;

  constructor(
    readonly writerId: number,
    readonly chainId: number,
    readonly chunk: string,
    private readonly scheduler: SimScheduler,
    private readonly network: SimNetwork,
    private readonly random: Random,
    private readonly timings: SimTimings,
  ) {
    this.id = `c${writerId}`;
  }

  handle(): Promise<unknown> {
    return Promise.reject(new Error('writers serve nothing'));
  }

  /** Every content the chunk may hold now. */
  allowed(): Set<string> {
    const contents = [
      this.acked,
      ...this.unknown,
      ...(this.inFlight === undefined ? [] : [this.inFlight.content]),
    ];
    return new Set(contents.map((content) => content ?? absent));
  }

  /** Writes until `stopped`, pausing a little between writes. */
  async run(): Promise<void> {
    while (!this.stopped) {
      await this.scheduler.sleep(this.random.nextInt(30));
      if (this.stopped) break;
      const base = this.acked;
      const op = this.chooseOp(base);
      const next = applyOp(base, op);
      this.inFlight = { content: next };
      try {
        await this.update(op);
        this.acked = next;
        this.unknown = [];
        this.ackedWrites += 1;
      } catch (error) {
        if (!(error instanceof FsError)) throw error;
        this.unknown.push(next);
        this.failedWrites += 1;
      }
      this.inFlight = undefined;
    }
  }

  private chooseOp(base: string | undefined): SimOp {
    const data = `<${this.writerId}.${++this.sequence}>`;
    const roll = this.random.nextInt(100);
    if (this.unknown.length > 0 || base === undefined || base.length > 160) {
      return roll < 90 ? { kind: 'replace', data } : { kind: 'remove' };
    }
    if (roll < 45) return { kind: 'write', offset: base.length, data };
    if (roll < 60) return { kind: 'write', offset: this.random.nextInt(base.length + 1), data };
    if (roll < 70) return { kind: 'truncate', length: this.random.nextInt(base.length + 4) };
    if (roll < 90) return { kind: 'replace', data };
    return { kind: 'remove' };
  }

  private chain(): ChainInfo | undefined {
    return this.routing?.chains.find((chain) => chain.chainId === this.chainId);
  }

  private async refresh(): Promise<void> {
    try {
      this.routing = await this.network.call<RoutingInfo>(this.id, mgmtdId, 'getRouting', {}, 200);
    } catch {
      // the next attempt uses the routing info held
    }
  }

  private async update(op: SimOp): Promise<UpdateReply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.timings.clientAttemptsMax; attempt++) {
      if (attempt > 0 || this.routing === undefined) {
        await this.refresh();
        const ceiling = Math.min(this.timings.clientBackoffMsMax, 20 * 2 ** Math.max(0, attempt - 1));
        if (attempt > 0) await this.scheduler.sleep(ceiling / 2 + this.random.nextFloat() * (ceiling / 2));
      }
      const chain = this.chain();
      const head = chain?.targets[0];
      if (chain === undefined || head === undefined || head.publicState !== 'serving') {
        lastError = new FsError(ClientCode.NoServingReplica, 'no serving head');
        continue;
      }
      const nodeId = this.routing?.targets.find((target) => target.targetId === head.targetId)?.nodeId;
      if (nodeId === undefined) continue;
      const request: WriteRequest = {
        targetId: head.targetId,
        chainId: chain.chainId,
        chainVersion: chain.chainVersion,
        chunk: this.chunk,
        timeoutMs: this.timings.writeTimeoutMs,
        op,
      };
      try {
        return await this.network.call<UpdateReply>(
          this.id,
          storageEndpointId(nodeId),
          'write',
          request,
          this.timings.writeTimeoutMs + 200,
        );
      } catch (error) {
        if (!(error instanceof FsError) || !updateRetryCodes.has(error.code)) throw error;
        lastError = error;
      }
    }
    throw lastError instanceof FsError
      ? lastError
      : new FsError(ClientCode.NoServingReplica, 'no attempt succeeded');
  }
}
