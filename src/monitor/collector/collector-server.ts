/**
 * The monitor collector: receives metric snapshots over RPC (Monitor.push), keeps them in the
 * sample store, optionally forwards them to ClickHouse, keeps routing info fresh from mgmtd, and
 * serves the HTTP face (dashboard, /metrics, JSON API). It samples its own metrics into the same
 * store, so it shows up on its own dashboard like every other process.
 */
import { createServer, type Server } from 'node:http';
import type { Clock, TimerHandle } from '../../common/clock.js';
import { FsError, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { listenOn, metricDefs, sampleCount, type MetricsRegistry } from '../../common/metrics/index.js';
import { MonitorCode } from '../../common/status-code.js';
import { mgmtdMethods, NodeType } from '../../mgmtd/protocol/index.js';
import type { MgmtdClient } from '../../cluster/index.js';
import type { RpcServer } from '../../rpc/index.js';
import type { CollectorConfig } from '../config.js';
import { monitorMethods } from '../protocol/index.js';
import { AlertKind } from './alerts.js';
import type { ClickhouseWriter } from './clickhouse-writer.js';
import { snapshotRows } from './clickhouse-writer.js';
import { buildClusterView, type ClusterView, type RoutingStatus } from './cluster-view.js';
import { collectorHttpHandler } from './http-api.js';
import { SampleStore } from './sample-store.js';

export interface CollectorServerOptions {
  readonly config: CollectorConfig;
  readonly rpcServer: RpcServer;
  /** Absent when no [mgmtd] is configured: no routing info, pushing processes only. */
  readonly mgmtd: MgmtdClient | undefined;
  /** The collector's own metrics. */
  readonly registry: MetricsRegistry;
  readonly clickhouse: ClickhouseWriter | undefined;
  readonly hostname: string;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** How often history is pruned of idle series. */
const pruneIntervalMs = 10_000;

export class CollectorServer {
  readonly store: SampleStore;
  private routing: RoutingStatus = { routing: undefined, fetchedAtMs: 0, error: undefined };
  private http: Server | undefined;
  private selfTimer: TimerHandle | undefined;
  private routingTimer: TimerHandle | undefined;
  private routingInFlight: Promise<void> | undefined;
  private lastPruneMs = 0;
  private stopped = false;
  private readonly settings: CollectorConfig['collector'];
  private readonly nodeId: number;

  constructor(private readonly options: CollectorServerOptions) {
    this.settings = options.config.collector;
    this.nodeId = options.config.node.id;
    this.store = new SampleStore({
      historyPoints: this.settings.history_points,
      seriesMax: this.settings.series_max,
      nodeStaleMs: this.settings.node_stale_ms,
      seriesIdleMs: this.settings.series_idle_ms,
    });
  }

  /** Registers the push handler, starts the loops and the HTTP server; resolves with its address. */
  async start(): Promise<string> {
    this.registerMetrics();
    this.registerPush();
    const handler = collectorHttpHandler({
      store: this.store,
      logger: this.options.logger,
      nowMs: () => this.options.clock.nowMs(),
      view: () => this.view(),
      liveSnapshots: () => this.liveSnapshots(),
    });
    this.http = createServer(handler);
    const address = await listenOn(this.http, this.settings.http_listen, this.options.logger);
    this.scheduleSelfSample(0);
    if (this.options.mgmtd !== undefined) this.scheduleRouting(0);
    return address;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.selfTimer?.cancel();
    this.routingTimer?.cancel();
    await this.routingInFlight;
    const http = this.http;
    if (http !== undefined) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
  }

  /** The cluster as /api/cluster shows it. */
  view(): ClusterView {
    const nowMs = this.options.clock.nowMs();
    // Routing info that could not be refreshed for three rounds is not shown as current.
    const staleAfterMs = 3 * this.settings.routing_refresh_ms;
    const routing =
      this.routing.error !== undefined && nowMs - this.routing.fetchedAtMs > staleAfterMs
        ? { ...this.routing, routing: undefined }
        : this.routing;
    return buildClusterView({
      clusterId: this.options.config.cluster.id,
      collectorNodeId: this.nodeId,
      nowMs,
      nodeStaleMs: this.settings.node_stale_ms,
      diskFullRatio: limits.monitorDiskFullRatio,
      routing:
        this.options.mgmtd === undefined
          ? { ...routing, error: 'no [mgmtd] configured for the collector' }
          : routing,
      reports: this.store.allReports(),
    });
  }

  private async liveSnapshots() {
    const nowMs = this.options.clock.nowMs();
    const others = this.store
      .liveReports(nowMs)
      .filter((report) => report.nodeId !== this.nodeId)
      .map((report) => [...report.families]);
    return [...others, await this.options.registry.snapshot()];
  }

  private registerMetrics(): void {
    const { registry } = this.options;
    registry.gauge(metricDefs.collectorSeries, (gauge) => gauge.set(this.store.size));
    registry.gauge(metricDefs.collectorReportingNodes, (gauge) =>
      gauge.set(this.store.liveReports(this.options.clock.nowMs()).length),
    );
    registry.gauge(metricDefs.collectorAlerts, (gauge) => {
      const counts = new Map<string, number>(Object.values(AlertKind).map((kind) => [kind, 0]));
      for (const alert of this.view().alerts) counts.set(alert.kind, (counts.get(alert.kind) ?? 0) + 1);
      for (const [kind, count] of counts) gauge.set({ kind }, count);
    });
  }

  private registerPush(): void {
    const { registry, clock } = this.options;
    const snapshots = registry.counter(metricDefs.collectorSnapshots);
    const samples = registry.counter(metricDefs.collectorSamples);
    const dropped = registry.counter(metricDefs.collectorSeriesDropped);
    const clusterId = this.options.config.cluster.id;
    this.options.rpcServer.handle(
      monitorMethods.push,
      async (request) => {
        if (request.clusterId !== clusterId) {
          throw new FsError(
            MonitorCode.ClusterIdMismatch,
            `node ${request.node.nodeId} pushes for cluster "${request.clusterId}", this collector serves "${clusterId}"`,
          );
        }
        const receivedAtMs = clock.nowMs();
        const result = this.store.ingest({
          nodeId: request.node.nodeId,
          nodeType: request.node.type,
          hostname: request.node.hostname,
          receivedAtMs,
          sentAtMs: request.sentAtMs,
          families: request.families,
        });
        snapshots.inc({ type: request.node.type });
        samples.inc(sampleCount(request.families));
        if (result.droppedSamples > 0) dropped.inc(result.droppedSamples);
        this.options.clickhouse?.enqueue(
          snapshotRows({
            cluster: clusterId,
            nodeId: request.node.nodeId,
            nodeType: request.node.type,
            timeMs: receivedAtMs,
            families: request.families,
          }),
        );
        return {};
      },
      'user',
    );
  }

  /** Samples the collector's own metrics into history, and prunes idle series now and then. */
  private scheduleSelfSample(delayMs: number): void {
    if (this.stopped) return;
    this.selfTimer = this.options.clock.setTimer(delayMs, () => {
      this.sampleSelf().then(
        () => this.scheduleSelfSample(this.settings.self_interval_ms),
        (error: unknown) => {
          this.options.logger.error({ err: error }, `self-sampling failed: ${describeError(error)}`);
          this.scheduleSelfSample(this.settings.self_interval_ms);
        },
      );
    });
  }

  private async sampleSelf(): Promise<void> {
    const { clock, registry } = this.options;
    const families = await registry.snapshot();
    const nowMs = clock.nowMs();
    this.store.ingest({
      nodeId: this.nodeId,
      nodeType: NodeType.Monitor,
      hostname: this.options.hostname,
      receivedAtMs: nowMs,
      sentAtMs: nowMs,
      families,
    });
    if (nowMs - this.lastPruneMs >= pruneIntervalMs) {
      this.lastPruneMs = nowMs;
      this.store.prune(nowMs);
    }
  }

  /** Fetches the whole routing info (usage and heartbeat times change without a version bump). */
  private scheduleRouting(delayMs: number): void {
    const mgmtd = this.options.mgmtd;
    if (this.stopped || mgmtd === undefined) return;
    this.routingTimer = this.options.clock.setTimer(delayMs, () => {
      const round = mgmtd
        .call(mgmtdMethods.getRoutingInfo, { knownVersion: 0 })
        .then(
          ({ routingInfo }) => {
            if (routingInfo !== null) {
              this.routing = {
                routing: routingInfo,
                fetchedAtMs: this.options.clock.nowMs(),
                error: undefined,
              };
            }
          },
          (error: unknown) => {
            this.routing = { ...this.routing, error: describeError(error) };
            this.options.logger.debug({ err: error }, 'cannot fetch routing info');
          },
        )
        .finally(() => {
          this.routingInFlight = undefined;
          this.scheduleRouting(this.settings.routing_refresh_ms);
        });
      this.routingInFlight = round;
    });
  }
}
