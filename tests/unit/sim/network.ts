// The simulation's network: request/reply calls between endpoints (mgmtd, storage nodes, clients)
// with seeded delays, message loss and partitions. Each directed link delivers in order, as a TCP
// connection does, until it reconnects: then what is sent on the new connection may overtake what
// the old one still carries, and a request of a method that may run twice (an idempotent one, which
// the RPC layer resends after a broken connection) may arrive twice. Messages on different links
// overtake each other freely, and a long delay can hold one message past its caller's deadline. A
// message to an endpoint that crashed since it was sent is lost (its connection broke), and a
// crashed caller never sees its replies or timeouts.
import type { Clock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import type { Random } from '../../../src/common/random.js';
import { CommonCode, RpcCode, type StatusCode } from '../../../src/common/status-code.js';
import type { SimScheduler } from './scheduler.js';

/** What travels in one direction of a call: a body and, for chunk bytes, a payload. */
export interface SimMessage {
  readonly body: unknown;
  readonly payload?: Buffer | undefined;
  readonly payloadCrc32c?: number | undefined;
}

/** Something that answers calls: it has an incarnation (bumped at each restart) and may be down. */
export interface Endpoint {
  readonly id: string;
  incarnation: number;
  alive: boolean;
  handle(method: string, message: SimMessage): Promise<SimMessage>;
}

export interface NetworkFaults {
  /** Probability that one message is lost. */
  lossRate: number;
  /** Usual one-way delay bounds. */
  delayMsMin: number;
  delayMsMax: number;
  /** Probability that a message is held much longer (up to longDelayMsMax). */
  longDelayRate: number;
  longDelayMsMax: number;
  /** Probability that a link reconnects before a message: it may overtake earlier ones. */
  reconnectRate: number;
  /** Probability that a request that may run twice is delivered twice. */
  duplicateRate: number;
}

export const quietNetwork: NetworkFaults = {
  lossRate: 0,
  delayMsMin: 1,
  delayMsMax: 5,
  longDelayRate: 0,
  longDelayMsMax: 0,
  reconnectRate: 0,
  duplicateRate: 0,
};

/** Raised on a simulated failure; carries the same status codes as the real system. */
export function simError(code: StatusCode, message: string): FsError {
  return new FsError(code, message);
}

export interface CallOptions {
  /** The caller's deadline, on the caller's clock. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** True when the method may run twice (the request may be duplicated). */
  readonly duplicable: boolean;
  readonly signal?: AbortSignal | undefined;
}

export class SimNetwork {
  faults: NetworkFaults = quietNetwork;
  readonly partitions = new Set<string>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly lastArrivalMs = new Map<string, number>();
  messagesSent = 0;
  messagesLost = 0;
  messagesDuplicated = 0;
  reconnects = 0;
  /** Errors thrown by handlers that are not operating errors: bugs the test reports. */
  readonly bugs: string[] = [];

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly random: Random,
  ) {}

  register(endpoint: Endpoint): void {
    this.endpoints.set(endpoint.id, endpoint);
  }

  /** Cuts (or heals) the link between two endpoints, both ways. */
  setPartitioned(a: string, b: string, cut: boolean): void {
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    if (cut) this.partitions.add(key);
    else this.partitions.delete(key);
  }

  private isCut(a: string, b: string): boolean {
    return this.partitions.has(a < b ? `${a}|${b}` : `${b}|${a}`);
  }

  /**
   * Calls `method` on `to` from `from`; rejects with RpcCode.Timeout when no reply came in time,
   * with RpcCode.Cancelled when `signal` aborts first.
   */
  call(
    from: string,
    to: string,
    method: string,
    message: SimMessage,
    options: CallOptions,
  ): Promise<SimMessage> {
    const caller = this.endpoint(from);
    const callerIncarnation = caller.incarnation;
    const callerAlive = (): boolean => caller.alive && caller.incarnation === callerIncarnation;
    const { signal } = options;
    return new Promise<SimMessage>((resolve, reject) => {
      let settled = false;
      const finish = (action: () => void): void => {
        if (settled || !callerAlive()) return;
        settled = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        action();
      };
      const onAbort = (): void =>
        finish(() => reject(simError(RpcCode.Cancelled, `${method} to ${to} was cancelled`)));
      const timer = options.clock.setTimer(options.timeoutMs, () =>
        finish(() =>
          reject(simError(RpcCode.Timeout, `${method} to ${to} timed out after ${options.timeoutMs} ms`)),
        ),
      );
      if (signal?.aborted === true) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      const callee = this.endpoints.get(to);
      if (callee === undefined) {
        finish(() => reject(simError(RpcCode.ConnectFailed, `no endpoint ${to}`)));
        return;
      }
      const calleeIncarnation = callee.incarnation;
      const deliver = (): void => {
        const answered = (reply: () => void): void =>
          this.send(to, from, callerIncarnation, () => finish(reply), calleeIncarnation);
        callee.handle(method, copyMessage(message)).then(
          (response) => answered(() => resolve(copyMessage(response))),
          (error: unknown) => {
            if (!(error instanceof FsError)) {
              this.bugs.push(
                `${to} ${method}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
              );
              answered(() => reject(simError(CommonCode.Internal, 'handler failed')));
              return;
            }
            answered(() => reject(simError(error.code, error.message)));
          },
        );
      };
      this.send(from, to, calleeIncarnation, deliver, callerIncarnation);
      if (options.duplicable && this.random.nextFloat() < this.faults.duplicateRate) {
        this.messagesDuplicated += 1;
        this.send(from, to, calleeIncarnation, deliver, callerIncarnation, true);
      }
    });
  }

  /**
   * Sends one message from `from` to `to`, delivered (calling `deliver`) unless lost, cut off, or
   * the receiver is no longer incarnation `toIncarnation`. Per directed link, messages arrive in
   * the order sent, unless the link reconnects (always, for a resent copy).
   * `fromIncarnation` drops a message a crashed sender would never have sent.
   */
  private send(
    from: string,
    to: string,
    toIncarnation: number,
    deliver: () => void,
    fromIncarnation: number,
    resent = false,
  ): void {
    const sender = this.endpoint(from);
    if (!sender.alive || sender.incarnation !== fromIncarnation) return;
    this.messagesSent += 1;
    if (this.isCut(from, to) || this.random.nextFloat() < this.faults.lossRate) {
      this.messagesLost += 1;
      return;
    }
    const link = `${from}>${to}`;
    if (resent || this.random.nextFloat() < this.faults.reconnectRate) {
      // A new connection: nothing orders it behind what the old one still carries.
      this.reconnects += 1;
      this.lastArrivalMs.delete(link);
    }
    const nowMs = this.scheduler.nowMs();
    const arrivalMs = Math.max(nowMs + this.delayMs(), this.lastArrivalMs.get(link) ?? 0);
    this.lastArrivalMs.set(link, arrivalMs);
    this.scheduler.setTimer(arrivalMs - nowMs, () => {
      const receiver = this.endpoint(to);
      if (this.isCut(from, to) || !receiver.alive || receiver.incarnation !== toIncarnation) {
        this.messagesLost += 1;
        return;
      }
      deliver();
    });
  }

  private delayMs(): number {
    const { delayMsMin, delayMsMax, longDelayRate, longDelayMsMax } = this.faults;
    if (longDelayRate > 0 && this.random.nextFloat() < longDelayRate) {
      return delayMsMax + this.random.nextInt(Math.max(1, longDelayMsMax - delayMsMax));
    }
    return delayMsMin + this.random.nextInt(Math.max(1, delayMsMax - delayMsMin + 1));
  }

  private endpoint(id: string): Endpoint {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined) throw new Error(`no endpoint ${id}`);
    return endpoint;
  }
}

/** A message as the receiver sees it: its payload bytes are its own (the wire copies them). */
function copyMessage(message: SimMessage): SimMessage {
  return message.payload === undefined ? message : { ...message, payload: Buffer.from(message.payload) };
}
