// Proves `admin recovery-progress` on stand-ins of mgmtd and the storage services: the report
// lists syncing and waiting targets with chunks and bytes left, rate and ETA from the predecessor's
// recovery, down targets and unreachable services; it prints a table or JSON once; and a watch
// refreshes until every target serves, as progress bars on a terminal or lines otherwise.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildReport, recoveryProgressCommand } from '../../../src/admin/commands/recovery-progress.js';
import type { Clock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode } from '../../../src/common/status-code.js';
import type { PublicState, RoutingInfo } from '../../../src/mgmtd/index.js';
import type { RecoveryProgress } from '../../../src/storage/index.js';

function routing(version: number, states: Record<number, PublicState>): RoutingInfo {
  return {
    clusterId: 'test',
    routingVersion: version,
    nodes: [1, 2, 3].map((nodeId) => ({
      nodeId,
      type: 'storage' as const,
      address: `node-${nodeId}`,
      hostname: 'h',
      status: 'online' as const,
      lastHeartbeatMs: 0,
      tags: [],
    })),
    targets: Object.entries(states).map(([targetId, publicState]) => ({
      targetId: Number(targetId),
      nodeId: Math.floor(Number(targetId) / 100),
      chainId: 1,
      localState: 'online' as const,
      publicState,
      usedBytes: 0,
      capacityBytes: 0,
    })),
    chains: [],
    chainTables: [],
  };
}

function recovery(changes: Partial<RecoveryProgress>): RecoveryProgress {
  return {
    chainId: 1,
    chainVersion: 7,
    fromTargetId: 101,
    targetId: 301,
    phase: 'copying',
    chunksTotal: 10,
    bytesTotal: 10 * 1024 * 1024,
    chunksDone: 4,
    bytesDone: 4 * 1024 * 1024,
    chunksSkipped: 2,
    bytesPerSecond: 1024 * 1024,
    startedAtMs: 0,
    updatedAtMs: 1,
    ...changes,
  };
}

/** Stand-ins: mgmtd hands out the routing infos in turn, storage node 1 the recoveries in turn. */
function standIns(steps: Array<{ routing: RoutingInfo; recoveries: RecoveryProgress[] }>) {
  let step = 0;
  const current = () => steps[Math.min(step, steps.length - 1)] as (typeof steps)[number];
  return {
    mgmtd: {
      refreshRoutingInfo: async () => {
        const info = current().routing;
        step += 1;
        return info;
      },
    },
    rpc: {
      call: (async (address: string) => {
        if (address === 'node-3') throw new FsError(RpcCode.ConnectFailed, 'connection refused');
        return {
          nodeId: 1,
          recoveries: address === 'node-1' ? steps[Math.max(0, step - 1)]?.recoveries : [],
        };
      }) as never,
    },
  };
}

const instantClock: Clock = {
  nowMs: () => 0,
  monotonicMs: () => 0,
  setTimer: () => ({ cancel: () => undefined }),
  sleep: () => Promise.resolve(),
};

function capture() {
  let text = '';
  return { output: { json: false, write: (chunk: string) => (text += chunk) }, text: () => text };
}

describe('the recovery progress report', () => {
  it("pairs syncing and waiting targets with their predecessor's recovery", () => {
    const report = buildReport(
      routing(5, { 101: 'serving', 201: 'waiting', 301: 'syncing', 401: 'offline' }),
      [recovery({}), recovery({ targetId: 301, phase: 'failed', updatedAtMs: 0, error: 'old' })],
    );
    expect(report.done).toBe(false);
    expect(report.downTargets).toEqual([401]);
    expect(report.targets).toEqual([
      expect.objectContaining({ targetId: 201, phase: 'waiting', fromTargetId: null }),
      expect.objectContaining({
        targetId: 301,
        phase: 'copying',
        fromTargetId: 101,
        chunksLeft: 6,
        bytesLeft: 6 * 1024 * 1024,
        etaSeconds: 6,
      }),
    ]);
    expect(
      buildReport(routing(6, { 101: 'serving', 301: 'serving' }), [recovery({ phase: 'done' })]).done,
    ).toBe(true);
  });
});

