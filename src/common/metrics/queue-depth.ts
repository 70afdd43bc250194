/**
 * Depths of a process's bounded queues as the one `threefs_queue_depth` gauge, labelled by queue
 * name. Each part of a process that owns a queue reports a function giving its depth; the gauge is
 * computed from them when the registry is read (scrape or push), so nothing on the path that fills
 * or drains a queue updates it. Queue names are a fixed set, lower-case words: `rpc_client_calls`,
 * `storage_chunk_lock_waiters`, `clickhouse_rows`.
 */
import { assert } from '../errors.js';
import { metricDefs } from './catalog.js';
import type { MetricsRegistry } from './registry.js';

const queueNamePattern = /^[a-z][a-z0-9_]*$/;
const sourcesByRegistry = new WeakMap<MetricsRegistry, Map<string, () => number>>();

/** Reports the depth of bounded queue `queue` in `registry`; one source per queue name. */
export function reportQueueDepth(registry: MetricsRegistry, queue: string, depth: () => number): void {
  assert(queueNamePattern.test(queue), `queue name ${queue} is a lower-case word`);
  let sources = sourcesByRegistry.get(registry);
  if (sources === undefined) {
    const created = new Map<string, () => number>();
    sources = created;
    sourcesByRegistry.set(registry, created);
    registry.gauge(metricDefs.queueDepth, (gauge) => {
      gauge.reset();
      for (const [name, read] of created) gauge.set({ queue: name }, read());
    });
  }
  assert(!sources.has(queue), `queue ${queue} is reported once`);
  sources.set(queue, depth);
}
