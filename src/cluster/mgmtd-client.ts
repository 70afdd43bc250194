/**
 * The client side of mgmtd for every process: finds the primary among the configured mgmtd
 * addresses, follows it across failovers, and caches routing info by version.
 */
import type { Clock } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { ClientCode, MgmtdCode, RpcCode } from '../common/status-code.js';
import { mgmtdMethods, type RoutingInfo } from '../mgmtd/protocol/index.js';
import type { CallOptions, MethodDef, RpcClient } from '../rpc/index.js';

/** Failures after which another mgmtd may be the primary. */
const failoverCodes: ReadonlySet<number> = new Set([
  MgmtdCode.NotPrimary,
  RpcCode.ConnectFailed,
  RpcCode.ConnectionClosed,
  RpcCode.Timeout,
]);

/** Rounds of primary discovery one call may go through before it gives up. */
const discoveryRoundsMax = 4;

export class MgmtdClient {
  private primaryAddress: string | undefined;
  private routingInfo: RoutingInfo | undefined;

  constructor(
    private readonly options: {
      addresses: readonly string[];
      rpc: RpcClient;
      clock: Clock;
      logger: Logger;
      /** Deadline of each call to a mgmtd. */
      timeoutMs: number;
    },
  ) {
    if (options.addresses.length === 0)
      throw new FsError(ClientCode.MgmtdUnreachable, 'no mgmtd address configured');
  }

  /** Calls `method` on the primary, finding it first or again after a failover. */
  async call<Req, Res>(method: MethodDef<Req, Res>, request: Req, options: CallOptions = {}): Promise<Res> {
    let lastError: unknown;
    for (let round = 0; round < discoveryRoundsMax; round++) {
      const address = this.primaryAddress ?? (await this.discoverPrimary());
      try {
        return await this.options.rpc.call(address, method, request, {
          timeoutMs: this.options.timeoutMs,
          retries: 0,
          ...options,
        });
      } catch (error) {
        if (!(error instanceof FsError) || !failoverCodes.has(error.code)) throw error;
        lastError = error;
        this.primaryAddress = undefined;
        this.options.logger.debug(
          { err: error, address },
          'mgmtd call failed; looking for the primary again',
        );
        await this.options.clock.sleep(Math.min(1_000, 100 * 2 ** round));
      }
    }
    throw new FsError(ClientCode.MgmtdUnreachable, `no mgmtd primary answered: ${describeError(lastError)}`, {
      cause: lastError,
    });
  }

  /** Asks every configured mgmtd who the primary is; the first that knows wins. */
  private async discoverPrimary(): Promise<string> {
    const problems: string[] = [];
    for (const address of this.options.addresses) {
      try {
        const { primary } = await this.options.rpc.call(
          address,
          mgmtdMethods.getPrimary,
          {},
          {
            timeoutMs: this.options.timeoutMs,
            retries: 0,
          },
        );
        if (primary !== null) {
          this.primaryAddress = primary.address;
          return primary.address;
        }
        problems.push(`${address}: no primary elected`);
      } catch (error) {
        if (error instanceof FsError && error.code === RpcCode.AuthFailed) throw error;
        problems.push(`${address}: ${describeError(error)}`);
      }
    }
    throw new FsError(ClientCode.MgmtdUnreachable, `cannot find the mgmtd primary (${problems.join('; ')})`);
  }

  /** Routing info, fetched when the cached copy is older than the primary's. */
  async refreshRoutingInfo(): Promise<RoutingInfo> {
    const known = this.routingInfo?.routingVersion ?? 0;
    const { routingInfo } = await this.call(mgmtdMethods.getRoutingInfo, { knownVersion: known });
    if (routingInfo !== null) this.routingInfo = routingInfo;
    if (this.routingInfo === undefined) {
      throw new FsError(ClientCode.RoutingUnavailable, 'mgmtd returned no routing info');
    }
    return this.routingInfo;
  }

  /** The cached routing info, if any was fetched. */
  cachedRoutingInfo(): RoutingInfo | undefined {
    return this.routingInfo;
  }
}
