// A simulated writer: one per chunk, one update at a time, through the shipped chain I/O client
// (cluster/chunk-client.ts with its retry rules, chunk-retry.ts, and its routing cache) over the
// simulated network. It keeps what the chunk may hold: the content after its last acknowledged
// update, plus the contents of updates that failed after it (each may or may not have landed) and
// of the update in flight. After a failure it removes the chunk, so the content is known again
// once that removal is acknowledged. Where a power cut may take back what the stores had not
// synced, an update counts as done only once an fsync of the chain (ChunkClient.syncChains)
// acknowledged it too; elsewhere the writer fsyncs now and then.
import { FsError } from '../../../src/common/errors.js';
import type { Random } from '../../../src/common/random.js';
import { silentLogger } from '../../../src/common/logger.js';
import { ChunkClient, RoutingCache } from '../../../src/cluster/index.js';
import type { RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';
import { applyOp, describeContent, type WriterOp } from './chunk-model.js';
import { mgmtdId } from './mgmtd-model.js';
import type { Endpoint, SimMessage, SimNetwork } from './network.js';
import { ProcessClock, type ClockSkew } from './process-clock.js';
import type { SimScheduler } from './scheduler.js';
import { SimRpcClient } from './sim-rpc.js';
import type { SimTimings } from './timings.js';

export class SimWriter implements Endpoint {
  readonly id: string;
  readonly chunkId: ChunkId;
  incarnation = 1;
  alive = true;
  /** Content after the last acknowledged update (undefined: absent, as before the first write). */
  acked: string | undefined = undefined;
  /** Contents of updates that failed since the last acknowledged one. */
  unknown: Array<string | undefined> = [];
  /** Content of the update in flight, if one is. */
  inFlight: { content: string | undefined } | undefined;
  ackedWrites = 0;
  failedWrites = 0;
  stopped = false;
  /** Told when the set of allowed contents changed (the checker looks again). */
  onChange: () => void = () => undefined;
  private sequence = 0;
  private readonly clock: ProcessClock;
  private readonly client: ChunkClient;

  constructor(
    readonly writerId: number,
    readonly chainId: number,
    scheduler: SimScheduler,
    network: SimNetwork,
    private readonly random: Random,
    private readonly timings: SimTimings,
    private readonly options: { readonly skew: ClockSkew; readonly syncEachUpdate: boolean },
  ) {
    this.id = `c${writerId}`;
    this.chunkId = { inode: BigInt(writerId), index: 0 };
    this.clock = new ProcessClock(scheduler, options.skew, () => true);
    const logger = silentLogger();
    const rpc = new SimRpcClient(network, this.id, this.clock, random);
    const routing = new RoutingCache({
      source: {
        refreshRoutingInfo: () => rpc.callSim<RoutingInfo>(mgmtdId, 'getRouting', {}, 200),
      },
      clock: this.clock,
      logger,
    });
    this.client = new ChunkClient({
      rpc,
      routing,
      clock: this.clock,
      logger,
      random,
      chunkTimeoutMs: timings.writeTimeoutMs,
      ioDeadlineMs: timings.clientIoDeadlineMs,
      attemptsMax: timings.clientAttemptsMax,
    });
  }

  handle(): Promise<SimMessage> {
    return Promise.reject(new Error('writers serve nothing'));
  }

  /** Every content the chunk may hold now, as the checker compares them. */
  allowed(): Set<string> {
    const contents = [
      this.acked,
      ...this.unknown,
      ...(this.inFlight === undefined ? [] : [this.inFlight.content]),
    ];
    return new Set(contents.map(describeContent));
  }

  /** Updates until `stopped`, pausing a little between updates. */
  async run(): Promise<void> {
    while (!this.stopped) {
      await this.clock.sleep(this.random.nextInt(30));
      if (this.stopped) break;
      const base = this.acked;
      const op = this.chooseOp(base);
      const next = applyOp(base, op);
      this.inFlight = { content: next };
      try {
        await this.send(op);
        if (this.options.syncEachUpdate) await this.client.syncChains([this.chainId]);
        else if (this.random.nextInt(10) === 0)
          await this.client.syncChains([this.chainId]).catch(() => undefined);
        this.acked = next;
        this.unknown = [];
        this.ackedWrites += 1;
        this.onChange();
      } catch (error) {
        if (!(error instanceof FsError)) throw error;
        this.unknown.push(next);
        this.failedWrites += 1;
      }
      this.inFlight = undefined;
    }
  }

  private chooseOp(base: string | undefined): WriterOp {
    const data = `<${this.writerId}.${++this.sequence}>`;
    const roll = this.random.nextInt(100);
    if (this.unknown.length > 0) return { kind: 'remove' };
    if (base === undefined || base.length > 160) {
      return roll < 80 ? { kind: 'write', offset: 0, data } : { kind: 'remove' };
    }
    if (roll < 45) return { kind: 'write', offset: base.length, data };
    if (roll < 60) return { kind: 'write', offset: this.random.nextInt(base.length + 1), data };
    if (roll < 70) return { kind: 'truncate', length: this.random.nextInt(base.length + 4) };
    if (roll < 80) {
      return { kind: 'zero', offset: this.random.nextInt(base.length + 1), length: this.random.nextInt(12) };
    }
    if (roll < 92) return { kind: 'write', offset: 0, data: data.repeat(2) };
    return { kind: 'remove' };
  }

  private send(op: WriterOp): Promise<unknown> {
    const target = {
      chainId: this.chainId,
      chunkId: this.chunkId,
      chunkSizeBytes: this.timings.chunkSizeBytes,
    };
    switch (op.kind) {
      case 'write':
        return this.client.write({ ...target, offset: op.offset, data: Buffer.from(op.data, 'latin1') });
      case 'truncate':
        return this.client.truncate({ ...target, length: op.length });
      case 'zero':
        return this.client.zero({ ...target, offset: op.offset, length: op.length });
      case 'remove':
        return this.client.remove(target);
    }
  }
}
