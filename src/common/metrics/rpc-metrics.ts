/**
 * RPC metrics: an observer for RpcServer and RpcClient (their `observer` option) that counts calls,
 * errors by status code, payload bytes and in-flight calls per method, and times every call.
 * It matches the RPC layer's observer interface by shape, so common/ needs no import from rpc/.
 */
import { statusName } from '../status-code.js';
import { metricDefs } from './catalog.js';
import { seriesByKey, type CountSeries, type MetricsRegistry, type ObserveSeries } from './registry.js';

/** One finished call, as the RPC layer reports it. */
export interface RpcCallEventShape {
  readonly method: string;
  /** 0 for success, else the status code the call failed with. */
  readonly status: number;
  readonly durationMs: number;
  readonly requestPayloadBytes: number;
  readonly replyPayloadBytes: number;
}

/** The observer the RPC layer calls. */
export interface RpcObserverShape {
  callStarted(method: string): void;
  callFinished(event: RpcCallEventShape): void;
}

/** What an RPC observer records for one method, bound once (see registry.ts). */
interface MethodSeries {
  readonly inflight: CountSeries;
  readonly calls: CountSeries;
  readonly duration: ObserveSeries;
  readonly requestBytes: CountSeries;
  readonly replyBytes: CountSeries;
}

/** An observer recording the server side (`side: 'server'`) or the client side of calls. */
export function rpcMetricsObserver(registry: MetricsRegistry, side: 'server' | 'client'): RpcObserverShape {
  const server = side === 'server';
  const calls = server ? metricDefs.rpcServerCalls : metricDefs.rpcClientCalls;
  const errors = registry.counter(server ? metricDefs.rpcServerErrors : metricDefs.rpcClientErrors);
  const duration = server ? metricDefs.rpcServerDuration : metricDefs.rpcClientDuration;
  const inflight = server ? metricDefs.rpcServerInflight : metricDefs.rpcClientInflight;
  const bytes = server ? metricDefs.rpcServerPayloadBytes : metricDefs.rpcClientPayloadBytes;
  // A server receives requests ("in") and sends replies ("out"); a client the other way round.
  const requestDirection = server ? 'in' : 'out';
  const replyDirection = server ? 'out' : 'in';
  // Methods are the RPC layer's registered names, a fixed handful per process.
  const seriesOf = seriesByKey((method): MethodSeries => ({
    inflight: registry.gaugeSeries(inflight, { method }),
    calls: registry.counterSeries(calls, { method }),
    duration: registry.histogramSeries(duration, { method }),
    requestBytes: registry.counterSeries(bytes, { method, direction: requestDirection }),
    replyBytes: registry.counterSeries(bytes, { method, direction: replyDirection }),
  }));
  return {
    callStarted(method) {
      seriesOf(method).inflight.add(1);
    },
    callFinished(event) {
      const series = seriesOf(event.method);
      series.inflight.add(-1);
      series.calls.add(1);
      if (event.status !== 0) errors.inc({ method: event.method, code: statusName(event.status) });
      series.duration.observe(event.durationMs / 1000);
      if (event.requestPayloadBytes > 0) series.requestBytes.add(event.requestPayloadBytes);
      if (event.replyPayloadBytes > 0) series.replyBytes.add(event.replyPayloadBytes);
    },
  };
}

/**
 * Metadata operations per type, from the RPC calls a meta service handles: every `Meta.<op>`
 * call is one operation, with its status and duration (its KV transaction included).
 */
export function metaOperationsObserver(registry: MetricsRegistry): RpcObserverShape {
  const errors = registry.counter(metricDefs.metaOperationErrors);
  const prefix = 'Meta.';
  const seriesOf = seriesByKey((operation) => ({
    count: registry.counterSeries(metricDefs.metaOperations, { operation }),
    duration: registry.histogramSeries(metricDefs.metaOperationDuration, { operation }),
  }));
  return {
    callStarted() {},
    callFinished(event) {
      if (!event.method.startsWith(prefix)) return;
      const operation = event.method.slice(prefix.length);
      const series = seriesOf(operation);
      series.count.add(1);
      if (event.status !== 0) errors.inc({ operation, code: statusName(event.status) });
      series.duration.observe(event.durationMs / 1000);
    },
  };
}

/** One observer that tells every given observer, in order. */
export function combineObservers(...observers: RpcObserverShape[]): RpcObserverShape {
  return {
    callStarted(method) {
      for (const observer of observers) observer.callStarted(method);
    },
    callFinished(event) {
      for (const observer of observers) observer.callFinished(event);
    },
  };
}
