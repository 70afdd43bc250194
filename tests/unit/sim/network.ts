// The simulation's network: request/reply calls between endpoints (mgmtd, storage nodes, clients)
// with seeded delays, message loss and partitions. Each directed link delivers in order, as a TCP
// connection does; messages on different links overtake each other freely, and a long delay can
// hold one message past its caller's deadline. A message to an endpoint that crashed since it was
// sent is lost (its connection broke), and a crashed caller never sees its replies or timeouts.
import { FsError } from '../../../src/common/errors.js';
import type { Random } from '../../../src/common/random.js';
import { CommonCode, RpcCode, type StatusCode } from '../../../src/common/status-code.js';
import type { SimScheduler } from './scheduler.js';

/** Something that answers calls: it has an incarnation (bumped at each restart) and may be down. */
export interface Endpoint {
  readonly id: string;
  incarnation: number;
  alive: boolean;
  handle(method: string, body: unknown): Promise<unknown>;
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
}

export const quietNetwork: NetworkFaults = {
  lossRate: 0,
  delayMsMin: 1,
  delayMsMax: 5,
  longDelayRate: 0,
  longDelayMsMax: 0,
};

/** Raised on a simulated failure; carries the same status codes as the real system. */
export function simError(code: StatusCode, message: string): FsError {
  return new FsError(code, message);
}

export class SimNetwork {
  faults: NetworkFaults = quietNetwork;
  readonly partitions = new Set<string>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly lastArrivalMs = new Map<string, number>();
  messagesSent = 0;
  messagesLost = 0;
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

  /** Calls `method` on `to` from `from`; rejects with RpcCode.Timeout when no reply came in time. */
  call<T>(from: string, to: string, method: string, body: unknown, timeoutMs: number): Promise<T> {
    const caller = this.endpoint(from);
    const callerIncarnation = caller.incarnation;
    const callerAlive = (): boolean => caller.alive && caller.incarnation === callerIncarnation;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (action: () => void): void => {
        if (settled || !callerAlive()) return;
        settled = true;
        timer.cancel();
        action();
      };
      const timer = this.scheduler.setTimer(timeoutMs, () =>
        finish(() => reject(simError(RpcCode.Timeout, `${method} to ${to} timed out after ${timeoutMs} ms`))),
      );
      const callee = this.endpoints.get(to);
      if (callee === undefined) {
        finish(() => reject(simError(RpcCode.ConnectFailed, `no endpoint ${to}`)));
        return;
      }
      const calleeIncarnation = callee.incarnation;
      this.send(
        from,
        to,
        calleeIncarnation,
        () => {
          const answered = (reply: () => void): void =>
            this.send(to, from, callerIncarnation, () => finish(reply), calleeIncarnation);
          callee.handle(method, body).then(
            (response) => answered(() => resolve(response as T)),
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
        },
        callerIncarnation,
      );
    });
  }

  /**
   * Sends one message from `from` to `to`, delivered (calling `deliver`) unless lost, cut off, or
   * the receiver is no longer incarnation `toIncarnation`. Per directed link, messages arrive in
   * the order sent. `fromIncarnation` drops a message a crashed sender would never have sent.
   */
  private send(
    from: string,
    to: string,
    toIncarnation: number,
    deliver: () => void,
    fromIncarnation: number,
  ): void {
    const sender = this.endpoint(from);
    if (!sender.alive || sender.incarnation !== fromIncarnation) return;
    this.messagesSent += 1;
    if (this.isCut(from, to) || this.random.nextFloat() < this.faults.lossRate) {
      this.messagesLost += 1;
      return;
    }
    const link = `${from}>${to}`;
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
