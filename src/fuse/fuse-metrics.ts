/**
 * FUSE operation metrics: wraps the file system's operation handlers so every request is
 * counted by operation, its failures by errno name, and its time from arrival to answer; the
 * bytes a read returns and a write accepts are added up from their replies (a buffer's length,
 * a count), so no byte is looked at. Handlers keep their own shape: a synchronous one stays
 * synchronous.
 */
import { constants } from 'node:os';
import { metricDefs, seriesByKey, type MetricsRegistry } from '../common/metrics/index.js';
import { Opcode } from './lowlevel/index.js';

/** Operations that are notifications or life-cycle calls rather than requests. */
const notCounted = new Set(['init', 'destroy', 'forget', 'forgetMulti']);
const operationNames = new Set(Object.keys(Opcode).filter((name) => !notCounted.has(name)));
const errnoNames = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** A view of `operations` that records metrics for every request it handles. */
export function observeFuseOperations<T extends object>(
  operations: T,
  registry: MetricsRegistry,
  toErrno: (error: unknown) => number | undefined,
): T {
  const errors = registry.counter(metricDefs.fuseOperationErrors);
  const readBytes = registry.counterSeries(metricDefs.fuseReadBytes, {});
  const writtenBytes = registry.counterSeries(metricDefs.fuseWrittenBytes, {});
  // Each handler is wrapped once, on its first request, and the wrapper kept while the handler is
  // the same function: a request then costs a map lookup and a few additions (see registry.ts).
  const wrapped = new Map<string, { readonly handler: unknown; readonly wrapper: unknown }>();
  const seriesOf = seriesByKey((operation) => ({
    count: registry.counterSeries(metricDefs.fuseOperations, { operation }),
    duration: registry.histogramSeries(metricDefs.fuseOperationDuration, { operation }),
  }));
  const wrap = (operation: string, handler: (...callArgs: unknown[]) => unknown): unknown => {
    const { count, duration } = seriesOf(operation);
    const bytes = operation === 'read' ? readBytes : operation === 'write' ? writtenBytes : undefined;
    const finished = (startedMs: number, error?: unknown, reply?: unknown): void => {
      count.add(1);
      if (bytes !== undefined && error === undefined) bytes.add(replyBytes(reply));
      if (error !== undefined) {
        // Errors without an errno of their own are answered EIO.
        const errno = toErrno(error) ?? constants.errno.EIO;
        errors.inc({ operation, errno: errnoNames.get(errno) ?? String(errno) });
      }
      duration.observe((performance.now() - startedMs) / 1000);
    };
    return (...args: unknown[]): unknown => {
      const startedMs = performance.now();
      let result: unknown;
      try {
        result = handler.apply(operations, args);
      } catch (error) {
        finished(startedMs, error ?? new Error('handler threw'));
        throw error;
      }
      if (result instanceof Promise) {
        return result.then(
          (reply: unknown) => {
            finished(startedMs, undefined, reply);
            return reply;
          },
          (error: unknown) => {
            finished(startedMs, error ?? new Error('handler failed'));
            throw error;
          },
        );
      }
      finished(startedMs, undefined, result);
      return result;
    };
  };
  return new Proxy(operations, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || typeof value !== 'function' || !operationNames.has(property)) {
        return value;
      }
      const known = wrapped.get(property);
      if (known !== undefined && known.handler === value) return known.wrapper;
      const wrapper = wrap(property, value as (...callArgs: unknown[]) => unknown);
      wrapped.set(property, { handler: value, wrapper });
      return wrapper;
    },
  });
}

/** Bytes a read's reply carries (a buffer) or a write's reply accepted (a count). */
function replyBytes(reply: unknown): number {
  if (typeof reply === 'number') return reply;
  return reply instanceof Uint8Array ? reply.length : 0;
}
