/**
 * The gateway's metrics: every request counted by operation and HTTP status, its S3 error code
 * when it failed, its duration; object bytes in and out; copies by method; connections open.
 * Without a registry (tests) nothing is recorded.
 */
import { metricDefs, type MetricsRegistry } from '../common/metrics/index.js';

/** Records what the gateway does; see the file comment. */
export class S3Metrics {
  private readonly instruments:
    | {
        requests: ReturnType<MetricsRegistry['counter']>;
        errors: ReturnType<MetricsRegistry['counter']>;
        duration: ReturnType<MetricsRegistry['histogram']>;
        received: ReturnType<MetricsRegistry['counter']>;
        sent: ReturnType<MetricsRegistry['counter']>;
        copies: ReturnType<MetricsRegistry['counter']>;
      }
    | undefined;
  private connections = 0;

  constructor(registry?: MetricsRegistry) {
    if (registry === undefined) return;
    this.instruments = {
      requests: registry.counter(metricDefs.s3Requests),
      errors: registry.counter(metricDefs.s3RequestErrors),
      duration: registry.histogram(metricDefs.s3RequestDuration),
      received: registry.counter(metricDefs.s3ReceivedBytes),
      sent: registry.counter(metricDefs.s3SentBytes),
      copies: registry.counter(metricDefs.s3ObjectCopies),
    };
    registry.gauge(metricDefs.s3Connections, (gauge) => gauge.set(this.connections));
  }

  /** One request answered with HTTP `status` (and S3 error `code` when it failed) after `seconds`. */
  request(operation: string, status: number, code: string | undefined, seconds: number): void {
    const instruments = this.instruments;
    if (instruments === undefined) return;
    instruments.requests.inc({ operation, status: String(status) });
    if (code !== undefined) instruments.errors.inc({ operation, code });
    instruments.duration.observe({ operation }, seconds);
  }

  received(bytes: number): void {
    if (bytes > 0) this.instruments?.received.inc(bytes);
  }

  sent(bytes: number): void {
    if (bytes > 0) this.instruments?.sent.inc(bytes);
  }

  /** One object copied by CopyObject, by clone or byte by byte. */
  copied(method: 'clone' | 'bytes'): void {
    this.instruments?.copies.inc({ method });
  }

  connectionOpened(): void {
    this.connections += 1;
  }

  connectionClosed(): void {
    this.connections -= 1;
  }
}