describe('admin recovery-progress', () => {
  it('prints a table once, with down targets and services that did not answer', async () => {
    const fakes = standIns([
      { routing: routing(5, { 101: 'serving', 301: 'syncing', 401: 'offline' }), recoveries: [recovery({})] },
    ]);
    const { output, text } = capture();
    const report = await recoveryProgressCommand({ ...fakes, output, timeoutMs: 100 });
    expect(report.targets).toHaveLength(1);
    expect(text()).toMatch(/TARGET\s+CHAIN\s+STATE\s+FROM\s+PHASE\s+CHUNKS LEFT\s+BYTES LEFT\s+RATE\s+ETA/);
    expect(text()).toMatch(/301\s+1\s+syncing\s+101\s+copying\s+6\s+6\.0 MiB\s+1\.0 MiB\/s\s+6s/);
    expect(text()).toMatch(/down, recovering once their service returns: 401/);
    expect(text()).toMatch(/storage node 3 at node-3 did not answer: connection refused/);
  });

  it('prints JSON for scripts', async () => {
    const fakes = standIns([{ routing: routing(5, { 301: 'syncing' }), recoveries: [recovery({})] }]);
    let text = '';
    await recoveryProgressCommand({
      ...fakes,
      output: { json: true, write: (chunk) => (text += chunk) },
      timeoutMs: 100,
    });
    expect(JSON.parse(text)).toMatchObject({ routingVersion: 5, done: false, targets: [{ targetId: 301 }] });
  });

  it('watches until every target serves, a line per target and refresh when not on a terminal', async () => {
    const fakes = standIns([
      {
        routing: routing(5, { 101: 'serving', 301: 'syncing' }),
        recoveries: [recovery({ bytesDone: 0, chunksDone: 0 })],
      },
      { routing: routing(5, { 101: 'serving', 301: 'syncing' }), recoveries: [recovery({})] },
      {
        routing: routing(6, { 101: 'serving', 301: 'serving' }),
        recoveries: [recovery({ phase: 'done', chunksDone: 10, bytesDone: 10 * 1024 * 1024 })],
      },
    ]);
    const { output, text } = capture();
    const stream = new PassThrough();
    let lines = '';
    stream.on('data', (chunk: Buffer) => (lines += chunk.toString()));
    const report = await recoveryProgressCommand({
      ...fakes,
      output,
      timeoutMs: 100,
      watch: true,
      stream,
      clock: instantClock,
    });
    expect(report.done).toBe(true);
    expect(lines.trim().split('\n')).toEqual([
      'target 301 (chain 1, syncing) copying: 0%, 10 chunks and 10.0 MiB left at 1.0 MiB/s, ETA 10s',
      'target 301 (chain 1, syncing) copying: 40%, 6 chunks and 6.0 MiB left at 1.0 MiB/s, ETA 6s',
    ]);
    expect(text()).toMatch(/no target is recovering/);
  });

  it('draws progress bars on a terminal', async () => {
    const fakes = standIns([
      { routing: routing(5, { 101: 'serving', 301: 'syncing' }), recoveries: [recovery({})] },
      { routing: routing(6, { 101: 'serving', 301: 'serving' }), recoveries: [recovery({ phase: 'done' })] },
    ]);
    const { output } = capture();
    const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 160 });
    let drawn = '';
    terminal.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
    await recoveryProgressCommand({
      ...fakes,
      output,
      timeoutMs: 100,
      watch: true,
      stream: terminal,
      clock: instantClock,
    });
    expect(drawn).toMatch(
      /target 301 <- 101 \|[█░]+\|\s+40% \| 6 chunks left \| 6\.0 MiB left \| 1\.0 MiB\/s \| ETA 6s/,
    );
    expect(drawn).toMatch(/100% \| 0 chunks left/);
  });
});
