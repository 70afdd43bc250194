/**
 * The metrics side of a service binary, in one place: the process's registry with process
 * metrics on, observers for its RPC server, RPC client and KV engine, its own /metrics endpoint
 * when `[monitor] listen` is set, and the bounded pusher to the collector(s) in `[monitor]
 * collector`, pushing over the cluster's RPC. Every service's main file does:
 *
 *   const metrics = createServiceMetrics({ section: config.monitor, clusterId, node, clock, logger });
 *   new RpcServer({ ..., observer: metrics.rpcServerObserver });
 *   new RpcClient({ ..., observer: metrics.rpcClientObserver });
 *   observeKvEngine(kv, metrics.kvObserver);          // services with a KV engine
 *   await metrics.start(rpcClient);                    // once the client exists
 *   ...
 *   await metrics.stop();                              // on SIGTERM
 */
import type { Clock } from '../common/clock.js';
import { assert } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import {
  MetricsPusher,
  MetricsRegistry,
  kvMetricsObserver,
  reportQueueDepth,
  rpcMetricsObserver,
  startMetricsEndpoint,
  type KvObserverShape,
  type MetricsEndpoint,
  type MonitorSection,
  type RpcObserverShape,
} from '../common/metrics/index.js';
import type { NodeType } from '../mgmtd/protocol/index.js';
import type { RpcClient } from '../rpc/index.js';
import { monitorMethods } from './protocol/index.js';

export interface ServiceMetricsOptions {
  readonly section: MonitorSection;
  readonly clusterId: string;
  readonly node: { readonly nodeId: number; readonly type: NodeType; readonly hostname: string };
  readonly clock: Clock;
  readonly logger: Logger;
}

/** A service's metrics; see the file comment. */
export class ServiceMetrics {
  readonly registry: MetricsRegistry;
  readonly rpcServerObserver: RpcObserverShape;
  readonly rpcClientObserver: RpcObserverShape;
  readonly kvObserver: KvObserverShape;
  private endpoint: MetricsEndpoint | undefined;
  private pusher: MetricsPusher | undefined;
  private started = false;

  constructor(private readonly options: ServiceMetricsOptions) {
    this.registry = new MetricsRegistry({ node: String(options.node.nodeId), node_type: options.node.type });
    this.registry.collectProcessMetrics();
    this.rpcServerObserver = rpcMetricsObserver(this.registry, 'server');
    this.rpcClientObserver = rpcMetricsObserver(this.registry, 'client');
    this.kvObserver = kvMetricsObserver(this.registry);
  }

  /** "host:port" of the process's own /metrics endpoint, once started with `listen` set. */
  get endpointAddress(): string | undefined {
    return this.endpoint?.address;
  }

  /**
   * Opens the /metrics endpoint (if configured) and starts pushing (if a collector is configured);
   * the calls queued on `rpc` are reported as a queue depth.
   */
  async start(rpc: RpcClient): Promise<void> {
    assert(!this.started, 'service metrics start once');
    this.started = true;
    const { section, logger, clock, clusterId, node } = this.options;
    reportQueueDepth(this.registry, 'rpc_client_calls', () => rpc.queuedCalls());
    if (section.listen !== undefined) {
      this.endpoint = await startMetricsEndpoint({ listen: section.listen, registry: this.registry, logger });
    }
    if (section.collector.length === 0) return;
    this.pusher = new MetricsPusher({
      registry: this.registry,
      collectors: section.collector,
      intervalMs: section.push_interval_ms,
      timeoutMs: section.push_timeout_ms ?? section.push_interval_ms,
      clock,
      logger,
      send: async (collector, families, { timeoutMs }) => {
        await rpc.call(
          collector,
          monitorMethods.push,
          { clusterId, node, sentAtMs: clock.nowMs(), families },
          { timeoutMs, retries: 0 },
        );
      },
    });
    this.pusher.start();
    logger.info(
      { collectors: section.collector, intervalMs: section.push_interval_ms },
      'pushing metrics to the collector',
    );
  }

  /** Stops pushing (waiting for a push in flight, within its deadline) and closes the endpoint. */
  async stop(): Promise<void> {
    await this.pusher?.stop();
    await this.endpoint?.close();
  }
}

/** Creates a service's metrics; see ServiceMetrics. */
export function createServiceMetrics(options: ServiceMetricsOptions): ServiceMetrics {
  return new ServiceMetrics(options);
}
