/**
 * FUSE operation metrics: wraps the file system's operation handlers so every request is
 * counted by operation, its failures by errno name, and its time from arrival to answer.
 * Handlers keep their own shape: a synchronous one stays synchronous.
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
  return new Proxy(operations, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || typeof value !== 'function' || !operationNames.has(property)) {
        return value;
      }
      const operation = property;
      const finished = (startedMs: number, error?: unknown): void => {
        count.inc({ operation });
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
              finished(startedMs);
              return reply;
            },
            (error: unknown) => {
              finished(startedMs, error ?? new Error('handler failed'));
              throw error;
            },
          );
        }
        finished(startedMs);
        return result;
      };
    },
  });
}
