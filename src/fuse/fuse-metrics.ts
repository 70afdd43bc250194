/**
 * FUSE operation metrics: wraps the file system's operation handlers so every request is
 * counted by operation, its failures by errno name, and its time from arrival to answer; the
 * bytes a read returns and a write accepts are added up from their replies (a buffer's length,
 * a count), so no byte is looked at. Handlers keep their own shape: a synchronous one stays
 * synchronous.
 */
import { constants } from 'node:os';
import { metricDefs, type MetricsRegistry } from '../common/metrics/index.js';
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
  const count = registry.counter(metricDefs.fuseOperations);
  const errors = registry.counter(metricDefs.fuseOperationErrors);
  const duration = registry.histogram(metricDefs.fuseOperationDuration);
  const readBytes = registry.counter(metricDefs.fuseReadBytes);
  const writtenBytes = registry.counter(metricDefs.fuseWrittenBytes);
  return new Proxy(operations, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || typeof value !== 'function' || !operationNames.has(property)) {
        return value;
      }
      const operation = property;
      const bytes = operation === 'read' ? readBytes : operation === 'write' ? writtenBytes : undefined;
      const finished = (startedMs: number, error?: unknown, reply?: unknown): void => {
        count.inc({ operation });
        if (bytes !== undefined && error === undefined) bytes.inc(replyBytes(reply));
        if (error !== undefined) {
          // Errors without an errno of their own are answered EIO.
          const errno = toErrno(error) ?? constants.errno.EIO;
          errors.inc({ operation, errno: errnoNames.get(errno) ?? String(errno) });
        }
        duration.observe({ operation }, (performance.now() - startedMs) / 1000);
      };
      return (...args: unknown[]): unknown => {
        const startedMs = performance.now();
        let result: unknown;
        try {
          result = (value as (...callArgs: unknown[]) => unknown).apply(target, args);
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
    },
  });
}

/** Bytes a read's reply carries (a buffer) or a write's reply accepted (a count). */
function replyBytes(reply: unknown): number {
  if (typeof reply === 'number') return reply;
  return reply instanceof Uint8Array ? reply.length : 0;
}
