/**
 * Calls to the meta services with failover (DESIGN §9). Meta services are stateless, so any of
 * them answers any call: the client sticks to one (spreading clients over services), and moves on
 * to the next when one cannot be reached, trying it again only after a penalty.
 *
 * Retrying is safe only when the call cannot take effect twice. Idempotent methods are retried
 * after any transport failure. Mutations carry a request id, the same on every attempt: the meta
 * service records a mutation's result under it in the mutation's own transaction and answers a
 * retry from that record, so they are retried after any transport failure too (a timeout, a
 * connection closed by a service that died with the call in flight). Without a request id (a
 * caller that turned them off) a mutation is retried only when it certainly never ran.
 *
 * A call makes `attemptsMax` attempts; when the last of them found no meta service at all
 * (connection refused or closed, none listed) it goes on retrying until `outageWaitMs` after it
 * began: with a
 * single meta service, as in `3fs local`, a crash leaves no other service to go to, and the
 * supervisor brings it back at the same address within seconds. A call that waits through a
 * restart is better than an EIO at the mount. Each retry waits a jittered backoff of up to
 * clientRetryBackoffMsMax, so the wait is a bounded number of attempts too.
 */
import type { Clock } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import { ClientCode, CommonCode, RpcCode, statusName } from '../common/status-code.js';
import { formatRequestId, metaMethods } from '../meta/protocol/index.js';
import type { MethodDef, RpcClient } from '../rpc/index.js';
import type { RoutingCache } from '../cluster/index.js';

/** Failures after which the request did not run: any method may go to another service. */
const neverRanCodes: ReadonlySet<number> = new Set<number>([
  RpcCode.ConnectFailed,
  RpcCode.AuthFailed,
  CommonCode.ShuttingDown,
]);

/** Failures after which an idempotent request may go to another service. */
const transportCodes: ReadonlySet<number> = new Set<number>([
  ...neverRanCodes,
  RpcCode.Timeout,
  RpcCode.ConnectionClosed,
  RpcCode.Overloaded,
]);

/** Failures that say no meta service is there to answer (rather than one answering slowly). */
const outageCodes: ReadonlySet<number> = new Set<number>([
  RpcCode.ConnectFailed,
  RpcCode.ConnectionClosed,
  CommonCode.ShuttingDown,
  ClientCode.MetaUnreachable,
]);

/** Whether a failed call of a method may be tried again on another meta service. */
export function metaRetryable(error: unknown, idempotent: boolean): boolean {
  if (!(error instanceof FsError)) return false;
  if (error.code === RpcCode.AuthFailed) return false;
  // Routing info listed no meta service: the call went nowhere.
  if (error.code === ClientCode.MetaUnreachable) return true;
  return idempotent ? transportCodes.has(error.code) : neverRanCodes.has(error.code);
}

export interface MetaClientOptions {
  rpc: RpcClient;
  routing: RoutingCache;
  clock: Clock;
  logger: Logger;
  random: Random;
  /** Deadline of each attempt. */
  timeoutMs?: number;
  attemptsMax?: number;
  /** How long a call keeps retrying while no meta service can be reached; see the file comment. */
  outageWaitMs?: number;
  /** Gives each mutation a request id (see the file comment); default true. */
  requestIds?: boolean;
  /** The client id in request ids; default a random one. */
  clientId?: string;
}

export class MetaClient {
  private preferred: string | undefined;
  private readonly penalties = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly attemptsMax: number;
  private readonly outageWaitMs: number;
  private readonly clientId: string | undefined;
  private requestSequence = 0;

  constructor(private readonly options: MetaClientOptions) {
    this.clientId =
      options.requestIds === false
        ? undefined
        : (options.clientId ?? `c${options.random.nextInt(0x7fff_ffff).toString(36)}`);
    this.timeoutMs = options.timeoutMs ?? limits.clientMetaTimeoutMsDefault;
    this.attemptsMax = options.attemptsMax ?? limits.clientMetaAttemptsMax;
    this.outageWaitMs = options.outageWaitMs ?? limits.clientMetaOutageWaitMsDefault;
    assert(this.outageWaitMs >= 0, 'the meta outage wait is not negative');
    assert(this.timeoutMs > 0, 'the meta timeout is positive');
    assert(Number.isInteger(this.attemptsMax) && this.attemptsMax >= 1, 'meta attempts are at least one');
  }

