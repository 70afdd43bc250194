/**
 * RPC metrics: an observer for RpcServer and RpcClient (their `observer` option) that counts calls,
 * errors by status code, payload bytes and in-flight calls per method, and times every call.
 * It matches the RPC layer's observer interface by shape, so common/ needs no import from rpc/.
 */
import { statusName } from '../status-code.js';
import { metricDefs } from './catalog.js';
import type { MetricsRegistry } from './registry.js';

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

/** An observer recording the server side (`side: 'server'`) or the client side of calls. */
export function rpcMetricsObserver(registry: MetricsRegistry, side: 'server' | 'client'): RpcObserverShape {
  const server = side === 'server';
  const calls = registry.counter(server ? metricDefs.rpcServerCalls : metricDefs.rpcClientCalls);
  const errors = registry.counter(server ? metricDefs.rpcServerErrors : metricDefs.rpcClientErrors);
  const duration = registry.histogram(server ? metricDefs.rpcServerDuration : metricDefs.rpcClientDuration);
  const inflight = registry.gauge(server ? metricDefs.rpcServerInflight : metricDefs.rpcClientInflight);
  const bytes = registry.counter(
    server ? metricDefs.rpcServerPayloadBytes : metricDefs.rpcClientPayloadBytes,
  );
  // A server receives requests ("in") and sends replies ("out"); a client the other way round.
  const requestDirection = server ? 'in' : 'out';
  const replyDirection = server ? 'out' : 'in';
  return {
    callStarted(method) {
      inflight.inc({ method });
    },
    callFinished(event) {
      const method = event.method;
      inflight.dec({ method });
      calls.inc({ method });
      if (event.status !== 0) errors.inc({ method, code: statusName(event.status) });
      duration.observe({ method }, event.durationMs / 1000);
      if (event.requestPayloadBytes > 0)
        bytes.inc({ method, direction: requestDirection }, event.requestPayloadBytes);
      if (event.replyPayloadBytes > 0)
        bytes.inc({ method, direction: replyDirection }, event.replyPayloadBytes);
    },
  };
}

/**
 * Metadata operations per type, from the RPC calls a meta service handles: every `Meta.<op>`
 * call is one operation, with its status and duration (its KV transaction included).
 */
export function metaOperationsObserver(registry: MetricsRegistry): RpcObserverShape {
  const operations = registry.counter(metricDefs.metaOperations);
  const errors = registry.counter(metricDefs.metaOperationErrors);
  const duration = registry.histogram(metricDefs.metaOperationDuration);
  const prefix = 'Meta.';
  return {
    callStarted() {},
    callFinished(event) {
      if (!event.method.startsWith(prefix)) return;
      const operation = event.method.slice(prefix.length);
      operations.inc({ operation });
      if (event.status !== 0) errors.inc({ operation, code: statusName(event.status) });
      duration.observe({ operation }, event.durationMs / 1000);
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
