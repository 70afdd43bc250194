// The RPC layer over the simulated network, with the real one's rules: a caller's call has a
// deadline and, for an idempotent method, a bounded number of retries after a retryable failure
// with the real backoff (retry-policy.ts); the server checks a payload against the CRC32C its sender
// announced, runs the handler registered for the method, and answers its result or its status
// code. The shipped services (StorageService, SyncReceiver, RecoveryManager, Replicator's
// forwarder, the client's ChunkClient) are plugged into these as they are into the real ones.
import type { Clock } from '../../../src/common/clock.js';
import { crc32c } from '../../../src/common/crc32c.js';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import type { Random } from '../../../src/common/random.js';
import { CommonCode, RpcCode } from '../../../src/common/status-code.js';
import type {
  CallContext,
  CallOptions,
  MethodDef,
  ReplyWithPayload,
  RpcCaller,
  RpcHandlers,
} from '../../../src/rpc/index.js';
import { nodeCaller } from '../../../src/rpc/caller.js';
import { backoffMs, isRetryable } from '../../../src/rpc/retry-policy.js';
import type { SimMessage, SimNetwork } from './network.js';

export class SimRpcClient implements RpcCaller {
  constructor(
    private readonly network: SimNetwork,
    /** The calling endpoint. */
    private readonly from: string,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  async call<Req, Res>(
    address: string,
    method: MethodDef<Req, Res>,
    request: Req,
    options: CallOptions = {},
  ): Promise<Res> {
    return (await this.callWithPayload(address, method, request, options)).response;
  }

  async callWithPayload<Req, Res>(
    address: string,
    method: MethodDef<Req, Res>,
    request: Req,
    options: CallOptions = {},
  ): Promise<ReplyWithPayload<Res>> {
    const retries = method.idempotent ? (options.retries ?? limits.rpcIdempotentRetriesMax) : 0;
    for (let retry = 0; ; retry += 1) {
      try {
        const reply = await this.network.call(
          this.from,
          address,
          method.name,
          { body: request, payload: options.payload, payloadCrc32c: options.payloadCrc32c },
          {
            timeoutMs: options.timeoutMs ?? limits.rpcTimeoutMsDefault,
            clock: this.clock,
            duplicable: method.idempotent,
            signal: options.signal,
          },
        );
        return {
          response: reply.body as Res,
          payload: reply.payload,
          payloadCrc32c: reply.payload === undefined ? 0 : (reply.payloadCrc32c ?? crc32c(reply.payload)),
        };
      } catch (error) {
        const retryable = isRetryable(error) && options.signal?.aborted !== true;
        if (!retryable || retry >= retries) throw error;
        await this.clock.sleep(backoffMs(retry, this.random), options.signal).catch((reason: unknown) => {
          throw new FsError(RpcCode.Cancelled, `cancelled: ${String(reason)}`);
        });
      }
    }
  }

  /** A call of the simulation's own mgmtd (not a method of the real protocol). */
  async callSim<T>(address: string, method: string, body: unknown, timeoutMs: number): Promise<T> {
    const reply = await this.network.call(
      this.from,
      address,
      method,
      { body },
      {
        timeoutMs,
        clock: this.clock,
        duplicable: true,
      },
    );
    return reply.body as T;
  }
}

type Handler = (request: unknown, context: CallContext) => Promise<unknown>;

export class SimRpcServer implements RpcHandlers {
  private readonly handlers = new Map<string, Handler>();
  /** Methods whose handlers check request payloads themselves (MethodDef.payloadCheckedByHandler). */
  private readonly handlerChecks = new Set<string>();
  /** Successful calls by method name (the test reports some). */
  readonly served = new Map<string, number>();

  constructor(private readonly address: string) {}

  handle<Req, Res>(
    method: MethodDef<Req, Res>,
    handler: (request: Req, context: CallContext) => Promise<Res>,
  ): void {
    if (this.handlers.has(method.name)) throw new Error(`${method.name} is registered twice`);
    this.handlers.set(method.name, handler as Handler);
    if (method.payloadCheckedByHandler) this.handlerChecks.add(method.name);
  }

  has(method: string): boolean {
    return this.handlers.has(method);
  }

  /** Runs one request; rejects with the handler's error (an FsError is the reply's status). */
  async dispatch(method: string, message: SimMessage, peerAddress: string): Promise<SimMessage> {
    const handler = this.handlers.get(method);
    if (handler === undefined)
      throw new FsError(RpcCode.UnknownMethod, `${this.address} has no method ${method}`);
    const { payload } = message;
    // As the real server: a payload its handler checks is handed over unchecked.
    const unchecked = this.handlerChecks.has(method);
    if (
      !unchecked &&
      payload !== undefined &&
      message.payloadCrc32c !== undefined &&
      crc32c(payload) !== message.payloadCrc32c
    ) {
      throw new FsError(RpcCode.PayloadChecksumMismatch, `${method}: request payload fails its CRC32C check`);
    }
    let replyPayload: Buffer | undefined;
    let replyPayloadCrc32c: number | undefined;
    const context: CallContext = {
      peerAddress,
      caller: nodeCaller,
      payload,
      payloadCrc32c:
        payload === undefined || unchecked ? undefined : (message.payloadCrc32c ?? crc32c(payload)),
      signal: new AbortController().signal,
      setReplyPayload(bytes, checksum) {
        replyPayload = bytes;
        replyPayloadCrc32c = checksum;
      },
      replyBuffer: () => undefined,
      handOverConnection: () => {
        throw new FsError(CommonCode.NotImplemented, 'the simulated network hands no connection over');
      },
    };
    const body = await handler(message.body, context);
    this.served.set(method, (this.served.get(method) ?? 0) + 1);
    return { body, payload: replyPayload, payloadCrc32c: replyPayloadCrc32c };
  }
}