  /** Calls `method` on a meta service, failing over to others as the file comment says. */
  async call<Req, Res>(method: MethodDef<Req, Res>, request: Req): Promise<Res> {
    const recorded = !method.idempotent && this.clientId !== undefined;
    // Mutations accept a request id beside their own fields, idempotent ones their client's id as
    // origin (meta/protocol/methods.ts).
    const sent = recorded
      ? ({
          ...request,
          requestId: formatRequestId(
            this.options.clock.nowMs(),
            this.clientId as string,
            ++this.requestSequence,
          ),
        } as Req)
      : this.clientId !== undefined && metaMethods.takesOrigin(method as MethodDef<unknown, unknown>)
        ? ({ ...request, origin: this.clientId } as Req)
        : request;
    let lastError: unknown;
    const startedMs = this.options.clock.monotonicMs();
    for (let attempt = 0; attempt === 0 || this.mayRetry(attempt, lastError, startedMs); attempt++) {
      if (attempt > 0) await this.pause(attempt);
      let address: string | undefined;
      try {
        address = await this.pick();
        const response = await this.options.rpc.call(address, method, sent, {
          timeoutMs: this.timeoutMs,
          retries: 0,
        });
        this.preferred = address;
        return response;
      } catch (error) {
        if (!metaRetryable(error, method.idempotent || recorded)) throw error;
        lastError = error;
        if (address !== undefined) this.penalize(address);
        this.options.logger.debug(
          { address, method: method.name, code: statusName((error as FsError).code) },
          'meta call failed; trying another meta service',
        );
      }
    }
    throw new FsError(
      ClientCode.MetaUnreachable,
      `${method.name}: no meta service answered: ${describeError(lastError)}`,
      { cause: lastError },
    );
  }

  /** After `attempt` attempts: the attempts are not spent, or every service is down and the wait is not over. */
  private mayRetry(attempt: number, lastError: unknown, startedMs: number): boolean {
    if (attempt < this.attemptsMax) return true;
    if (!(lastError instanceof FsError) || !outageCodes.has(lastError.code)) return false;
    return this.options.clock.monotonicMs() - startedMs < this.outageWaitMs;
  }

  /** The service to ask: the preferred one unless penalized, else the least recently failed. */
  private async pick(): Promise<string> {
    await this.options.routing.ready();
    let addresses = this.options.routing.metaAddresses();
    if (addresses.length === 0) {
      await this.options.routing.refresh();
      addresses = this.options.routing.metaAddresses();
    }
    if (addresses.length === 0) {
      throw new FsError(ClientCode.MetaUnreachable, 'routing info lists no meta service');
    }
    const now = this.options.clock.monotonicMs();
    const usable = addresses.filter((address) => (this.penalties.get(address) ?? 0) <= now);
    if (this.preferred !== undefined && usable.includes(this.preferred)) return this.preferred;
    if (usable.length > 0) {
      const chosen = usable[this.options.random.nextInt(usable.length)] as string;
      this.preferred = chosen;
      return chosen;
    }
    // Every service failed lately: the one whose penalty ends first.
    const penaltyOf = (address: string): number => this.penalties.get(address) ?? 0;
    return addresses.reduce((best, address) => (penaltyOf(address) < penaltyOf(best) ? address : best));
  }

  private penalize(address: string): void {
    this.penalties.set(address, this.options.clock.monotonicMs() + limits.clientMetaPenaltyMs);
    if (this.preferred === address) this.preferred = undefined;
  }

  private async pause(attempt: number): Promise<void> {
    await this.options.routing.refresh().catch(() => undefined);
    const ceiling = Math.min(limits.clientRetryBackoffMsMax, 50 * 2 ** (attempt - 1));
    await this.options.clock.sleep(ceiling / 2 + this.options.random.nextFloat() * (ceiling / 2));
  }
}
