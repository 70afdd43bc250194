// Proves the pusher delivers one snapshot per interval, and that a collector which is unreachable,
// slow or refusing costs dropped snapshots (counted by reason) but never a growing backlog.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import {
  MetricsPusher,
  MetricsRegistry,
  dropReasonOf,
  type MetricFamily,
  type SnapshotSender,
} from '../../../src/common/metrics/index.js';
import { CommonCode, RpcCode } from '../../../src/common/status-code.js';

const intervalMs = 1_000;

async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) await new Promise((resolve) => setImmediate(resolve));
}

async function counterValue(registry: MetricsRegistry, name: string, labels: Record<string, string> = {}) {
  const family = (await registry.snapshot()).find((candidate) => candidate.name === name);
  const sample = family?.samples.find((candidate) =>
    Object.entries(labels).every(([key, value]) => candidate.labels[key] === value),
  );
  return sample?.value ?? 0;
}

function setup(send: SnapshotSender, collectors = ['127.0.0.1:9100']) {
  const clock = new ManualClock();
  const registry = new MetricsRegistry({ node: '5', node_type: 'storage' });
  const pusher = new MetricsPusher({
    registry,
    collectors,
    intervalMs,
    timeoutMs: intervalMs,
    send,
    clock,
    logger: silentLogger(),
  });
  return { clock, registry, pusher };
}

describe('metrics pusher', () => {
  it('pushes one snapshot per interval to the collector', async () => {
    const sent: { collector: string; families: MetricFamily[] }[] = [];
    const { clock, registry, pusher } = setup(async (collector, families) => {
      sent.push({ collector, families });
    });
    pusher.start();
    for (let round = 0; round < 3; round++) {
      clock.advance(intervalMs);
      await settle();
    }
    expect(sent).toHaveLength(3);
    expect(sent[0]?.collector).toBe('127.0.0.1:9100');
    expect(sent[0]?.families.some((family) => family.name === 'threefs_monitor_push_drops_total')).toBe(true);
    expect(await counterValue(registry, 'threefs_monitor_pushes_total')).toBe(3);
    await pusher.stop();
  });

  it('drops and counts snapshots while the collector is unreachable, then recovers', async () => {
    let reachable = false;
    let attempts = 0;
    const { clock, registry, pusher } = setup(async () => {
      attempts += 1;
      if (!reachable) throw new FsError(RpcCode.ConnectFailed, 'connection refused');
    });
    pusher.start();
    for (let round = 0; round < 10; round++) {
      clock.advance(intervalMs);
      await settle();
    }
    expect(attempts).toBe(10);
    expect(await counterValue(registry, 'threefs_monitor_push_drops_total', { reason: 'unreachable' })).toBe(
      10,
    );
    expect(await counterValue(registry, 'threefs_monitor_pushes_total')).toBe(0);
    reachable = true;
    clock.advance(intervalMs);
    await settle();
    // One snapshot per round, never the backlog of the ten lost ones.
    expect(attempts).toBe(11);
    expect(await counterValue(registry, 'threefs_monitor_pushes_total')).toBe(1);
    await pusher.stop();
  });

  it('drops the next snapshot while a slow push is still running, holding one at most', async () => {
    let release: () => void = () => undefined;
    let running = 0;
    let runningMax = 0;
    const { clock, registry, pusher } = setup(async () => {
      running += 1;
      runningMax = Math.max(runningMax, running);
      await new Promise<void>((resolve) => (release = resolve));
      running -= 1;
    });
    pusher.start();
    for (let round = 0; round < 5; round++) {
      clock.advance(intervalMs);
      await settle();
    }
    expect(runningMax).toBe(1);
    expect(await counterValue(registry, 'threefs_monitor_push_drops_total', { reason: 'busy' })).toBe(4);
    release();
    await settle();
    expect(await counterValue(registry, 'threefs_monitor_pushes_total')).toBe(1);
    await pusher.stop();
  });

  it('moves to the next collector after a failure', async () => {
    const used: string[] = [];
    const { clock, pusher } = setup(
      async (collector) => {
        used.push(collector);
        if (collector === 'a:1') throw new FsError(RpcCode.Timeout, 'timed out');
      },
      ['a:1', 'b:2'],
    );
    pusher.start();
    for (let round = 0; round < 3; round++) {
      clock.advance(intervalMs);
      await settle();
    }
    expect(used).toEqual(['a:1', 'b:2', 'b:2']);
    await pusher.stop();
  });

  it('classifies failures by status code', () => {
    expect(dropReasonOf(new FsError(RpcCode.Timeout, 't'))).toBe('timeout');
    expect(dropReasonOf(new FsError(RpcCode.ConnectionClosed, 'c'))).toBe('unreachable');
    expect(dropReasonOf(new FsError(RpcCode.BadRequest, 'b'))).toBe('rejected');
    expect(dropReasonOf(new FsError(CommonCode.ShuttingDown, 's'))).toBe('rejected');
    expect(dropReasonOf(new Error('anything'))).toBe('rejected');
  });

  it('stops pushing once stopped', async () => {
    let attempts = 0;
    const { clock, pusher } = setup(async () => {
      attempts += 1;
    });
    pusher.start();
    await pusher.stop();
    clock.advance(10 * intervalMs);
    await settle();
    expect(attempts).toBe(0);
  });
});
