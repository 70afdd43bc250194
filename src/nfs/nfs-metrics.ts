/**
 * The gateway's metrics: every NFS and MOUNT operation counted by protocol version and operation,
 * its error statuses by name, its duration; bytes read and written; connections open, refused and
 * closed for a malformed stream. Without a registry (tests) nothing is recorded.
 */
import { metricDefs, type MetricsRegistry } from '../common/metrics/index.js';
import { NfsStatus, nfsStatusName } from './nfs-status.js';

export type ProtocolVersion = '3' | '4' | 'mount';

/** Records what the gateway does; see the file comment. */
export class NfsMetrics {
  private readonly instruments:
    | {
        operations: ReturnType<MetricsRegistry['counter']>;
        errors: ReturnType<MetricsRegistry['counter']>;
        duration: ReturnType<MetricsRegistry['histogram']>;
        readBytes: ReturnType<MetricsRegistry['counter']>;
        writtenBytes: ReturnType<MetricsRegistry['counter']>;
        refused: ReturnType<MetricsRegistry['counter']>;
        malformed: ReturnType<MetricsRegistry['counter']>;
      }
    | undefined;
  private connections = 0;

  constructor(registry?: MetricsRegistry) {
    if (registry === undefined) return;
    this.instruments = {
      operations: registry.counter(metricDefs.nfsOperations),
      errors: registry.counter(metricDefs.nfsOperationErrors),
      duration: registry.histogram(metricDefs.nfsOperationDuration),
      readBytes: registry.counter(metricDefs.nfsReadBytes),
      writtenBytes: registry.counter(metricDefs.nfsWrittenBytes),
      refused: registry.counter(metricDefs.nfsConnectionsRefused),
      malformed: registry.counter(metricDefs.nfsMalformedStreams),
    };
    registry.gauge(metricDefs.nfsConnections, (gauge) => gauge.set(this.connections));
  }

  /** One operation answered with `status` after `seconds`. */
  operation(version: ProtocolVersion, operation: string, status: number, seconds: number): void {
    const instruments = this.instruments;
    if (instruments === undefined) return;
    instruments.operations.inc({ version, operation });
    if (status !== NfsStatus.Ok)
      instruments.errors.inc({ version, operation, status: nfsStatusName(status) });
    instruments.duration.observe({ version, operation }, seconds);
  }

  read(bytes: number): void {
    this.instruments?.readBytes.inc(bytes);
  }

  written(bytes: number): void {
    this.instruments?.writtenBytes.inc(bytes);
  }

  /** A connection event of the RPC server. */
  connection(event: 'accepted' | 'refused-address' | 'refused-limit' | 'closed' | 'malformed'): void {
    switch (event) {
      case 'accepted':
        this.connections += 1;
        return;
      case 'closed':
        this.connections -= 1;
        return;
      case 'refused-address':
        this.instruments?.refused.inc({ reason: 'address' });
        return;
      case 'refused-limit':
        this.instruments?.refused.inc({ reason: 'limit' });
        return;
      case 'malformed':
        this.instruments?.malformed.inc();
    }
  }
}
