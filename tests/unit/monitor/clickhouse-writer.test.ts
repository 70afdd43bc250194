// Proves the ClickHouse writer's rows and INSERT format, its batching by size and by time, and
// that a failing or absent server costs dropped rows (counted), never an unbounded buffer.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { MetricsRegistry, type MetricFamily } from '../../../src/common/metrics/index.js';
import {
  ClickhouseWriter,
  clickhouseTime,
  httpClickhouseInsert,
  insertRequest,
  snapshotRows,
  type ClickhouseInsert,
  type SampleRow,
} from '../../../src/monitor/collector/clickhouse-writer.js';

const family: MetricFamily = {
  name: 'threefs_rpc_server_calls_total',
  help: 'h',
  type: 'counter',
  samples: [
    {
      name: 'threefs_rpc_server_calls_total',
      labels: { method: 'Mgmtd.heartbeat', node: '1', node_type: 'mgmtd' },
      value: 42,
    },
  ],
};

function rows(count: number): SampleRow[] {
  return Array.from({ length: count }, (_, index) => ({
    time: clickhouseTime(index),
    cluster: 'c',
    node: 1,
    node_type: 'mgmtd',
    name: 'threefs_x_total',
    labels: {},
    value: index,
  }));
}

async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) await new Promise((resolve) => setImmediate(resolve));
}

function writer(insert: ClickhouseInsert, overrides: { batchRows?: number; bufferedRowsMax?: number } = {}) {
  const clock = new ManualClock();
  const registry = new MetricsRegistry({ node: '90', node_type: 'monitor' });
  const instance = new ClickhouseWriter({
    database: 'threefs',
    table: 'samples',
    batchRows: overrides.batchRows ?? 3,
    bufferedRowsMax: overrides.bufferedRowsMax ?? 10,
    flushIntervalMs: 1_000,
    timeoutMs: 500,
    insert,
    registry,
    clock,
    logger: silentLogger(),
  });
  return { clock, registry, writer: instance };
}

describe('ClickHouse rows and format', () => {
  it('turns a snapshot into rows with node columns and the other labels in a map', () => {
    const result = snapshotRows({
      cluster: 'prod',
      nodeId: 1,
      nodeType: 'mgmtd',
      timeMs: Date.UTC(2024, 4, 1, 12, 0, 0, 123),
      families: [family],
    });
    expect(result).toEqual([
      {
        time: '2024-05-01 12:00:00.123',
        cluster: 'prod',
        node: 1,
        node_type: 'mgmtd',
        name: 'threefs_rpc_server_calls_total',
        labels: { method: 'Mgmtd.heartbeat' },
        value: 42,
      },
    ]);
    const { query, body } = insertRequest('threefs', 'samples', result);
    expect(query).toBe('INSERT INTO threefs.samples FORMAT JSONEachRow');
    expect(body).toBe(
      '{"time":"2024-05-01 12:00:00.123","cluster":"prod","node":1,"node_type":"mgmtd","name":"threefs_rpc_server_calls_total","labels":{"method":"Mgmtd.heartbeat"},"value":42}\n',
    );
  });
});

describe('ClickHouse writer', () => {
  it('inserts a full batch at once and the rest on the timer', async () => {
    const bodies: string[] = [];
    const {
      clock,
      writer: instance,
      registry,
    } = writer(async (_query, body) => {
      bodies.push(body);
    });
    instance.start();
    instance.enqueue(rows(4));
    await settle();
    expect(bodies.map((body) => body.trim().split('\n').length)).toEqual([3]);
    clock.advance(1_000);
    await settle();
    expect(bodies.map((body) => body.trim().split('\n').length)).toEqual([3, 1]);
    expect(await registry.text()).toContain(
      'threefs_monitor_clickhouse_rows_total{node="90",node_type="monitor"} 4',
    );
    await instance.stop();
  });

  it('drops rows beyond the buffer and rows of failed inserts, counting both', async () => {
    const {
      clock,
      writer: instance,
      registry,
    } = writer(
      async () => {
        throw new Error('connection refused');
      },
      { batchRows: 5, bufferedRowsMax: 5 },
    );
    instance.start();
    instance.enqueue(rows(4));
    instance.enqueue(rows(4));
    expect(instance.buffered).toBeLessThanOrEqual(5);
    await settle();
    clock.advance(1_000);
    await settle();
    const text = await registry.text();
    expect(text).toContain(
      'threefs_monitor_clickhouse_dropped_rows_total{reason="overflow",node="90",node_type="monitor"} 3',
    );
    expect(text).toContain(
      'threefs_monitor_clickhouse_dropped_rows_total{reason="insert_failed",node="90",node_type="monitor"} 5',
    );
    expect(instance.buffered).toBe(0);
    await instance.stop();
  });

  it('runs one insert at a time', async () => {
    let running = 0;
    let runningMax = 0;
    const { writer: instance } = writer(async () => {
      running += 1;
      runningMax = Math.max(runningMax, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running -= 1;
    });
    instance.enqueue(rows(3));
    instance.enqueue(rows(3));
    instance.enqueue(rows(3));
    await instance.stop();
    expect(runningMax).toBe(1);
    expect(instance.buffered).toBe(0);
  });
});

describe('ClickHouse HTTP insert', () => {
  it('posts the body with the query in the URL and the credentials in headers, and rejects on an error status', async () => {
    const received: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
    let status = 200;
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ url: request.url ?? '', headers: request.headers, body });
        response.writeHead(status).end(status === 200 ? '' : 'Code: 60. DB::Exception: Table does not exist');
      });
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const insert = httpClickhouseInsert({
        url: `http://127.0.0.1:${port}`,
        user: 'writer',
        password: 'pw',
      });
      await insert('INSERT INTO threefs.samples FORMAT JSONEachRow', '{"a":1}\n', { timeoutMs: 2_000 });
      expect(received).toHaveLength(1);
      const url = new URL(received[0]?.url ?? '', 'http://x');
      expect(url.searchParams.get('query')).toBe('INSERT INTO threefs.samples FORMAT JSONEachRow');
      expect(received[0]?.headers['x-clickhouse-user']).toBe('writer');
      expect(received[0]?.headers['x-clickhouse-key']).toBe('pw');
      expect(received[0]?.body).toBe('{"a":1}\n');
      status = 404;
      await expect(insert('INSERT', '', { timeoutMs: 2_000 })).rejects.toThrow(
        /ClickHouse answered 404: Code: 60/,
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
