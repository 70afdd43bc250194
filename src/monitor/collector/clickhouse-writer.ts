/**
 * Optional long-term storage: every received sample becomes a row inserted into ClickHouse over
 * its HTTP interface (`INSERT … FORMAT JSONEachRow`), in batches. The table it expects:
 *
 *   CREATE TABLE threefs.samples (
 *     time DateTime64(3, 'UTC'), cluster LowCardinality(String), node UInt32,
 *     node_type LowCardinality(String), name LowCardinality(String),
 *     labels Map(String, String), value Float64
 *   ) ENGINE = MergeTree ORDER BY (name, node, time) TTL toDateTime(time) + INTERVAL 30 DAY;
 *
 * Bounds: rows wait in one buffer of at most `bufferedRowsMax` (beyond it new rows are dropped and
 * counted); one INSERT of at most `batchRows` runs at a time, with a deadline; a failed INSERT's
 * rows are dropped and counted, never retried into a growing backlog.
 */
import { assert, describeError } from '../../common/errors.js';
import type { Clock, TimerHandle } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import {
  metricDefs,
  reportQueueDepth,
  type MetricFamily,
  type MetricsRegistry,
} from '../../common/metrics/index.js';

/** One row of the samples table. */
export interface SampleRow {
  readonly time: string;
  readonly cluster: string;
  readonly node: number;
  readonly node_type: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Sends one INSERT body; rejects on failure. */
export type ClickhouseInsert = (query: string, body: string, options: { timeoutMs: number }) => Promise<void>;

export interface ClickhouseWriterOptions {
  readonly database: string;
  readonly table: string;
  readonly batchRows: number;
  readonly bufferedRowsMax: number;
  readonly flushIntervalMs: number;
  readonly timeoutMs: number;
  readonly insert: ClickhouseInsert;
  readonly registry: MetricsRegistry;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** ClickHouse's DateTime64(3) text form in UTC: "2024-05-01 12:00:00.123". */
export function clickhouseTime(timeMs: number): string {
  return new Date(timeMs).toISOString().replace('T', ' ').replace('Z', '');
}

/** The rows of one snapshot. The node labels are columns, not map entries. */
export function snapshotRows(options: {
  cluster: string;
  nodeId: number;
  nodeType: string;
  timeMs: number;
  families: readonly MetricFamily[];
}): SampleRow[] {
  const time = clickhouseTime(options.timeMs);
  const rows: SampleRow[] = [];
  for (const family of options.families) {
    for (const sample of family.samples) {
      const labels: Record<string, string> = { ...sample.labels };
      delete labels['node'];
      delete labels['node_type'];
      rows.push({
        time,
        cluster: options.cluster,
        node: options.nodeId,
        node_type: options.nodeType,
        name: sample.name,
        labels,
        value: sample.value,
      });
    }
  }
  return rows;
}

/** The INSERT statement and its JSONEachRow body for `rows`. */
export function insertRequest(
  database: string,
  table: string,
  rows: readonly SampleRow[],
): { query: string; body: string } {
  return {
    query: `INSERT INTO ${database}.${table} FORMAT JSONEachRow`,
    body: rows.map((row) => JSON.stringify(row)).join('\n') + '\n',
  };
}

/** An insert over HTTP with fetch: POST <url>/?query=…, credentials in ClickHouse's headers. */
export function httpClickhouseInsert(options: {
  url: string;
  user?: string;
  password?: string;
}): ClickhouseInsert {
  return async (query, body, { timeoutMs }) => {
    const target = new URL(options.url);
    target.searchParams.set('query', query);
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    if (options.user !== undefined) headers['X-ClickHouse-User'] = options.user;
    if (options.password !== undefined) headers['X-ClickHouse-Key'] = options.password;
    const response = await fetch(target, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      const text = (await response.text()).slice(0, 500);
      throw new Error(`ClickHouse answered ${response.status}: ${text}`);
    }
  };
}

/** The batching writer; see the file comment. */
export class ClickhouseWriter {
  private buffer: SampleRow[] = [];
  private inFlight: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private warnedAtMs = Number.NEGATIVE_INFINITY;
  private readonly written;
  private readonly dropped;

  constructor(private readonly options: ClickhouseWriterOptions) {
    assert(options.batchRows >= 1 && options.batchRows <= options.bufferedRowsMax, 'a batch fits the buffer');
    this.written = options.registry.counter(metricDefs.clickhouseRows);
    this.dropped = options.registry.counter(metricDefs.clickhouseDroppedRows);
    reportQueueDepth(options.registry, 'clickhouse_rows', () => this.buffer.length);
  }

  start(): void {
    this.schedule();
  }

  /** Rows waiting now. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Adds rows; those beyond the buffer's bound are dropped and counted. Flushes a full batch at once. */
  enqueue(rows: readonly SampleRow[]): void {
    const room = this.options.bufferedRowsMax - this.buffer.length;
    if (rows.length > room) this.dropped.inc({ reason: 'overflow' }, rows.length - Math.max(room, 0));
    if (room > 0) this.buffer.push(...rows.slice(0, room));
    if (this.buffer.length >= this.options.batchRows) void this.flush();
  }

  /** Sends one batch unless one is in flight; resolves when that batch is done. */
  flush(): Promise<void> {
    if (this.inFlight !== undefined || this.buffer.length === 0) return this.inFlight ?? Promise.resolve();
    const batch = this.buffer.splice(0, this.options.batchRows);
    const { query, body } = insertRequest(this.options.database, this.options.table, batch);
    const insert = this.options
      .insert(query, body, { timeoutMs: this.options.timeoutMs })
      .then(
        () => this.written.inc(batch.length),
        (error: unknown) => {
          this.dropped.inc({ reason: 'insert_failed' }, batch.length);
          this.warnSometimes(error, batch.length);
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
    this.inFlight = insert;
    return insert;
  }

  /** Stops the timer and sends what is buffered, one last batch at a time, within the deadlines. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.inFlight;
    while (this.buffer.length > 0) await this.flush();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.options.flushIntervalMs, () => {
      void this.flush();
      this.schedule();
    });
  }

  private warnSometimes(error: unknown, rows: number): void {
    const nowMs = this.options.clock.monotonicMs();
    if (nowMs - this.warnedAtMs < 60_000) return;
    this.warnedAtMs = nowMs;
    this.options.logger.warn(
      { err: error, rows },
      `ClickHouse insert failed, rows dropped: ${describeError(error)}`,
    );
  }
}
