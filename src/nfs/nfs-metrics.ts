/**
 * The gateway's metrics: every NFS and MOUNT operation counted by protocol version and operation,
 * its error statuses by name, its duration; bytes read and written; connections open, refused and
 * closed for a malformed stream. Without a registry (tests) nothing is recorded.
 */
import {
  metricDefs,
  seriesByKey,
  type CountSeries,
  type MetricsRegistry,
  type ObserveSeries,
} from '../common/metrics/index.js';
import { NfsStatus, nfsStatusName } from './nfs-status.js';

export type ProtocolVersion = '3' | '4' | 'mount';

/** Records what the gateway does; see the file comment. */
export class NfsMetrics {
  private readonly instruments:
    | {
        errors: ReturnType<MetricsRegistry['counter']>;
        readBytes: CountSeries;
        writtenBytes: CountSeries;
        /** An operation's series by "version operation", bound on its first use (see registry.ts). */
        operationSeries: (key: string) => { count: CountSeries; duration: ObserveSeries };
        refused: ReturnType<MetricsRegistry['counter']>;
        malformed: ReturnType<MetricsRegistry['counter']>;
      }
    | undefined;
  private connections = 0;

  constructor(registry?: MetricsRegistry) {
    if (registry === undefined) return;
    this.instruments = {
      errors: registry.counter(metricDefs.nfsOperationErrors),
      readBytes: registry.counterSeries(metricDefs.nfsReadBytes, {}),
      writtenBytes: registry.counterSeries(metricDefs.nfsWrittenBytes, {}),
      operationSeries: seriesByKey((key) => {
        const [version = '', operation = ''] = key.split(' ');
        return {
          count: registry.counterSeries(metricDefs.nfsOperations, { version, operation }),
          duration: registry.histogramSeries(metricDefs.nfsOperationDuration, { version, operation }),
        };
      }),
      refused: registry.counter(metricDefs.nfsConnectionsRefused),
      malformed: registry.counter(metricDefs.nfsMalformedStreams),
    };
    registry.gauge(metricDefs.nfsConnections, (gauge) => gauge.set(this.connections));
  }

  /** One operation answered with `status` after `seconds`. */
  operation(version: ProtocolVersion, operation: string, status: number, seconds: number): void {
    const instruments = this.instruments;
    if (instruments === undefined) return;
    const series = instruments.operationSeries(`${version} ${operation}`);
    series.count.add(1);
    if (status !== NfsStatus.Ok)
      instruments.errors.inc({ version, operation, status: nfsStatusName(status) });
    series.duration.observe(seconds);
  }

  read(bytes: number): void {
    this.instruments?.readBytes.add(bytes);
  }

  written(bytes: number): void {
    this.instruments?.writtenBytes.add(bytes);
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
